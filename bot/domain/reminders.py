"""Pure scheduling of payment reminders (no sending, no storage).

Plans, from ``bot/data/coverage.toml``:

* self-payers (and "other" payers, see ``plan_by_payer``): ``due_soon`` N days before
  ``paid_until`` (14 and 3), then one ``unpaid_month`` warning in each unpaid month before the
  member becomes nonaktif (see :mod:`bot.domain.coverage` for the month arithmetic);
* APBD-paid members: one ``period_ended`` notice shortly after the paid period ends without
  renewal.

Reminders whose day has passed are dropped, except the most recent one that is still relevant
(e.g. the member is imported mid-February with February unpaid), which is moved to today so
nobody misses every warning. Each reminder has a dedupe key built from its kind, ``paid_until``
and offset, so re-planning the same period yields the same keys: the storage layer upserts on
the key, never re-sends a key already sent, and drops pending keys of an older ``paid_until``
when a payment moves it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.coverage import Payer, lapse_rule, nonaktif_date, unpaid_month_start
from bot.domain.facts import load_toml

_DATA_FILE = "coverage.toml"


class ReminderKind(StrEnum):
    """Stored reminder kind codes; the handler picks the message by kind."""

    DUE_SOON = "due_soon"  # offset = days before paid_until
    UNPAID_MONTH = "unpaid_month"  # offset = unpaid month number (1..grace_months)
    PERIOD_ENDED = "period_ended"  # offset = days after paid_until


class PlanKind(StrEnum):
    """Which reminder plan a payer gets."""

    SELF_PAY = "self_pay"
    PERIOD_END = "period_end"


@dataclass(frozen=True, slots=True)
class ReminderRules:
    """Reminder schedule and sending window from the data file."""

    tz: str
    window_start: time
    window_end: time  # exclusive
    send_time: time
    plan_by_payer: tuple[tuple[Payer, PlanKind], ...]
    days_before: tuple[int, ...]  # descending
    unpaid_month_offset_days: int
    period_end_days_after: int

    def plan_for(self, payer: Payer) -> PlanKind:
        """Return the plan kind for ``payer``."""
        return dict(self.plan_by_payer)[payer]


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    """One reminder to store and send at ``planned_at`` (aware, local time zone)."""

    kind: ReminderKind
    planned_at: datetime
    paid_until: date
    offset: int
    nonaktif_from: date  # for the message: "pay before ..."
    caught_up: bool  # True when its own day had passed and it was moved to today
    #: Exclusive: from this local day on the reminder is pointless (e.g. a "due soon" notice
    #: after the paid period ended), so a sender that fell behind drops it instead.
    relevant_until: date

    @property
    def dedupe_key(self) -> str:
        """Stable key: same kind, period and offset -> same key, whenever it is planned."""
        return f"{self.kind}:{self.paid_until.isoformat()}:{self.offset}"


@dataclass(frozen=True, slots=True)
class _Candidate:
    kind: ReminderKind
    day: date
    offset: int
    relevant_until: date  # exclusive: after this day the reminder is pointless


def _parse_time(value: str) -> time:
    return time.fromisoformat(value)


@functools.cache
def reminder_rules() -> ReminderRules:
    """Return the reminder schedule from ``coverage.toml``."""
    raw = load_toml(_DATA_FILE)["reminders"]
    rules = ReminderRules(
        tz=raw["tz"],
        window_start=_parse_time(raw["window_start"]),
        window_end=_parse_time(raw["window_end"]),
        send_time=_parse_time(raw["send_time"]),
        plan_by_payer=tuple(
            (Payer(payer), PlanKind(plan)) for payer, plan in raw["plan_by_payer"].items()
        ),
        days_before=tuple(sorted((int(d) for d in raw["self_pay"]["days_before"]), reverse=True)),
        unpaid_month_offset_days=int(raw["self_pay"]["unpaid_month_offset_days"]),
        period_end_days_after=int(raw["period_end"]["days_after"]),
    )
    if not rules.window_start < rules.window_end:
        raise ValueError(f"{_DATA_FILE}: window_start must be before window_end")
    if not rules.window_start <= rules.send_time < rules.window_end:
        raise ValueError(f"{_DATA_FILE}: send_time must be inside the sending window")
    if {p for p, _ in rules.plan_by_payer} != set(Payer):
        raise ValueError(f"{_DATA_FILE}: plan_by_payer must name every payer")
    # The warning must stay inside its own unpaid month, even in February.
    if not 0 <= rules.unpaid_month_offset_days < 28:
        raise ValueError(f"{_DATA_FILE}: unpaid_month_offset_days must be 0..27")
    ZoneInfo(rules.tz)  # fail at load time on a misspelt zone
    return rules


def next_send_time(
    planned_at: datetime,
    tz: str | None = None,
    window: tuple[time, time] | None = None,
) -> datetime:
    """Move ``planned_at`` into the allowed sending window.

    A time before the window start moves to the start of the same local day; a time at or after
    the window end moves to the start of the next local day; a time inside is unchanged.

    Args:
        planned_at: Timezone-aware time.
        tz: IANA zone of the window; defaults to the data file's (Asia/Makassar, WITA).
        window: ``(start, end)`` local times, end exclusive; defaults to the data file's.

    Returns:
        An aware datetime in ``tz``.

    Raises:
        ValueError: If ``planned_at`` is naive.
    """
    if planned_at.tzinfo is None or planned_at.utcoffset() is None:
        raise ValueError("planned_at must be timezone-aware")
    rules = reminder_rules()
    zone = ZoneInfo(tz or rules.tz)
    start, end = window or (rules.window_start, rules.window_end)
    local = planned_at.astimezone(zone)
    if local.time() < start:
        return datetime.combine(local.date(), start, tzinfo=zone)
    if local.time() >= end:
        return datetime.combine(local.date() + timedelta(days=1), start, tzinfo=zone)
    return local


def _self_pay_candidates(paid_until: date, rules: ReminderRules, grace: int) -> list[_Candidate]:
    first_unpaid = paid_until + timedelta(days=1)
    candidates = [
        _Candidate(ReminderKind.DUE_SOON, paid_until - timedelta(days=d), d, first_unpaid)
        for d in rules.days_before
    ]
    for month in range(1, grace + 1):
        start = unpaid_month_start(paid_until, month)
        candidates.append(
            _Candidate(
                ReminderKind.UNPAID_MONTH,
                start + timedelta(days=rules.unpaid_month_offset_days),
                month,
                unpaid_month_start(paid_until, month + 1),
            )
        )
    return candidates


def plan_reminders(
    *,
    paid_until: date | None,
    payer: Payer,
    today: date,
    grace_months: int | None = None,
) -> list[PlannedReminder]:
    """Plan the reminders for one member's current paid period.

    Args:
        paid_until: Last day covered by payment; None plans nothing.
        payer: Who pays; selects the plan via ``plan_by_payer``.
        today: Local date (WITA) of planning; earlier reminders are dropped or caught up.
        grace_months: Override of the data file's grace length (for what-ifs).

    Returns:
        Reminders in time order, each inside the sending window.
    """
    if paid_until is None:
        return []
    rules = reminder_rules()
    grace = lapse_rule().grace_months if grace_months is None else grace_months
    nonaktif_from = nonaktif_date(paid_until, grace)

    if rules.plan_for(payer) is PlanKind.SELF_PAY:
        candidates = _self_pay_candidates(paid_until, rules, grace)
    else:
        after = rules.period_end_days_after
        candidates = [
            _Candidate(
                ReminderKind.PERIOD_ENDED,
                paid_until + timedelta(days=after),
                after,
                nonaktif_from,
            )
        ]
    candidates.sort(key=lambda c: c.day)

    past = [c for c in candidates if c.day < today]
    upcoming = [c for c in candidates if c.day >= today]
    chosen: list[tuple[_Candidate, date, bool]] = []
    # Only the latest missed reminder is worth sending late, and only if nothing newer is due
    # today and it still matters.
    if past and not (upcoming and upcoming[0].day == today) and today < past[-1].relevant_until:
        chosen.append((past[-1], today, True))
    chosen.extend((c, c.day, False) for c in upcoming)

    zone = ZoneInfo(rules.tz)
    return [
        PlannedReminder(
            kind=c.kind,
            planned_at=next_send_time(datetime.combine(day, rules.send_time, tzinfo=zone)),
            paid_until=paid_until,
            offset=c.offset,
            nonaktif_from=nonaktif_from,
            caught_up=caught_up,
            relevant_until=c.relevant_until,
        )
        for c, day, caught_up in chosen
    ]
