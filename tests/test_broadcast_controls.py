"""Broadcast controls and rules end to end: pause / resume / cancel with progress and reports,
quiet hours (held, and overridden), blocked users, reminders-off users, bounded retries of server
errors, and a 429 pausing the whole sender."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator

import pytest

from bot import broadcast_sender
from bot.emulator import ChatClient
from storage.models import Role
from tests.support import ADMIN_ID, BotHarness
from tests.test_broadcast_sending import (
    SEND,
    admin_copies,
    compose,
    counts,
    delivered,
    fast_tuning,
    forge_press,
    seed_users,
    wait_finished,
    wait_sent,
)


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use :func:`fast_tuning` for the senders started in this test."""
    monkeypatch.setattr(broadcast_sender, "DEFAULT_TUNING", fast_tuning())


@pytest.fixture
async def fast_harness(db_url: str, fast: None) -> AsyncIterator[BotHarness]:
    """The bot with a fast sender pace (300/s) and short timings; no emulator limits."""
    async with BotHarness(db_url, broadcast_rate=300.0) as harness:
        yield harness


# --- pause, resume, cancel -----------------------------------------------------------------------


async def _progress_button(harness: BotHarness, label: str) -> None:
    def shown() -> bool:
        return any(label in row for m in harness.emu.bot_messages(ADMIN_ID) for row in m.buttons())

    await harness.emu.wait_for(shown, timeout=10)


async def test_pause_resume_and_progress(db_url: str, fast: None) -> None:
    async with BotHarness(db_url, broadcast_rate=60.0) as harness:
        ids = await seed_users(harness, range(600_001, 600_151))
        admin = harness.admin()
        await compose(admin)
        await admin.press(SEND)
        await _progress_button(harness, "⏸ Jeda")
        await wait_sent(harness, ids, 20)
        await admin.press("⏸ Jeda")
        assert admin.last_answer is not None
        assert "Dijeda" in (admin.last_answer.text or "")
        await _progress_button(harness, "▶ Lanjutkan")
        progress = next(m for m in reversed(harness.emu.bot_messages(ADMIN_ID)) if m.buttons())
        assert "dijeda" in (progress.text or "")
        assert "█" in (progress.text or "")
        assert "Sisa:" in (progress.text or "")
        paused_count = sum(delivered(harness, ids).values())
        await asyncio.sleep(1.0)
        assert sum(delivered(harness, ids).values()) == paused_count  # nothing while paused
        assert paused_count < len(ids)
        await admin.press("▶ Lanjutkan")
        await wait_finished(harness)
        assert await counts(harness) == {"sent": len(ids) + 1}
        assert set(delivered(harness, ids).values()) == {1}
        report = harness.emu.bot_messages(ADMIN_ID)[-1].text or ""
        assert "Siaran #1</b>" not in report  # rendered, not raw HTML
        assert "✅ Terkirim: 151" in report
        async with harness.db.transaction() as repo:
            actions = [e.action for e in await repo.audit.latest(limit=10)]
        assert {"broadcast.create", "broadcast.pause", "broadcast.resume"} <= set(actions)


async def test_cancel_skips_the_rest_and_reports(db_url: str, fast: None) -> None:
    async with BotHarness(db_url, broadcast_rate=40.0) as harness:
        ids = await seed_users(harness, range(700_001, 700_201))
        admin = harness.admin()
        await compose(admin)
        await admin.press(SEND)
        await _progress_button(harness, "✖ Batalkan")
        await wait_sent(harness, ids, 20)
        await admin.press("✖ Batalkan")
        assert "Batalkan siaran #1?" in admin.last_text
        await admin.press("Ya, batalkan")
        assert "dibatalkan" in admin.last_text
        found = await wait_finished(harness)
        assert found.status == "cancelled"
        final = await counts(harness)
        assert set(final) == {"sent", "skipped"}
        # Every row marked sent went out once (the admin's own copy: beside the preview).
        assert final["sent"] == sum(delivered(harness, ids).values()) + admin_copies(harness) - 1
        assert max(delivered(harness, ids).values()) == 1
        report = admin.documents()[-1]
        assert report.file_name == "siaran-1-tidak-terkirim.csv"
        lines = report.data.decode("utf-8-sig").splitlines()
        assert len(lines) == final["skipped"] + 1
        assert lines[1].endswith(",skipped,cancelled,Siaran dibatalkan,0")
        caption = harness.emu.bot_messages(ADMIN_ID)[-1].text or ""
        assert "dibatalkan setelah" in caption
        # A second cancel is refused politely.
        answer = await forge_press(harness, admin, "bc:cancel:1")
        assert "sudah selesai" in answer


