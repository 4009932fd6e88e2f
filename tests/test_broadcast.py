"""The broadcast rules without I/O: pacing guarantees, outcomes, quiet hours, schedules, audiences,
progress; and the repository's audience queries and row life cycle on each database."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.broadcast import (
    Audience,
    ChatSpacing,
    ErrorCode,
    Outcome,
    ProgressCounts,
    RatePlan,
    RetryPolicy,
    ScheduleError,
    WindowGuard,
    after_slots,
    classify,
    eta_seconds,
    parse_days,
    parse_schedule,
    percent,
    plan_slots,
    progress_bar,
    quiet_until,
)
from bot.broadcast_sender import failures_csv, render_message
from bot.i18n import Catalogs
from storage.db import Database
from storage.models import Role
from storage.models.broadcast import AudienceKind, RecipientStatus
from storage.models.coverage import RosterEntry
from storage.models.registration import Submission, SubmissionStatus
from storage.repos.broadcast import NotDelivered
from tests.support import TEST_KEYRING

WITA = 8  # hours ahead of UTC


def wita(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026 given in WITA."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=WITA)


# --- pacing --------------------------------------------------------------------------------------


def test_rate_plan_spaces_slots_below_the_limit() -> None:
    plan = RatePlan(30.0, headroom=0.02)
    assert plan.per_window == 30
    assert plan.interval == pytest.approx(1 / 29.4)
    assert plan.effective_rate == pytest.approx(29.4)
    # 31 consecutive slots span more than a second, with room for jitter.
    assert plan.slack == pytest.approx(30 / 29.4 - 1)
    assert 0 < plan.late_tolerance < plan.slack
    assert RatePlan(0.5).per_window == 1
    with pytest.raises(ValueError, match="rate"):
        RatePlan(0)


def test_slots_continue_from_the_shared_budget() -> None:
    plan = RatePlan(10.0, headroom=0.0)
    first = plan_slots(next_free=100.0, now=50.0, count=3, plan=plan)
    assert first == pytest.approx((100.0, 100.1, 100.2))
    nxt = after_slots(first, plan, 100.0)
    assert nxt == pytest.approx(100.3)
    # An idle budget starts at "now", never in the past.
    assert plan_slots(next_free=nxt, now=500.0, count=1, plan=plan) == (500.0,)
    assert after_slots((), plan, 7.0) == 7.0


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=40),
    sends=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=0.1),  # the sender wants to start this much later
            st.floats(min_value=0.0, max_value=0.5),  # response latency
            st.floats(min_value=0.0, max_value=1.0),  # where in between Telegram stamps it
        ),
        min_size=1,
        max_size=200,
    ),
)
def test_window_guard_holds_whatever_the_latency_and_jitter(
    rate: int, sends: list[tuple[float, float, float]]
) -> None:
    """However late Telegram stamps a request between its start and its response, no rolling
    second of Telegram's stamps holds more than ``rate`` of them."""
    guard = WindowGuard(rate, 1.0)
    now = 0.0
    responses: list[tuple[float, float]] = []  # (response time, Telegram's stamp)
    stamps: list[float] = []
    for gap, latency, where in sends:
        now += gap
        while True:
            # Deliver the responses due by now, in time order.
            for done, _ in sorted(r for r in responses if r[0] <= now):
                guard.finished(done)
            responses = [r for r in responses if r[0] > now]
            wait = guard.wait_time(now)
            if wait <= 0:
                break
            nxt = min([now + wait, *(r[0] for r in responses)])
            now = max(nxt, now + 1e-9)
        guard.started()
        stamp = now + latency * where
        stamps.append(stamp)
        responses.append((now + latency, stamp))
    stamps.sort()
    for i, start in enumerate(stamps):
        # Telegram's window: stamps in (t - 1, t].
        inside = [s for s in stamps[i:] if s - start < 1.0]
        assert len(inside) <= rate


def test_chat_spacing_keeps_one_message_per_second_per_chat() -> None:
    spacing = ChatSpacing(1.05)
    assert spacing.wait_time(7, 10.0) == 0
    spacing.record(7, 10.0)
    assert spacing.wait_time(7, 10.5) == pytest.approx(0.55)
    assert spacing.wait_time(8, 10.5) == 0
    assert spacing.wait_time(7, 11.06) == 0


# --- outcomes ------------------------------------------------------------------------------------


