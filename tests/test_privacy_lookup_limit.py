"""The NIK + birth-date lookup limit holds across processes: two bot applications on one database
(as two webhook processes behind a balancer would be) share one count of failed lookups, because
the failures are rows, not process memory; a restarted process still counts them."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select

from bot.emulator import BotApiEmulator, ChatClient
from storage.models import LookupFailure
from tests.support import TEST_TOKEN, BotHarness

NIK_UNKNOWN = "6311061203880009"  # nobody has it
USER = 6001


async def wrong_lookup(chat: ChatClient) -> str:
    """One /cek by NIK and a wrong birth date; the bot's last answer."""
    await chat.send("/cek")
    await chat.send(NIK_UNKNOWN)
    await chat.send("12-03-1988")
    return chat.last_text


def second_process(db_url: str) -> BotHarness:
    """Another application on the same database. Its emulator numbers updates elsewhere: one
    Telegram never gives two updates the same id, and the processed-updates table relies on it."""
    harness = BotHarness(db_url)
    harness.emu = BotApiEmulator(token=TEST_TOKEN, first_update_id=500_001)
    return harness


async def test_the_limit_is_shared_by_two_processes(db_url: str) -> None:
    async with BotHarness(db_url) as first, second_process(db_url) as second:
        assert first.settings.lookup_failures_per_hour == 5
        a = first.chat(USER)
        b = second.chat(USER)  # the same person, whose updates land on the other process
        assert "4 kali lagi" in await wrong_lookup(a)
        assert "3 kali lagi" in await wrong_lookup(b)
        assert "2 kali lagi" in await wrong_lookup(a)
        assert "1 kali lagi" in await wrong_lookup(b)
        assert "terlalu sering salah" in await wrong_lookup(a)
        # Both processes now refuse at once, before even asking for a NIK.
        await b.send("/cek")
        assert "terlalu sering salah" in b.last_text
        await a.send("/cek")
        assert "terlalu sering salah" in a.last_text
        async with first.db.transaction() as repo:
            stored = (
                await repo.session.exec(
                    select(func.count())
                    .select_from(LookupFailure)
                    .where(col(LookupFailure.user_id) == USER)
                )
            ).one()
        assert stored == 5
        # A restarted process still refuses.
        await second.stop_bot()
        await second.start_bot()
        await b.send("/cek")
        assert "terlalu sering salah" in b.last_text
        # Another user is not affected, on either process.
        other = second.chat(USER + 1)
        assert "4 kali lagi" in await wrong_lookup(other)
