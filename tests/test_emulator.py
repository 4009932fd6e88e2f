"""Tests of the Bot API emulator, driven by a real python-telegram-bot ``Bot``."""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, CommandHandler, ContextTypes
from telegram.helpers import escape_markdown

from bot.emulator import BotApiEmulator, ChatClient, RateLimits, tiny_png
from bot.emulator.model import EntityParseError, parse_html, parse_markdown_v2

USER = 1001


def make_bot(emu: BotApiEmulator, token: str | None = None) -> Bot:
    return Bot(
        token or emu.token,
        base_url=f"{emu.base_url}/bot",
        base_file_url=f"{emu.base_url}/file/bot",
    )


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator() as emulator:
        emulator.add_user(USER, "Siti", username="siti")
        yield emulator


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    async with make_bot(emu) as telegram_bot:
        yield telegram_bot


async def raw_call(emu: BotApiEmulator, method: str, token: str | None = None, **params):
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emu.base_url}/bot{token or emu.token}/{method}", json=params) as resp,
    ):
        return resp.status, await resp.json()


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


# --------------------------------------------------------------------------- basics


async def test_get_me_reports_configured_username(emu, bot):
    me = await bot.get_me()
    assert me.username == "jamsostek_bot"
    assert me.is_bot
    assert me.id == 123456789
    other = BotApiEmulator(token="42:abc", bot_username="other_bot")
    async with other, make_bot(other) as other_bot:
        assert (await other_bot.get_me()).username == "other_bot"


async def test_wrong_token_is_unauthorized(emu):
    status, body = await raw_call(emu, "getMe", token="999:wrong")
    assert status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    with pytest.raises(InvalidToken):
        async with make_bot(emu, token="999:wrong"):
            pass


async def test_unknown_method_is_not_found_and_names_are_case_insensitive(emu):
    status, body = await raw_call(emu, "sendTelepathy", chat_id=USER)
    assert (status, body["description"]) == (404, "Not Found")
    status, body = await raw_call(emu, "GETME")
    assert status == 200
    assert body["result"]["username"] == "jamsostek_bot"


async def test_accepts_get_with_query_string_and_urlencoded_form(emu):
    async with aiohttp.ClientSession() as session:
        url = f"{emu.base_url}/bot{emu.token}/sendMessage"
        async with session.get(url, params={"chat_id": str(USER), "text": "hai"}) as resp:
            assert resp.status == 200
        markup = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
        form = {"chat_id": str(USER), "text": "pilih", "reply_markup": markup}
        async with session.post(url, data=form) as resp:
            body = await resp.json()
    assert body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
    assert [m.text for m in emu.bot_messages(USER)] == ["hai", "pilih"]


# --------------------------------------------------------------------------- messages


async def test_send_message_with_keyboard_then_press_arrives_through_get_updates(emu, bot):
    sent = await bot.send_message(
        USER,
        "<b>Daftar</b> sekarang?",
        parse_mode="HTML",
        reply_markup=keyboard([("Setuju", "agree"), ("Tidak", "no")]),
        link_preview_options=None,
    )
    assert sent.text == "Daftar sekarang?"
    assert sent.from_user.username == "jamsostek_bot"
    assert sent.entities[0].type == "bold"
    assert sent.reply_markup.inline_keyboard[0][1].callback_data == "no"

    update = await emu.press(USER, sent.message_id, "agree")
    updates = await bot.get_updates(timeout=2)
    assert [u.update_id for u in updates] == [update.update_id]
    query = updates[0].callback_query
    assert query.data == "agree"
    assert query.from_user.id == USER
    assert query.message.message_id == sent.message_id
    assert query.chat_instance
    assert update.delivered
    assert not update.confirmed

    assert await bot.answer_callback_query(query.id, text="Oke")
    assert emu.callbacks[query.id].answer.text == "Oke"
    with pytest.raises(BadRequest, match=r"[Qq]uery is too old"):
        await bot.answer_callback_query(query.id)

    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    assert update.confirmed


