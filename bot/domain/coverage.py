"""Coverage status of a member: active, in the unpaid grace months, or nonaktif.

How "N consecutive unpaid months" becomes dates (N = ``grace_months`` in
``bot/data/coverage.toml``, 3 today):

* the first unpaid day is ``paid_until + 1 day``;
* unpaid month *k* (k = 1, 2, ...) starts ``k - 1`` calendar months after the first unpaid
  day, so for a month-end ``paid_until`` the unpaid months are whole calendar months;
* cover becomes nonaktif on ``first unpaid day + N months`` (``nonaktif_from``) and the last
  protected day is the day before.

Example: paid until 31 January -> February, March and April are unpaid months 1-3; the member
is still protected on 30 April and nonaktif from 1 May. A mid-month ``paid_until`` (15 January)
gives nonaktif from 16 April. When the target month is shorter, the day is clamped to its last
day (first unpaid day 31 January + 1 month = 28/29 February), which errs on the early side.

``unpaid_months`` counts unpaid months that have *begun* by ``today`` (months in arrears): on
1 February it is 1, on 30 April 3, on 1 May 4 (nonaktif).
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from bot.domain.claims import Mark
from bot.domain.facts import load_toml

_DATA_FILE = "coverage.toml"


class Payer(StrEnum):
    """Who pays the member's iuran."""

    APBD = "apbd"  # the regency budget (Pekerja Rentan, "Lindungi Pren")
    SELF = "self"  # the member (peserta mandiri)
    OTHER = "other"  # another third party


class CoverageState(StrEnum):
    """Coverage state on a given day."""

    NOT_STARTED = "not_started"  # coverage_start is in the future
    NO_PAYMENT = "no_payment"  # no paid period recorded
    ACTIVE = "active"  # today is within the paid period
    GRACE = "grace"  # unpaid, but fewer than grace_months unpaid months have passed
    NONAKTIF = "nonaktif"  # grace_months consecutive unpaid months: not covered


@dataclass(frozen=True, slots=True)
class LapseRule:
    """The lapse rule from the data file."""

    grace_months: int
    mark: Mark
    source: str
    history_after_lapse_mark: Mark


@dataclass(frozen=True, slots=True)
class CoverageStatus:
    """Outcome of :func:`coverage_status`."""

    state: CoverageState
    payer: Payer
    paid_until: date | None
    protected_until: date | None  # last covered day (end of the grace months)
    nonaktif_from: date | None  # first day without cover unless paid
    unpaid_months: int  # unpaid months begun by today (0 while paid)
    grace_months: int
    mark: Mark  # confidence in the lapse rule

    @property
    def is_protected(self) -> bool:
        """True when a death or accident today would be covered."""
        return self.state in (CoverageState.ACTIVE, CoverageState.GRACE)


@functools.cache
def lapse_rule() -> LapseRule:
    """Return the lapse rule (grace months and its mark) from ``coverage.toml``."""
    raw = load_toml(_DATA_FILE)["lapse"]
    grace = int(raw["grace_months"])
    if grace < 1:
        raise ValueError(f"{_DATA_FILE}: lapse.grace_months must be at least 1")
    return LapseRule(
        grace_months=grace,
        mark=Mark(raw["mark"]),
        source=raw["source"],
        history_after_lapse_mark=Mark(raw["history_after_lapse_mark"]),
    )


def add_months(day: date, months: int) -> date:
    """Shift ``day`` by whole calendar months, clamping to the last day of a shorter month.

    Args:
        day: Start date.
        months: Number of months to add (may be negative).

    Returns:
        The shifted date.
    """
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def first_unpaid_day(paid_until: date) -> date:
    """Return the first day not covered by payment."""
    return paid_until + timedelta(days=1)


def unpaid_month_start(paid_until: date, month_number: int) -> date:
    """Return the first day of unpaid month ``month_number`` (1-based) after ``paid_until``."""
    if month_number < 1:
        raise ValueError("month_number is 1-based")
    return add_months(first_unpaid_day(paid_until), month_number - 1)