# --- quiet hours, blocked users, reminders off, retries ------------------------------------------


async def test_quiet_hours_hold_messages_until_eight(fast_harness: BotHarness) -> None:
    harness = fast_harness
    harness.clock.now = harness.clock.now.replace(hour=13)  # 21:00 WITA
    ids = await seed_users(harness, range(800_001, 800_011))
    admin = harness.admin()
    await compose(admin)
    assert "jam istirahat" in admin.last_text
    assert "08.00 WITA" in admin.last_text
    await admin.press(SEND)
    await _progress_button(harness, "⏸ Jeda")
    await asyncio.sleep(0.8)
    assert not delivered(harness, ids)
    progress = next(m for m in reversed(harness.emu.bot_messages(ADMIN_ID)) if m.buttons())
    assert "jam istirahat, pengiriman lanjut pukul 08.00 WITA" in (progress.text or "")
    harness.clock.advance(hours=11)  # 08:00 WITA
    await wait_finished(harness)
    assert set(delivered(harness, ids).values()) == {1}


async def test_quiet_hours_override_sends_at_night(fast_harness: BotHarness) -> None:
    harness = fast_harness
    harness.clock.now = harness.clock.now.replace(hour=14)  # 22:00 WITA
    ids = await seed_users(harness, range(810_001, 810_006))
    admin = harness.admin()
    await compose(admin)
    await admin.press("🌙 Jam istirahat: tunggu sampai 08.00")
    assert "tetap kirim (penting)" in str(admin.buttons())
    assert "Sekarang jam istirahat" not in admin.last_text
    await admin.press(SEND)
    found = await wait_finished(harness)
    assert found.ignore_quiet_hours
    assert set(delivered(harness, ids).values()) == {1}


async def test_blocked_users_are_marked_and_never_retried(fast_harness: BotHarness) -> None:
    harness = fast_harness
    ids = await seed_users(harness, range(950_001, 950_021))
    old = await seed_users(harness, [950_100], unreachable=True)
    for uid in ids[:3]:
        harness.emu.block(uid)
    admin = harness.admin()
    await compose(admin)
    assert "1 orang pernah memblokir bot dan dilewati." in admin.last_text
    await admin.press(SEND)
    await wait_finished(harness)
    assert await counts(harness) == {"sent": 18, "blocked": 3, "skipped": 1}
    for uid in ids[:3]:
        calls = harness.emu.calls_for("sendMessage", chat_id=uid)
        assert [c.status for c in calls] == [403]  # one try, no retry
    assert not harness.emu.calls_for("sendMessage", chat_id=old[0])
    async with harness.db.transaction() as repo:
        users = {u.id: u for u in await repo.broadcasts.users([*ids[:4], *old])}
    assert [users[u].unreachable for u in ids[:4]] == [True, True, True, False]
    lines = admin.documents()[-1].data.decode("utf-8-sig").splitlines()
    assert sorted(lines[1:]) == sorted(
        [f"{uid},blocked,blocked,Memblokir bot,1" for uid in ids[:3]]
        + [f"{old[0]},skipped,unreachable,Sudah memblokir bot sebelumnya,0"]
    )