async def test_press_refuses_data_not_on_keyboard_unless_forged(emu, bot):
    sent = await bot.send_message(USER, "Pilih", reply_markup=keyboard([("A", "a")]))
    with pytest.raises(ValueError, match="not on message"):
        await emu.press(USER, sent.message_id, "admin:delete_all")
    forged = await emu.press(USER, sent.message_id, "admin:delete_all", forge=True)
    assert forged.payload["data"] == "admin:delete_all"


async def test_edit_message_text_keeps_history_and_rejects_identical_edit(emu, bot):
    sent = await bot.send_message(USER, "Langkah 1", reply_markup=keyboard([("Lanjut", "n")]))
    edited = await bot.edit_message_text(
        "Langkah 2", chat_id=USER, message_id=sent.message_id, reply_markup=keyboard([("OK", "k")])
    )
    assert edited.text == "Langkah 2"
    assert edited.edit_date is not None
    stored = emu.chat(USER).messages[sent.message_id]
    assert stored.edit_count == 1
    assert stored.history[0].text == "Langkah 1"
    assert stored.buttons() == [["OK"]]

    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text(
            "Langkah 2",
            chat_id=USER,
            message_id=sent.message_id,
            reply_markup=keyboard([("OK", "k")]),
        )
    # Same text without markup removes the keyboard, which is a modification (like Telegram).
    await bot.edit_message_text("Langkah 2", chat_id=USER, message_id=sent.message_id)
    assert stored.reply_markup is None
    await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard([("X", "x")]))
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_reply_markup(
            USER, sent.message_id, reply_markup=keyboard([("X", "x")])
        )
    with pytest.raises(BadRequest, match="to edit not found"):
        await bot.edit_message_text("?", chat_id=USER, message_id=9999)
    assert await bot.delete_message(USER, sent.message_id)
    assert stored.deleted
    with pytest.raises(BadRequest, match="to delete not found"):
        await bot.delete_message(USER, sent.message_id)


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"text": ""}, "Bad Request: message text is empty"),
        ({"text": "x" * 4097}, "Bad Request: message is too long"),
        (
            {"text": "<b>tebal", "parse_mode": "HTML"},
            "Bad Request: can't parse entities: "
            'Can\'t find end tag corresponding to start tag "b"',
        ),
        (
            {"text": "umur < 18", "parse_mode": "HTML"},
            'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 5',
        ),
        (
            {"text": "<div>x</div>", "parse_mode": "HTML"},
            'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 0',
        ),
        (
            {"text": "<b>x</i>", "parse_mode": "HTML"},
            "Bad Request: can't parse entities: Unmatched end tag at byte offset 4, "
            'expected "</b>", found "</i>"',
        ),
        (
            {"text": "Rp 16.800.", "parse_mode": "MarkdownV2"},
            "Bad Request: can't parse entities: Character '.' is reserved and must be "
            "escaped with the preceding '\\'",
        ),
        (
            {"text": "*tebal", "parse_mode": "MarkdownV2"},
            "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 0",
        ),
        (
            {
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "d" * 65}]]},
            },
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            {"text": "x", "reply_markup": {"inline_keyboard": [[{"text": "A"}]]}},
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        ),
    ],
)
async def test_send_message_validation_like_telegram(emu, params, description):
    status, body = await raw_call(emu, "sendMessage", chat_id=USER, **params)
    assert (status, body["description"]) == (400, description)
    assert emu.bot_messages(USER) == []
    assert emu.calls[-1].status == 400


