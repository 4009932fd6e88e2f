"""The broadcast sender end to end, against the Bot API emulator enforcing Telegram's limits.

2,000 recipients with the emulator answering 429 beyond the limits (none may be received, nobody
may get two copies), the real 30/s pace measured, a crash (sender task cancelled, and a real
``kill -9`` of a bot process) and a graceful restart mid-way, pause / resume / cancel, quiet hours,
blocked users, reminders-off users and bounded retries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from bot import broadcast_sender
from bot.broadcast import RetryPolicy
from bot.emulator import ChatClient
from storage.models import Role
from storage.models.broadcast import Broadcast
from tests.support import ADMIN_ID, TEST_DATA_KEY, TEST_TOKEN, BotHarness

SEND = "✅ Kirim sekarang"


# --- helpers (also used by tests/test_broadcast_flow.py) -----------------------------------------


def fast_tuning(**changes: object) -> broadcast_sender.SenderTuning:
    """The sender's timing shortened for tests that do not enforce rate limits."""
    values: dict[str, object] = {
        "poll_seconds": 0.1,
        "start_delay": 0.1,
        "progress_seconds": 0.5,
        "claim_lease": 1.0,
        "recover_seconds": 0.3,
        # The emulator enforces no limits in these tests.
        "chat_gap": 0.05,
        "retry": RetryPolicy(max_attempts=3, backoff=(0.2, 0.3)),
        **changes,
    }
    return dataclasses.replace(broadcast_sender.DEFAULT_TUNING, **values)  # type: ignore[arg-type]


async def seed_users(
    harness: BotHarness,
    ids: Iterable[int],
    *,
    role: Role = Role.WORKER,
    reminders: bool = True,
    unreachable: bool = False,
) -> list[int]:
    """Create users through the repositories (and their chats in the emulator)."""
    ids = list(ids)
    async with harness.db.transaction() as repo:
        for uid in ids:
            await repo.users.set_role(user_id=uid, role=role)
            if not reminders:
                await repo.reminders.set_reminders_enabled(user_id=uid, enabled=False)
            if unreachable:
                await repo.users.mark_unreachable(user_id=uid)
    for uid in ids:
        harness.emu.add_user(uid, f"Warga{uid}")
    return ids


async def compose(
    admin: ChatClient,
    text: str = "Rapat warga besok pagi.",
    *,
    kind: str = "ann",
    audience: str = "all",
) -> None:
    """/siaran up to the confirmation screen (buttons pressed by their callback data)."""
    await admin.send("/siaran")
    await admin.send(text)
    await admin.press(f"bc:kind:{kind}")
    await admin.press(f"bc:aud:{audience}")
    assert "Penerima:" in admin.last_text, admin.transcript()


async def broadcast(harness: BotHarness, broadcast_id: int = 1) -> Broadcast:
    """The stored broadcast."""
    async with harness.db.transaction() as repo:
        found = await repo.broadcasts.get(broadcast_id)
    assert found is not None
    return found


async def counts(harness: BotHarness, broadcast_id: int = 1) -> dict[str, int]:
    """Recipient rows per status."""
    async with harness.db.transaction() as repo:
        return await repo.broadcasts.counts(broadcast_id)


async def wait_finished(
    harness: BotHarness, broadcast_id: int = 1, timeout: float = 30
) -> Broadcast:
    """Wait until the final report of a broadcast has been sent."""
    deadline = time.monotonic() + timeout
    head = f"Siaran #{broadcast_id} "
    while time.monotonic() < deadline:
        found = await broadcast(harness, broadcast_id)
        if found.finished_at is not None:
            # The report goes out right after; give it its (rate-limited) moment.
            await harness.emu.wait_for(
                lambda: any(
                    (m.text or "").startswith(head) and "Penerima:" in (m.text or "")
                    for m in harness.emu.bot_messages(ADMIN_ID)
                ),
                timeout=10,
            )
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"broadcast {broadcast_id} not finished: {await counts(harness)}")


def delivered(harness: BotHarness, ids: Iterable[int]) -> Counter[int]:
    """Successful sends (any kind of message) per recipient chat."""
    wanted = set(ids)
    return Counter(
        c.chat_id
        for c in harness.emu.calls
        if c.ok
        and c.chat_id in wanted
        and c.method in {"sendMessage", "sendPhoto", "sendDocument"}
    )


async def forge_press(harness: BotHarness, chat: ChatClient, data: str) -> str:
    """Press a button with ``data`` on the chat's last bot message (even if it has no such
    button, like an old or tampered one); returns the toast or the reply text."""
    anchor = chat.last
    assert anchor is not None
    start = harness.emu.change_seq
    update = await harness.emu.press(chat.user_id, anchor.message_id, data, forge=True)
    await harness.emu.wait_delivered(update)
    await harness.settle()
    answer = harness.emu.callbacks[str(update.payload["id"])].answer
    toast = answer.text if answer is not None and answer.text else ""
    return toast + " ".join(m.text or "" for m in chat.changed_since(start))


