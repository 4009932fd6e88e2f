"""What the bot knows about one person's coverage, and the rate-limited NIK + birth-date lookup.

Two sources are combined: the **roster** the regency and BPJS Ketenagakerjaan provide (imported
by admins, see :mod:`bot.roster_import`) and the bot's own **registration submissions**. A user
sees their own data (a roster row linked to their account, or their own submission) at once;
anyone else's data needs the NIK *and* the birth date, and a user who gets that wrong
``Settings.lookup_failures_per_hour`` times within an hour must wait. The failures are rows in the
database, so the limit holds across restarts and across bot processes.

Nothing here produces text: handlers turn a :class:`PersonStatus` into catalog messages.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.coverage import CoverageStatus, Payer, coverage_status, first_unpaid_day
from bot.domain.dates import regency_date
from bot.domain.facts import load_toml
from bot.domain.nik import Nik, mask_nik, parse_nik
from bot.domain.roster import Programme
from bot.domain.tariffs import Contribution, confirmed_bases, monthly_contribution
from storage.models.coverage import RosterEntry
from storage.models.registration import Submission, SubmissionStatus
from storage.repositories import Repositories

#: Failed lookups are counted over this sliding window (the limit itself is a setting).
LOOKUP_WINDOW = timedelta(hours=1)


@functools.cache
def regency_zone() -> ZoneInfo:
    """Balangan's time zone (WITA), from ``registration.toml``."""
    return ZoneInfo(load_toml("registration.toml")["region"]["timezone"])


def programmes_from_text(stored: str) -> frozenset[Programme]:
    """Programme codes as stored on a roster row ("jkk,jkm")."""
    return frozenset(Programme(code) for code in stored.split(",") if code)


def programmes_to_text(programmes: frozenset[Programme]) -> str:
    """The stored form of a set of programmes: sorted codes, comma-separated."""
    return ",".join(sorted(p.value for p in programmes))


@dataclass(frozen=True, slots=True)
class RosterFacts:
    """The roster row of a person."""

    kpj: str | None = dataclasses.field(repr=False)
    programmes: frozenset[Programme]
    payer: Payer
    coverage_start: date
    paid_until: date | None
    linked_user_id: int | None

    @property
    def masked_kpj(self) -> str | None:
        """The KPJ number with all but the last 4 digits hidden."""
        return mask_nik(self.kpj) if self.kpj else None


@dataclass(frozen=True, slots=True)
class SubmissionFacts:
    """A registration submission made through the bot."""

    status: SubmissionStatus
    reference: str
    submitted_at: datetime | None
    rejection_reason: str | None = dataclasses.field(repr=False)
    owner_user_id: int | None


@dataclass(frozen=True, slots=True)
class PersonStatus:
    """Everything /cek says about one person.

    Attributes:
        nik: The 16 digits (never shown whole; see :attr:`masked_nik`).
        name: The name on the roster or the submission.
        roster: The roster row, when the person is on the roster.
        coverage: Coverage state today, computed from the roster row.
        submission: The person's non-draft submission, when there is one.
        contribution: The monthly iuran for this person's tariff (None if no tariff applies).
        contribution_from_submission: True when the tariff used the income declared at
            registration; False when it is the lowest confirmed base (the roster has no income).
        data_as_of: Date (WITA) of the latest completed roster import, when the roster was used.
    """

    nik: str = dataclasses.field(repr=False)
    name: str | None = dataclasses.field(repr=False)
    roster: RosterFacts | None
    coverage: CoverageStatus | None
    submission: SubmissionFacts | None
    contribution: Contribution | None
    contribution_from_submission: bool
    data_as_of: date | None

    @property
    def masked_nik(self) -> str:
        """The NIK with all but the last 4 digits hidden."""
        return mask_nik(self.nik)

    @property
    def registered(self) -> bool:
        """True when BPJS Ketenagakerjaan has the person (roster row or registered submission)."""
        return self.roster is not None or (
            self.submission is not None and self.submission.status is SubmissionStatus.REGISTERED
        )


def _roster_facts(entry: RosterEntry) -> RosterFacts:
    return RosterFacts(
        kpj=entry.kpj,
        programmes=programmes_from_text(entry.programmes),
        payer=Payer(entry.payer),
        coverage_start=entry.coverage_start,
        paid_until=entry.paid_until,
        linked_user_id=entry.telegram_user_id,
    )