async def test_validation_errors_surface_as_bad_request_in_ptb(emu, bot):
    with pytest.raises(BadRequest, match=r"[Cc]hat not found"):
        await bot.send_message(777, "halo")
    with pytest.raises(BadRequest, match=r"BUTTON_DATA_INVALID|Button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=keyboard([("A", "é" * 33)]))
    # 64 bytes exactly is fine.
    await bot.send_message(USER, "x", reply_markup=keyboard([("A", "d" * 64)]))


async def test_text_is_trimmed_like_telegram_with_entities_shifted(emu, bot):
    sent = await bot.send_message(USER, "\n  <b>Halo</b> Siti \n", parse_mode="HTML")
    assert sent.text == "Halo Siti"
    assert (sent.entities[0].offset, sent.entities[0].length) == (0, 4)
    status, body = await raw_call(
        emu, "sendMessage", chat_id=USER, text="<b> </b>", parse_mode="HTML"
    )
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")


async def test_blocked_chat_is_forbidden(emu, bot):
    emu.block(USER)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(USER, "Pengingat iuran")
    assert emu.calls_for("sendMessage", chat_id=USER)[-1].status == 403
    emu.unblock(USER)
    await bot.send_message(USER, "Pengingat iuran")


async def test_reply_keyboard_with_contact_button_and_removal(emu, bot):
    chat = ChatClient(emu, USER)
    await bot.send_message(
        USER,
        "Bagikan nomor HP",
        reply_markup=ReplyKeyboardMarkup(
            [[KeyboardButton("Bagikan nomor", request_contact=True)], ["Batal"]],
            one_time_keyboard=True,
        ),
    )
    assert chat.reply_labels() == [["Bagikan nomor"], ["Batal"]]
    assert chat.reply_keyboard()[0][0].request_contact
    assert "Bagikan nomor (contact)" in chat.transcript()
    update = await emu.send_contact(USER, "6281234567890")
    contact = update.payload["contact"]
    assert contact["user_id"] == USER
    assert contact["first_name"] == "Siti"
    assert chat.reply_keyboard() == []  # one-time keyboard hidden after use
    await bot.send_message(USER, "Terima kasih", reply_markup=ReplyKeyboardRemove())
    assert emu.chat(USER).reply_keyboard is None


async def test_command_entities_and_deep_link(emu, bot):
    update = await emu.send_text(USER, "/start ref_desa_42")
    (received,) = await bot.get_updates(timeout=1)
    assert received.message.text == "/start ref_desa_42"
    entity = received.message.entities[0]
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)
    assert update.payload["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    plain = await emu.send_text(USER, "halo")
    assert "entities" not in plain.payload


# --------------------------------------------------------------------------- updates


async def test_get_updates_long_polls_confirms_and_limits(emu, bot):
    started = time.monotonic()
    assert await bot.get_updates(timeout=0.3) == ()
    assert time.monotonic() - started >= 0.25

    async def later() -> None:
        await asyncio.sleep(0.2)
        await emu.send_text(USER, "satu")

    task = asyncio.create_task(later())
    started = time.monotonic()
    first = await bot.get_updates(timeout=5)
    await task
    assert time.monotonic() - started < 2
    assert first[0].message.text == "satu"

    for word in ("dua", "tiga", "empat"):
        await emu.send_text(USER, word)
    batch = await bot.get_updates(offset=first[0].update_id + 1, limit=2)
    assert [u.message.text for u in batch] == ["dua", "tiga"]
    rest = await bot.get_updates(offset=batch[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["empat"]
    assert [u.update_id for u in emu.pending_updates()] == [rest[0].update_id]


async def test_allowed_updates_filters_callback_queries(emu, bot):
    sent = await bot.send_message(USER, "x", reply_markup=keyboard([("A", "a")]))
    await emu.press(USER, sent.message_id, "a")
    await emu.send_text(USER, "halo")
    updates = await bot.get_updates(allowed_updates=["message"])
    assert [u.message.text for u in updates] == ["halo"]


async def test_second_poll_terminates_waiting_one_with_conflict(emu, bot):
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    async with make_bot(emu) as second_bot:
        assert await second_bot.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await first


async def test_webhook_push_with_secret_retries_and_blocks_polling(emu, bot):
    received: list[tuple[dict, str | None]] = []
    failures = [500]

    async def receive(request: web.Request) -> web.Response:
        if failures:
            return web.Response(status=failures.pop())
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await emu.send_text(USER, "sebelum webhook")
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="rahasia_1")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        update = await emu.send_text(USER, "lewat webhook")
        await emu.wait_confirmed(update, timeout=5)
        assert [payload["message"]["text"] for payload, _ in received] == [
            "sebelum webhook",
            "lewat webhook",
        ]
        assert {secret for _, secret in received} == {"rahasia_1"}
        assert Update.de_json(received[1][0], bot).message.text == "lewat webhook"
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook")
        assert info.pending_update_count == 0
        assert "500" in (info.last_error_message or "")

        assert await bot.delete_webhook()
        await emu.send_text(USER, "polling lagi")
        assert [u.message.text for u in await bot.get_updates()] == ["polling lagi"]
        with pytest.raises(BadRequest, match="loopback"):
            await bot.set_webhook("https://example.org/hook")
    finally:
        await runner.cleanup()


async def test_webhook_reply_body_runs_a_method(emu, bot):
    async def receive(request: web.Request) -> web.Response:
        update = await request.json()
        chat_id = update["message"]["chat"]["id"]
        return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "balas"})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
        await emu.send_text(USER, "hai")
        await emu.wait_for(lambda: emu.bot_messages(USER))
        assert emu.bot_messages(USER)[0].text == "balas"
    finally:
        await bot.delete_webhook()
        await runner.cleanup()