def test_errors_are_classified() -> None:
    assert classify(None).outcome is Outcome.SENT
    limited = classify(RetryAfter(timedelta(seconds=7)))
    assert (limited.outcome, limited.retry_after) == (Outcome.RATE_LIMITED, 7.0)
    assert classify(Forbidden("bot was blocked by the user")).error is ErrorCode.BLOCKED
    assert classify(BadRequest("chat not found")).outcome is Outcome.FAILED
    # A timeout may have delivered the message: never retried.
    timeout = classify(TimedOut())
    assert (timeout.outcome, timeout.error) == (Outcome.FAILED, ErrorCode.TIMEOUT)
    assert classify(NetworkError("Internal Server Error (500)")).outcome is Outcome.RETRY
    assert classify(RuntimeError("?")).error is ErrorCode.UNKNOWN


def test_retries_are_bounded_with_backoff() -> None:
    policy = RetryPolicy(max_attempts=3, backoff=(2.0, 10.0))
    assert policy.delay_after(1) == 2.0
    assert policy.delay_after(2) == 10.0
    assert policy.delay_after(3) is None
    assert RetryPolicy(max_attempts=5, backoff=(1.0,)).delay_after(4) == 1.0


# --- quiet hours and schedules -------------------------------------------------------------------


def test_quiet_hours_are_20_to_08_wita() -> None:
    assert quiet_until(wita(21, 19, 59)) is None
    assert quiet_until(wita(21, 20, 0)) == wita(22, 8, 0)
    assert quiet_until(wita(22, 7, 59)) == wita(22, 8, 0)
    assert quiet_until(wita(22, 8, 0)) is None
    assert quiet_until(wita(21, 23, 0), override=True) is None


def test_schedules_are_read_in_wita() -> None:
    now = wita(21, 10, 0)
    assert parse_schedule("25-11-2026 09:00", now) == wita(25, 9, 0)
    assert parse_schedule("25/11 9.30", now) == wita(25, 9, 30)
    assert parse_schedule("pukul 14:15", now) == wita(21, 14, 15)
    assert parse_schedule("09:00", now) == wita(22, 9, 0)  # already passed today
    assert parse_schedule("20-11-2026 09:00", now) is ScheduleError.PAST
    assert parse_schedule("1-1-2028 09:00", now) is ScheduleError.TOO_FAR
    for bad in ("besok", "25-11-2026", "31-02-2027 09:00", "25:00", "", "1 2 3"):
        assert parse_schedule(bad, now) is ScheduleError.FORMAT


# --- audiences and progress ----------------------------------------------------------------------


def test_audiences_round_trip_and_are_validated() -> None:
    for audience in (
        Audience(AudienceKind.EVERYONE),
        Audience(AudienceKind.KECAMATAN, "63.11.01"),
        Audience(AudienceKind.STATUS, "verified"),
        Audience(AudienceKind.ENDING, days=30),
    ):
        assert Audience.from_json(audience.to_json()) == audience
    assert Audience.from_json({"kind": "kec", "code": "99.99.99"}) is None
    assert Audience.from_json({"kind": "status", "code": "nope"}) is None
    assert Audience.from_json({"kind": "ending", "days": 999}) is None
    assert Audience.from_json({"kind": "all", "code": "x"}) is None
    assert Audience.from_json({"kind": "zzz"}) is None
    assert Audience.from_json("all") is None
    assert parse_days(" 30 hari ") == 30
    assert parse_days("abc") is None
    assert parse_days("400") is None


def test_progress_helpers() -> None:
    counts = ProgressCounts.from_mapping({"sent": 6, "pending": 3, "sending": 1, "x": 9})
    assert (counts.total, counts.remaining, counts.done) == (10, 4, 6)
    assert progress_bar(6, 10, width=10) == "██████░░░░"
    assert progress_bar(0, 0) == "█" * 12
    assert percent(1, 3) == 33
    assert eta_seconds(100, RatePlan(30.0, headroom=0.02)) == math.ceil(100 / 29.4)
    assert eta_seconds(0, RatePlan(30.0)) == 0


def test_recipient_text_marks_reminders_in_the_recipients_language() -> None:
    catalogs = Catalogs.load()
    text = render_message(catalogs.get("id"), body_html="<b>Rapat</b> besok", is_reminder=False)
    assert text == "📢 <b>Pengumuman</b>\n\n<b>Rapat</b> besok"
    reminder = render_message(catalogs.get("en"), body_html="Pay", is_reminder=True)
    assert reminder.startswith("🔔 <b>Reminder</b>\n\nPay")
    assert "/pengingat" in reminder


