"""The database: one async engine, short transactions, migrations.

``Database.transaction()`` is the only way application code touches SQL: it yields a
:class:`~storage.repositories.Repositories` bound to one session and commits when the block exits (or
rolls back on an exception). SQLite runs in WAL mode with ``BEGIN IMMEDIATE`` transactions, serialised
inside the process, so concurrent updates never meet "database is locked"; PostgreSQL uses a pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.crypto import KeyRing, attach
from storage.repositories import Repositories

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: PostgreSQL advisory-lock key that serialises migrations between processes ("jamsostek").
MIGRATION_LOCK = 0x6A616D73


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at ``storage/migrations`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: How long SQLite waits for another process's lock before "database is locked" (an outage).
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, busy_timeout_ms: int) -> None:
    # Take transaction control away from the driver so that "begin" below really starts them.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock up front: a reader never has to upgrade (and fail) later.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_foreign_keys(conn: Connection, *, enabled: bool) -> None:
    # On the DBAPI connection: going through ``conn.execute`` would begin a transaction first.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
    finally:
        cursor.close()


class Database:
    """An async engine plus a session factory; create one per process and pass it around."""

    __slots__ = ("_lock", "_sessions", "engine", "keyring", "url")

    def __init__(
        self,
        url: str,
        *,
        keyring: KeyRing | None = None,
        echo: bool = False,
        pool_size: int = 10,
        sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    ) -> None:
        """Create the engine (nothing connects yet).

        Args:
            url: SQLAlchemy async URL (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``).
            keyring: Keys for the encrypted columns.
            echo: Log every statement (debugging only).
            pool_size: PostgreSQL connections kept open (as many again may overflow).
            sqlite_busy_timeout_ms: SQLite only: how long a transaction waits for a lock held by
                another process before failing as an outage. The fault tests lower it so that a
                locked database is noticed in a fraction of a second instead of ten.
        """
        self.url = url
        self.keyring = keyring
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # hide_parameters: a failing statement's error must not carry a NIK or phone into a log.
            self.engine: AsyncEngine = create_async_engine(url, echo=echo, hide_parameters=True)
            event.listen(
                self.engine.sync_engine,
                "connect",
                functools.partial(_sqlite_pragmas, busy_timeout_ms=sqlite_busy_timeout_ms),
            )
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            self._lock: asyncio.Lock | None = asyncio.Lock()
        else:
            self.engine = create_async_engine(
                url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                hide_parameters=True,
            )
            self._lock = None
        if keyring is not None:
            attach(self.engine.sync_engine.dialect, keyring)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, autoflush=True
        )

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self._lock is not None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repositories]:
        """One unit of work: commit on success, roll back on any exception."""
        lock = self._lock or contextlib.nullcontext()
        async with lock, self._sessions() as session, session.begin():
            yield Repositories(session, dialect=self.engine.dialect.name, keyring=self.keyring)

    async def ping(self) -> bool:
        """True when the database answers a trivial query (used by ``/readyz``)."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            log.warning("database ping failed", exc_info=True)
            return False
        return True

    async def migrate(self, revision: str = "heads") -> None:
        """Apply pending Alembic migrations on this database."""

        def upgrade(connection: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

        if self.is_sqlite:
            # SQLite alters a table by rebuilding it (copy, drop the original, rename). With foreign
            # keys on, dropping the original fires the ON DELETE actions of the rows pointing at it,
            # so migrations run with them off. The pragma is a no-op inside a transaction: it is set
            # on the bare connection before the migration's transaction begins, and restored after.
            async with self.engine.connect() as conn:
                await conn.run_sync(_sqlite_foreign_keys, enabled=False)
                try:
                    async with conn.begin():
                        await conn.run_sync(upgrade)
                finally:
                    await conn.run_sync(_sqlite_foreign_keys, enabled=True)
            return
        async with self.engine.begin() as conn:
            # Several instances may start at once: one migrates, the others wait, then find
            # nothing to do. The lock ends with the transaction.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            await conn.run_sync(upgrade)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