# --------------------------------------------------------------------------- files


async def test_document_upload_then_download_through_get_file(emu, bot):
    content = b"%PDF-1.4 kartu peserta"
    sent = await bot.send_document(
        USER, content, filename="kartu.pdf", caption="<i>Kartu</i>", parse_mode="HTML"
    )
    document = sent.document
    assert (document.file_name, document.mime_type, document.file_size) == (
        "kartu.pdf",
        "application/pdf",
        len(content),
    )
    assert sent.caption == "Kartu"
    file = await bot.get_file(document.file_id)
    assert bytes(await file.download_as_bytearray()) == content
    # Re-sending by file_id reuses the stored file.
    again = await bot.send_document(USER, document.file_id)
    assert again.document.file_unique_id == document.file_unique_id
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(USER, "no-such-file-id")

    upload = await emu.send_document(USER, "ktp.jpg", b"\xff\xd8 ktp", "image/jpeg")
    user_file = await bot.get_file(upload.payload["document"]["file_id"])
    assert bytes(await user_file.download_as_bytearray()) == b"\xff\xd8 ktp"
    assert ChatClient(emu, USER).documents()[0].data == content


async def test_photo_upload_measures_image_and_rejects_non_images(emu, bot):
    sent = await bot.send_photo(USER, tiny_png(3, 5))
    assert (sent.photo[-1].width, sent.photo[-1].height) == (3, 5)
    with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
        await bot.send_photo(USER, b"not an image")
    with pytest.raises(BadRequest, match=r"(?i)type of file mismatch"):
        await bot.send_photo(
            USER, (await bot.send_document(USER, b"x", filename="x.txt")).document.file_id
        )
    photo = await emu.send_photo(USER)
    file = await bot.get_file(photo.payload["photo"][-1]["file_id"])
    assert bytes(await file.download_as_bytearray()).startswith(b"\x89PNG")


# --------------------------------------------------------------------------- commands & misc


