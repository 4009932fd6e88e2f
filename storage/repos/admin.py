"""Queries behind the admin console: admins, the review queue, matching results, exports and
statistics.

Statistics are aggregated by the database (``GROUP BY``) and come back as a few small rows, never
as every submission. Exports read in **keyset pages** (``WHERE id > :last ORDER BY id LIMIT n``),
each page in its own short transaction: memory stays bounded by the page size, and on SQLite —
whose transactions hold the process-wide write lock — the bot keeps answering other users between
pages instead of waiting for a 100,000-row file to be written.

Coverage states are computed in SQL from two dates the caller supplies (:class:`CoverageWindow`);
their names are the values of ``bot.domain.coverage.CoverageState`` (storage does not import the
bot package; a test checks they agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, literal_column, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from storage.models.core import Role, User
from storage.models.coverage import RosterEntry
from storage.models.facilitator import Facilitator
from storage.models.registration import EntryRole, Submission, SubmissionStatus
from storage.repos.base import Repository

#: Values of ``bot.domain.coverage.CoverageState``, as the SQL ``CASE`` below produces them.
NOT_STARTED, NO_PAYMENT, ACTIVE, GRACE, NONAKTIF = (
    "not_started",
    "no_payment",
    "active",
    "grace",
    "nonaktif",
)
COVERAGE_STATES = (NOT_STARTED, NO_PAYMENT, ACTIVE, GRACE, NONAKTIF)
#: Submissions that count as registrations (sent, and not refused).
REGISTRATION_STATUSES = (
    SubmissionStatus.SUBMITTED.value,
    SubmissionStatus.VERIFIED.value,
    SubmissionStatus.REGISTERED.value,
)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class CoverageWindow:
    """The two dates that decide a roster row's coverage state on ``today``.

    Attributes:
        today: The regency's date.
        protected_from: The earliest ``paid_until`` still protected today (active or in the
            grace months); an earlier one is nonaktif.
    """

    today: date
    protected_from: date


@dataclass(frozen=True, slots=True)
class SubmissionFilter:
    """Which submissions an export or a count covers (None: no restriction).

    Attributes:
        kecamatan_code: The kecamatan of residence.
        desa_code: The desa of residence.
        status: A ``SubmissionStatus`` value (for the roster: a coverage state).
        since: Inclusive lower bound (UTC) of the date the filter is about.
        until: Exclusive upper bound (UTC).
    """

    kecamatan_code: str | None = None
    desa_code: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class RosterFilter:
    """Which roster rows an export covers (None: no restriction).

    Attributes:
        kecamatan_code: Residence from the participant's submission, else the kecamatan of first
            issue of the NIK.
        desa_code: Residence from the participant's submission.
        state: A coverage state (see :data:`COVERAGE_STATES`).
        start_from: Coverage started on or after this day.
        start_until: Coverage started on or before this day.
    """

    kecamatan_code: str | None = None
    desa_code: str | None = None
    state: str | None = None
    start_from: date | None = None
    start_until: date | None = None


class MatchApplied(StrEnum):
    """What became of one matching result."""

    APPLIED = "applied"
    ALREADY = "already"
    """The registration already has this outcome (the same file sent twice)."""
    NOT_FOUND = "not_found"
    NIK_MISMATCH = "nik_mismatch"
    NOT_VERIFIED = "not_verified"
    """The registration is not waiting for BPJS (not verified yet, or decided otherwise)."""


@dataclass(frozen=True, slots=True)
class MatchApplication:
    """The outcome of :meth:`AdminRepository.apply_match` and the submission it concerned."""

    applied: MatchApplied
    submission: Submission | None = None


def _select(*columns: Any) -> Any:
    # sqlmodel's select() is typed for at most four columns; wide report rows go through here.
    return select(*columns)


def coverage_state_expression(window: CoverageWindow) -> Any:
    """SQL ``CASE`` giving a roster row's coverage state (same rules as the domain module)."""
    return case(
        (col(RosterEntry.coverage_start) > window.today, literal(NOT_STARTED)),
        (col(RosterEntry.paid_until).is_(None), literal(NO_PAYMENT)),
        (col(RosterEntry.paid_until) >= window.today, literal(ACTIVE)),
        (col(RosterEntry.paid_until) >= window.protected_from, literal(GRACE)),
        else_=literal(NONAKTIF),
    )


