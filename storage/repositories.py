"""``Repositories``: one object per transaction with a property per repository.

Repositories are created lazily, so an update that only reads the user costs nothing more.
"""

from __future__ import annotations

from functools import cached_property

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repos.core import (
    AuditRepository,
    ConversationRepository,
    UpdateRepository,
    UserRepository,
)


class Repositories:
    """Every repository, bound to one session (one transaction)."""

    def __init__(self, session: AsyncSession, *, dialect: str) -> None:
        self.session = session
        self.dialect = dialect

    @cached_property
    def users(self) -> UserRepository:
        """Telegram users."""
        return UserRepository(self.session, dialect=self.dialect)

    @cached_property
    def conversations(self) -> ConversationRepository:
        """Conversation steps."""
        return ConversationRepository(self.session, dialect=self.dialect)

    @cached_property
    def updates(self) -> UpdateRepository:
        """Processed updates."""
        return UpdateRepository(self.session, dialect=self.dialect)

    @cached_property
    def audit(self) -> AuditRepository:
        """The audit log."""
        return AuditRepository(self.session, dialect=self.dialect)