async def test_set_my_commands_per_language_and_scope(emu, bot):
    await bot.set_my_commands(
        [BotCommand("start", "Mulai"), BotCommand("daftar", "Daftar")], language_code="id"
    )
    await bot.set_my_commands([BotCommand("start", "Start")])
    await bot.set_my_commands(
        [BotCommand("bantuan", "Bantuan")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="en",
    )
    assert [c.command for c in await bot.get_my_commands(language_code="id")] == [
        "start",
        "daftar",
    ]
    assert [c.description for c in await bot.get_my_commands()] == ["Start"]
    assert await bot.get_my_commands(language_code="jv") == ()
    assert emu.commands("id") == [("start", "Mulai"), ("daftar", "Daftar")]
    assert emu.effective_commands(USER) == [("start", "Mulai"), ("daftar", "Daftar")]
    emu.add_user(2002, "John", language_code="en")
    assert emu.effective_commands(2002) == [("bantuan", "Bantuan")]
    assert await bot.delete_my_commands(language_code="id")
    assert emu.commands("id") == []
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Daftar-Baru", "x")])


async def test_chat_action_menu_button_and_profile(emu, bot):
    assert await bot.send_chat_action(USER, "typing")
    assert emu.chat(USER).last_action == "typing"
    assert await bot.set_chat_menu_button()
    assert await bot.set_my_description("Bot pendaftaran BPJS Ketenagakerjaan")
    status, _ = await raw_call(emu, "sendChatAction", chat_id=USER, action="dancing")
    assert status == 400


# --------------------------------------------------------------------------- faults & limits


async def test_fail_next_and_delay_next(emu, bot, monkeypatch):
    # PTB 22 warns when building RetryAfter unless opted in to timedelta periods.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    emu.fail_next("sendMessage", status=502, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(USER, "coba")
    await bot.send_message(USER, "coba")
    assert [c.status for c in emu.calls_for("sendMessage")] == [502, 502, 200]

    emu.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "coba")
    assert emu.calls[-1].response["parameters"] == {"retry_after": 3}

    emu.delay_next("sendMessage", 0.3)
    started = time.monotonic()
    await bot.send_message(USER, "lambat")
    assert time.monotonic() - started >= 0.3


async def test_rate_limits_answer_429_and_admit_at_most_n_per_rolling_second(emu):
    emu.add_user(USER + 1, "Budi")
    emu.set_rate_limits(global_per_second=5, per_chat_per_second=3)

    async with aiohttp.ClientSession() as session:
        url = f"{emu.base_url}/bot{emu.token}/sendMessage"

        async def send(chat_id: int) -> tuple[int, dict]:
            async with session.post(url, json={"chat_id": chat_id, "text": "x"}) as resp:
                return resp.status, await resp.json()

        results = await asyncio.gather(*(send(USER) for _ in range(6)))
        statuses = [status for status, _ in results]
        assert statuses.count(200) == 3
        assert statuses.count(429) == 3
        refused = next(body for status, body in results if status == 429)
        retry_after = refused["parameters"]["retry_after"]
        assert retry_after >= 1
        assert refused["description"] == f"Too Many Requests: retry after {retry_after}"

        # The other chat still has its own budget, but only 2 are left of the global 5.
        results = await asyncio.gather(*(send(USER + 1) for _ in range(4)))
        assert [s for s, _ in results].count(200) == 2
    assert emu.rate_limited == 5
    accepted = [c.time for c in emu.calls_for("sendMessage") if c.ok]
    assert all(sum(1 for u in accepted if t - 1.0 < u <= t) <= 5 for t in accepted)


async def test_rate_limit_window_rolls(emu, bot, monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    emu.set_rate_limits(per_chat_per_second=2, window=0.2)
    await bot.send_message(USER, "1")
    await bot.send_message(USER, "2")
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "3")
    await asyncio.sleep(0.25)
    await bot.send_message(USER, "4")
    assert [m.text for m in emu.bot_messages(USER)] == ["1", "2", "4"]


async def test_rate_limits_from_constructor():
    async with BotApiEmulator(rate_limits=RateLimits(global_per_second=1)) as emu:
        emu.add_user(USER, "Siti")
        assert (await raw_call(emu, "sendMessage", chat_id=USER, text="a"))[0] == 200
        assert (await raw_call(emu, "sendMessage", chat_id=USER, text="b"))[0] == 429


# --------------------------------------------------------------------------- formatting


