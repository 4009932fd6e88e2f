"""Storage: migrations match the models; core repositories on SQLite (and PostgreSQL when set)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - every table on the metadata
from storage.db import Database
from storage.models import Role
from tests.conftest import PG_URL
from tests.support import TEST_KEYRING, empty_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def migrated_only_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database built by the migrations alone (the shared fixtures also create unmigrated tables)."""
    if request.param == "postgresql" and PG_URL is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    async with empty_database(request.param, tmp_path, "migration_check") as url:
        yield url


async def test_migrations_match_the_models(migrated_only_url: str) -> None:
    db = Database(migrated_only_url)
    try:
        await db.migrate()
        async with db.engine.connect() as conn:

            def diff(sync_conn):  # type: ignore[no-untyped-def]
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(context, SQLModel.metadata)

            differences = await conn.run_sync(diff)
    finally:
        await db.dispose()
    assert differences == []


async def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
    finally:
        await db.dispose()
    assert mode == "wal"


async def test_transaction_commits_or_rolls_back(db_url: str) -> None:
    db = Database(db_url, keyring=TEST_KEYRING)
    try:
        async with db.transaction() as repo:
            await repo.users.touch(user_id=1, language="id")

        async def failing_unit_of_work() -> None:
            async with db.transaction() as repo:
                await repo.users.touch(user_id=2, language="en")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await failing_unit_of_work()
        async with db.transaction() as repo:
            assert await repo.users.get(1) is not None
            assert await repo.users.get(2) is None
    finally:
        await db.dispose()


async def test_user_roles_and_language(db_url: str) -> None:
    db = Database(db_url, keyring=TEST_KEYRING)
    try:
        async with db.transaction() as repo:
            user = await repo.users.touch(user_id=7, language="en")
            assert user.role == Role.WORKER
            await repo.users.set_role(user_id=8, role=Role.ADMIN)
        async with db.transaction() as repo:
            await repo.users.set_language(user_id=7, language="id")
            assert list(await repo.users.ids_with_role(Role.ADMIN)) == [8]
        async with db.transaction() as repo:
            user7 = await repo.users.get(7)
            assert user7 is not None
            assert user7.language == "id"
            assert user7.created_at.tzinfo is not None
    finally:
        await db.dispose()


async def test_conversation_state_and_version(db_url: str) -> None:
    db = Database(db_url, keyring=TEST_KEYRING)
    try:
        async with db.transaction() as repo:
            conv = await repo.conversations.lock(5)
            assert (conv.state, conv.data, conv.version) == (None, {}, 0)
            await repo.conversations.save(conv, state="reg.nik", data={"a": [1, 2]})
        async with db.transaction() as repo:
            conv = await repo.conversations.lock(5)
            assert (conv.state, conv.data, conv.version) == ("reg.nik", {"a": [1, 2]}, 1)
    finally:
        await db.dispose()


async def test_processed_updates_keep_replies_until_confirmed(db_url: str) -> None:
    db = Database(db_url, keyring=TEST_KEYRING)
    try:
        async with db.transaction() as repo:
            await repo.updates.record(update_id=10, chat_id=1, replies=[{"method": "sendMessage"}])
            await repo.updates.record(update_id=11, chat_id=1, replies=None)
        async with db.transaction() as repo:
            ten = await repo.updates.get(10)
            eleven = await repo.updates.get(11)
            assert ten is not None
            assert (ten.sent, ten.replies) == (False, [{"method": "sendMessage"}])
            assert eleven is not None
            assert eleven.sent is True
            await repo.updates.mark_sent([10])
        async with db.transaction() as repo:
            ten = await repo.updates.get(10)
            assert ten is not None
            assert (ten.sent, ten.replies) == (True, None)
            removed = await repo.updates.prune(older_than=datetime.now(UTC) + timedelta(seconds=1))
            assert removed == 2
    finally:
        await db.dispose()


async def test_audit_log_newest_first(db_url: str) -> None:
    db = Database(db_url, keyring=TEST_KEYRING)
    try:
        async with db.transaction() as repo:
            await repo.audit.record(actor_id=1, action="first")
        async with db.transaction() as repo:
            await repo.audit.record(actor_id=1, action="second", target="x", details={"n": 1})
        async with db.transaction() as repo:
            entries = await repo.audit.latest(limit=5)
            assert [e.action for e in entries] == ["second", "first"]
            assert await repo.audit.count() == 2
    finally:
        await db.dispose()