class AdminRepository(Repository):
    """Admin-only reads and the review decisions."""

    # -- admins -------------------------------------------------------------------------------------
    async def admin_ids(self, *, lock: bool = False) -> list[int]:
        """Ids of every admin, ascending.

        Args:
            lock: On PostgreSQL, lock those rows until the transaction ends, so that two admins
                removing each other at the same moment cannot leave the bot without an admin
                (SQLite transactions are already serialised).
        """
        stmt = select(User.id).where(col(User.role) == Role.ADMIN.value).order_by(col(User.id))
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        return list((await self.session.exec(stmt)).all())

    # -- review -------------------------------------------------------------------------------------
    async def count_waiting(self) -> int:
        """How many submissions wait for verification."""
        stmt = select(func.count()).where(
            col(Submission.status) == SubmissionStatus.SUBMITTED.value
        )
        return int((await self.session.exec(stmt)).one())

    async def next_waiting(self, *, after: tuple[datetime, int] | None) -> Submission | None:
        """The oldest waiting submission after the ``(submitted_at, id)`` cursor ``after``."""
        stmt = select(Submission).where(col(Submission.status) == SubmissionStatus.SUBMITTED.value)
        if after is not None:
            at, last_id = after
            stmt = stmt.where(
                or_(
                    col(Submission.submitted_at) > at,
                    and_(col(Submission.submitted_at) == at, col(Submission.id) > last_id),
                )
            )
        stmt = stmt.order_by(col(Submission.submitted_at), col(Submission.id)).limit(1)
        return (await self.session.exec(stmt)).first()

    async def decide(
        self,
        *,
        submission_id: int,
        status: SubmissionStatus,
        reason: str | None,
        now: datetime,
    ) -> Submission | None:
        """Verify or reject a waiting submission.

        The update only touches a row that is still waiting, so when two admins decide the same
        submission at once exactly one decision counts.

        Returns:
            The updated submission, or None when it was no longer waiting.
        """
        if status not in (SubmissionStatus.VERIFIED, SubmissionStatus.REJECTED):
            raise ValueError("a review verifies or rejects")
        result = await self.session.exec(
            update(Submission)
            .where(col(Submission.id) == submission_id)
            .where(col(Submission.status) == SubmissionStatus.SUBMITTED.value)
            .values(status=status.value, rejection_reason=reason, updated_at=now)
        )
        if _rowcount(result) != 1:
            return None
        submission = await self.session.get(Submission, submission_id)
        if submission is not None:
            await self.session.refresh(submission)
        return submission

    async def born_on(
        self, birth_date: date, *, exclude_id: int | None
    ) -> list[tuple[str | None, str, str]]:
        """``(reference, name, nik)`` of everyone else born on ``birth_date``.

        Sent submissions (any status but draft) and roster participants (reference None); the
        caller compares the names. Equality on the date's blind index keeps this a small result.
        """
        born = self.birth_index(birth_date)
        subs = select(Submission.reference, Submission.full_name, Submission.nik).where(
            col(Submission.birth_index) == born,
            col(Submission.status) != SubmissionStatus.DRAFT.value,
            col(Submission.full_name).is_not(None),
            col(Submission.nik).is_not(None),
        )
        if exclude_id is not None:
            subs = subs.where(col(Submission.id) != exclude_id)
        found: list[tuple[str | None, str, str]] = [
            (str(ref), str(name), str(nik))
            for ref, name, nik in (await self.session.exec(subs)).all()
        ]
        roster = select(RosterEntry.name, RosterEntry.nik).where(
            col(RosterEntry.birth_index) == born
        )
        found.extend((None, name, nik) for name, nik in (await self.session.exec(roster)).all())
        return found

    async def on_roster(self, nik: str) -> bool:
        """True when ``nik`` is on the participant roster."""
        return await self.session.get(RosterEntry, self.nik_index(nik)) is not None

    # -- matching with BPJS / Disdukcapil -------------------------------------------------------------
    async def count_verified(self) -> int:
        """How many verified submissions wait for BPJS Ketenagakerjaan."""
        stmt = select(func.count()).where(
            col(Submission.status) == SubmissionStatus.VERIFIED.value
        )
        return int((await self.session.exec(stmt)).one())

    async def verified_page(self, *, after_id: int, limit: int) -> Sequence[Submission]:
        """Verified submissions with ``id > after_id``, in id order."""
        stmt = (
            select(Submission)
            .where(col(Submission.status) == SubmissionStatus.VERIFIED.value)
            .where(col(Submission.id) > after_id)
            .order_by(col(Submission.id))
            .limit(limit)
        )
        return (await self.session.exec(stmt)).all()

    async def apply_match(
        self,
        *,
        reference: str,
        nik: str | None,
        registered: bool,
        reason: str | None,
        now: datetime,
        kpj: str | None = None,
    ) -> MatchApplication:
        """Record one matching result on the verified submission ``reference``.

        Registered → status ``registered``; invalid → status ``rejected`` with ``reason``.

        Args:
            reference: The submission's reference.
            nik: The NIK in the result row; when given it must be the submission's.
            registered: True for "registered", False for "invalid".
            reason: Why it is invalid (stored as the rejection reason).
            now: The time of the decision.
            kpj: The membership number BPJS Ketenagakerjaan gave (registered rows).
        """
        stmt = select(Submission).where(col(Submission.reference) == reference)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        submission = (await self.session.exec(stmt)).first()
        if submission is None:
            return MatchApplication(MatchApplied.NOT_FOUND)
        if nik is not None and nik != submission.nik:
            return MatchApplication(MatchApplied.NIK_MISMATCH, submission)
        target = SubmissionStatus.REGISTERED if registered else SubmissionStatus.REJECTED
        if submission.status == target.value:
            return MatchApplication(MatchApplied.ALREADY, submission)
        if submission.status != SubmissionStatus.VERIFIED.value:
            return MatchApplication(MatchApplied.NOT_VERIFIED, submission)
        submission.status = target.value
        submission.rejection_reason = None if registered else reason
        submission.kpj = kpj if registered else None
        submission.updated_at = now
        self.session.add(submission)
        return MatchApplication(MatchApplied.APPLIED, submission)

    # -- exports ------------------------------------------------------------------------------------
    def _submission_where(self, stmt: Any, flt: SubmissionFilter, moment: Any) -> Any:
        if flt.kecamatan_code is not None:
            stmt = stmt.where(col(Submission.kecamatan_code) == flt.kecamatan_code)
        if flt.desa_code is not None:
            stmt = stmt.where(col(Submission.desa_code) == flt.desa_code)
        if flt.status is not None:
            stmt = stmt.where(col(Submission.status) == flt.status)
        if flt.since is not None:
            stmt = stmt.where(moment >= flt.since)
        if flt.until is not None:
            stmt = stmt.where(moment < flt.until)
        return stmt

    async def submissions_page(
        self, flt: SubmissionFilter, *, after_id: int, limit: int
    ) -> Sequence[Any]:
        """One page of sent submissions (no drafts) matching ``flt``, by id after ``after_id``.

        The date bounds apply to ``submitted_at``. Rows carry the columns an export writes.
        """
        stmt = _select(
            Submission.id,
            Submission.reference,
            Submission.status,
            Submission.submitted_at,
            Submission.nik,
            Submission.full_name,
            Submission.birth_date,
            Submission.sex,
            Submission.phone,
            Submission.kecamatan_code,
            Submission.desa_code,
            Submission.occupation_code,
            Submission.occupation_text,
            Submission.income_code,
            Submission.contribution_base,
            Submission.payer,
            Submission.with_jht,
            Submission.rentan_candidate,
            Submission.contribution_total,
            Submission.entered_by_role,
            Submission.entered_by_user_id,
            Submission.rejection_reason,
        ).where(col(Submission.status) != SubmissionStatus.DRAFT.value)
        stmt = self._submission_where(stmt, flt, col(Submission.submitted_at))
        stmt = stmt.where(col(Submission.id) > after_id).order_by(col(Submission.id)).limit(limit)
        return (await self.session.exec(stmt)).all()

    async def roster_page(
        self,
        flt: RosterFilter,
        window: CoverageWindow,
        *,
        after_index: str,
        limit: int,
        kecamatan_prefix: str | None = None,
    ) -> Sequence[Any]:
        """One page of roster rows matching ``flt``, by NIK blind index after ``after_index``.

        Each row carries the participant's residence from their submission (when the bot has
        one) and the coverage ``state`` on ``window.today``.

        Args:
            flt: The filter.
            window: Dates deciding the coverage state.
            after_index: Keyset cursor: the ``nik_index`` of the last row ("" for the first page).
                Rows come in blind-index order (stable, unrelated to the NIKs' order).
            limit: Page size.
            kecamatan_prefix: The six NIK digits of ``flt.kecamatan_code`` (rows without a
                submission are placed by the kecamatan that first issued the NIK, ``nik_region``).
        """
        sub = aliased(Submission)
        state = coverage_state_expression(window).label("state")
        stmt = (
            _select(
                RosterEntry.nik_index,
                RosterEntry.nik,
                RosterEntry.name,
                RosterEntry.kpj,
                RosterEntry.programmes,
                RosterEntry.payer,
                RosterEntry.coverage_start,
                RosterEntry.paid_until,
                RosterEntry.birth_date,
                state,
                sub.kecamatan_code,
                sub.desa_code,
                RosterEntry.telegram_user_id,
            )
            .select_from(RosterEntry)
            .outerjoin(sub, col(sub.submitted_nik_index) == col(RosterEntry.nik_index))
        )
        if flt.kecamatan_code is not None:
            placed_by_nik = and_(
                col(sub.id).is_(None), col(RosterEntry.nik_region) == kecamatan_prefix
            )
            stmt = stmt.where(or_(col(sub.kecamatan_code) == flt.kecamatan_code, placed_by_nik))
        if flt.desa_code is not None:
            stmt = stmt.where(col(sub.desa_code) == flt.desa_code)
        if flt.state is not None:
            stmt = stmt.where(coverage_state_expression(window) == flt.state)
        if flt.start_from is not None:
            stmt = stmt.where(col(RosterEntry.coverage_start) >= flt.start_from)
        if flt.start_until is not None:
            stmt = stmt.where(col(RosterEntry.coverage_start) <= flt.start_until)
        stmt = (
            stmt.where(col(RosterEntry.nik_index) > after_index)
            .order_by(col(RosterEntry.nik_index))
            .limit(limit)
        )
        return (await self.session.exec(stmt)).all()

    async def facilitator_activity(self, flt: SubmissionFilter) -> Sequence[Any]:
        """Per facilitator: name and phone, submissions entered by status, first and last entry.

        Drafts count (work in progress); the date bounds apply to ``created_at``. Facilitators
        are the users who entered submissions on someone's behalf (``entered_by_role``); the name
        and phone come from ``facilitators`` when they have a row there.
        """
        counts = [
            func.sum(case((col(Submission.status) == status.value, 1), else_=0)).label(
                status.value
            )
            for status in SubmissionStatus
        ]
        who = col(Submission.entered_by_user_id)
        stmt = (
            _select(
                who.label("facilitator_id"),
                col(Facilitator.full_name).label("facilitator_name"),
                col(Facilitator.phone).label("facilitator_phone"),
                func.count().label("total"),
                *counts,
                func.min(Submission.created_at).label("first_at"),
                func.max(Submission.created_at).label("last_at"),
            )
            .select_from(Submission)
            .outerjoin(Facilitator, col(Facilitator.user_id) == who)
            .where(col(Submission.entered_by_role) == EntryRole.FACILITATOR.value)
        )
        stmt = self._submission_where(stmt, flt, col(Submission.created_at))
        stmt = stmt.group_by(who, col(Facilitator.full_name), col(Facilitator.phone)).order_by(who)
        return (await self.session.exec(stmt)).all()

    # -- statistics ---------------------------------------------------------------------------------
    async def submissions_by_area_and_status(self) -> Sequence[Any]:
        """``(kecamatan_code, desa_code, status, n)`` over every submission."""
        stmt = _select(
            Submission.kecamatan_code, Submission.desa_code, Submission.status, func.count()
        ).group_by(
            col(Submission.kecamatan_code), col(Submission.desa_code), col(Submission.status)
        )
        return (await self.session.exec(stmt)).all()

    async def coverage_by_area(self, window: CoverageWindow) -> Sequence[Any]:
        """``(kecamatan_code, desa_code, nik_prefix, payer, state, n)`` over the roster.

        Residence comes from the participant's submission; ``nik_prefix`` (the kecamatan that
        first issued the NIK) is set only for participants the bot has no submission for.
        """
        sub = aliased(Submission)
        state = coverage_state_expression(window)
        prefix = case((col(sub.id).is_(None), col(RosterEntry.nik_region)), else_=None)
        stmt = (
            _select(
                sub.kecamatan_code,
                sub.desa_code,
                prefix.label("nik_prefix"),
                RosterEntry.payer,
                state.label("state"),
                func.count(),
            )
            .select_from(RosterEntry)
            .outerjoin(sub, col(sub.submitted_nik_index) == col(RosterEntry.nik_index))
            .group_by(
                col(sub.kecamatan_code), col(sub.desa_code), prefix, col(RosterEntry.payer), state
            )
        )
        return (await self.session.exec(stmt)).all()

    async def registrations_by(self, column: str) -> Sequence[Any]:
        """``(value, n)`` of registrations (sent, not refused) grouped by ``column``.

        Args:
            column: ``"occupation_code"`` or ``"payer"``.
        """
        if column not in {"occupation_code", "payer"}:
            raise ValueError(f"no statistics by {column!r}")
        field = getattr(Submission, column)
        stmt = (
            _select(field, func.count())
            .where(col(Submission.status).in_(REGISTRATION_STATUSES))
            .group_by(field)
        )
        return (await self.session.exec(stmt)).all()

    async def registrations_by_month(
        self, *, since: datetime, utc_offset_minutes: int
    ) -> Sequence[Any]:
        """``("YYYY-MM", n)`` of submissions sent since ``since``, by local month.

        Args:
            since: UTC lower bound (the first local day of the first month wanted).
            utc_offset_minutes: The regency's offset from UTC (WITA: 480; no daylight saving).
        """
        stamp = col(Submission.submitted_at)
        minutes = int(utc_offset_minutes)
        if self.dialect == "postgresql":
            local = func.timezone("UTC", stamp) + literal_column(f"interval '{minutes} minutes'")
            month = func.to_char(local, "YYYY-MM")
        else:
            month = func.strftime("%Y-%m", stamp, f"{minutes:+d} minutes")
        stmt = (
            _select(month.label("month"), func.count())
            .where(col(Submission.status) != SubmissionStatus.DRAFT.value)
            .where(stamp >= since)
            .group_by(month)
            .order_by(month)
        )
        return (await self.session.exec(stmt)).all()

    async def count_pending_for_payer(self, payer: str) -> int:
        """Registrations still waiting (sent or verified) whose person expects ``payer`` to pay.

        People already on the roster are left out: they are counted as participants.

        Args:
            payer: A ``bot.domain.tariffs.Payer`` value, e.g. ``"apbd"``.
        """
        on_roster = exists().where(
            col(RosterEntry.nik_index) == col(Submission.submitted_nik_index)
        )
        stmt = select(func.count()).where(
            col(Submission.status).in_(
                (SubmissionStatus.SUBMITTED.value, SubmissionStatus.VERIFIED.value)
            ),
            col(Submission.payer) == payer,
            ~on_roster,
        )
        return int((await self.session.exec(stmt)).one())
