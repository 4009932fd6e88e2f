"""``Repositories``: one object per transaction with a property per repository.

Repositories are created lazily, so an update that only reads the user costs nothing more.
"""

from __future__ import annotations

from functools import cached_property
from typing import TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.crypto import KeyRing
from storage.repos.admin import AdminRepository
from storage.repos.base import Repository
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

R = TypeVar("R", bound=Repository)


class Repositories:
    """Every repository, bound to one session (one transaction)."""

    def __init__(
        self, session: AsyncSession, *, dialect: str, keyring: KeyRing | None = None
    ) -> None:
        self.session = session
        self.dialect = dialect
        self.keyring = keyring

    def _make(self, kind: type[R]) -> R:
        return kind(self.session, dialect=self.dialect, keyring=self.keyring)

    @cached_property
    def users(self) -> UserRepository:
        """Telegram users."""
        return self._make(UserRepository)

    @cached_property
    def conversations(self) -> ConversationRepository:
        """Conversation steps."""
        return self._make(ConversationRepository)

    @cached_property
    def updates(self) -> UpdateRepository:
        """Processed updates."""
        return self._make(UpdateRepository)

    @cached_property
    def audit(self) -> AuditRepository:
        """The audit log."""
        return self._make(AuditRepository)

    @cached_property
    def claims(self) -> ClaimRepository:
        """JKM claim guide cases and facilitator help requests."""
        return self._make(ClaimRepository)

    @cached_property
    def registration(self) -> RegistrationRepository:
        """Registration drafts, submissions and consents."""
        return self._make(RegistrationRepository)

    @cached_property
    def coverage(self) -> CoverageRepository:
        """The coverage roster, its imports and the lookup rate limit."""
        return self._make(CoverageRepository)

    @cached_property
    def reminders(self) -> ReminderRepository:
        """Payment reminders and the users' opt-out."""
        return self._make(ReminderRepository)

    @cached_property
    def admin(self) -> AdminRepository:
        """Admin console queries: review queue, matching, exports, statistics."""
        return self._make(AdminRepository)

    @cached_property
    def broadcasts(self) -> BroadcastRepository:
        """Admin broadcasts, their recipient rows and the shared send budget."""
        return self._make(BroadcastRepository)

    @cached_property
    def facilitators(self) -> FacilitatorRepository:
        """Facilitators, invitations, residents they follow, consent links, poster credits."""
        return self._make(FacilitatorRepository)

    @cached_property
    def privacy(self) -> PrivacyRepository:
        """Everything about one user: access, correction, erasure, draft retention."""
        return self._make(PrivacyRepository)