async def test_reminders_off_users_get_no_reminder_but_get_announcements(
    fast_harness: BotHarness,
) -> None:
    harness = fast_harness
    on = await seed_users(harness, range(910_001, 910_006))
    off = await seed_users(harness, range(910_101, 910_104), reminders=False)
    admin = harness.admin()
    await compose(admin, "Jangan lupa bayar iuran bulan ini.", kind="rem")
    assert "3 orang mematikan pengingat dan dilewati." in admin.last_text
    await admin.press(SEND)
    await wait_finished(harness)
    assert not delivered(harness, off)
    assert set(delivered(harness, on).values()) == {1}
    text = harness.emu.bot_messages(on[0])[-1].text or ""
    assert text.startswith("🔔 Pengingat\n\nJangan lupa bayar iuran bulan ini.")
    assert (await counts(harness))["skipped"] == 3
    await compose(admin, "Kantor tutup hari Senin.", kind="ann")
    await admin.press(SEND)
    await wait_finished(harness, broadcast_id=2)
    assert set(delivered(harness, off).values()) == {1}
    assert (harness.emu.bot_messages(off[0])[-1].text or "").startswith("📢 Pengumuman")


async def compose_photo(admin: ChatClient, caption: str, *, audience: str = "all") -> None:
    """/siaran with a photo and a caption, up to the confirmation screen."""
    await admin.send("/siaran")
    await admin.send_photo(caption=caption)
    await admin.press("bc:kind:ann")
    await admin.press(f"bc:aud:{audience}")
    assert "Penerima:" in admin.last_text, admin.transcript()


async def test_server_errors_are_retried_a_bounded_number_of_times(
    fast_harness: BotHarness,
) -> None:
    # A photo broadcast: only the broadcast itself uses sendPhoto, so the armed failures hit it
    # and not the admin's progress messages.
    harness = fast_harness
    (facilitator,) = await seed_users(harness, [920_001], role=Role.FACILITATOR)
    admin = harness.admin()
    await compose_photo(admin, "Pelatihan pendamping", audience="fac")
    harness.emu.fail_next("sendPhoto", status=500, count=2)
    await admin.press(SEND)
    await wait_finished(harness)
    calls = harness.emu.calls_for("sendPhoto", chat_id=facilitator)
    assert [c.status for c in calls] == [500, 500, 200]
    assert calls[2].time - calls[1].time >= 0.25  # the second back-off step
    async with harness.db.transaction() as repo:
        (row,) = await repo.broadcasts.recipients(1)
    assert (row.status, row.attempts) == ("sent", 3)
    photo = harness.emu.bot_messages(facilitator)[-1]
    assert photo.kind.value == "photo"
    assert photo.text == "📢 Pengumuman\n\nPelatihan pendamping"
    # Three failures in a row: given up after the third attempt (max_attempts = 3 here).
    await compose_photo(admin, "Pelatihan lagi", audience="fac")
    harness.emu.fail_next("sendPhoto", status=500, count=3)
    await admin.press(SEND)
    await wait_finished(harness, broadcast_id=2)
    statuses = [c.status for c in harness.emu.calls_for("sendPhoto", chat_id=facilitator)]
    assert statuses[3:] == [500, 500, 500]
    assert await counts(harness, 2) == {"failed": 1}
    rows = list(csv.reader(io.StringIO(admin.documents()[-1].data.decode("utf-8-sig"))))
    assert rows[1] == [
        str(facilitator),
        "failed",
        "server_error",
        "Gangguan Telegram, tetap gagal setelah dicoba ulang",
        "3",
    ]


async def test_a_429_pauses_the_whole_sender_and_nothing_is_lost(fast_harness: BotHarness) -> None:
    harness = fast_harness
    ids = await seed_users(harness, range(930_001, 930_031))
    admin = harness.admin()
    await compose(admin)
    harness.emu.fail_next("sendMessage", status=429, retry_after=1)
    await admin.press(SEND)
    await wait_finished(harness)
    assert set(delivered(harness, ids).values()) == {1}
    limited = [c for c in harness.emu.calls if c.status == 429]
    assert len(limited) == 1
    at = limited[0].time
    after = [c.time - at for c in harness.emu.calls if c.ok and c.method == "sendMessage"]
    # Requests already on their way when the 429 came back still arrive; after that, nothing is
    # sent until retry_after has passed, and then the rest goes out.
    assert [t for t in after if 0.1 < t < 0.95] == []
    assert any(t >= 0.95 for t in after)
