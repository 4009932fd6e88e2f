"""Shared fixtures: databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set), the Bot API
emulator, the real application built by the production factory, and chat clients.

Fixtures only; helpers live in ``tests/support.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from telegram import Bot

from bot.emulator import BotApiEmulator
from storage.db import Database
from tests.support import (
    TEST_KEYRING,
    TEST_TOKEN,
    BotHarness,
    migrated_sqlite_template,
    postgres_url,
    reset_postgres,
)

PG_URL = postgres_url(os.environ.get("TEST_DATABASE_URL"))
#: The user the ``emu`` fixture knows.
EMU_USER = 1001
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; each test gets a copy."""
    return migrated_sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test, on each configured backend."""
    if request.param == "sqlite":
        path = tmp_path / "bot.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        assert PG_URL is not None
        reset_postgres(PG_URL)
        yield PG_URL


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite database (for tests that are SQLite-specific)."""
    path = tmp_path / "bot.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A :class:`Database` (with the test key ring) on a fresh database, for repository tests."""
    database = Database(db_url, keyring=TEST_KEYRING)
    yield database
    await database.dispose()


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[BotHarness]:
    """The real bot, polling the Bot API emulator, on a fresh database."""
    async with BotHarness(db_url) as h:
        yield h


@pytest.fixture
async def open_harness(db_url: str) -> AsyncIterator[BotHarness]:
    """The harness with flood control opened wide (transcripts type faster than people)."""
    async with BotHarness(db_url, flood_burst=100_000) as h:
        yield h


@pytest.fixture
def token() -> str:
    """The token the emulator accepts."""
    return TEST_TOKEN


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    """A Bot API emulator with one user, :data:`EMU_USER` ("Siti")."""
    async with BotApiEmulator() as emulator:
        emulator.add_user(EMU_USER, "Siti")
        yield emulator


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    """A python-telegram-bot ``Bot`` talking to ``emu``."""
    async with Bot(
        emu.token, base_url=f"{emu.base_url}/bot", base_file_url=f"{emu.base_url}/file/bot"
    ) as telegram_bot:
        yield telegram_bot