def test_failure_csv_lists_reasons() -> None:
    data = failures_csv(
        Catalogs.load().get("id"),
        [NotDelivered(5, "blocked", "blocked", 1), NotDelivered(6, "failed", "interrupted", 1)],
    ).decode("utf-8-sig")
    lines = data.splitlines()
    assert lines[0] == "telegram_user_id,status,reason_code,reason,attempts"
    assert lines[1] == "5,blocked,blocked,Memblokir bot,1"
    assert lines[2].startswith("6,failed,interrupted,Bot berhenti saat mengirim")


# --- the repository ------------------------------------------------------------------------------


async def seed_audiences(db: Database) -> None:
    """Users 1..9 with submissions, roster rows and roles covering every audience."""
    async with db.transaction() as repo:
        for uid in range(1, 10):
            await repo.users.set_role(user_id=uid, role=Role.WORKER)
        await repo.users.set_role(user_id=9, role=Role.FACILITATOR)
        await repo.users.mark_unreachable(user_id=8)
        await repo.reminders.set_reminders_enabled(user_id=7, enabled=False)
        submissions = [
            (1, "63.11.01", "63.11.01.2001", SubmissionStatus.SUBMITTED, "apbd"),
            (2, "63.11.01", "63.11.01.2002", SubmissionStatus.VERIFIED, "self"),
            (3, "63.11.02", "63.11.02.2001", SubmissionStatus.DRAFT, "apbd"),
            (8, "63.11.01", "63.11.01.2001", SubmissionStatus.SUBMITTED, "apbd"),
        ]
        for n, (uid, kec, desa, status, payer) in enumerate(submissions):
            repo.session.add(
                Submission(
                    reference=f"REF{n}",
                    status=status.value,
                    owner_user_id=uid,
                    entered_by_user_id=uid,
                    kecamatan_code=kec,
                    desa_code=desa,
                    payer=payer,
                )
            )
        today = date(2026, 11, 21)
        roster = [
            ("6311010101900001", 4, "apbd", today + timedelta(days=5)),
            ("6311010101900002", 5, "self", today + timedelta(days=40)),
            ("6311010101900003", 6, "self", today - timedelta(days=1)),
            ("6311010101900004", 7, "self", today + timedelta(days=10)),
        ]
        for nik, uid, payer, paid_until in roster:
            repo.session.add(
                RosterEntry(
                    nik=nik,
                    name="X",
                    programmes="jkk,jkm",
                    payer=payer,
                    coverage_start=date(2026, 1, 1),
                    paid_until=paid_until,
                    telegram_user_id=uid,
                )
            )


@pytest.mark.parametrize(
    ("kind", "code", "days", "expected"),
    [
        (AudienceKind.EVERYONE, None, None, (9, 1, 1)),
        (AudienceKind.FACILITATORS, None, None, (1, 0, 0)),
        (AudienceKind.KECAMATAN, "63.11.01", None, (3, 1, 0)),
        (AudienceKind.DESA, "63.11.01.2001", None, (2, 1, 0)),
        (AudienceKind.STATUS, "draft", None, (1, 0, 0)),
        (AudienceKind.PEMDA_PAID, None, None, (3, 1, 0)),  # roster 4, submissions 1 and 8
        (AudienceKind.SELF_PAYING, None, None, (4, 0, 1)),  # roster 5, 6, 7; submission 2
        (AudienceKind.ENDING, None, 14, (2, 0, 1)),  # users 4 and 7
        (AudienceKind.ENDING, None, 60, (3, 0, 1)),
    ],
)
async def test_audience_counts(
    db_url: str, kind: AudienceKind, code: str | None, days: int | None, expected: tuple[int, ...]
) -> None:
    db = Database(db_url, keyring=TEST_KEYRING)
    try:
        await seed_audiences(db)
        async with db.transaction() as repo:
            count = await repo.broadcasts.count_audience(
                kind=kind, code=code, days=days, today=date(2026, 11, 21)
            )
        assert (count.total, count.unreachable, count.reminders_off) == expected
    finally:
        await db.dispose()


