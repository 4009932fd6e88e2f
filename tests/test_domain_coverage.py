"""Tests for bot.domain.coverage (lapse dates) and bot.domain.reminders (scheduling)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.claims import Mark
from bot.domain.coverage import (
    CoverageState,
    Payer,
    add_months,
    coverage_status,
    lapse_rule,
    nonaktif_date,
    unpaid_months_begun,
)
from bot.domain.reminders import (
    PlannedReminder,
    ReminderKind,
    next_send_time,
    plan_reminders,
    reminder_rules,
)

WITA = ZoneInfo("Asia/Makassar")
JAN_31 = date(2025, 1, 31)
START = date(2024, 7, 1)


def _status(today: date, paid_until: date | None = JAN_31, start: date | None = START):
    return coverage_status(
        paid_until=paid_until, coverage_start=start, today=today, payer=Payer.SELF
    )


# --- coverage ----------------------------------------------------------------------------------


def test_lapse_rule_from_data() -> None:
    rule = lapse_rule()
    assert rule.grace_months == 3
    assert rule.mark is Mark.C2
    assert rule.history_after_lapse_mark is Mark.U


@pytest.mark.parametrize(
    ("today", "state", "unpaid"),
    [
        (date(2025, 1, 1), CoverageState.ACTIVE, 0),
        (date(2025, 1, 31), CoverageState.ACTIVE, 0),  # last paid day
        (date(2025, 2, 1), CoverageState.GRACE, 1),  # February unpaid
        (date(2025, 2, 28), CoverageState.GRACE, 1),
        (date(2025, 3, 1), CoverageState.GRACE, 2),
        (date(2025, 4, 1), CoverageState.GRACE, 3),
        (date(2025, 4, 30), CoverageState.GRACE, 3),  # last protected day
        (date(2025, 5, 1), CoverageState.NONAKTIF, 4),  # Feb, Mar, Apr unpaid -> nonaktif
        (date(2026, 1, 15), CoverageState.NONAKTIF, 12),
    ],
)
def test_paid_until_31_january_boundaries(today: date, state: CoverageState, unpaid: int) -> None:
    status = _status(today)
    assert status.state is state
    assert status.unpaid_months == unpaid
    assert status.protected_until == date(2025, 4, 30)
    assert status.nonaktif_from == date(2025, 5, 1)
    assert status.paid_until == JAN_31
    assert status.is_protected is (state is not CoverageState.NONAKTIF)
    assert status.grace_months == 3


@pytest.mark.parametrize(
    ("paid_until", "nonaktif"),
    [
        (date(2025, 1, 15), date(2025, 4, 16)),  # mid-month period
        (date(2024, 11, 30), date(2025, 3, 1)),  # across the year end
        (date(2023, 10, 31), date(2024, 2, 1)),  # Nov, Dec, Jan
        (date(2024, 2, 29), date(2024, 6, 1)),  # leap-day month end
        (date(2025, 1, 30), date(2025, 4, 30)),  # 31 Jan + 3 months clamps to 30 Apr
        (date(2025, 12, 31), date(2026, 4, 1)),
    ],
)
def test_nonaktif_dates(paid_until: date, nonaktif: date) -> None:
    assert nonaktif_date(paid_until) == nonaktif
    day_before = _status(nonaktif - timedelta(days=1), paid_until, None)
    assert day_before.state is CoverageState.GRACE
    assert day_before.protected_until == nonaktif - timedelta(days=1)
    assert _status(nonaktif, paid_until, None).state is CoverageState.NONAKTIF


def test_not_started_yet() -> None:
    status = coverage_status(
        paid_until=date(2025, 6, 30),
        coverage_start=date(2025, 3, 1),
        today=date(2025, 2, 20),
        payer=Payer.APBD,
    )
    assert status.state is CoverageState.NOT_STARTED
    assert not status.is_protected
    assert status.payer is Payer.APBD
    assert status.nonaktif_from == date(2025, 10, 1)


def test_no_payment_recorded() -> None:
    status = _status(date(2025, 2, 1), paid_until=None)
    assert status.state is CoverageState.NO_PAYMENT
    assert status.protected_until is None
    assert status.nonaktif_from is None
    assert status.unpaid_months == 0
    assert not status.is_protected
    future_start = _status(date(2025, 2, 1), paid_until=None, start=date(2025, 3, 1))
    assert future_start.state is CoverageState.NOT_STARTED


def test_start_on_paid_until_is_allowed_but_after_is_an_error() -> None:
    assert _status(JAN_31, JAN_31, JAN_31).state is CoverageState.ACTIVE
    with pytest.raises(ValueError, match="before coverage_start"):
        _status(JAN_31, JAN_31, date(2025, 2, 1))


@pytest.mark.parametrize("payer", list(Payer))
def test_payer_is_reported(payer: Payer) -> None:
    status = coverage_status(paid_until=JAN_31, coverage_start=None, today=JAN_31, payer=payer)
    assert status.payer is payer


def test_add_months_clamps() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)


dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


@given(dates, st.integers(min_value=-240, max_value=240))
def test_add_months_properties(day: date, months: int) -> None:
    shifted = add_months(day, months)
    assert (shifted.year * 12 + shifted.month) - (day.year * 12 + day.month) == months
    assert shifted.day <= day.day


@given(dates, st.integers(min_value=0, max_value=800))
def test_state_and_unpaid_months_agree(paid_until: date, days_later: int) -> None:
    today = paid_until + timedelta(days=days_later)
    status = _status(today, paid_until, None)
    grace = status.grace_months
    if status.state is CoverageState.ACTIVE:
        assert status.unpaid_months == 0
    elif status.state is CoverageState.GRACE:
        assert 1 <= status.unpaid_months <= grace
    else:
        assert status.state is CoverageState.NONAKTIF
        assert status.unpaid_months >= grace + 1
    assert unpaid_months_begun(paid_until, today) <= unpaid_months_begun(
        paid_until, today + timedelta(days=1)
    )


# --- reminders: plans --------------------------------------------------------------------------


def _plan(today: date, payer: Payer = Payer.SELF, paid_until: date | None = JAN_31, **kw: int):
    return plan_reminders(paid_until=paid_until, payer=payer, today=today, **kw)


def _summary(plan: list[PlannedReminder]) -> list[tuple[str, int, date, bool]]:
    return [(r.kind.value, r.offset, r.planned_at.date(), r.caught_up) for r in plan]


def test_self_payer_full_plan() -> None:
    plan = _plan(date(2025, 1, 1))
    assert _summary(plan) == [
        ("due_soon", 14, date(2025, 1, 17), False),
        ("due_soon", 3, date(2025, 1, 28), False),
        ("unpaid_month", 1, date(2025, 2, 8), False),
        ("unpaid_month", 2, date(2025, 3, 8), False),
        ("unpaid_month", 3, date(2025, 4, 8), False),
    ]
    assert [r.dedupe_key for r in plan] == [
        "due_soon:2025-01-31:14",
        "due_soon:2025-01-31:3",
        "unpaid_month:2025-01-31:1",
        "unpaid_month:2025-01-31:2",
        "unpaid_month:2025-01-31:3",
    ]
    for reminder in plan:
        assert reminder.planned_at.tzinfo == WITA
        assert reminder.planned_at.time() == time(9, 0)
        assert reminder.nonaktif_from == date(2025, 5, 1)
        assert reminder.paid_until == JAN_31
    # Every unpaid-month warning comes before the member becomes nonaktif.
    assert all(r.planned_at.date() < date(2025, 5, 1) for r in plan)


def test_other_payer_gets_self_payer_plan() -> None:
    assert _summary(_plan(date(2025, 1, 1), Payer.OTHER)) == _summary(_plan(date(2025, 1, 1)))


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        # Imported after the 14-day reminder: it is sent today instead, then the 3-day one.
        (
            date(2025, 1, 20),
            [("due_soon", 14, date(2025, 1, 20), True), ("due_soon", 3, date(2025, 1, 28), False)],
        ),
        # A reminder due today is sent today; the older one is not sent late.
        (date(2025, 1, 28), [("due_soon", 3, date(2025, 1, 28), False)]),
        # 1 Feb: "due soon" no longer makes sense; next is the February warning.
        (date(2025, 2, 1), [("unpaid_month", 1, date(2025, 2, 8), False)]),
        # Mid-February, February's warning was missed: sent today.
        (date(2025, 2, 10), [("unpaid_month", 1, date(2025, 2, 10), True)]),
        # Last protected day: the April warning is still worth sending.
        (date(2025, 4, 30), [("unpaid_month", 3, date(2025, 4, 30), True)]),
        # Nonaktif: nothing left to plan.
        (date(2025, 5, 1), []),
    ],
)
def test_self_payer_plan_from_a_later_day(
    today: date, expected: list[tuple[str, int, date, bool]]
) -> None:
    summary = _summary(_plan(today))
    assert summary[: len(expected)] == expected
    assert all(day >= today for _, _, day, _ in summary)
    if expected:
        assert summary[-1][:2] == ("unpaid_month", 3)


def test_dedupe_keys_are_stable_across_replanning() -> None:
    full = {r.dedupe_key for r in _plan(date(2025, 1, 1))}
    for day in (date(2025, 1, 20), date(2025, 2, 10), date(2025, 3, 9), date(2025, 4, 30)):
        assert {r.dedupe_key for r in _plan(day)} <= full
    # A payment moves paid_until: new period, new keys.
    later = {r.dedupe_key for r in _plan(date(2025, 1, 1), paid_until=date(2025, 4, 30))}
    assert not later & full


def test_apbd_plan_is_one_period_ended_notice() -> None:
    plan = _plan(date(2025, 1, 1), Payer.APBD)
    assert _summary(plan) == [("period_ended", 1, date(2025, 2, 1), False)]
    assert plan[0].dedupe_key == "period_ended:2025-01-31:1"
    assert plan[0].kind is ReminderKind.PERIOD_ENDED


def test_apbd_notice_caught_up_until_nonaktif() -> None:
    assert _summary(_plan(date(2025, 3, 15), Payer.APBD)) == [
        ("period_ended", 1, date(2025, 3, 15), True)
    ]
    assert _plan(date(2025, 5, 1), Payer.APBD) == []


def test_no_paid_period_plans_nothing() -> None:
    for payer in Payer:
        assert _plan(date(2025, 1, 1), payer, paid_until=None) == []


def test_grace_override() -> None:
    plan = _plan(date(2025, 1, 1), grace_months=2)
    assert [r.offset for r in plan if r.kind is ReminderKind.UNPAID_MONTH] == [1, 2]
    assert plan[-1].nonaktif_from == date(2025, 4, 1)


@given(dates, dates, st.sampled_from(list(Payer)))
def test_plans_are_ordered_unique_and_in_window(paid_until: date, today: date, payer: Payer):
    plan = plan_reminders(paid_until=paid_until, payer=payer, today=today)
    rules = reminder_rules()
    times = [r.planned_at for r in plan]
    assert times == sorted(times)
    assert len({r.dedupe_key for r in plan}) == len(plan)
    for reminder in plan:
        assert reminder.planned_at.date() >= today
        assert rules.window_start <= reminder.planned_at.time() < rules.window_end
        assert reminder.planned_at.date() < reminder.nonaktif_from
    assert sum(r.caught_up for r in plan) <= 1


# --- reminders: sending window -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("planned", "expected"),
    [
        (datetime(2025, 3, 3, 7, 59, tzinfo=WITA), datetime(2025, 3, 3, 8, 0, tzinfo=WITA)),
        (datetime(2025, 3, 3, 0, 0, tzinfo=WITA), datetime(2025, 3, 3, 8, 0, tzinfo=WITA)),
        (datetime(2025, 3, 3, 8, 0, tzinfo=WITA), datetime(2025, 3, 3, 8, 0, tzinfo=WITA)),
        (datetime(2025, 3, 3, 19, 59, tzinfo=WITA), datetime(2025, 3, 3, 19, 59, tzinfo=WITA)),
        (datetime(2025, 3, 3, 20, 0, tzinfo=WITA), datetime(2025, 3, 4, 8, 0, tzinfo=WITA)),
        (datetime(2025, 3, 3, 23, 30, tzinfo=WITA), datetime(2025, 3, 4, 8, 0, tzinfo=WITA)),
        (datetime(2025, 12, 31, 21, 0, tzinfo=WITA), datetime(2026, 1, 1, 8, 0, tzinfo=WITA)),
        # 23:00 UTC is 07:00 WITA on the next day.
        (datetime(2025, 3, 3, 23, 0, tzinfo=UTC), datetime(2025, 3, 4, 8, 0, tzinfo=WITA)),
        # 05:00 UTC is 13:00 WITA: unchanged, returned in WITA.
        (datetime(2025, 3, 3, 5, 0, tzinfo=UTC), datetime(2025, 3, 3, 13, 0, tzinfo=WITA)),
    ],
)
def test_next_send_time(planned: datetime, expected: datetime) -> None:
    moved = next_send_time(planned)
    assert moved == expected
    assert moved.tzinfo == WITA


def test_next_send_time_custom_zone_and_window() -> None:
    planned = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)  # 13:00 WITA, 14:00 WIT
    moved = next_send_time(planned, tz="Asia/Jayapura", window=(time(15, 0), time(18, 0)))
    assert moved == datetime(2025, 3, 3, 15, 0, tzinfo=ZoneInfo("Asia/Jayapura"))


def test_next_send_time_rejects_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_send_time(datetime(2025, 3, 3, 9, 0))  # noqa: DTZ001


# Hypothesis bounds are naive by design; the zone comes from ``timezones``.
NAIVE_MIN = datetime(2000, 1, 1)  # noqa: DTZ001
NAIVE_MAX = datetime(2090, 1, 1)  # noqa: DTZ001


@given(st.datetimes(min_value=NAIVE_MIN, max_value=NAIVE_MAX, timezones=st.just(UTC)))
def test_next_send_time_properties(planned: datetime) -> None:
    moved = next_send_time(planned)
    rules = reminder_rules()
    assert moved >= planned
    assert moved - planned < timedelta(hours=13)  # at most the 12-hour quiet night
    assert rules.window_start <= moved.time() < rules.window_end
    local = planned.astimezone(WITA)
    if rules.window_start <= local.time() < rules.window_end:
        assert moved == planned
