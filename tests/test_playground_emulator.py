"""What the emulator gives the playground: a JSON view of a chat, a long poll for changes, and
clearing every chat for a reset. Driven by a real python-telegram-bot ``Bot``."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.emulator import BotApiEmulator, tiny_png

USER = 1001


async def test_chat_view_is_json_with_parsed_text_keyboards_files_and_commands(emu, bot):
    await emu.send_text(USER, "/start")
    await bot.set_my_commands([BotCommand("start", "Menu utama")])
    sent = await bot.send_message(
        USER,
        "<b>Halo</b> &amp; <i>selamat</i>",
        parse_mode="HTML",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Daftar", callback_data="reg")]]),
    )
    await bot.send_message(
        USER,
        "Bagikan nomor",
        reply_markup=ReplyKeyboardMarkup(
            [[KeyboardButton("Kirim nomor saya", request_contact=True)]], one_time_keyboard=True
        ),
    )
    await bot.send_document(USER, b"a,b\n", filename="data.csv")
    await bot.send_photo(USER, tiny_png(4, 3))

    view = emu.chat_view(USER)
    json.dumps(view)  # JSON-ready as it is
    assert view["chat_id"] == USER
    assert view["user"]["first_name"] == "Siti"
    assert view["change_seq"] == emu.change_seq
    assert view["commands"] == [["start", "Menu utama"]]
    user, html, _, document, photo = view["messages"]
    assert user["outgoing"] is True
    assert user["kind"] == "text"
    assert html["outgoing"] is False
    assert html["message_id"] == sent.message_id
    assert html["text"] == "Halo & selamat"
    assert html["entities"] == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "italic", "offset": 7, "length": 7},
    ]
    assert html["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "reg"
    assert html["seq"] < document["seq"] < photo["seq"]
    assert document["kind"] == "document"
    assert document["file"]["name"] == "data.csv"
    assert document["file"]["size"] == 4
    assert photo["kind"] == "photo"
    assert (photo["file"]["width"], photo["file"]["height"]) == (4, 3)
    keyboard = view["reply_keyboard"]["keyboard"]
    assert keyboard == [[{"text": "Kirim nomor saya", "request_contact": True}]]
    assert view["reply_keyboard_hidden"] is False

    await emu.send_contact(USER, "6281234567890")
    assert emu.chat_view(USER)["reply_keyboard_hidden"] is True  # a one-time keyboard was used


async def test_chat_view_shows_edits_in_place_and_drops_deleted_messages(emu, bot):
    first = await bot.send_message(USER, "10%")
    second = await bot.send_message(USER, "hapus saya")
    seq = emu.chat_view(USER)["messages"][0]["seq"]
    await bot.edit_message_text("100%", chat_id=USER, message_id=first.message_id)
    await bot.delete_message(USER, second.message_id)
    (only,) = emu.chat_view(USER)["messages"]
    assert only["message_id"] == first.message_id
    assert only["text"] == "100%"
    assert only["seq"] > seq
    assert "edit_date" in only
    with pytest.raises(KeyError):
        emu.chat_view(4242)


async def test_wait_changed_returns_at_once_waits_and_wakes_on_a_change(emu):
    seq = emu.change_seq
    assert await emu.wait_changed(seq - 1, 5) == seq  # already newer: no wait
    started = time.monotonic()
    assert await emu.wait_changed(seq, 0.2) == seq  # nothing happened: returns at the timeout
    assert time.monotonic() - started >= 0.19

    waiting = asyncio.create_task(emu.wait_changed(seq, 10))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    started = time.monotonic()
    await emu.send_text(USER, "halo")
    assert await asyncio.wait_for(waiting, 2) > seq
    assert time.monotonic() - started < 1


async def test_wait_changed_returns_when_the_emulator_stops():
    emu = BotApiEmulator()
    await emu.start()
    waiting = asyncio.create_task(emu.wait_changed(emu.change_seq, 30))
    await asyncio.sleep(0.05)
    await emu.stop()
    started = time.monotonic()
    await asyncio.wait_for(waiting, 2)
    assert time.monotonic() - started < 1


async def test_clear_empties_every_chat_but_keeps_the_users(emu, bot):
    emu.add_user(2002, "Budi")
    await emu.send_text(USER, "/start")
    await bot.set_my_commands([BotCommand("start", "Menu utama")])
    await bot.send_message(USER, "x", reply_markup=ReplyKeyboardMarkup([[KeyboardButton("ya")]]))
    await bot.send_document(2002, b"data", filename="a.txt")
    emu.block(2002)
    seq = emu.change_seq
    assert emu.pending_updates()

    emu.clear()

    assert emu.change_seq > seq
    assert set(emu.users) == {USER, 2002}
    for chat_id in (USER, 2002):
        view = emu.chat_view(chat_id)
        assert view["messages"] == []
        assert view["reply_keyboard"] is None
        assert view["commands"] == []
        assert emu.chat(chat_id).blocked is False
    assert emu.pending_updates() == []
    assert emu.files == {}
    assert emu.calls == []
    # The chat starts again like a new one, and the bot can talk at once.
    update = await emu.send_text(USER, "/start")
    assert update.payload["message_id"] == 1
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [update.update_id]


async def test_update_and_message_ids_can_start_where_a_previous_run_left_off():
    async with BotApiEmulator(first_update_id=5_000_000, first_message_id=900) as emu:
        emu.add_user(USER, "Siti")
        update = await emu.send_text(USER, "/start")
        assert update.update_id == 5_000_000
        assert update.payload["message_id"] == 900
        async with Bot(emu.token, base_url=f"{emu.base_url}/bot") as bot:
            sent = await bot.send_message(USER, "halo")
            assert sent.message_id == 901
            emu.clear()
            assert (await emu.send_text(USER, "lagi")).payload["message_id"] == 900
            assert (await bot.get_updates(timeout=0))[0].update_id == 5_000_001