def _submission_facts(submission: Submission) -> SubmissionFacts:
    return SubmissionFacts(
        status=SubmissionStatus(submission.status),
        reference=submission.reference,
        submitted_at=submission.submitted_at,
        rejection_reason=submission.rejection_reason,
        owner_user_id=submission.owner_user_id,
    )


def _contribution(
    roster: RosterFacts | None, submission: Submission | None, today: date
) -> tuple[Contribution | None, bool]:
    """The monthly iuran, for the month that is due next."""
    from_submission = submission is not None and submission.contribution_base is not None
    base = (
        submission.contribution_base
        if submission is not None and submission.contribution_base is not None
        else min(confirmed_bases())
    )
    if roster is not None:
        payer = roster.payer.value
        with_jht = Programme.JHT in roster.programmes
        due_on = today
        if roster.paid_until is not None:
            due_on = max(today, first_unpaid_day(roster.paid_until))
    elif submission is not None:
        payer = submission.payer or Payer.SELF.value
        with_jht = bool(submission.with_jht)
        due_on = today
    else:
        return None, False
    occupation = submission.occupation_code if submission is not None else None
    try:
        amount = monthly_contribution(
            base=base, on=due_on, occupation_code=occupation, payer=payer, with_jht=with_jht
        )
    except (LookupError, ValueError):
        return None, False  # no tariff period in the data for that date
    return amount, from_submission


def build_status(
    *,
    nik: str,
    entry: RosterEntry | None,
    submission: Submission | None,
    today: date,
    data_as_of: date | None,
) -> PersonStatus:
    """Combine a roster row and a submission of the same NIK into what /cek shows.

    Args:
        nik: The person's NIK.
        entry: Their roster row, if any.
        submission: Their submission, if any (drafts are ignored).
        today: The regency's date.
        data_as_of: Date of the latest completed roster import.
    """
    if submission is not None and submission.status == SubmissionStatus.DRAFT.value:
        submission = None
    roster = _roster_facts(entry) if entry is not None else None
    coverage = None
    if roster is not None:
        coverage = coverage_status(
            paid_until=roster.paid_until,
            coverage_start=roster.coverage_start,
            today=today,
            payer=roster.payer,
        )
    contribution, from_submission = _contribution(roster, submission, today)
    name = entry.name if entry is not None else None
    if name is None and submission is not None:
        name = submission.full_name
    return PersonStatus(
        nik=nik,
        name=name,
        roster=roster,
        coverage=coverage,
        submission=_submission_facts(submission) if submission is not None else None,
        contribution=contribution,
        contribution_from_submission=from_submission,
        data_as_of=data_as_of if roster is not None else None,
    )


async def data_as_of(repo: Repositories) -> date | None:
    """The date (WITA) of the latest completed roster import, or None before the first one."""
    latest = await repo.coverage.latest_import()
    if latest is None or latest.finished_at is None:
        return None
    return regency_date(latest.finished_at)


async def person_status(repo: Repositories, *, nik: str, today: date) -> PersonStatus | None:
    """Everything known about ``nik`` (roster row and/or submission), or None when nothing is.

    This reveals data: call it only for the user's own NIK or after a birth-date match.
    """
    entry = await repo.coverage.get_entry(nik)
    submission = await repo.registration.submitted_with_nik(nik)
    if entry is None and submission is None:
        return None
    return build_status(
        nik=nik,
        entry=entry,
        submission=submission,
        today=today,
        data_as_of=await data_as_of(repo),
    )


async def own_statuses(repo: Repositories, *, user_id: int, today: date) -> list[PersonStatus]:
    """What the user may see at once: roster rows linked to them and their own submission.

    A submission and a roster row with the same NIK are shown as one person.
    """
    as_of = await data_as_of(repo)
    submission = await repo.registration.own_submitted(user_id=user_id)
    statuses: list[PersonStatus] = []
    seen: set[str] = set()
    for entry in await repo.coverage.entries_linked_to(user_id):
        own = submission if submission is not None and submission.nik == entry.nik else None
        statuses.append(
            build_status(nik=entry.nik, entry=entry, submission=own, today=today, data_as_of=as_of)
        )
        seen.add(entry.nik)
    if submission is not None and submission.nik and submission.nik not in seen:
        # Their own registration may already be on the roster (linked to nobody yet).
        on_roster = await repo.coverage.get_entry(submission.nik)
        statuses.append(
            build_status(
                nik=submission.nik,
                entry=on_roster,
                submission=submission,
                today=today,
                data_as_of=as_of,
            )
        )
    return statuses