def admin_copies(harness: BotHarness, start: str = "📢 Pengumuman") -> int:
    """Messages in the admin's chat that look like the broadcast (its preview included)."""
    return sum(1 for m in harness.emu.bot_messages(ADMIN_ID) if (m.text or "").startswith(start))


def achieved_rate(harness: BotHarness, ids: Iterable[int]) -> float:
    """Messages per second from the first to the last accepted send, as the fake API saw them."""
    wanted = set(ids)
    times = sorted(
        c.time
        for c in harness.emu.calls
        if c.ok and c.method == "sendMessage" and c.chat_id in wanted
    )
    return (len(times) - 1) / (times[-1] - times[0])


def utilisation(harness: BotHarness, ids: Iterable[int]) -> float:
    """All rate-limited calls (progress edits included) per second while the recipients were
    being sent to: how much of Telegram's limit the bot used."""
    wanted = set(ids)
    times = sorted(
        c.time
        for c in harness.emu.calls
        if c.ok and c.method == "sendMessage" and c.chat_id in wanted
    )
    used = [
        c
        for c in harness.emu.calls
        if c.ok and harness.emu.limiter.applies_to(c.method) and times[0] <= c.time <= times[-1]
    ]
    return (len(used) - 1) / (times[-1] - times[0])


def max_in_any_second(harness: BotHarness) -> int:
    """The most rate-limited calls the fake API accepted within one rolling second."""
    times = sorted(
        c.time for c in harness.emu.calls if c.ok and harness.emu.limiter.applies_to(c.method)
    )
    best, left = 0, 0
    for right, t in enumerate(times):
        while times[left] <= t - 1.0:
            left += 1
        best = max(best, right - left + 1)
    return best


# --- throughput under Telegram's limits ----------------------------------------------------------


async def test_two_thousand_recipients_under_rate_limits(db_url: str) -> None:
    rate = 500
    async with BotHarness(db_url, broadcast_rate=float(rate)) as harness:
        ids = await seed_users(harness, range(100_001, 102_001))
        admin = harness.admin()
        await compose(admin)
        assert "Penerima: 2.001" in admin.last_text  # the admin is a user too
        await asyncio.sleep(1.1)  # the composing replies leave the per-chat window
        harness.emu.set_rate_limits(global_per_second=rate, per_chat_per_second=1)
        started = time.monotonic()
        await admin.press(SEND)
        await wait_finished(harness, timeout=60)
        elapsed = time.monotonic() - started
        assert harness.emu.rate_limited == 0
        per_chat = delivered(harness, ids)
        assert set(per_chat.values()) == {1}
        assert len(per_chat) == 2000
        assert admin_copies(harness) == 2  # the preview and the broadcast itself
        assert await counts(harness) == {"sent": 2001}
        assert max_in_any_second(harness) <= rate
        achieved = achieved_rate(harness, ids)
        print(
            f"\n2000 recipients at limit {rate}/s: achieved {achieved:.1f}/s "
            f"({achieved / rate:.3f} of the limit), 429s {harness.emu.rate_limited}, "
            f"confirm-to-report {elapsed:.1f} s"
        )
        # A functional test at volume: the pace target is checked at the real 30/s below (at
        # 500/s a busy shared machine starves the single event loop now and then).
        assert achieved >= 0.6 * rate


async def test_real_pace_of_thirty_per_second(db_url: str) -> None:
    async with BotHarness(db_url) as harness:  # BROADCAST_RATE default: 30
        ids = await seed_users(harness, range(200_001, 200_121))
        admin = harness.admin()
        await compose(admin, audience="all")
        await asyncio.sleep(1.1)
        harness.emu.set_rate_limits(global_per_second=30, per_chat_per_second=1)
        await admin.press(SEND)
        await wait_finished(harness, timeout=30)
        assert harness.emu.rate_limited == 0
        assert set(delivered(harness, ids).values()) == {1}
        achieved = achieved_rate(harness, ids)
        print(
            f"\n120 recipients at limit 30/s: achieved {achieved:.2f}/s "
            f"({achieved / 30:.3f} of the limit; {utilisation(harness, ids) / 30:.3f} with the "
            f"progress edits), 429s {harness.emu.rate_limited}, "
            f"max in any second {max_in_any_second(harness)}"
        )
        # The target is 0.97; a shared test machine adds stalls the sender cannot make up for.
        assert achieved >= 0.93 * 30
        assert max_in_any_second(harness) <= 30


# --- crash and restart ---------------------------------------------------------------------------


def _sender_task(harness: BotHarness) -> asyncio.Task[None]:
    return next(t for t in harness.botapp.loops if t.get_name() == "broadcast_loop")


async def wait_sent(harness: BotHarness, ids: list[int], at_least: int) -> None:
    wanted = set(ids)

    def enough() -> bool:
        return sum(1 for c in harness.emu.calls if c.ok and c.chat_id in wanted) >= at_least

    await harness.emu.wait_for(enough, timeout=30)


