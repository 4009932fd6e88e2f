"""``Repositories``: one object per transaction with a property per repository.

Repositories are created lazily, so an update that only reads the user costs nothing more.
"""

from __future__ import annotations

from functools import cached_property

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.crypto import KeyRing
from storage.repos.admin import AdminRepository
from storage.repos.broadcast import BroadcastRepository
from storage.repos.claims import ClaimRepository
from storage.repos.core import (
    AuditRepository,
    ConversationRepository,
    UpdateRepository,
    UserRepository,
)
from storage.repos.coverage import CoverageRepository, ReminderRepository
from storage.repos.facilitator import FacilitatorRepository
from storage.repos.privacy import PrivacyRepository
from storage.repos.registration import RegistrationRepository


class Repositories:
    """Every repository, bound to one session (one transaction)."""

    def __init__(
        self, session: AsyncSession, *, dialect: str, keyring: KeyRing | None = None
    ) -> None:
        self.session = session
        self.dialect = dialect
        self.keyring = keyring

    def blind_index(self, value: str) -> str:
        """The blind index of a personal value (exact lookups without decrypting)."""
        if self.keyring is None:
            raise RuntimeError("this database has no key ring")
        return self.keyring.index(value)

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

    @cached_property
    def claims(self) -> ClaimRepository:
        """JKM claim guide cases and facilitator help requests."""
        return ClaimRepository(self.session, dialect=self.dialect)

    @cached_property
    def registration(self) -> RegistrationRepository:
        """Registration drafts, submissions and consents."""
        return RegistrationRepository(self.session, dialect=self.dialect)

    @cached_property
    def coverage(self) -> CoverageRepository:
        """The coverage roster, its imports and the lookup rate limit."""
        return CoverageRepository(self.session, dialect=self.dialect)

    @cached_property
    def reminders(self) -> ReminderRepository:
        """Payment reminders and the users' opt-out."""
        return ReminderRepository(self.session, dialect=self.dialect)

    @cached_property
    def admin(self) -> AdminRepository:
        """Admin console queries: review queue, matching, exports, statistics."""
        return AdminRepository(self.session, dialect=self.dialect)

    @cached_property
    def broadcasts(self) -> BroadcastRepository:
        """Admin broadcasts, their recipient rows and the shared send budget."""
        return BroadcastRepository(self.session, dialect=self.dialect)

    @cached_property
    def facilitators(self) -> FacilitatorRepository:
        """Facilitators, invitations, residents they follow, consent links, poster credits."""
        return FacilitatorRepository(self.session, dialect=self.dialect)

    @cached_property
    def privacy(self) -> PrivacyRepository:
        """Everything about one user: access, correction, erasure, draft retention."""
        return PrivacyRepository(self.session, dialect=self.dialect)
