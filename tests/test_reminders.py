"""Payment reminders: scheduling for each case, the 08:00–20:00 WITA window, opt-out with
/pengingat, no duplicates across restarts or two senders, blocked users, the loop itself.

The harness clock starts on 21 November 2026, 10:00 WITA (02:00 UTC).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

import bot.reminder_sender
from bot.domain.coverage import Payer
from bot.domain.reminders import ReminderKind, plan_reminders
from bot.reminder_sender import in_sending_window, plan_all, run_once
from bot.roster_import import import_roster
from storage.db import Database
from storage.models.coverage import ImportVia, PaymentReminder, ReminderStatus
from tests.support import TEST_KEYRING, BotHarness

HEADER = "nik,nama,kpj,program,pembayar,mulai,dibayar_sampai,tanggal_lahir"
NIK_SELF = "6311071507700007"  # mandiri, paid until 5 Dec 2026: active
NIK_LATE = "6311025708900002"  # mandiri, paid until 30 Sep 2026: 2 months late
NIK_APBD = "6311011205850001"  # APBD, paid until 31 Dec 2026
NIK_LAPSED = "6311030302780003"  # mandiri, paid until 31 May 2026: nonaktif
NIK_UNPAID = "6311085012990008"  # APBD, nothing paid
ROWS = {
    NIK_SELF: f"{NIK_SELF},Saberan,90000000007,JKK+JKM,mandiri,2024-05-01,2026-12-05,",
    NIK_LATE: f"{NIK_LATE},Siti Rahmah,90000000002,JKK+JKM,mandiri,2024-07-01,2026-09-30,",
    NIK_APBD: f"{NIK_APBD},Ahmad Fauzi,90000000001,JKK+JKM,APBD,2024-07-01,2026-12-31,",
    NIK_LAPSED: f"{NIK_LAPSED},Muhammad Arsyad,,JKK+JKM,mandiri,2024-09-01,2026-05-31,",
    NIK_UNPAID: f"{NIK_UNPAID},Rina Marlina,,JKK+JKM,APBD,2026-10-01,,",
}
USER = {NIK_SELF: 5001, NIK_LATE: 5002, NIK_APBD: 5003, NIK_LAPSED: 5004, NIK_UNPAID: 5005}
WITA_OFFSET = timedelta(hours=8)


def nik_of(reminder: PaymentReminder) -> str:
    """The NIK of a reminder row (stored as its blind index)."""
    by_index = {
        TEST_KEYRING.index(value): value
        for name, value in globals().items()
        if name.startswith("NIK_") and isinstance(value, str)
    }
    return by_index[reminder.nik_index]


def wita(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An aware UTC datetime for a WITA wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - WITA_OFFSET


async def load(harness: BotHarness, tmp_path: Path, rows: dict[str, str]) -> None:
    path = tmp_path / f"r{len(list(tmp_path.iterdir()))}.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows.values()) + "\n", encoding="utf-8")
    await import_roster(harness.db, path, actor_id=None, via=ImportVia.CLI, clock=harness.clock)


async def link(harness: BotHarness, *niks: str, users: dict[str, int] | None = None) -> None:
    """Link roster rows to their users (as "Ya, ini saya" does), users created first."""
    users = users or USER
    for nik in niks:
        harness.chat(users[nik])  # the emulator knows the user (a private chat exists)
    async with harness.db.transaction() as repo:
        for nik in niks:
            await repo.users.touch(user_id=users[nik], language="id")
        await repo.session.flush()
        for nik in niks:
            assert await repo.coverage.link_entry(nik=nik, user_id=users[nik], now=harness.clock())


async def reminders(db: Database, nik: str | None = None) -> list[PaymentReminder]:
    async with db.transaction() as repo:
        stmt = select(PaymentReminder).order_by(col(PaymentReminder.due_at))
        if nik is not None:
            stmt = stmt.where(col(PaymentReminder.nik_index) == TEST_KEYRING.index(nik))
        return list((await repo.session.exec(stmt)).all())


def reminder_texts(harness: BotHarness, user_id: int) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in harness.emu.calls_for("sendMessage", chat_id=user_id)
        if any(
            mark in str(c.params.get("text"))
            for mark in ("Pengingat bayar iuran</b>", "Iuran belum dibayar</b>", "Masa bayar")
        )
    ]


async def setup_all(harness: BotHarness, tmp_path: Path) -> None:
    await load(harness, tmp_path, ROWS)
    await link(harness, *ROWS)
    await plan_all(harness.db, now=harness.clock())


# --- the domain's relevance window -------------------------------------------------------------------


def test_each_planned_reminder_says_until_when_it_matters() -> None:
    plan = plan_reminders(paid_until=date(2025, 1, 31), payer=Payer.SELF, today=date(2025, 1, 1))
    assert [(r.kind, r.offset, r.relevant_until) for r in plan] == [
        (ReminderKind.DUE_SOON, 14, date(2025, 2, 1)),
        (ReminderKind.DUE_SOON, 3, date(2025, 2, 1)),
        (ReminderKind.UNPAID_MONTH, 1, date(2025, 3, 1)),
        (ReminderKind.UNPAID_MONTH, 2, date(2025, 4, 1)),
        (ReminderKind.UNPAID_MONTH, 3, date(2025, 5, 1)),
    ]
    (apbd,) = plan_reminders(
        paid_until=date(2025, 1, 31), payer=Payer.APBD, today=date(2025, 1, 1)
    )
    assert apbd.relevant_until == apbd.nonaktif_from == date(2025, 5, 1)


def test_sending_window() -> None:
    assert not in_sending_window(wita(2026, 11, 21, 7, 59))
    assert in_sending_window(wita(2026, 11, 21, 8, 0))
    assert in_sending_window(wita(2026, 11, 21, 19, 59))
    assert not in_sending_window(wita(2026, 11, 21, 20, 0))


# --- planning --------------------------------------------------------------------------------------------


async def test_planning_for_each_case(harness: BotHarness, tmp_path: Path) -> None:
    await load(harness, tmp_path, ROWS)
    # Unlinked rows get nothing: there is nobody to write to.
    await plan_all(harness.db, now=harness.clock())
    assert await reminders(harness.db) == []
    await link(harness, *ROWS)
    report = await plan_all(harness.db, now=harness.clock())
    rows = await reminders(harness.db)
    assert report.planned == len(rows)

    def summary(nik: str) -> list[tuple[str, int, datetime]]:
        return [(r.kind, r.kind_offset, r.due_at) for r in rows if nik_of(r) == nik]

    # Self-payer paid until 5 Dec: 14 days before (today, 09:00), 3 days before, then monthly.
    assert summary(NIK_SELF) == [
        ("due_soon", 14, wita(2026, 11, 21, 9)),
        ("due_soon", 3, wita(2026, 12, 2, 9)),
        ("unpaid_month", 1, wita(2026, 12, 13, 9)),
        ("unpaid_month", 2, wita(2027, 1, 13, 9)),
        ("unpaid_month", 3, wita(2027, 2, 13, 9)),
    ]
    # Two months late: the missed November warning is caught up today, then December's.
    assert summary(NIK_LATE) == [
        ("unpaid_month", 2, wita(2026, 11, 21, 9)),
        ("unpaid_month", 3, wita(2026, 12, 8, 9)),
    ]
    # Pemda-paid: one notice the day after the paid period ends.
    assert summary(NIK_APBD) == [("period_ended", 1, wita(2027, 1, 1, 9))]
    # Nonaktif already, or nothing paid yet: nothing to remind of.
    assert summary(NIK_LAPSED) == []
    assert summary(NIK_UNPAID) == []
    assert {r.user_id for r in rows if nik_of(r) == NIK_SELF} == {USER[NIK_SELF]}
    assert all(r.status == "pending" for r in rows)
    assert {r.dedupe_key for r in rows if nik_of(r) == NIK_LATE} == {
        "unpaid_month:2026-09-30:2",
        "unpaid_month:2026-09-30:3",
    }


async def test_planning_again_is_idempotent_and_a_payment_replans(
    harness: BotHarness, tmp_path: Path
) -> None:
    await setup_all(harness, tmp_path)
    before = await reminders(harness.db)
    again = await plan_all(harness.db, now=harness.clock())
    assert (again.planned, again.cancelled) == (0, 0)
    assert len(await reminders(harness.db)) == len(before)
    # The late payer pays two months: the new roster moves paid_until to 30 Nov.
    await load(harness, tmp_path, {NIK_LATE: ROWS[NIK_LATE].replace("2026-09-30", "2026-11-30")})
    late = await reminders(harness.db, NIK_LATE)
    assert {(r.dedupe_key, r.status) for r in late} == {
        ("unpaid_month:2026-09-30:2", "cancelled"),
        ("unpaid_month:2026-09-30:3", "cancelled"),
        # The 14-day notice (16 Nov) was missed: caught up today.
        ("due_soon:2026-11-30:14", "pending"),
        ("due_soon:2026-11-30:3", "pending"),
        ("unpaid_month:2026-11-30:1", "pending"),
        ("unpaid_month:2026-11-30:2", "pending"),
        ("unpaid_month:2026-11-30:3", "pending"),
    }


# --- sending ---------------------------------------------------------------------------------------------


async def test_due_reminders_are_sent_once_with_the_right_text(
    harness: BotHarness, tmp_path: Path
) -> None:
    await setup_all(harness, tmp_path)
    services = harness.botapp.services
    report = await run_once(services)
    assert report.sent == 2  # Saberan's 14-day notice and Siti's caught-up warning
    (due_soon,) = reminder_texts(harness, USER[NIK_SELF])
    assert "Pengingat bayar iuran" in due_soon
    assert "dibayar sampai 5 Desember 2026: tinggal 14 hari lagi" in due_soon
    assert "Bayar Rp8.400 sebulan" in due_soon
    assert "/pengingat" in due_soon
    assert "175" in due_soon
    (late,) = reminder_texts(harness, USER[NIK_LATE])
    assert "Iuran belum dibayar" in late
    assert "2 bulan iuran belum dibayar (dibayar sampai 30 September 2026)" in late
    assert "masih terlindungi sampai 31 Desember 2026" in late
    assert "Bayar sebelum 1 Januari 2027" in late
    assert NIK_LATE not in late
    # Nothing else is due today: a second pass sends nothing.
    assert (await run_once(services)).sent == 0
    assert len(reminder_texts(harness, USER[NIK_SELF])) == 1
    statuses = {(nik_of(r), r.kind_offset): r.status for r in await reminders(harness.db)}
    assert statuses[(NIK_SELF, 14)] == "sent"
    assert statuses[(NIK_SELF, 3)] == "pending"

    # The pemda-paid notice on 1 January.
    harness.clock.now = wita(2027, 1, 1, 9, 30)
    await plan_all(harness.db, now=harness.clock())
    await run_once(services)
    (apbd,) = reminder_texts(harness, USER[NIK_APBD])
    assert "Masa bayar dari Pemkab sudah habis" in apbd
    assert "Pemkab membayar iuran Anda sampai 31 Desember 2026" in apbd
    assert "NONAKTIF mulai 1 April 2027" in apbd


async def test_nothing_is_sent_outside_08_to_20_wita(harness: BotHarness, tmp_path: Path) -> None:
    await setup_all(harness, tmp_path)
    services = harness.botapp.services
    harness.clock.now = wita(2026, 11, 21, 20, 0)
    assert (await run_once(services)).sent == 0
    harness.clock.now = wita(2026, 11, 22, 7, 59)
    assert (await run_once(services)).sent == 0
    assert reminder_texts(harness, USER[NIK_SELF]) == []
    harness.clock.now = wita(2026, 11, 22, 8, 0)
    assert (await run_once(services)).sent == 2


async def test_pengingat_turns_reminders_off_and_on(harness: BotHarness, tmp_path: Path) -> None:
    await setup_all(harness, tmp_path)
    chat = harness.chat(USER[NIK_SELF])
    await chat.send("/pengingat")
    assert "Pengingat bayar iuran NYALA" in chat.last_text
    assert "14 & 3 hari" in chat.last_text
    assert "08.00–20.00 WITA" in chat.last_text
    assert "Pengingat berikutnya: 21 November 2026" in chat.last_text
    await chat.press("Matikan pengingat")
    assert "Pengingat bayar iuran MATI" in chat.last_text
    assert chat.buttons() == [["Nyalakan pengingat"]]
    assert chat.last_answer is not None
    assert chat.last_answer.text == "Pengingat dimatikan."
    async with harness.db.transaction() as repo:
        user = await repo.users.get(USER[NIK_SELF])
    assert user is not None
    assert user.reminders_enabled is False

    services = harness.botapp.services
    report = await run_once(services)
    assert report.skipped == 1
    assert reminder_texts(harness, USER[NIK_SELF]) == []
    skipped = [r for r in await reminders(harness.db, NIK_SELF) if r.kind_offset == 14]
    assert (skipped[0].status, skipped[0].error) == ("skipped", "opted_out")

    await chat.press("Nyalakan pengingat")
    assert "Pengingat bayar iuran NYALA" in chat.last_text
    # The skipped one stays skipped; the next one (3 days before) goes out.
    harness.clock.now = wita(2026, 12, 2, 9, 5)
    await run_once(services)
    (text,) = reminder_texts(harness, USER[NIK_SELF])
    assert "tinggal 3 hari lagi" in text


async def test_pengingat_without_linked_data(harness: BotHarness) -> None:
    chat = harness.chat(5999)
    await chat.send("/pengingat")
    assert "Belum ada data peserta yang tersambung" in chat.last_text
    assert chat.buttons() == [["Matikan pengingat"]]


async def test_restart_neither_loses_nor_repeats(harness: BotHarness, tmp_path: Path) -> None:
    await setup_all(harness, tmp_path)
    await run_once(harness.botapp.services)
    assert len(reminder_texts(harness, USER[NIK_SELF])) == 1
    await harness.stop_bot()
    await harness.start_bot()
    services = harness.botapp.services
    await plan_all(harness.db, now=harness.clock())
    await run_once(services)
    assert len(reminder_texts(harness, USER[NIK_SELF])) == 1
    # The reminder planned before the restart still goes out on its day, once.
    harness.clock.now = wita(2026, 12, 2, 10)
    await harness.stop_bot()
    await harness.start_bot()
    await plan_all(harness.db, now=harness.clock())
    await run_once(harness.botapp.services)
    await run_once(harness.botapp.services)
    texts = reminder_texts(harness, USER[NIK_SELF])
    assert len(texts) == 2
    assert "tinggal 3 hari lagi" in texts[1]


async def test_two_senders_never_send_the_same_reminder(
    harness: BotHarness, tmp_path: Path
) -> None:
    # Twenty self-payers, each with a reminder due today.
    rows, users = {}, {}
    for i in range(20):
        nik = f"631101150770{i + 1:04d}"  # born 15 July 1970, serials 0001-0020
        rows[nik] = f"{nik},Peserta {i},,JKK+JKM,mandiri,2024-05-01,2026-12-05,"
        users[nik] = 6000 + i
    await load(harness, tmp_path, rows)
    await link(harness, *rows, users=users)
    await plan_all(harness.db, now=harness.clock())
    # A second "process": its own engine and connection pool on the same database.
    other_db = Database(harness.db_url, keyring=TEST_KEYRING)
    try:
        services = harness.botapp.services
        other = dataclasses.replace(services, db=other_db)
        first, second = await asyncio.gather(run_once(services), run_once(other))
    finally:
        await other_db.dispose()
    assert first.sent + second.sent == 20
    for i in range(20):
        assert len(reminder_texts(harness, 6000 + i)) == 1
    assert {r.status for r in await reminders(harness.db)} >= {"sent"}
    sent = [r for r in await reminders(harness.db) if r.status == "sent"]
    assert len(sent) == 20


async def test_a_user_who_blocked_the_bot_is_marked_unreachable(
    harness: BotHarness, tmp_path: Path
) -> None:
    await setup_all(harness, tmp_path)
    harness.emu.block(USER[NIK_SELF])
    services = harness.botapp.services
    report = await run_once(services)
    assert report.failed == 1
    async with harness.db.transaction() as repo:
        user = await repo.users.get(USER[NIK_SELF])
    assert user is not None
    assert user.unreachable is True
    failed = [r for r in await reminders(harness.db, NIK_SELF) if r.kind_offset == 14]
    assert (failed[0].status, failed[0].error) == ("failed", "blocked")
    calls = len(harness.emu.calls_for("sendMessage", chat_id=USER[NIK_SELF]))
    # The next reminder is not even tried.
    harness.clock.now = wita(2026, 12, 2, 9, 5)
    report = await run_once(services)
    assert report.skipped == 1
    assert len(harness.emu.calls_for("sendMessage", chat_id=USER[NIK_SELF])) == calls
    # Writing to the bot again makes the user reachable again.
    harness.emu.unblock(USER[NIK_SELF])
    chat = harness.chat(USER[NIK_SELF])
    await chat.send("/start")
    async with harness.db.transaction() as repo:
        user = await repo.users.get(USER[NIK_SELF])
    assert user is not None
    assert user.unreachable is False


async def test_interrupted_claims_are_never_sent_again(
    harness: BotHarness, tmp_path: Path
) -> None:
    await setup_all(harness, tmp_path)
    now = harness.clock()
    async with harness.db.transaction() as repo:
        # A process claimed this reminder and died before finishing it.
        await repo.session.exec(
            update(PaymentReminder)
            .where(col(PaymentReminder.nik_index) == TEST_KEYRING.index(NIK_SELF))
            .where(col(PaymentReminder.kind_offset) == 14)
            .values(status=ReminderStatus.SENDING.value, claimed_at=now - timedelta(minutes=11))
        )
    report = await run_once(harness.botapp.services)
    assert report.recovered == 1
    assert reminder_texts(harness, USER[NIK_SELF]) == []
    (row,) = [r for r in await reminders(harness.db, NIK_SELF) if r.kind_offset == 14]
    assert (row.status, row.error) == ("failed", "interrupted")


async def test_a_reminder_whose_time_has_passed_expires(
    harness: BotHarness, tmp_path: Path
) -> None:
    await setup_all(harness, tmp_path)
    # Nothing could send from 21 November until 6 December. Saberan's "due soon" notices make
    # no sense after his paid period (5 Dec), and Siti's November warning none in December.
    harness.clock.now = wita(2026, 12, 6, 9)
    report = await run_once(harness.botapp.services)
    assert (report.expired, report.sent) == (3, 0)
    assert reminder_texts(harness, USER[NIK_SELF]) == []
    expired = {
        (nik_of(r), r.kind_offset) for r in await reminders(harness.db) if r.status == "expired"
    }
    assert expired == {(NIK_SELF, 14), (NIK_SELF, 3), (NIK_LATE, 2)}


async def test_unlinking_cancels_pending_reminders(harness: BotHarness, tmp_path: Path) -> None:
    await load(harness, tmp_path, ROWS)
    await link(harness, NIK_SELF)
    await plan_all(harness.db, now=harness.clock())
    # The user links another row: the first link is released.
    async with harness.db.transaction() as repo:
        assert await repo.coverage.link_entry(
            nik=NIK_APBD, user_id=USER[NIK_SELF], now=harness.clock()
        )
    report = await plan_all(harness.db, now=harness.clock())
    assert report.cancelled == 5
    assert {r.status for r in await reminders(harness.db, NIK_SELF)} == {"cancelled"}
    assert [r.status for r in await reminders(harness.db, NIK_APBD)] == ["pending"]


async def test_the_loop_plans_daily_and_sends(
    harness: BotHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await load(harness, tmp_path, ROWS)
    await link(harness, NIK_SELF)  # linked, but not planned by hand
    monkeypatch.setattr(bot.reminder_sender, "DEFAULT_POLL_SECONDS", 0.02)
    # Restart so the loop starts with the short poll.
    await harness.stop_bot()
    await harness.start_bot()
    for _ in range(500):
        if reminder_texts(harness, USER[NIK_SELF]):
            break
        await asyncio.sleep(0.02)
    assert len(reminder_texts(harness, USER[NIK_SELF])) == 1
    # A new WITA day: planned again (nothing new) and the 3-day reminder goes out on its day.
    harness.clock.now = wita(2026, 12, 2, 9, 1)
    for _ in range(500):
        if len(reminder_texts(harness, USER[NIK_SELF])) == 2:
            break
        await asyncio.sleep(0.02)
    assert len(reminder_texts(harness, USER[NIK_SELF])) == 2
    await asyncio.sleep(0.1)
    assert len(reminder_texts(harness, USER[NIK_SELF])) == 2