def _expected_birth_dates(
    nik: str, entry: RosterEntry | None, submission: Submission | None, today: date
) -> set[date]:
    """Birth dates that prove the asker knows the person: each record's own, else the NIK's."""
    parsed = parse_nik(nik, today=today)
    from_nik = parsed.birth_date if isinstance(parsed, Nik) else None
    expected: set[date] = set()
    for recorded in (
        entry.birth_date if entry is not None else None,
        submission.birth_date if submission is not None else None,
    ):
        if recorded is not None:
            expected.add(recorded)
    if not expected and from_nik is not None:
        expected.add(from_nik)
    return expected


async def lookup_person(
    repo: Repositories, *, nik: str, birth_date: date, today: date
) -> PersonStatus | None:
    """The status of the person with this NIK **and** birth date, else None.

    A wrong birth date and an unknown NIK give the same None, so the answer never tells whether
    a NIK exists. The birth date is compared with the roster's or the submission's; when neither
    records one, with the date encoded in the NIK.

    Args:
        repo: The repositories of the current transaction.
        nik: 16 digits (already validated).
        birth_date: The date the asker typed.
        today: The regency's date.
    """
    entry = await repo.coverage.get_entry(nik)
    submission = await repo.registration.submitted_with_nik(nik)
    if submission is not None and submission.status == SubmissionStatus.DRAFT.value:
        submission = None
    if entry is None and submission is None:
        return None
    if birth_date not in _expected_birth_dates(nik, entry, submission, today):
        return None
    return build_status(
        nik=nik,
        entry=entry,
        submission=submission,
        today=today,
        data_as_of=await data_as_of(repo),
    )


# --- rate limit --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LookupLimited:
    """Too many failed lookups: the user may try again at ``until`` (aware, UTC)."""

    until: datetime


@dataclass(frozen=True, slots=True)
class LookupNoMatch:
    """Nothing matched the NIK and birth date.

    Attributes:
        attempts_left: Failed lookups the user may still make in the current hour.
        blocked_until: Set when this failure used the last attempt.
    """

    attempts_left: int
    blocked_until: datetime | None = None


LookupOutcome = PersonStatus | LookupNoMatch | LookupLimited


def _blocked_until(failures: list[datetime], limit: int) -> datetime | None:
    # The user may try again once fewer than ``limit`` failures remain inside the window: when
    # the failure that is ``limit``-th from the newest leaves it.
    if len(failures) < limit:
        return None
    return failures[len(failures) - limit] + LOOKUP_WINDOW


async def lookup_blocked_until(
    repo: Repositories, *, user_id: int, now: datetime, limit: int
) -> datetime | None:
    """When the user may look someone up again, or None if they may now."""
    failures = await repo.coverage.lookup_failures_since(
        user_id=user_id, since=now - LOOKUP_WINDOW
    )
    return _blocked_until(failures, limit)


async def checked_lookup(
    repo: Repositories,
    *,
    user_id: int,
    nik: str,
    birth_date: date,
    now: datetime,
    limit: int,
) -> LookupOutcome:
    """A NIK + birth-date lookup behind the failed-lookup limit (the one entry point to use).

    Args:
        repo: The repositories of the current transaction (a failure is recorded in it).
        user_id: Who is asking.
        nik: 16 digits (already validated).
        birth_date: The date the asker typed.
        now: The current time (``ctx.now()``).
        limit: Failed lookups allowed per hour (``Settings.lookup_failures_per_hour``).

    Returns:
        The person's status; :class:`LookupNoMatch`; or :class:`LookupLimited` when the user must
        wait (in which case nothing was looked up).
    """
    since = now - LOOKUP_WINDOW
    failures = await repo.coverage.lookup_failures_since(user_id=user_id, since=since)
    until = _blocked_until(failures, limit)
    if until is not None:
        return LookupLimited(until)
    found = await lookup_person(repo, nik=nik, birth_date=birth_date, today=regency_date(now))
    if found is not None:
        return found
    await repo.coverage.record_lookup_failure(user_id=user_id, at=now)
    failures.append(now)
    return LookupNoMatch(
        attempts_left=max(0, limit - len(failures)), blocked_until=_blocked_until(failures, limit)
    )