async def test_rows_are_claimed_once_and_given_back(db_url: str) -> None:
    db = Database(db_url, keyring=TEST_KEYRING)
    now = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    try:
        await seed_audiences(db)
        async with db.transaction() as repo:
            broadcast = await repo.broadcasts.create(
                created_by=1,
                audience={"kind": "all", "code": None, "days": None},
                is_reminder=True,
                body_html="x",
                media_kind="text",
                media_file_id=None,
                scheduled_at=now,
                ignore_quiet_hours=False,
                created_at=now,
                confirmed_at=now,
            )
            bid = broadcast.id
            assert bid is not None
            assert await repo.broadcasts.due(now=now) == [bid]
        async with db.transaction() as repo:
            assert await repo.broadcasts.start(bid, today=now.date(), started_at=now) == 9
            assert await repo.broadcasts.start(bid, today=now.date(), started_at=now) is None
            counts = await repo.broadcasts.counts(bid)
        # User 8 blocked the bot earlier; user 7 turned reminders off.
        assert counts == {"pending": 7, "skipped": 2}
        async with db.transaction() as repo:
            first = await repo.broadcasts.claim(broadcast_ids=[bid], limit=4, worker="a", now=now)
            second = await repo.broadcasts.claim(broadcast_ids=[bid], limit=9, worker="b", now=now)
        assert len(first) == 4
        assert len(second) == 3
        assert {r.id for r in first}.isdisjoint({r.id for r in second})
        assert all(r.attempts == 1 and r.status == "sending" for r in first)
        async with db.transaction() as repo:
            ids = [r.id for r in first if r.id is not None]
            # Another worker's ids are never touched.
            await repo.broadcasts.finish(ids, worker="b", status=RecipientStatus.SENT, now=now)
            await repo.broadcasts.finish(ids[:2], worker="a", status=RecipientStatus.SENT, now=now)
            await repo.broadcasts.release(ids[2:], worker="a")
            await repo.broadcasts.retry_later(
                second[0].id or 0, worker="b", error="server_error", not_before=now
            )
            assert not await repo.broadcasts.try_finish(bid, now=now)
            counts = await repo.broadcasts.counts(bid)
            rows = {r.id: r for r in await repo.broadcasts.recipients(bid)}
        assert counts == {"sent": 2, "pending": 3, "sending": 2, "skipped": 2}
        assert rows[ids[2]].attempts == 0  # given back unsent: the attempt is undone
        # "b" crashed: its claims are closed as interrupted, never sent again.
        async with db.transaction() as repo:
            later = now + timedelta(minutes=5)
            assert await repo.broadcasts.fail_stale_claims(claimed_before=later, worker="b") == 0
            assert await repo.broadcasts.fail_stale_claims(claimed_before=later, worker="c") == 2
            assert await repo.broadcasts.cancel(bid, now=now)
            assert await repo.broadcasts.try_finish(bid, now=now)
            assert not await repo.broadcasts.try_finish(bid, now=now)
            missed = await repo.broadcasts.not_delivered(bid)
        reasons = sorted((m.status, m.error) for m in missed)
        assert reasons == [
            *[("failed", "interrupted")] * 2,
            *[("skipped", "cancelled")] * 3,
            ("skipped", "reminders_off"),
            ("skipped", "unreachable"),
        ]
    finally:
        await db.dispose()


async def test_the_send_budget_is_shared(db_url: str) -> None:
    db = Database(db_url, keyring=TEST_KEYRING)
    try:
        async with db.transaction() as repo:
            assert await repo.broadcasts.budget_next_slot() == 0.0  # no broadcast yet
            reserve = repo.broadcasts.reserve_slots
            assert await reserve(count=3, interval=0.5, now=100.0, worker="a") == (100.0, False)
            assert await reserve(count=1, interval=0.5, now=100.1, worker="a") == (101.5, False)
            assert await repo.broadcasts.budget_next_slot() == 102.0
        async with db.transaction() as repo:
            # The next process continues after the slots reserved so far, and knows it shares.
            reserve = repo.broadcasts.reserve_slots
            assert await reserve(count=1, interval=0.5, now=100.2, worker="b") == (102.0, True)
            await repo.broadcasts.pause_budget(until=110.0)
            await repo.broadcasts.pause_budget(until=105.0)  # never shortens a pause
        async with db.transaction() as repo:
            reserve = repo.broadcasts.reserve_slots
            assert await reserve(count=1, interval=0.5, now=102.0, worker="b") == (110.0, False)
            # "b" reserved 10 s ago: "a" is alone again.
            assert await reserve(count=1, interval=0.5, now=112.0, worker="a") == (112.0, False)
    finally:
        await db.dispose()
