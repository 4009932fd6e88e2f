"""Registration submissions and consent records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage.models.registration import (
    Consent,
    ConsentKind,
    EntryRole,
    Submission,
    SubmissionStatus,
)
from storage.repos.base import Repository

#: A new draft gets a fresh reference after a collision, at most this many times.
REFERENCE_ATTEMPTS = 8
_ANSWER_FIELDS = frozenset(Submission.model_fields) - {
    "id",
    "reference",
    "status",
    "owner_user_id",
    "entered_by_user_id",
    "entered_by_role",
    "nik_index",
    "submitted_nik_index",
    "birth_index",
    "created_at",
    "updated_at",
    "submitted_at",
    "rejection_reason",
}


@dataclass(frozen=True, slots=True)
class SubmitConflict:
    """A submit refused because the NIK already has a non-draft submission.

    Attributes:
        existing: That submission (callers reveal only its status to other accounts).
    """

    existing: Submission


class RegistrationRepository(Repository):
    """Drafts, submitted registrations and the consents they rest on."""

    async def create_draft(
        self,
        *,
        entered_by_user_id: int,
        entered_by_role: EntryRole,
        owner_user_id: int | None,
        consent_kind: ConsentKind,
        consent_version: str,
        now: datetime,
        new_reference: Callable[[], str],
    ) -> Submission:
        """Start a draft and record the consent it rests on, in one go.

        Args:
            entered_by_user_id: Who is typing (the person, or a facilitator).
            entered_by_role: Self or facilitator.
            owner_user_id: The Telegram user the data is about, when self-registering.
            consent_kind: Self or assisted consent.
            consent_version: Version of the consent text that was shown.
            now: The time of consent.
            new_reference: Makes a candidate reference number; called again on a collision.

        Returns:
            The new draft, with its id and unique reference.
        """
        for _ in range(REFERENCE_ATTEMPTS):
            draft = Submission(
                reference=new_reference(),
                owner_user_id=owner_user_id,
                entered_by_user_id=entered_by_user_id,
                entered_by_role=entered_by_role.value,
                created_at=now,
                updated_at=now,
            )
            try:
                # A savepoint: a reference collision must not abort the update's transaction.
                async with self.session.begin_nested():
                    self.session.add(draft)
            except IntegrityError:
                continue
            self.session.add(
                Consent(
                    submission_id=draft.id,
                    given_by_user_id=entered_by_user_id,
                    subject_user_id=owner_user_id,
                    kind=consent_kind.value,
                    text_version=consent_version,
                    given_at=now,
                )
            )
            return draft
        raise RuntimeError("could not find a free reference number")

    async def get(self, submission_id: int) -> Submission | None:
        """The submission with this id, or None."""
        return await self.session.get(Submission, submission_id)

    async def draft_for(self, *, submission_id: int, entered_by_user_id: int) -> Submission | None:
        """The draft with this id if ``entered_by_user_id`` is filling it in, else None."""
        draft = await self.session.get(Submission, submission_id)
        if (
            draft is None
            or draft.entered_by_user_id != entered_by_user_id
            or draft.status != SubmissionStatus.DRAFT.value
        ):
            return None
        return draft

    async def own_draft(self, *, user_id: int) -> Submission | None:
        """The newest draft a user started for themselves, or None."""
        stmt = (
            select(Submission)
            .where(
                col(Submission.owner_user_id) == user_id,
                col(Submission.entered_by_user_id) == user_id,
                col(Submission.status) == SubmissionStatus.DRAFT.value,
            )
            .order_by(col(Submission.updated_at).desc(), col(Submission.id).desc())
            .limit(1)
        )
        return (await self.session.exec(stmt)).first()

    async def own_submitted(self, *, user_id: int) -> Submission | None:
        """The newest non-draft submission about this Telegram user, or None."""
        stmt = (
            select(Submission)
            .where(
                col(Submission.owner_user_id) == user_id,
                col(Submission.status) != SubmissionStatus.DRAFT.value,
            )
            .order_by(col(Submission.submitted_at).desc(), col(Submission.id).desc())
            .limit(1)
        )
        return (await self.session.exec(stmt)).first()

    async def submitted_with_nik(self, nik: str) -> Submission | None:
        """The non-draft submission holding this NIK, or None."""
        stmt = select(Submission).where(col(Submission.submitted_nik_index) == self.nik_index(nik))
        return (await self.session.exec(stmt)).first()

    async def save_answers(self, draft: Submission, *, now: datetime, **answers: Any) -> None:
        """Write answers to a draft (flushed with the update's transaction).

        Raises:
            ValueError: a name is not an answer column, or the submission is no draft.
        """
        unknown = answers.keys() - _ANSWER_FIELDS
        if unknown:
            raise ValueError(f"not answer fields: {sorted(unknown)}")
        if not draft.is_draft:
            raise ValueError("only drafts take answers")
        for name, value in answers.items():
            setattr(draft, name, value)
        draft.updated_at = now
        self.session.add(draft)

    async def submit(self, draft: Submission, *, now: datetime) -> SubmitConflict | None:
        """Send a complete draft to the regency.

        The UNIQUE ``submitted_nik_index`` column (set on flush) decides races: of two submits of
        one NIK, however close, exactly one succeeds. The write happens in a savepoint so that a
        refused submit leaves the rest of the update's transaction (the conversation step) usable.

        Returns:
            None on success; a :class:`SubmitConflict` naming the existing submission otherwise.
        """
        nik = draft.nik
        if nik is None:
            raise ValueError("a draft without NIK cannot be submitted")
        try:
            async with self.session.begin_nested():
                draft.status = SubmissionStatus.SUBMITTED.value
                draft.submitted_at = now
                draft.updated_at = now
                self.session.add(draft)
        except IntegrityError:
            # The savepoint rolled back, but the Python object still carries the new values.
            await self.session.refresh(draft)
            existing = await self.submitted_with_nik(nik)
            if existing is None:
                raise
            return SubmitConflict(existing)
        return None

    async def discard_draft(self, draft: Submission, *, now: datetime) -> None:
        """Delete a draft and its answers; its consent records stay, marked withdrawn."""
        if not draft.is_draft:
            raise ValueError("only drafts can be discarded")
        await self.session.exec(
            update(Consent)
            .where(col(Consent.submission_id) == draft.id)
            .values(submission_id=None, withdrawn_at=now)
        )
        await self.session.exec(delete(Submission).where(col(Submission.id) == draft.id))
        self.session.expunge(draft)

    async def consents_for(self, submission_id: int) -> Sequence[Consent]:
        """The consent records of a submission, oldest first."""
        stmt = (
            select(Consent)
            .where(col(Consent.submission_id) == submission_id)
            .order_by(col(Consent.given_at), col(Consent.id))
        )
        return (await self.session.exec(stmt)).all()

    async def consents_given_by(self, user_id: int) -> Sequence[Consent]:
        """Every consent record a user gave (including withdrawn ones), oldest first."""
        stmt = (
            select(Consent)
            .where(col(Consent.given_by_user_id) == user_id)
            .order_by(col(Consent.given_at), col(Consent.id))
        )
        return (await self.session.exec(stmt)).all()