def test_html_parser_entities_and_utf16_offsets():
    text, entities = parse_html(
        '👋 <b>Halo <i>Siti</i></b> &amp; <a href="https://bpjs.id">info</a>'
        '<pre><code class="language-python">x</code></pre>'
    )
    assert text == "👋 Halo Siti & infox"
    assert entities == (
        {"type": "bold", "offset": 3, "length": 9},
        {"type": "italic", "offset": 8, "length": 4},
        {"type": "text_link", "offset": 15, "length": 4, "url": "https://bpjs.id"},
        {"type": "pre", "offset": 19, "length": 1, "language": "python"},
    )
    assert parse_html('<span class="tg-spoiler">s</span><blockquote expandable>q</blockquote>')[
        1
    ] == (
        {"type": "spoiler", "offset": 0, "length": 1},
        {"type": "expandable_blockquote", "offset": 1, "length": 1},
    )
    with pytest.raises(EntityParseError, match='must have class "tg-spoiler"'):
        parse_html("<span>x</span>")
    with pytest.raises(EntityParseError, match="Unexpected end tag"):
        parse_html("x</b>")


def test_markdown_v2_parser():
    text, entities = parse_markdown_v2(r"*Iuran* Rp 16\.800 \- [info](https://bpjs.id) __u__")
    assert text == "Iuran Rp 16.800 - info u"
    assert [e["type"] for e in entities] == ["bold", "text_link", "underline"]
    with pytest.raises(EntityParseError, match="Character '-' is reserved"):
        parse_markdown_v2("a - b")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_escaped_user_text_always_parses_back(raw):
    assert parse_html(html.escape(raw, quote=False))[0] == raw
    assert parse_markdown_v2(escape_markdown(raw, version=2))[0] == raw


# --------------------------------------------------------------------------- chat client


async def echo_bot(bot: Bot) -> None:
    """A tiny bot: /start offers a keyboard, buttons edit the message, text is echoed."""
    offset = 0
    while True:
        for update in await bot.get_updates(offset=offset, timeout=1):
            offset = update.update_id + 1
            await handle_echo(bot, update)


async def handle_echo(bot: Bot, update: Update) -> None:
    if update.callback_query:
        query = update.callback_query
        await query.answer(text=f"pilih {query.data}")
        await query.edit_message_text(f"Pilihan: {query.data}")
        return
    message = update.message
    assert message is not None
    if message.contact:
        await bot.send_message(
            message.chat_id,
            f"Nomor {message.contact.phone_number} tersimpan",
            reply_markup=ReplyKeyboardRemove(),
        )
    elif message.document:
        file = await bot.get_file(message.document.file_id)
        data = bytes(await file.download_as_bytearray())
        await bot.send_document(message.chat_id, data[::-1], filename="balik.bin")
    elif message.text == "/start":
        name = message.from_user.first_name if message.from_user else "?"
        await bot.send_message(
            message.chat_id,
            f"Halo {name}!",
            reply_markup=keyboard([("Setuju", "agree"), ("Tidak", "no")]),
        )
        await bot.send_message(
            message.chat_id,
            "Bagikan nomor HP",
            reply_markup=ReplyKeyboardMarkup(
                [[KeyboardButton("Bagikan nomor", request_contact=True)]]
            ),
        )
    elif message.text:
        await bot.send_message(message.chat_id, message.text.upper())
    else:
        await bot.send_message(message.chat_id, "Maaf, belum bisa.")


