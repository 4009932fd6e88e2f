"""The base class every repository shares."""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.crypto import KeyRing, birth_date_token


class Repository:
    """Queries over one session; never commits (the transaction owner does)."""

    __slots__ = ("dialect", "keyring", "session")

    def __init__(
        self, session: AsyncSession, *, dialect: str, keyring: KeyRing | None = None
    ) -> None:
        self.session = session
        self.dialect = dialect
        self.keyring = keyring

    def _ring(self) -> KeyRing:
        if self.keyring is None:
            raise RuntimeError("this database has no key ring (Database(..., keyring=...))")
        return self.keyring

    def nik_index(self, nik: str) -> str:
        """The blind index of a NIK: what ``nik_index`` columns hold for it."""
        return self._ring().index(nik)

    def birth_index(self, birth_date: date) -> str:
        """The blind index of a birth date: what ``birth_index`` columns hold for it."""
        return self._ring().index(birth_date_token(birth_date))
