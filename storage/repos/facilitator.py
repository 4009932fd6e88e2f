"""Facilitators, their invitations and desa, residents they follow, consent links and poster credits.

Every method that changes a single-use link does so with one conditional ``UPDATE`` (``... WHERE
used_at IS NULL AND revoked_at IS NULL AND expires_at > now``) and checks the row count, so two
people opening the same invitation at the same instant cannot both become its facilitator, on
SQLite or PostgreSQL, in one process or several.

Coverage ("protected today") is decided in SQL from two dates the caller supplies
(:class:`storage.repos.admin.CoverageWindow`), exactly as the admin statistics do, so a resident
counted as covered here is counted the same way in ``/statistik``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import and_, case, delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, select

from storage.models.coverage import RosterEntry
from storage.models.facilitator import (
    AttributionCode,
    AttributionKind,
    ConsentLink,
    Facilitator,
    FacilitatorDesa,
    FacilitatorInvitation,
    SubmissionAttribution,
)
from storage.models.registration import (
    Consent,
    ConsentKind,
    EntryRole,
    Submission,
    SubmissionStatus,
)
from storage.repos.admin import REGISTRATION_STATUSES, CoverageWindow
from storage.repos.base import Repository

#: A new code is drawn again after a collision, at most this many times.
CODE_ATTEMPTS = 8
_Row = TypeVar("_Row", bound=SQLModel)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class ResidentFilter(StrEnum):
    """Which of a facilitator's residents ``/wargaku`` lists (values go into callback data)."""

    ALL = "all"
    SUBMITTED = "sub"
    VERIFIED = "ver"
    REJECTED = "rej"
    REGISTERED = "reg"
    COVERED = "cov"
    """On the roster and protected today (active or within the unpaid grace months)."""


_STATUS_OF_FILTER = {
    ResidentFilter.SUBMITTED: SubmissionStatus.SUBMITTED,
    ResidentFilter.VERIFIED: SubmissionStatus.VERIFIED,
    ResidentFilter.REJECTED: SubmissionStatus.REJECTED,
    ResidentFilter.REGISTERED: SubmissionStatus.REGISTERED,
}


@dataclass(frozen=True, slots=True)
class ResidentScope:
    """Whose residents: those one user entered, and/or those living in some desa.

    Attributes:
        entered_by: Only submissions this Telegram user typed in (None: anyone's).
        desa_codes: Only residents of these desa (None: any desa — admins).
    """

    entered_by: int | None = None
    desa_codes: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class ResidentRow:
    """A sent submission and the roster row with its NIK, when there is one."""

    submission: Submission
    roster: RosterEntry | None


@dataclass(frozen=True, slots=True)
class DesaCounts:
    """Registrations and protected participants of one desa."""

    registered: int
    covered: int


def _protected(window: CoverageWindow) -> Any:
    return and_(
        col(RosterEntry.nik_index).is_not(None),
        col(RosterEntry.coverage_start) <= window.today,
        col(RosterEntry.paid_until).is_not(None),
        col(RosterEntry.paid_until) >= window.protected_from,
    )


