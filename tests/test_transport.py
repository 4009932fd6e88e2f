"""Both Bot API transports (``BOT_TRANSPORT=aiohttp``, ours and the default, and ``httpx``,
python-telegram-bot's) against the same fake Bot API: messages, keyboards, edits, uploads, errors,
timeouts, an unreachable server, and a whole transcript of the bot. The reply sender's JSON fast
path (aiohttp only) must produce exactly what the python-telegram-bot path produces."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot.application import make_request
from bot.context import Reply
from bot.delivery import Delivery
from bot.emulator import BotApiEmulator
from bot.settings import Settings
from bot.transport import AiohttpRequest
from storage.db import Database
from tests.support import TEST_TOKEN, BotHarness

TRANSPORTS = ["aiohttp", "httpx"]
CHAT = 4242


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(token=TEST_TOKEN) as emulator:
        emulator.add_user(CHAT, "Siti")
        yield emulator


def make_bot(api_url: str, transport: str, *, read_timeout: float = 5.0) -> Bot:
    settings = Settings(token=TEST_TOKEN, api_url=api_url, transport=transport)
    return Bot(
        TEST_TOKEN,
        base_url=f"{api_url}/bot",
        base_file_url=f"{api_url}/file/bot",
        request=make_request(settings, pool=8, read_timeout=read_timeout),
        get_updates_request=make_request(settings, pool=1, read_timeout=None),
    )


def test_the_setting_chooses_the_transport() -> None:
    aiohttp_request = make_request(
        Settings(token=TEST_TOKEN, transport="aiohttp"), pool=8, read_timeout=5.0
    )
    httpx_request = make_request(
        Settings(token=TEST_TOKEN, transport="httpx"), pool=8, read_timeout=5.0
    )
    assert isinstance(aiohttp_request, AiohttpRequest)
    assert not isinstance(httpx_request, AiohttpRequest)
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": TEST_TOKEN}).transport == "aiohttp"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_messages_keyboards_and_edits(emu: BotApiEmulator, transport: str) -> None:
    async with make_bot(emu.base_url, transport) as bot:
        markup = InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("Ya", callback_data="reg:yes")],
                [InlineKeyboardButton("Tidak", callback_data="reg:no")],
            ]
        )
        sent = await bot.send_message(
            CHAT,
            "<b>Iuran</b> Rp16.800 — ✅ sudah?",
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
        )
        stored = emu.bot_messages(CHAT)[-1]
        assert stored.message_id == sent.message_id
        assert stored.text == "Iuran Rp16.800 — ✅ sudah?"  # non-ASCII text survives the body
        assert stored.entities[0]["type"] == "bold"
        assert stored.buttons() == [["Ya"], ["Tidak"]]
        assert stored.button_data() == [["reg:yes"], ["reg:no"]]
        assert sent.reply_markup == markup

        edited = await bot.edit_message_text("Terkirim!", chat_id=CHAT, message_id=sent.message_id)
        assert not isinstance(edited, bool)
        assert emu.bot_messages(CHAT)[-1].text == "Terkirim!"
        assert emu.bot_messages(CHAT)[-1].buttons() == []
        assert (await bot.get_me()).id == int(TEST_TOKEN.split(":")[0])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_document_is_uploaded_as_multipart(emu: BotApiEmulator, transport: str) -> None:
    content = b"nik,nama\n6311015708850003,Siti Aminah\n"
    async with make_bot(emu.base_url, transport) as bot:
        sent = await bot.send_document(
            CHAT,
            InputFile(content, filename="daftar.csv"),
            caption="Data <b>baru</b>",
            parse_mode=ParseMode.HTML,
        )
    assert sent.document is not None
    assert sent.document.file_name == "daftar.csv"
    stored = emu.bot_messages(CHAT)[-1]
    assert stored.file is not None
    assert stored.file.data == content
    assert stored.text == "Data baru"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_api_errors_become_telegram_errors(emu: BotApiEmulator, transport: str) -> None:
    async with make_bot(emu.base_url, transport) as bot:
        emu.fail_next("sendMessage", status=429, retry_after=3)
        with pytest.raises(RetryAfter) as limited:
            await bot.send_message(CHAT, "halo")
        assert limited.value.retry_after in (3, timedelta(seconds=3))

        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(CHAT, "<b>tidak ditutup", parse_mode=ParseMode.HTML)

        emu.block(CHAT)
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(CHAT, "halo")
        emu.unblock(CHAT)
        await bot.send_message(CHAT, "halo lagi")
    assert emu.bot_messages(CHAT)[-1].text == "halo lagi"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_slow_api_times_out(emu: BotApiEmulator, transport: str) -> None:
    async with make_bot(emu.base_url, transport) as bot:
        emu.delay_next("sendMessage", 1.5)
        with pytest.raises(TimedOut):
            await bot.send_message(
                CHAT, "halo", read_timeout=0.2, write_timeout=0.1, connect_timeout=0.1
            )
        await bot.send_message(CHAT, "halo lagi")  # the next call works


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_unreachable_api_is_a_network_error(transport: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = make_bot(f"http://127.0.0.1:{port}", transport)
    await bot.request.initialize()
    try:
        with pytest.raises(NetworkError):
            await bot.send_message(CHAT, "halo")
    finally:
        await bot.request.shutdown()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_bot_works_end_to_end_on_either_transport(db_url: str, transport: str) -> None:
    async with BotHarness(db_url, transport=transport) as harness:
        chat = harness.chat()
        await chat.send("/start")
        assert "Halo!" in chat.last_text
        await chat.press("Bantuan")
        assert "Apa yang bisa dilakukan bot ini" in chat.last_text
        await chat.send_document("catatan.txt", b"bukan roster")
        assert chat.last_text  # answered, not silent


async def test_post_json_raises_what_python_telegram_bot_raises(emu: BotApiEmulator) -> None:
    request = AiohttpRequest(read_timeout=0.2, write_timeout=0.1, connect_timeout=0.1)
    await request.initialize()
    api = f"{emu.base_url}/bot{TEST_TOKEN}"
    try:
        sent = await request.post_json(f"{api}/sendMessage", {"chat_id": CHAT, "text": "halo"})
        assert sent["text"] == "halo"
        emu.fail_next("sendMessage", status=429, retry_after=7)
        with pytest.raises(RetryAfter) as limited:
            await request.post_json(f"{api}/sendMessage", {"chat_id": CHAT, "text": "x"})
        assert limited.value.retry_after in (7, timedelta(seconds=7))
        with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
            await request.post_json(f"{api}/sendMessage", {"chat_id": CHAT, "text": ""})
        emu.block(CHAT)
        with pytest.raises(Forbidden, match="blocked"):
            await request.post_json(f"{api}/sendMessage", {"chat_id": CHAT, "text": "x"})
        emu.unblock(CHAT)
        with pytest.raises(InvalidToken):
            await request.post_json(f"{emu.base_url}/bot1:wrong/sendMessage", {"chat_id": CHAT})
        emu.fail_next("sendMessage", status=500, description="Internal Server Error")
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await request.post_json(f"{api}/sendMessage", {"chat_id": CHAT, "text": "x"})
        emu.delay_next("sendMessage", 1.0)
        with pytest.raises(TimedOut):
            await request.post_json(f"{api}/sendMessage", {"chat_id": CHAT, "text": "x"})
    finally:
        await request.shutdown()


def _replies(message_id: int, query_id: str) -> list[Reply]:
    inline = InlineKeyboardMarkup([[InlineKeyboardButton("Setuju", callback_data="reg:yes")]])
    contact = ReplyKeyboardMarkup(
        [[KeyboardButton("Kirim nomor saya", request_contact=True)]], resize_keyboard=True
    )
    stale = "Tombol ini sudah tidak aktif."
    return [
        Reply("sendMessage", CHAT, text="<b>Langkah 1</b> dari 14 & <i>NIK</i>", markup=inline),
        Reply("sendMessage", CHAT, text="Nomor HP Anda?", markup=contact),
        Reply("sendMessage", CHAT, text="Nomor HP: +6281234567890", markup=ReplyKeyboardRemove()),
        Reply("editMessageText", CHAT, text="Dipilih: <b>Juai</b>", message_id=message_id),
        Reply("editMessageReplyMarkup", CHAT, message_id=message_id + 1),
        Reply(
            "answerCallbackQuery", CHAT, text=stale, callback_query_id=query_id, show_alert=True
        ),
        Reply("sendMessage", CHAT, text="https://bpjsketenagakerjaan.go.id tanpa pratinjau"),
    ]


async def _deliver(emu: BotApiEmulator, transport: str, tmp: Path) -> list[object]:
    """Send the same replies through ``Delivery``; what the user sees, as comparable values."""
    emu.add_user(CHAT, "Siti")  # a fresh chat
    start = len(emu.messages(CHAT, include_deleted=True))
    db = Database(f"sqlite+aiosqlite:///{tmp / transport}.sqlite3")
    async with make_bot(emu.base_url, transport) as bot:
        first = await bot.send_message(
            CHAT,
            "Pilih kecamatan",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("Juai", callback_data="kec:juai")]]
            ),
        )
        second = await bot.send_message(
            CHAT,
            "Pilih desa",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("Galumbang", callback_data="desa:g")]]
            ),
        )
        assert second.message_id == first.message_id + 1
        press = await emu.press(CHAT, first.message_id, "kec:juai")
        delivery = Delivery(bot, db)
        assert await delivery.send_all(_replies(first.message_id, press.payload["id"])) == set()
        assert delivery.sent_count == len(_replies(0, ""))
    await db.dispose()
    seen: list[object] = []
    for m in emu.messages(CHAT, include_deleted=True)[start:]:
        seen.append((m.from_bot, m.text, m.entities, m.buttons(), m.reply_keyboard, m.edit_count))
    seen.append(emu.chat(CHAT).reply_keyboard)
    answer = emu.callbacks[press.payload["id"]].answer
    assert answer is not None
    seen.append((answer.text, answer.show_alert))
    return seen  # fmt: skip


async def test_the_fast_path_sends_what_the_bot_path_sends(
    emu: BotApiEmulator, tmp_path: Path
) -> None:
    fast = await _deliver(emu, "aiohttp", tmp_path)  # the JSON fast path
    stock = await _deliver(emu, "httpx", tmp_path)  # python-telegram-bot's Bot methods
    assert fast == stock
    assert ("Tombol ini sudah tidak aktif.", True) in fast
