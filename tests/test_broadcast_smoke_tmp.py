from __future__ import annotations
import asyncio, time
import pytest
from bot import broadcast_sender
from tests.test_broadcast_sending import BotHarness, seed_users, compose, SEND, wait_finished, achieved_rate

async def test_dbg(db_url: str, monkeypatch) -> None:
    made = []
    orig = broadcast_sender.BroadcastSender.__init__
    def init(self, *a, **k):
        orig(self, *a, **k); made.append(self)
    monkeypatch.setattr(broadcast_sender.BroadcastSender, "__init__", init)
    rate = 500
    async with BotHarness(db_url, broadcast_rate=float(rate)) as harness:
        ids = await seed_users(harness, range(100_001, 102_001))
        admin = harness.admin()
        await compose(admin)
        await asyncio.sleep(1.1)
        harness.emu.set_rate_limits(global_per_second=rate, per_chat_per_second=1)
        await admin.press(SEND)
        await wait_finished(harness, timeout=60)
        s = made[0]
        print("late", s.late_slots, "sent", s.sent, "batch", s.batch_size, "tol", s.plan.late_tolerance)
        print("rate", achieved_rate(harness, ids))
        wanted=set(ids)
        times = sorted(c.time for c in harness.emu.calls if c.ok and c.method == "sendMessage" and c.chat_id in wanted)
        gaps=[b-a for a,b in zip(times,times[1:])]
        big=sorted(gaps)[-10:]
        print("biggest gaps", big, "total", times[-1]-times[0])
        # histogram per 0.25s
        t0=times[0]
        import collections
        h=collections.Counter(int((t-t0)/0.25) for t in times)
        print(sorted(h.items()))
