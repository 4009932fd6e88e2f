"""Everything stored about one Telegram user, its erasure, corrections and draft retention.

* :meth:`PrivacyRepository.gather` collects the user's rows from every table (``/datasaya``).
* :meth:`PrivacyRepository.erase` carries out ``/hapusdata`` inside the caller's transaction: the
  user's own submissions are locked first (``FOR UPDATE`` on PostgreSQL), so an admin deciding the
  same registration at that instant waits and then finds it gone; every other table follows in the
  same transaction, and audit rows without personal values record what was done.
* :meth:`PrivacyRepository.expired_draft_ids` / :meth:`PrivacyRepository.delete_drafts` delete
  abandoned drafts in batches; the delete checks the age again, so a draft answered meanwhile is
  kept, and rows another process holds are skipped (``SKIP LOCKED``).

Which statuses are kept and which columns are cleared is the caller's :class:`ErasurePlan` (the
rules are data, read by :mod:`bot.privacy`); this module only executes it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import col, select

from storage.models.broadcast import BroadcastRecipient
from storage.models.claims import ClaimCase, ClaimHelpRequest
from storage.models.core import AuditEntry, Conversation, ProcessedUpdate, User
from storage.models.coverage import LookupFailure, PaymentReminder, RosterEntry
from storage.models.facilitator import (
    ConsentLink,
    Facilitator,
    FacilitatorDesa,
    SubmissionAttribution,
)
from storage.models.registration import (
    Consent,
    ConsentKind,
    EntryRole,
    Submission,
    SubmissionStatus,
)
from storage.repos.base import Repository

#: Audit action of one erased submission (target ``submission:<reference>``).
AUDIT_ERASE_SUBMISSION = "privacy.erase_submission"
#: Audit action of a whole ``/hapusdata`` (target ``user:<id>``; details are counts).
AUDIT_ERASE = "privacy.erase"
#: Audit action of a sent registration taken back to draft for a correction.
AUDIT_REOPEN = "privacy.correct"
#: Audit action of one retention pass that deleted drafts (details: how many).
AUDIT_RETENTION = "retention.drafts"


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class ErasureOutcome(StrEnum):
    """What ``/hapusdata`` did to one submission (stored in the audit details)."""

    DELETED = "deleted"
    ANONYMISED = "anonymised"


@dataclass(frozen=True, slots=True)
class ErasurePlan:
    """How to erase: which submissions stay (anonymised) and what is cleared on them.

    Attributes:
        keep_statuses: Submission statuses kept as the regency's record; all others are deleted.
        cleared: Column name → the empty value written on a kept submission.
        erased_account_id: Written to ``entered_by_user_id`` of a kept self-entered submission.
        keep_account: Keep the ``users`` row (a facilitator's or admin's role lives there).
    """

    keep_statuses: frozenset[str]
    cleared: Mapping[str, Any]
    erased_account_id: int = 0
    keep_account: bool = False


@dataclass(frozen=True, slots=True)
class ErasedSubmission:
    """One submission ``/hapusdata`` deleted or anonymised (no personal values)."""

    submission_id: int
    reference: str
    status: str
    outcome: ErasureOutcome
    entered_by_role: str
    #: Who typed it in (a facilitator to tell, for assisted registrations).
    entered_by_user_id: int


@dataclass(frozen=True, slots=True)
class ErasureResult:
    """What one ``/hapusdata`` changed (counts of rows)."""

    submissions: tuple[ErasedSubmission, ...]
    consents_withdrawn: int
    roster_unlinked: int
    reminders_deleted: int
    claim_cases_deleted: int
    help_requests_deleted: int
    broadcast_rows_deleted: int
    replies_scrubbed: int
    account_deleted: bool

    def counts(self) -> dict[str, int]:
        """The counts as a JSON-safe mapping (the audit entry's details)."""
        return {
            "deleted": sum(1 for s in self.submissions if s.outcome is ErasureOutcome.DELETED),
            "anonymised": sum(
                1 for s in self.submissions if s.outcome is ErasureOutcome.ANONYMISED
            ),
            "consents_withdrawn": self.consents_withdrawn,
            "roster_unlinked": self.roster_unlinked,
            "reminders_deleted": self.reminders_deleted,
            "claim_cases_deleted": self.claim_cases_deleted,
            "help_requests_deleted": self.help_requests_deleted,
            "broadcast_rows_deleted": self.broadcast_rows_deleted,
            "replies_scrubbed": self.replies_scrubbed,
            "account_deleted": int(self.account_deleted),
        }


@dataclass(frozen=True, slots=True)
class ErasureMark:
    """The trace an erased submission leaves: enough to say "deleted at the owner's request"."""

    reference: str
    submission_id: int | None
    outcome: ErasureOutcome
    at: datetime


@dataclass(frozen=True, slots=True)
class PersonalRecords:
    """Every row stored about one Telegram user (what ``/datasaya`` shows and copies).

    Attributes:
        user_id: The Telegram user.
        user: Their account row (language, role, reminder choice), if any.
        conversation: Where they are in a conversation, and its scratch answers.
        submissions: Registrations about them (drafts included), oldest first.
        consents: Consent records about them or given by them for themselves.
        roster: Participant-list rows linked to their account.
        reminders: Payment reminders planned or sent to them.
        claim_cases: Their JKM claim guide answers.
        help_requests: Their requests for a facilitator's help.
        broadcasts: Announcement delivery rows addressed to them.
        lookup_failures: Times of their failed NIK + birth-date lookups.
        facilitator: Their facilitator record, when they are or were one.
        facilitator_desa: The desa they serve as a facilitator.
        history: Audit entries about their registrations or their account.
    """

    user_id: int
    user: User | None
    conversation: Conversation | None
    submissions: tuple[Submission, ...]
    consents: tuple[Consent, ...]
    roster: tuple[RosterEntry, ...]
    reminders: tuple[PaymentReminder, ...]
    claim_cases: tuple[ClaimCase, ...]
    help_requests: tuple[ClaimHelpRequest, ...]
    broadcasts: tuple[BroadcastRecipient, ...]
    lookup_failures: tuple[datetime, ...]
    facilitator: Facilitator | None
    facilitator_desa: tuple[str, ...]
    history: tuple[AuditEntry, ...]


class PrivacyRepository(Repository):
    """Data-subject rights (access, correction, erasure) and retention."""

    # -- access -----------------------------------------------------------------------------------
    async def _owned(self, user_id: int, *, lock: bool = False) -> Sequence[Submission]:
        stmt = (
            select(Submission)
            .where(col(Submission.owner_user_id) == user_id)
            .order_by(col(Submission.created_at), col(Submission.id))
        )
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        return (await self.session.exec(stmt)).all()

    async def gather(self, *, user_id: int) -> PersonalRecords:
        """Every row about ``user_id`` in every table, for ``/datasaya``.

        Registrations a facilitator typed in for *other* people are not the user's data and are
        not included; a registration about the user is, whoever typed it.
        """
        session = self.session
        submissions = await self._owned(user_id)
        owned_ids = [s.id for s in submissions if s.id is not None]
        consent_filter = or_(
            col(Consent.subject_user_id) == user_id,
            col(Consent.submission_id).in_(owned_ids),
            (col(Consent.given_by_user_id) == user_id)
            & (col(Consent.kind) == ConsentKind.SELF.value),
        )
        consents = (
            await session.exec(
                select(Consent)
                .where(consent_filter)
                .order_by(col(Consent.given_at), col(Consent.id))
            )
        ).all()
        roster = (
            await session.exec(
                select(RosterEntry)
                .where(col(RosterEntry.telegram_user_id) == user_id)
                .order_by(col(RosterEntry.nik_index))
            )
        ).all()
        reminders = (
            await session.exec(
                select(PaymentReminder)
                .where(col(PaymentReminder.user_id) == user_id)
                .order_by(col(PaymentReminder.due_at), col(PaymentReminder.id))
            )
        ).all()
        cases = (
            await session.exec(
                select(ClaimCase)
                .where(col(ClaimCase.user_id) == user_id)
                .order_by(col(ClaimCase.id))
            )
        ).all()
        requests = (
            await session.exec(
                select(ClaimHelpRequest)
                .where(col(ClaimHelpRequest.user_id) == user_id)
                .order_by(col(ClaimHelpRequest.id))
            )
        ).all()
        broadcasts = (
            await session.exec(
                select(BroadcastRecipient)
                .where(col(BroadcastRecipient.user_id) == user_id)
                .order_by(col(BroadcastRecipient.id))
            )
        ).all()
        failures = (
            await session.exec(
                select(LookupFailure.at)
                .where(col(LookupFailure.user_id) == user_id)
                .order_by(col(LookupFailure.at))
            )
        ).all()
        desa = (
            await session.exec(
                select(FacilitatorDesa.desa_code)
                .where(col(FacilitatorDesa.user_id) == user_id)
                .order_by(col(FacilitatorDesa.desa_code))
            )
        ).all()
        targets = [f"submission:{s.reference}" for s in submissions]
        targets.append(f"user:{user_id}")
        history = (
            await session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.target).in_(targets))
                .order_by(col(AuditEntry.at), col(AuditEntry.id))
            )
        ).all()
        return PersonalRecords(
            user_id=user_id,
            user=await session.get(User, user_id),
            conversation=await session.get(Conversation, user_id),
            submissions=tuple(submissions),
            consents=tuple(consents),
            roster=tuple(roster),
            reminders=tuple(reminders),
            claim_cases=tuple(cases),
            help_requests=tuple(requests),
            broadcasts=tuple(broadcasts),
            lookup_failures=tuple(failures),
            facilitator=await session.get(Facilitator, user_id),
            facilitator_desa=tuple(desa),
            history=tuple(history),
        )

    # -- correction -------------------------------------------------------------------------------
    async def reopen_for_correction(self, submission: Submission, *, now: datetime) -> bool:
        """Take a sent registration the person typed in themselves back to draft, to correct it.

        Only a registration still waiting for the regency's check (``submitted``) is reopened, by
        one conditional ``UPDATE``: of an admin verifying it and the person reopening it at the
        same instant, exactly one wins. ``submitted_nik_index`` is cleared (it is set only
        outside the draft state), so the unique-NIK rule decides again at the next "Kirim"; ``submitted_at``
        stays, marking a draft that was sent before. The reopening is audited.

        Returns:
            True when the registration is a draft again.
        """
        result = await self.session.exec(
            update(Submission)
            .where(col(Submission.id) == submission.id)
            .where(col(Submission.status) == SubmissionStatus.SUBMITTED.value)
            .where(col(Submission.entered_by_role) == EntryRole.SELF.value)
            .where(col(Submission.owner_user_id) == col(Submission.entered_by_user_id))
            .values(status=SubmissionStatus.DRAFT.value, submitted_nik_index=None, updated_at=now)
        )
        if _rowcount(result) != 1:
            return False
        await self.session.refresh(submission)
        self.session.add(
            AuditEntry(
                at=now,
                actor_id=submission.owner_user_id,
                action=AUDIT_REOPEN,
                target=f"submission:{submission.reference}",
                details={"from": SubmissionStatus.SUBMITTED.value},
            )
        )
        return True

    # -- erasure ------------------------------------------------------------------------------------
    async def erase(self, *, user_id: int, now: datetime, plan: ErasurePlan) -> ErasureResult:
        """Carry out ``/hapusdata`` for ``user_id`` in the current transaction.

        Consents are withdrawn (kept as proof), submissions deleted or anonymised by ``plan``,
        roster rows unlinked (the roster belongs to BPJS and the regency), reminders, claim guide
        answers, help requests and announcement rows deleted, stored reply copies scrubbed, and
        the account row deleted unless ``plan.keep_account``. Failed lookups stay: they expire
        within a day and deleting them would lift the guessing limit. The audit log gets one
        entry per submission and one for the request, without personal values.
        """
        session = self.session
        owned = await self._owned(user_id, lock=True)
        erased: list[ErasedSubmission] = []
        deleted_ids: list[int] = []
        kept_ids: list[int] = []
        for sub in owned:
            assert sub.id is not None
            keep = sub.status in plan.keep_statuses
            erased.append(
                ErasedSubmission(
                    submission_id=sub.id,
                    reference=sub.reference,
                    status=sub.status,
                    outcome=ErasureOutcome.ANONYMISED if keep else ErasureOutcome.DELETED,
                    entered_by_role=sub.entered_by_role,
                    entered_by_user_id=sub.entered_by_user_id,
                )
            )
            (kept_ids if keep else deleted_ids).append(sub.id)

        withdrawn = await session.exec(
            update(Consent)
            .where(col(Consent.withdrawn_at).is_(None))
            .where(
                or_(
                    col(Consent.subject_user_id) == user_id,
                    col(Consent.submission_id).in_(deleted_ids + kept_ids),
                    (col(Consent.given_by_user_id) == user_id)
                    & (col(Consent.kind) == ConsentKind.SELF.value),
                )
            )
            .values(withdrawn_at=now)
        )
        if deleted_ids:
            # The consent records outlive the data they covered (see storage.models.Consent).
            await session.exec(
                update(Consent)
                .where(col(Consent.submission_id).in_(deleted_ids))
                .values(submission_id=None)
            )
            await session.exec(
                delete(ConsentLink).where(col(ConsentLink.submission_id).in_(deleted_ids))
            )
            await session.exec(
                delete(SubmissionAttribution).where(
                    col(SubmissionAttribution.submission_id).in_(deleted_ids)
                )
            )
            await session.exec(delete(Submission).where(col(Submission.id).in_(deleted_ids)))
        for sub in owned:
            if sub.id in kept_ids:
                for name, empty in plan.cleared.items():
                    setattr(sub, name, empty)
                if sub.entered_by_role == EntryRole.SELF.value:
                    sub.entered_by_user_id = plan.erased_account_id
                sub.updated_at = now
                session.add(sub)

        unlinked = await session.exec(
            update(RosterEntry)
            .where(col(RosterEntry.telegram_user_id) == user_id)
            .values(telegram_user_id=None, updated_at=now)
        )
        reminders = await session.exec(
            delete(PaymentReminder).where(col(PaymentReminder.user_id) == user_id)
        )
        case_ids = select(ClaimCase.id).where(col(ClaimCase.user_id) == user_id)
        requests = await session.exec(
            delete(ClaimHelpRequest).where(
                or_(
                    col(ClaimHelpRequest.user_id) == user_id,
                    col(ClaimHelpRequest.case_id).in_(case_ids),
                )
            )
        )
        cases = await session.exec(delete(ClaimCase).where(col(ClaimCase.user_id) == user_id))
        broadcasts = await session.exec(
            delete(BroadcastRecipient).where(col(BroadcastRecipient.user_id) == user_id)
        )
        # The rows stay (they stop a redelivered update from being handled twice); the copies of
        # the replies, which may echo what the user typed, go.
        scrubbed = await session.exec(
            update(ProcessedUpdate)
            .where(col(ProcessedUpdate.chat_id) == user_id)
            .where(col(ProcessedUpdate.replies).is_not(None))
            .values(replies=None, sent=True)
        )
        account_deleted = False
        if not plan.keep_account:
            user = await session.get(User, user_id)
            if user is not None:
                await session.delete(user)
                account_deleted = True

        result = ErasureResult(
            submissions=tuple(erased),
            consents_withdrawn=_rowcount(withdrawn),
            roster_unlinked=_rowcount(unlinked),
            reminders_deleted=_rowcount(reminders),
            claim_cases_deleted=_rowcount(cases),
            help_requests_deleted=_rowcount(requests),
            broadcast_rows_deleted=_rowcount(broadcasts),
            replies_scrubbed=_rowcount(scrubbed),
            account_deleted=account_deleted,
        )
        for item in erased:
            session.add(
                AuditEntry(
                    at=now,
                    actor_id=user_id,
                    action=AUDIT_ERASE_SUBMISSION,
                    target=f"submission:{item.reference}",
                    details={
                        "id": item.submission_id,
                        "outcome": item.outcome.value,
                        "status": item.status,
                        "entered_by": item.entered_by_role,
                    },
                )
            )
        session.add(
            AuditEntry(
                at=now,
                actor_id=user_id,
                action=AUDIT_ERASE,
                target=f"user:{user_id}",
                details=result.counts(),
            )
        )
        await session.flush()
        return result

    async def erasure_of(
        self, *, reference: str | None = None, submission_id: int | None = None
    ) -> ErasureMark | None:
        """Whether a submission was erased at its owner's request (by reference or by id).

        The facilitator views use it to say "data dihapus atas permintaan pemilik" instead of
        "not found" for a registration that is gone, and to refuse to reopen one.
        """
        if reference is None and submission_id is None:
            raise ValueError("give a reference or a submission id")
        stmt = select(AuditEntry).where(col(AuditEntry.action) == AUDIT_ERASE_SUBMISSION)
        if reference is not None:
            stmt = stmt.where(col(AuditEntry.target) == f"submission:{reference}")
        if submission_id is not None:
            details = AuditEntry.__table__.c.details  # type: ignore[attr-defined]
            stmt = stmt.where(details["id"].as_integer() == submission_id)
        entry = (await self.session.exec(stmt.order_by(col(AuditEntry.id).desc()))).first()
        if entry is None:
            return None
        raw_id = entry.details.get("id")
        return ErasureMark(
            reference=(entry.target or "").removeprefix("submission:"),
            submission_id=int(raw_id) if isinstance(raw_id, int) else None,
            outcome=ErasureOutcome(entry.details.get("outcome", ErasureOutcome.DELETED.value)),
            at=entry.at,
        )

    # -- retention -----------------------------------------------------------------------------------
    async def expired_draft_ids(self, *, before: datetime, limit: int) -> list[int]:
        """Ids of up to ``limit`` drafts last changed before ``before``, oldest id first.

        On PostgreSQL the rows are locked, skipping rows another transaction holds (a user
        answering right now, or a second bot process running the same job).
        """
        stmt = (
            select(Submission.id)
            .where(col(Submission.status) == SubmissionStatus.DRAFT.value)
            .where(col(Submission.updated_at) < before)
            .order_by(col(Submission.id))
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return [i for i in (await self.session.exec(stmt)).all() if i is not None]

    async def delete_drafts(
        self, submission_ids: Collection[int], *, before: datetime, now: datetime
    ) -> int:
        """Delete those of ``submission_ids`` that are still drafts last changed before ``before``.

        Their consent records stay, marked withdrawn (as when a user deletes a draft).

        Returns:
            How many drafts were deleted.
        """
        if not submission_ids:
            return 0
        still = (
            await self.session.exec(
                select(Submission.id)
                .where(col(Submission.id).in_(list(submission_ids)))
                .where(col(Submission.status) == SubmissionStatus.DRAFT.value)
                .where(col(Submission.updated_at) < before)
            )
        ).all()
        ids = [i for i in still if i is not None]
        if not ids:
            return 0
        await self.session.exec(
            update(Consent)
            .where(col(Consent.submission_id).in_(ids))
            .where(col(Consent.withdrawn_at).is_(None))
            .values(withdrawn_at=now)
        )
        await self.session.exec(
            update(Consent).where(col(Consent.submission_id).in_(ids)).values(submission_id=None)
        )
        await self.session.exec(delete(ConsentLink).where(col(ConsentLink.submission_id).in_(ids)))
        await self.session.exec(
            delete(SubmissionAttribution).where(col(SubmissionAttribution.submission_id).in_(ids))
        )
        result = await self.session.exec(
            delete(Submission)
            .where(col(Submission.id).in_(ids))
            .where(col(Submission.status) == SubmissionStatus.DRAFT.value)
            .where(col(Submission.updated_at) < before)
        )
        return _rowcount(result)

    async def prune_processed_updates(self, *, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` processed-update rows older than ``before``; returns how many."""
        ids = (
            await self.session.exec(
                select(ProcessedUpdate.update_id)
                .where(col(ProcessedUpdate.processed_at) < before)
                .limit(limit)
            )
        ).all()
        if not ids:
            return 0
        result = await self.session.exec(
            delete(ProcessedUpdate).where(col(ProcessedUpdate.update_id).in_(list(ids)))
        )
        return _rowcount(result)

    async def record_retention(self, *, drafts: int, days: int, now: datetime) -> None:
        """Audit one retention pass that deleted drafts (a count, nothing personal)."""
        self.session.add(
            AuditEntry(
                at=now,
                actor_id=None,
                action=AUDIT_RETENTION,
                target=None,
                details={"drafts": drafts, "days": days},
            )
        )
