"""Fresh, migrated databases for the benchmark (a SQLite file, or the PostgreSQL bench database).

Tables whose Alembic migration is not written yet are created from the models too, as the test
fixtures do, so a scenario can run as soon as its feature's tables exist.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import text
from sqlmodel import SQLModel

from bot.settings import database_url
from storage.db import Database

#: The PostgreSQL database the benchmark owns (dropped and rebuilt on every PostgreSQL scenario).
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test_bench")


@functools.cache
def data_key() -> str:
    """The ``DATA_KEY`` of this benchmark run (the bots and the data generators share it)."""
    from storage.crypto import generate_key

    return generate_key()


async def postgres_missing(url: str = PG_URL) -> str | None:
    """Why PostgreSQL scenarios cannot run (None when the server answers); creates the database."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        conn = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL not reachable at {parts.hostname}:{parts.port or 5432} ({exc})"
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return None


async def fresh_sqlite(path: Path) -> str:
    """A new migrated SQLite database at ``path``; returns its ``DATABASE_URL``."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    await _migrate(url)
    return url


async def fresh_postgres(url: str = PG_URL) -> str:
    """Empty the PostgreSQL bench database and migrate it; returns its ``DATABASE_URL``."""
    db = Database(database_url(url))
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await db.dispose()
    await _migrate(url)
    return url


async def _migrate(url: str) -> None:
    import storage.models  # noqa: F401 - every table on the metadata

    db = Database(database_url(url))
    try:
        await db.migrate()
        async with db.engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
    finally:
        await db.dispose()


def open_database(url: str, **options: Any) -> Database:
    """A :class:`Database` on a ``DATABASE_URL`` (for seeding data before a run)."""
    return Database(database_url(url), **options)
