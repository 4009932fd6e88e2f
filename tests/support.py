"""Test helpers: database set-up and ``BotHarness`` (emulator + the real application)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from bot.application import BotApp, build_application
from bot.settings import Settings, database_url
from storage.crypto import KeyRing, generate_key
from storage.db import Database

if TYPE_CHECKING:
    from bot.emulator import ChatClient

TEST_TOKEN = "123456:TEST-token_abc"
#: Tests generate their data key, as the playground does (production reads DATA_KEY).
TEST_DATA_KEY = generate_key()
TEST_KEYRING = KeyRing.from_text(TEST_DATA_KEY)
ADMIN_ID = 900_001


def postgres_url(raw: str | None) -> str | None:
    """The async driver URL for ``TEST_DATABASE_URL`` (None when unset)."""
    return database_url(raw) if raw else None


def migrated_sqlite_template(folder: Path) -> Path:
    """Create and migrate a SQLite database file once; tests copy it."""
    path = folder / "template.sqlite3"

    async def run() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.migrate()
        await _create_unmigrated_tables(db)
        await db.dispose()

    asyncio.run(run())
    return path


@functools.cache
def _migrated_postgres(url: str) -> bool:
    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
        db = Database(url)
        await db.migrate()
        await _create_unmigrated_tables(db)
        await db.dispose()

    asyncio.run(run())
    return True


async def _create_unmigrated_tables(db: Database) -> None:
    # A table whose migration is not written yet still exists for the feature's tests;
    # tests/test_storage_core.py::test_migrations_match_the_models fails until it is written.
    import storage.models  # noqa: F401 - every table on the metadata

    async with db.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)


def reset_postgres(url: str) -> None:
    """Migrate the PostgreSQL test database once per session, then empty every table."""
    _migrated_postgres(url)
    import storage.models  # noqa: F401 - every table on the metadata

    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)

    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    asyncio.run(run())


@contextlib.asynccontextmanager
async def empty_database(backend: str, folder: Path, name: str) -> AsyncIterator[str]:
    """The URL of an empty database of its own, not touched by the shared fixtures.

    ``backend`` is ``"sqlite"`` (a file in ``folder``) or ``"postgresql"`` (database
    ``<test database>_<name>`` beside ``TEST_DATABASE_URL``'s, created and dropped here; the
    caller skips when that variable is unset).
    """
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / f'{name}.sqlite3'}"
        return
    from tests.conftest import PG_URL

    assert PG_URL is not None, "skip before asking for a PostgreSQL database"
    base, _, current = PG_URL.rpartition("/")
    own = f"{current.split('?')[0]}_{name}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{own}"'))
        await conn.execute(text(f'CREATE DATABASE "{own}"'))
    try:
        yield f"{base}/{own}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)'))
        await admin.dispose()


@dataclass
class FakeClock:
    """A clock tests can move; starts at a fixed WITA morning."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class BotHarness:
    """The Bot API emulator plus the real application polling it, on one database."""

    def __init__(self, db_url: str, **settings: Any) -> None:
        self.db_url = db_url
        self.overrides = settings
        self.clock = FakeClock()
        from bot.emulator import BotApiEmulator

        self.emu = BotApiEmulator(token=TEST_TOKEN)
        self.db: Database
        self.botapp: BotApp
        self._handled_before = 0
        self.settings: Settings

    async def __aenter__(self) -> BotHarness:
        await self.emu.start()
        self.settings = Settings(
            token=TEST_TOKEN,
            api_url=self.emu.base_url,
            database_url=self.db_url,
            admin_ids=frozenset({ADMIN_ID}),
        ).replace(**self.overrides)
        self.db = Database(self.db_url, keyring=TEST_KEYRING)
        await self.start_bot()
        return self

    async def start_bot(self) -> None:
        """Build and start the application (again, after :meth:`stop_bot`)."""
        self.botapp = build_application(self.settings, self.db, clock=self.clock, webhook=False)
        # Updates the previous application handled are not delivered again; unconfirmed ones are.
        self._handled_before = self.emu.enqueued_count - len(self.emu.pending_updates())
        await self.botapp.start(polling=True)

    async def stop_bot(self) -> None:
        """Stop the application gracefully."""
        await self.botapp.stop()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.stop_bot()
        finally:
            await self.db.dispose()
            await self.emu.stop()

    async def settle(self) -> None:
        """Wait until the bot has handled every update users sent, and gone idle."""
        for _ in range(10_000):
            handled = self._handled_before + self.botapp.dispatcher.handled
            if handled >= self.emu.enqueued_count:
                break
            await asyncio.sleep(0.002)
        await self.botapp.wait_idle()

    def chat(self, user_id: int = 1001, **kwargs: Any) -> ChatClient:
        """A simulated user talking to the bot."""
        from bot.emulator import ChatClient

        return ChatClient(self.emu, user_id, settle=self.settle, **kwargs)

    def admin(self, **kwargs: Any) -> ChatClient:
        """The admin of ``ADMIN_IDS``."""
        return self.chat(ADMIN_ID, **kwargs)
