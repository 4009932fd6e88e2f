"""End to end through the Bot API emulator: greeting, menu, help, language, cancel, fallback,
duplicate updates, per-chat ordering, command menu."""

from __future__ import annotations

import asyncio

from tests.support import BotHarness


async def test_start_greets_in_indonesian_with_the_menu(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    assert "Halo!" in chat.last_text
    labels = [label for row in chat.buttons() for label in row]
    assert "Bantuan" in labels
    assert "Bahasa / Language" in labels


async def test_help_from_command_and_menu(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/bantuan")
    assert "Apa yang bisa dilakukan bot ini" in chat.last_text
    await chat.send("/start")
    await chat.press("Bantuan")
    assert "Apa yang bisa dilakukan bot ini" in chat.last_text


async def test_language_switch_is_stored(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/bahasa")
    assert chat.last_text == "Pilih bahasa:"
    await chat.press("English")
    await chat.send("/start")
    assert chat.last_text.startswith("Hello!")
    async with harness.db.transaction() as repo:
        user = await repo.users.get(chat.user_id)
    assert user is not None
    assert user.language == "en"
    await chat.send("/bahasa")
    await chat.press("Bahasa Indonesia")
    await chat.send("/start")
    assert chat.last_text.startswith("Halo!")


async def test_english_telegram_user_starts_in_english(harness: BotHarness) -> None:
    chat = harness.chat(2002, language_code="en")
    await chat.send("/start")
    assert chat.last_text.startswith("Hello!")


async def test_unknown_input_is_never_met_with_silence(harness: BotHarness) -> None:
    chat = harness.chat()
    for send in (
        chat.send("apa ini"),
        chat.send("/perintahaneh"),
        chat.send_sticker(),
        chat.send_photo(),
        chat.send_location(),
        chat.send_voice(),
    ):
        replies = await send
        assert replies, "the bot stayed silent"
        assert "tidak mengerti" in chat.last_text


async def test_cancel_outside_a_conversation(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/batal")
    assert "Tidak ada yang sedang berjalan." in chat.last_text


async def test_stale_button_is_answered(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    message = chat.last
    assert message is not None
    update = await harness.emu.press(
        chat.user_id, message.message_id, "does:not:exist", forge=True
    )
    await harness.emu.wait_delivered(update)
    await harness.settle()
    answers = harness.emu.calls_for("answerCallbackQuery")
    assert answers
    assert answers[-1].params.get("text") == "Tombol ini sudah tidak berlaku."


async def test_duplicate_update_is_processed_once(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    sent_before = len(harness.emu.calls_for("sendMessage", chat_id=chat.user_id))
    last_update = harness.emu.last_update_by_chat[chat.user_id]
    await harness.emu.redeliver(last_update)
    await harness.settle()
    assert len(harness.emu.calls_for("sendMessage", chat_id=chat.user_id)) == sent_before


async def test_many_users_at_once_each_answered_in_order(harness: BotHarness) -> None:
    chats = [harness.chat(3000 + i) for i in range(20)]
    await asyncio.gather(*(c.send("/start") for c in chats))
    for c in chats:
        assert "Halo!" in c.last_text


async def test_commands_are_registered_in_both_languages(harness: BotHarness) -> None:
    indonesian = dict(harness.emu.commands(language_code="id"))
    english = dict(harness.emu.commands(language_code="en"))
    assert indonesian["daftar" if "daftar" in indonesian else "start"]
    assert indonesian["bantuan"] == "Apa yang bisa dilakukan bot ini"
    assert english["bantuan"] == "What this bot can do"
    assert dict(harness.emu.commands())["bantuan"] == "Apa yang bisa dilakukan bot ini"


async def test_flooding_user_is_slowed_politely_and_nothing_is_lost(db_url: str) -> None:
    async with BotHarness(db_url, flood_burst=5, flood_window_seconds=1.0) as h:
        flooder = h.chat(4001)
        calm = h.chat(4002)
        updates = [await h.emu.send_text(flooder.user_id, f"pesan {i}") for i in range(12)]
        await calm.send("/start")
        assert "Halo!" in calm.last_text  # the other user is served meanwhile
        for update in updates:
            await h.emu.wait_delivered(update, timeout=10)
        await h.settle()
        texts = [m.text or "" for m in h.emu.bot_messages(flooder.user_id)]
        slow = [t for t in texts if "sangat cepat" in t]
        answered = [t for t in texts if "tidak mengerti" in t]
        assert len(slow) == 1
        assert len(answered) == 12