class FacilitatorRepository(Repository):
    """Everything the facilitator feature stores and reads."""

    async def _insert_with_code(self, make: Callable[[], _Row]) -> _Row:
        """Insert ``make()``, drawing a fresh code after a unique-code collision."""
        for _ in range(CODE_ATTEMPTS):
            row = make()
            try:
                # A savepoint: a collision must not abort the update's transaction.
                async with self.session.begin_nested():
                    self.session.add(row)
            except IntegrityError:
                continue
            return row
        raise RuntimeError("could not find a free code")

    # -- facilitators ----------------------------------------------------------------------------
    async def get(self, user_id: int) -> Facilitator | None:
        """The facilitator row of a user (active or revoked), or None."""
        return await self.session.get(Facilitator, user_id)

    async def desa_codes(self, user_id: int) -> list[str]:
        """The desa an *active* facilitator serves, sorted (empty when none or revoked)."""
        stmt = (
            select(FacilitatorDesa.desa_code)
            .join(Facilitator, col(Facilitator.user_id) == col(FacilitatorDesa.user_id))
            .where(col(FacilitatorDesa.user_id) == user_id)
            .where(col(Facilitator.revoked_at).is_(None))
            .order_by(col(FacilitatorDesa.desa_code))
        )
        return list((await self.session.exec(stmt)).all())

    async def desa_of(self, user_ids: Collection[int]) -> dict[int, list[str]]:
        """The desa of several facilitators (revoked ones included), sorted per facilitator."""
        if not user_ids:
            return {}
        stmt = (
            select(FacilitatorDesa.user_id, FacilitatorDesa.desa_code)
            .where(col(FacilitatorDesa.user_id).in_(list(user_ids)))
            .order_by(col(FacilitatorDesa.user_id), col(FacilitatorDesa.desa_code))
        )
        found: dict[int, list[str]] = {}
        for user_id, code in (await self.session.exec(stmt)).all():
            found.setdefault(int(user_id), []).append(str(code))
        return found

    async def enrol(
        self,
        *,
        user_id: int,
        full_name: str,
        phone: str,
        invitation_id: int | None,
        now: datetime,
    ) -> Facilitator:
        """Create or reactivate the facilitator row of ``user_id`` with a confirmed name/phone."""
        row = await self.session.get(Facilitator, user_id)
        if row is None:
            row = Facilitator(
                user_id=user_id,
                full_name=full_name,
                phone=phone,
                invitation_id=invitation_id,
                created_at=now,
                updated_at=now,
            )
        else:
            row.full_name = full_name
            row.phone = phone
            row.invitation_id = invitation_id
            row.updated_at = now
            row.revoked_at = None
            row.revoked_by = None
        self.session.add(row)
        await self.session.flush()
        return row

    async def set_desa(self, *, user_id: int, desa_codes: Collection[str], now: datetime) -> None:
        """Replace the desa a facilitator serves."""
        await self.session.exec(
            delete(FacilitatorDesa).where(col(FacilitatorDesa.user_id) == user_id)
        )
        for code in sorted(set(desa_codes)):
            self.session.add(FacilitatorDesa(user_id=user_id, desa_code=code))
        await self.session.exec(
            update(Facilitator).where(col(Facilitator.user_id) == user_id).values(updated_at=now)
        )
        await self.session.flush()

    async def revoke(self, *, user_id: int, by: int, now: datetime) -> bool:
        """End a facilitator's access; False when they were not active."""
        result = await self.session.exec(
            update(Facilitator)
            .where(col(Facilitator.user_id) == user_id)
            .where(col(Facilitator.revoked_at).is_(None))
            .values(revoked_at=now, revoked_by=by, updated_at=now)
        )
        return _rowcount(result) == 1

    async def count_facilitators(self) -> int:
        """How many facilitator rows exist (revoked included)."""
        return int((await self.session.exec(select(func.count()).select_from(Facilitator))).one())

    async def facilitators_page(self, *, limit: int, offset: int) -> Sequence[Facilitator]:
        """Facilitators, active ones first, newest first within each group."""
        revoked_last = case((col(Facilitator.revoked_at).is_(None), 0), else_=1)
        stmt = (
            select(Facilitator)
            .order_by(revoked_last, col(Facilitator.created_at).desc(), col(Facilitator.user_id))
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.exec(stmt)).all()

    async def sent_counts(self, user_ids: Collection[int]) -> dict[int, int]:
        """How many submissions (drafts excluded) each of these users entered."""
        if not user_ids:
            return {}
        stmt = (
            select(Submission.entered_by_user_id, func.count())
            .where(col(Submission.entered_by_user_id).in_(list(user_ids)))
            .where(col(Submission.status) != SubmissionStatus.DRAFT.value)
            .group_by(col(Submission.entered_by_user_id))
        )
        return {int(uid): int(n) for uid, n in (await self.session.exec(stmt)).all()}

    # -- invitations ---------------------------------------------------------------------------------
    async def create_invitation(
        self,
        *,
        desa_codes: Collection[str],
        created_by: int,
        now: datetime,
        expires_at: datetime,
        new_code: Callable[[], str],
    ) -> FacilitatorInvitation:
        """Store a new invitation with a fresh unique code (its id is set on return)."""
        return await self._insert_with_code(
            lambda: FacilitatorInvitation(
                code=new_code(),
                desa_codes=sorted(set(desa_codes)),
                created_by=created_by,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def invitation_by_code(self, code: str) -> FacilitatorInvitation | None:
        """The invitation with this code, or None."""
        stmt = select(FacilitatorInvitation).where(col(FacilitatorInvitation.code) == code)
        return (await self.session.exec(stmt)).first()

    async def get_invitation(self, invitation_id: int) -> FacilitatorInvitation | None:
        """The invitation with this id as stored now (after a refused :meth:`use_invitation`
        too), or None."""
        return await self.session.get(FacilitatorInvitation, invitation_id, populate_existing=True)

    async def use_invitation(self, *, invitation_id: int, user_id: int, now: datetime) -> bool:
        """Mark a valid invitation used by ``user_id``; False when it is no longer valid."""
        result = await self.session.exec(
            update(FacilitatorInvitation)
            .where(col(FacilitatorInvitation.id) == invitation_id)
            .where(col(FacilitatorInvitation.used_at).is_(None))
            .where(col(FacilitatorInvitation.revoked_at).is_(None))
            .where(col(FacilitatorInvitation.expires_at) > now)
            .values(used_at=now, used_by=user_id)
        )
        return _rowcount(result) == 1

    async def revoke_invitation(self, *, invitation_id: int, by: int, now: datetime) -> bool:
        """Cancel an unused invitation; False when it was used or revoked already."""
        result = await self.session.exec(
            update(FacilitatorInvitation)
            .where(col(FacilitatorInvitation.id) == invitation_id)
            .where(col(FacilitatorInvitation.used_at).is_(None))
            .where(col(FacilitatorInvitation.revoked_at).is_(None))
            .values(revoked_at=now, revoked_by=by)
        )
        return _rowcount(result) == 1

    async def open_invitations(
        self, *, now: datetime, limit: int
    ) -> Sequence[FacilitatorInvitation]:
        """Invitations that can still be accepted, newest first."""
        stmt = (
            select(FacilitatorInvitation)
            .where(col(FacilitatorInvitation.used_at).is_(None))
            .where(col(FacilitatorInvitation.revoked_at).is_(None))
            .where(col(FacilitatorInvitation.expires_at) > now)
            .order_by(col(FacilitatorInvitation.id).desc())
            .limit(limit)
        )
        return (await self.session.exec(stmt)).all()

    # -- residents -------------------------------------------------------------------------------------
    def _resident_filters(
        self, scope: ResidentScope, flt: ResidentFilter, window: CoverageWindow
    ) -> list[Any]:
        where: list[Any] = [col(Submission.status) != SubmissionStatus.DRAFT.value]
        if scope.entered_by is not None:
            where.append(col(Submission.entered_by_user_id) == scope.entered_by)
        if scope.desa_codes is not None:
            where.append(col(Submission.desa_code).in_(sorted(scope.desa_codes)))
        status = _STATUS_OF_FILTER.get(flt)
        if status is not None:
            where.append(col(Submission.status) == status.value)
        elif flt is ResidentFilter.COVERED:
            where.append(_protected(window))
        return where

    async def residents_page(
        self,
        *,
        scope: ResidentScope,
        flt: ResidentFilter,
        window: CoverageWindow,
        limit: int,
        offset: int,
    ) -> list[ResidentRow]:
        """Sent submissions in ``scope`` passing ``flt``, newest entered first."""
        stmt = (
            select(Submission, RosterEntry)
            .outerjoin(
                RosterEntry, col(RosterEntry.nik_index) == col(Submission.submitted_nik_index)
            )
            .where(*self._resident_filters(scope, flt, window))
            .order_by(col(Submission.created_at).desc(), col(Submission.id).desc())
            .offset(offset)
            .limit(limit)
        )
        return [ResidentRow(sub, entry) for sub, entry in (await self.session.exec(stmt)).all()]

    async def count_residents(
        self, *, scope: ResidentScope, flt: ResidentFilter, window: CoverageWindow
    ) -> int:
        """How many residents :meth:`residents_page` would list in all."""
        stmt = (
            select(func.count())
            .select_from(Submission)
            .outerjoin(
                RosterEntry, col(RosterEntry.nik_index) == col(Submission.submitted_nik_index)
            )
            .where(*self._resident_filters(scope, flt, window))
        )
        return int((await self.session.exec(stmt)).one())

    async def resident(self, submission_id: int) -> ResidentRow | None:
        """One submission with its roster row (no scope check: the caller checks)."""
        sub = await self.session.get(Submission, submission_id)
        if sub is None:
            return None
        entry = (
            await self.session.get(RosterEntry, sub.submitted_nik_index)
            if sub.submitted_nik_index is not None
            else None
        )
        return ResidentRow(sub, entry)

    async def drafts_page(self, *, user_id: int, limit: int, offset: int) -> Sequence[Submission]:
        """The drafts a facilitator has open for residents, last touched first."""
        stmt = (
            select(Submission)
            .where(col(Submission.entered_by_user_id) == user_id)
            .where(col(Submission.entered_by_role) == EntryRole.FACILITATOR.value)
            .where(col(Submission.status) == SubmissionStatus.DRAFT.value)
            .order_by(col(Submission.updated_at).desc(), col(Submission.id).desc())
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.exec(stmt)).all()

    async def count_drafts(self, *, user_id: int) -> int:
        """How many resident drafts a facilitator has open."""
        stmt = (
            select(func.count())
            .select_from(Submission)
            .where(col(Submission.entered_by_user_id) == user_id)
            .where(col(Submission.entered_by_role) == EntryRole.FACILITATOR.value)
            .where(col(Submission.status) == SubmissionStatus.DRAFT.value)
        )
        return int((await self.session.exec(stmt)).one())

    async def reopen_rejected(self, submission: Submission, *, now: datetime) -> bool:
        """Turn a rejected submission back into a draft so it can be corrected and sent again.

        The row keeps its reference, its consent and its history (the audit log holds the
        rejection). ``submitted_nik_index`` is cleared — it is set only while a submission is out of the
        draft state — so the unique-NIK rule decides again, at the next submit, like for any
        draft. The update only touches a row that is still rejected.
        """
        result = await self.session.exec(
            update(Submission)
            .where(col(Submission.id) == submission.id)
            .where(col(Submission.status) == SubmissionStatus.REJECTED.value)
            .values(
                status=SubmissionStatus.DRAFT.value,
                submitted_nik_index=None,
                rejection_reason=None,
                updated_at=now,
            )
        )
        if _rowcount(result) != 1:
            return False
        await self.session.refresh(submission)
        return True

    async def desa_counts(
        self, *, desa_codes: Collection[str], window: CoverageWindow
    ) -> dict[str, DesaCounts]:
        """Registrations (sent, not refused) and residents protected today, per desa.

        Residence comes from the submission: a roster participant who never registered through
        the bot has no desa on record and is not counted here.
        """
        codes = sorted(set(desa_codes))
        if not codes:
            return {}
        registered_stmt = (
            select(Submission.desa_code, func.count())
            .where(col(Submission.desa_code).in_(codes))
            .where(col(Submission.status).in_(REGISTRATION_STATUSES))
            .group_by(col(Submission.desa_code))
        )
        covered_stmt = (
            select(Submission.desa_code, func.count())
            .join(RosterEntry, col(RosterEntry.nik_index) == col(Submission.submitted_nik_index))
            .where(col(Submission.desa_code).in_(codes))
            .where(_protected(window))
            .group_by(col(Submission.desa_code))
        )
        registered = {
            str(code): int(n) for code, n in (await self.session.exec(registered_stmt)).all()
        }
        covered = {str(code): int(n) for code, n in (await self.session.exec(covered_stmt)).all()}
        return {code: DesaCounts(registered.get(code, 0), covered.get(code, 0)) for code in codes}

    # -- consent links ---------------------------------------------------------------------------------
    async def assisted_consent(self, submission_id: int) -> Consent | None:
        """The newest assisted consent of a submission that is not withdrawn, or None."""
        stmt = (
            select(Consent)
            .where(col(Consent.submission_id) == submission_id)
            .where(col(Consent.kind) == ConsentKind.ASSISTED.value)
            .where(col(Consent.withdrawn_at).is_(None))
            .order_by(col(Consent.given_at).desc(), col(Consent.id).desc())
            .limit(1)
        )
        return (await self.session.exec(stmt)).first()

    async def consent(self, consent_id: int) -> Consent | None:
        """One consent record by id."""
        return await self.session.get(Consent, consent_id)

    async def create_consent_link(
        self,
        *,
        submission_id: int,
        consent_id: int | None,
        created_by: int,
        now: datetime,
        expires_at: datetime,
        new_code: Callable[[], str],
    ) -> ConsentLink:
        """Store a new consent link with a fresh unique code."""
        return await self._insert_with_code(
            lambda: ConsentLink(
                code=new_code(),
                submission_id=submission_id,
                consent_id=consent_id,
                created_by=created_by,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def consent_link_by_code(self, code: str) -> ConsentLink | None:
        """The consent link with this code, or None."""
        stmt = select(ConsentLink).where(col(ConsentLink.code) == code)
        return (await self.session.exec(stmt)).first()

    async def get_consent_link(self, link_id: int) -> ConsentLink | None:
        """The consent link with this id, or None."""
        return await self.session.get(ConsentLink, link_id)

    async def use_consent_link(
        self, *, link_id: int, user_id: int, agreed: bool, now: datetime
    ) -> bool:
        """Record the resident's answer once; False when the link was used or expired."""
        result = await self.session.exec(
            update(ConsentLink)
            .where(col(ConsentLink.id) == link_id)
            .where(col(ConsentLink.used_at).is_(None))
            .where(col(ConsentLink.expires_at) > now)
            .values(used_at=now, used_by=user_id, agreed=agreed)
        )
        return _rowcount(result) == 1

    async def confirm_consent(self, *, consent_id: int, subject_user_id: int) -> None:
        """Upgrade an assisted consent: the resident confirmed it from their own account."""
        await self.session.exec(
            update(Consent)
            .where(col(Consent.id) == consent_id)
            .values(subject_user_id=subject_user_id)
        )

    async def withdraw_consents(self, *, submission_id: int, now: datetime) -> None:
        """Mark every consent of a submission withdrawn (the resident said no)."""
        await self.session.exec(
            update(Consent)
            .where(col(Consent.submission_id) == submission_id)
            .where(col(Consent.withdrawn_at).is_(None))
            .values(withdrawn_at=now)
        )

    async def link_owner(self, *, submission_id: int, user_id: int) -> bool:
        """Make ``user_id`` the owner of a submission that has none (the resident confirmed).

        The resident then sees it with ``/daftar`` and ``/cek`` and is told its outcome. Not done
        when the resident already owns a sent submission of their own.
        """
        own = await self.session.exec(
            select(func.count())
            .select_from(Submission)
            .where(col(Submission.owner_user_id) == user_id)
            .where(col(Submission.status) != SubmissionStatus.DRAFT.value)
        )
        if int(own.one()):
            return False
        result = await self.session.exec(
            update(Submission)
            .where(col(Submission.id) == submission_id)
            .where(col(Submission.owner_user_id).is_(None))
            .values(owner_user_id=user_id)
        )
        return _rowcount(result) == 1

    # -- poster links and attribution -------------------------------------------------------------------
    async def attribution_code_for(
        self,
        *,
        kind: AttributionKind,
        facilitator_user_id: int | None,
        desa_code: str | None,
        created_by: int,
        now: datetime,
        new_code: Callable[[], str],
    ) -> AttributionCode:
        """The poster code of a facilitator or a desa, created on first use (one per owner)."""
        stmt = select(AttributionCode).where(col(AttributionCode.kind) == kind.value)
        if kind is AttributionKind.FACILITATOR:
            stmt = stmt.where(col(AttributionCode.facilitator_user_id) == facilitator_user_id)
        else:
            stmt = stmt.where(col(AttributionCode.desa_code) == desa_code)
        found = (await self.session.exec(stmt.order_by(col(AttributionCode.id)).limit(1))).first()
        if found is not None:
            return found
        return await self._insert_with_code(
            lambda: AttributionCode(
                code=new_code(),
                kind=kind.value,
                facilitator_user_id=facilitator_user_id,
                desa_code=desa_code,
                created_by=created_by,
                created_at=now,
            )
        )

    async def attribution_by_code(self, code: str) -> AttributionCode | None:
        """The poster code row, or None."""
        stmt = select(AttributionCode).where(col(AttributionCode.code) == code)
        return (await self.session.exec(stmt)).first()

    async def attribute(self, *, submission_id: int, code_id: int, now: datetime) -> bool:
        """Credit a submission to a poster code; the first credit stays (False if one exists)."""
        if await self.session.get(SubmissionAttribution, submission_id) is not None:
            return False
        try:
            async with self.session.begin_nested():
                self.session.add(
                    SubmissionAttribution(submission_id=submission_id, code_id=code_id, at=now)
                )
        except IntegrityError:
            return False  # credited meanwhile by a concurrent update
        return True

    async def attribution_counts(self, code_ids: Collection[int]) -> dict[int, int]:
        """Registrations (sent, not refused) credited to each of these poster codes."""
        if not code_ids:
            return {}
        stmt = (
            select(SubmissionAttribution.code_id, func.count())
            .join(Submission, col(Submission.id) == col(SubmissionAttribution.submission_id))
            .where(col(SubmissionAttribution.code_id).in_(list(code_ids)))
            .where(col(Submission.status).in_(REGISTRATION_STATUSES))
            .group_by(col(SubmissionAttribution.code_id))
        )
        return {int(cid): int(n) for cid, n in (await self.session.exec(stmt)).all()}
