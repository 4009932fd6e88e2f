"""The base class every repository shares."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession


class Repository:
    """Queries over one session; never commits (the transaction owner does)."""

    __slots__ = ("dialect", "session")

    def __init__(self, session: AsyncSession, *, dialect: str) -> None:
        self.session = session
        self.dialect = dialect