def nonaktif_date(paid_until: date, grace_months: int | None = None) -> date:
    """Return the day cover becomes nonaktif if nothing more is paid.

    Args:
        paid_until: Last day covered by payment.
        grace_months: Override of the data file's grace length (for tests/what-ifs).

    Returns:
        ``paid_until + 1 day + grace_months months``.
    """
    grace = lapse_rule().grace_months if grace_months is None else grace_months
    return add_months(first_unpaid_day(paid_until), grace)


def unpaid_months_begun(paid_until: date, today: date) -> int:
    """Count unpaid months after ``paid_until`` that have begun on or before ``today``."""
    start = first_unpaid_day(paid_until)
    if today < start:
        return 0
    months = (today.year - start.year) * 12 + today.month - start.month
    if add_months(start, months) > today:
        months -= 1
    return months + 1


def coverage_status(
    *,
    paid_until: date | None,
    coverage_start: date | None,
    today: date,
    payer: Payer,
) -> CoverageStatus:
    """Work out the member's coverage state on ``today``.

    Args:
        paid_until: Last day covered by iuran, or None when no payment is recorded.
        coverage_start: First day of membership, or None when unknown.
        today: The day to evaluate (local date in WITA).
        payer: Who pays the iuran.

    Returns:
        The state with protected-until / nonaktif dates and unpaid months so far.

    Raises:
        ValueError: If ``paid_until`` is before ``coverage_start``.
    """
    rule = lapse_rule()
    if paid_until is not None and coverage_start is not None and paid_until < coverage_start:
        raise ValueError("paid_until is before coverage_start")
    if paid_until is None:
        state = (
            CoverageState.NOT_STARTED
            if coverage_start is not None and today < coverage_start
            else CoverageState.NO_PAYMENT
        )
        return CoverageStatus(state, payer, None, None, None, 0, rule.grace_months, rule.mark)

    nonaktif_from = nonaktif_date(paid_until, rule.grace_months)
    unpaid = unpaid_months_begun(paid_until, today)
    if coverage_start is not None and today < coverage_start:
        state = CoverageState.NOT_STARTED
    elif today <= paid_until:
        state = CoverageState.ACTIVE
    elif today < nonaktif_from:
        state = CoverageState.GRACE
    else:
        state = CoverageState.NONAKTIF
    return CoverageStatus(
        state=state,
        payer=payer,
        paid_until=paid_until,
        protected_until=nonaktif_from - timedelta(days=1),
        nonaktif_from=nonaktif_from,
        unpaid_months=unpaid,
        grace_months=rule.grace_months,
        mark=rule.mark,
    )


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """How and where iuran is paid, from ``[payment]`` in ``coverage.toml``.

    Attributes:
        months_ahead: How many months may be paid at once (1 = monthly), ascending.
        late_fine: True when paying late costs a fine.
        places: Office codes of ``claims.toml`` where people pay or ask, nearest first.
        places_mark: Confidence that those offices take payments.
        apbd_contact: Office code pemda-paid participants ask when their period ends.
    """

    months_ahead: tuple[int, ...]
    late_fine: bool
    places: tuple[str, ...]
    places_mark: Mark
    apbd_contact: str


@functools.cache
def payment_facts() -> PaymentFacts:
    """Return the payment facts from ``coverage.toml``."""
    raw = load_toml(_DATA_FILE)["payment"]
    months = tuple(sorted(int(m) for m in raw["months_ahead"]))
    if not months or months[0] < 1:
        raise ValueError(f"{_DATA_FILE}: payment.months_ahead must list whole months >= 1")
    return PaymentFacts(
        months_ahead=months,
        late_fine=bool(raw["late_fine"]),
        places=tuple(raw["places"]),
        places_mark=Mark(raw["places_mark"]),
        apbd_contact=str(raw["apbd_contact"]),
    )
