"""The long-polling loop confirms an update to Telegram only once it has been processed.

Driven against the Bot API emulator, whose ``getUpdates`` follows Telegram's offset rules: an update
is forgotten once a call's ``offset`` is above its id, and returned again until then.
"""

from __future__ import annotations

import asyncio

from telegram import Bot, Update

from bot.emulator import BotApiEmulator
from bot.poller import Poller

USER = 1001


async def take(queue: asyncio.Queue[object], n: int) -> list[Update]:
    got = [await asyncio.wait_for(queue.get(), 5) for _ in range(n)]
    assert all(isinstance(u, Update) for u in got)
    return got  # type: ignore[return-value]


async def test_an_update_is_confirmed_only_once_processed(emu: BotApiEmulator, bot: Bot) -> None:
    queue: asyncio.Queue[object] = asyncio.Queue()
    poller = Poller(bot, queue, timeout=1, hold_seconds=0.05)
    first = await emu.send_text(USER, "satu")
    second = await emu.send_text(USER, "dua")
    await poller.start()
    try:
        one, two = await take(queue, 2)
        assert [one.update_id, two.update_id] == [first.update_id, second.update_id]
        # Fetched, queued, not processed: Telegram still holds both, whatever the poller fetches.
        await asyncio.sleep(0.3)
        assert [u.update_id for u in emu.pending_updates()] == [first.update_id, second.update_id]
        assert poller.offset == first.update_id

        poller.done(two)  # the newer one finished first: nothing can be confirmed yet
        await asyncio.sleep(0.2)
        assert [u.update_id for u in emu.pending_updates()] == [first.update_id, second.update_id]

        poller.done(one)
        await emu.wait_for(lambda: not emu.pending_updates())
        third = await emu.send_text(USER, "tiga")
        [three] = await take(queue, 1)
        assert three.update_id == third.update_id
        # Refetched while older updates were in flight, nothing was queued twice.
        assert queue.empty()
    finally:
        await poller.stop()
    # Stopped with "tiga" unprocessed: it stays at Telegram for the next process.
    await poller.confirm()
    assert [u.update_id for u in emu.pending_updates()] == [third.update_id]


async def test_a_killed_poller_leaves_every_unprocessed_update_at_telegram(
    emu: BotApiEmulator, bot: Bot
) -> None:
    queue: asyncio.Queue[object] = asyncio.Queue()
    poller = Poller(bot, queue, timeout=1, hold_seconds=0.05)
    sent = [await emu.send_text(USER, f"pesan {i}") for i in range(5)]
    await poller.start()
    fetched = await take(queue, 5)
    for update in fetched[:2]:
        poller.done(update)
    await emu.wait_for(lambda: len(emu.pending_updates()) == 3)
    await poller.stop()  # no confirm(): what kill -9 leaves behind

    # The next process receives the three unprocessed updates, and only those.
    again: asyncio.Queue[object] = asyncio.Queue()
    successor = Poller(bot, again, timeout=1, hold_seconds=0.05)
    await successor.start()
    try:
        redelivered = await take(again, 3)
        assert [u.update_id for u in redelivered] == [u.update_id for u in sent[2:]]
        for update in redelivered:
            successor.done(update)
        await emu.wait_for(lambda: not emu.pending_updates())
    finally:
        await successor.stop()


async def test_a_graceful_stop_confirms_what_was_processed(emu: BotApiEmulator, bot: Bot) -> None:
    queue: asyncio.Queue[object] = asyncio.Queue()
    poller = Poller(bot, queue, timeout=1, hold_seconds=5)
    await emu.send_text(USER, "halo")
    await poller.start()
    [update] = await take(queue, 1)
    poller.done(update)
    await poller.stop()
    await poller.confirm()
    assert emu.pending_updates() == []