@pytest.fixture
async def running_echo_bot(emu, bot) -> AsyncIterator[Bot]:
    task = asyncio.create_task(echo_bot(bot))
    yield bot
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_chat_client_transcript_style(emu, running_echo_bot):
    chat = ChatClient(emu, USER)
    replies = await chat.send("/start")
    assert [m.text for m in replies] == ["Halo Siti!", "Bagikan nomor HP"]
    assert chat.buttons() == [["Setuju", "Tidak"]]
    assert chat.button_data() == [["agree", "no"]]
    assert chat.reply_keyboard()[0][0].request_contact

    replies = await chat.press("setuju")  # case-insensitive label match
    assert [m.text for m in replies] == ["Pilihan: agree"]
    assert replies[0].edit_count == 1
    assert chat.last_answer is not None
    assert chat.last_answer.text == "pilih agree"

    with pytest.raises(AssertionError, match=r"no button 'Nanti'.*\[\]"):
        await chat.press("Nanti")

    replies = await chat.share_contact("6281298765432")
    assert replies[0].text == "Nomor 6281298765432 tersimpan"
    assert chat.reply_keyboard() == []

    await chat.send_document("data.bin", b"abc")
    assert chat.documents()[-1].data == b"cba"
    assert (await chat.send_sticker())[0].text == "Maaf, belum bisa."
    assert (await chat.send("halo"))[0].text == "HALO"
    assert chat.last_text == "HALO"
    transcript = chat.transcript()
    assert "#1 Siti: /start" in transcript
    assert "bot (edited 1x): Pilihan: agree" in transcript
    assert "[contact 6281298765432 (own)]" in transcript


async def test_many_chat_clients_at_once(emu, running_echo_bot):
    chats = [ChatClient(emu, 5000 + i, first_name=f"User{i}") for i in range(8)]
    results = await asyncio.gather(*(c.send(f"pesan {i}") for i, c in enumerate(chats)))
    assert [r[0].text for r in results] == [f"PESAN {i}" for i in range(8)]


async def test_chat_client_uses_settle_probe(emu, running_echo_bot):
    settled: list[int] = []

    async def settle() -> None:
        await emu.wait_for(lambda: emu.bot_messages(USER))
        settled.append(1)

    chat = ChatClient(emu, USER, settle=settle)
    assert [m.text for m in await chat.send("a")] == ["A"]
    assert settled == [1]


async def test_chat_client_reports_undelivered_update(emu):
    chat = ChatClient(emu, USER, timeout=0.3)
    with pytest.raises(AssertionError, match="not delivered"):
        await chat.send("halo?")


async def test_works_with_ptb_application_polling(emu):
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"Halo, kode {' '.join(context.args or [])}")

    app = (
        Application.builder()
        .token(emu.token)
        .base_url(f"{emu.base_url}/bot")
        .base_file_url(f"{emu.base_url}/file/bot")
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            chat = ChatClient(emu, USER)
            replies = await chat.send("/start desa_7")
            assert [m.text for m in replies] == ["Halo, kode desa_7"]
        finally:
            await app.updater.stop()
            await app.stop()
    assert emu.pending_updates() == []  # the updater confirmed everything on shutdown


async def test_playground_can_mount_extra_routes():
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="playground")

    emu = BotApiEmulator()
    emu.app.router.add_get("/", page)
    async with emu, aiohttp.ClientSession() as session:
        async with session.get(f"{emu.base_url}/") as resp:
            assert await resp.text() == "playground"
        async with session.get(f"{emu.base_url}/bot{emu.token}/getMe") as resp:
            assert resp.status == 200

    # Or the emulator's routes mounted into a bigger app that someone else serves.
    embedded = BotApiEmulator()
    outer = web.Application()
    embedded.add_routes(outer)
    runner = web.AppRunner(outer)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    embedded.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        assert (await raw_call(embedded, "getMe"))[0] == 200
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- throughput


async def test_throughput_measurement(emu, capsys):
    """Measures sendMessage calls/s (client and server share this one core); no assertion."""
    total, concurrency = 2000, 32
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"{emu.base_url}/bot{emu.token}/sendMessage"
        queue = iter(range(total))

        async def worker() -> None:
            for i in queue:
                async with session.post(url, json={"chat_id": USER, "text": f"m{i}"}) as resp:
                    assert resp.status == 200
                    await resp.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    assert len(emu.bot_messages(USER)) == total
    with capsys.disabled():
        print(f"\nemulator throughput: {total / elapsed:.0f} sendMessage/s ({total} calls)")