async def test_crash_mid_way_then_restart_never_sends_twice(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate = 500
    monkeypatch.setattr(
        broadcast_sender,
        "DEFAULT_TUNING",
        dataclasses.replace(broadcast_sender.DEFAULT_TUNING, claim_lease=1.0, recover_seconds=0.3),
    )
    async with BotHarness(db_url, broadcast_rate=float(rate)) as harness:
        ids = await seed_users(harness, range(300_001, 301_201))
        admin = harness.admin()
        await compose(admin)
        await asyncio.sleep(1.1)
        harness.emu.set_rate_limits(global_per_second=rate, per_chat_per_second=1)
        await admin.press(SEND)
        await wait_sent(harness, ids, 400)
        # The crash: the sender dies at whatever await it is in; nothing of it is cleaned up.
        _sender_task(harness).cancel()
        await asyncio.sleep(0.05)
        crashed_at = await counts(harness)
        assert crashed_at.get("sending", 0) > 0, crashed_at
        await harness.stop_bot()
        restarted = len(harness.emu.calls)
        await harness.start_bot()
        await wait_finished(harness, timeout=60)
        final = await counts(harness)
        per_chat = delivered(harness, ids)
        assert harness.emu.rate_limited == 0
        # The new sender cannot count the dead one's requests: it waits one window before sending.
        wanted = set(ids)
        calls = harness.emu.calls
        last_old = max(c.time for c in calls[:restarted] if c.chat_id in wanted)
        first_new = min(c.time for c in calls[restarted:] if c.chat_id in wanted)
        assert first_new - last_old >= 1.0, first_new - last_old
        assert max(per_chat.values()) == 1  # nobody twice
        async with harness.db.transaction() as repo:
            rows = await repo.broadcasts.recipients(1)
        by_user = {r.user_id: r for r in rows}
        for uid in ids:
            row = by_user[uid]
            if row.status == "sent":
                assert per_chat[uid] == 1
            else:
                # Claimed by the dead sender: maybe delivered, never sent again.
                assert (row.status, row.last_error) == ("failed", "interrupted")
        interrupted = final.get("failed", 0)
        # The claims of the dead sender: well under one second of sending.
        assert 0 < interrupted < rate
        assert final["sent"] + interrupted == len(ids) + 1
        print(f"\ncrash at {crashed_at}: {interrupted} rows closed as interrupted, 0 duplicates")


async def test_graceful_restart_mid_way_loses_nothing(db_url: str) -> None:
    rate = 500
    async with BotHarness(db_url, broadcast_rate=float(rate)) as harness:
        ids = await seed_users(harness, range(400_001, 401_201))
        admin = harness.admin()
        await compose(admin)
        await asyncio.sleep(1.1)
        harness.emu.set_rate_limits(global_per_second=rate, per_chat_per_second=1)
        await admin.press(SEND)
        await wait_sent(harness, ids, 400)
        await harness.stop_bot()
        stopped_at = await counts(harness)
        assert "sending" not in stopped_at  # unsent claims were given back
        assert stopped_at.get("pending", 0) > 0
        await harness.start_bot()
        await wait_finished(harness, timeout=60)
        assert await counts(harness) == {"sent": len(ids) + 1}
        assert set(delivered(harness, ids).values()) == {1}
        assert harness.emu.rate_limited == 0


@pytest.mark.slow
async def test_kill_9_of_a_bot_process_then_restart(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real bot process is killed with SIGKILL while sending; another one finishes the job."""
    rate = 500
    monkeypatch.setattr(
        broadcast_sender,
        "DEFAULT_TUNING",
        dataclasses.replace(broadcast_sender.DEFAULT_TUNING, claim_lease=1.0, recover_seconds=0.3),
    )
    async with BotHarness(db_url, broadcast_rate=float(rate)) as harness:
        ids = await seed_users(harness, range(500_001, 501_501))
        admin = harness.admin()
        await compose(admin)
        # The real process below reads the real clock: send in quiet hours too, so the test
        # means the same at 21:00 WITA as at 10:00.
        await admin.press("bc:quiet")
        await asyncio.sleep(1.1)
        await admin.press(SEND)
        # Hand over to a real process before anything is sent (the start delay is 1.2 s).
        await harness.stop_bot()
        harness.emu.set_rate_limits(global_per_second=rate, per_chat_per_second=1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=TEST_TOKEN,
            BOT_API_URL=harness.emu.base_url,
            DATABASE_URL=harness.db_url,
            DATA_KEY=TEST_DATA_KEY,
            BROADCAST_RATE=str(rate),
            LOG_LEVEL="WARNING",
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=str(Path(__file__).resolve().parent.parent),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await wait_sent(harness, ids, 500)
        except TimeoutError:
            proc.kill()
            _, err = await proc.communicate()
            pytest.fail(f"the bot process sent too little; its stderr:\n{err.decode()[-3000:]}")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        killed_at = await counts(harness)
        await harness.start_bot()
        await wait_finished(harness, timeout=60)
        final = await counts(harness)
        per_chat = delivered(harness, ids)
        assert harness.emu.rate_limited == 0
        assert max(per_chat.values()) == 1
        interrupted = final.get("failed", 0)
        assert final["sent"] + interrupted == len(ids) + 1
        assert interrupted < rate
        print(f"\nkill -9 at {killed_at}: {interrupted} interrupted, 0 duplicates")
