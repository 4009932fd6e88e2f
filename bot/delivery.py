"""Sending queued replies to Telegram, with retries, and confirming them in the database.

A reply is sent after the transaction that produced it has committed. Transient failures (timeouts,
5xx, 429) are retried with backoff, honouring ``retry_after``; a 403 marks the user unreachable; other
400s are logged (without personal data) and skipped so one bad message never blocks the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardMarkup, InputFile, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.context import Reply
from bot.transport import AiohttpRequest

if TYPE_CHECKING:
    from telegram import Bot

    from storage.db import Database

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
BACKOFF_SECONDS = (0.5, 1.0, 2.0)
FLUSH_SECONDS = 0.2
RECENT_LIMIT = 10_000
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
IGNORED_EDIT_ERRORS = ("message is not modified",)
EDIT_FALLBACK_ERRORS = ("message to edit not found", "message can't be edited")
#: Text replies sent as a ready JSON payload through our transport (files still go through ``Bot``).
FAST_METHODS = frozenset(
    {"sendMessage", "editMessageText", "editMessageReplyMarkup", "answerCallbackQuery"}
)


def json_payload(reply: Reply) -> dict[str, Any]:
    """The Bot API parameters of a text reply: exactly what :meth:`Delivery._call` sends via ``Bot``."""
    if reply.method == "answerCallbackQuery":
        answer: dict[str, Any] = {"callback_query_id": reply.callback_query_id or ""}
        if reply.text:
            answer["text"] = reply.text
        if reply.show_alert:
            answer["show_alert"] = True
        return answer
    payload: dict[str, Any] = {"chat_id": reply.chat_id}
    if reply.message_id is not None:
        payload["message_id"] = reply.message_id
    if reply.method == "editMessageReplyMarkup":
        return payload  # no reply_markup: the inline keyboard is removed
    payload["text"] = reply.text or ""
    payload["parse_mode"] = ParseMode.HTML.value
    payload["link_preview_options"] = {"is_disabled": True}
    markup = reply.markup
    if markup is not None and (
        reply.method == "sendMessage" or isinstance(markup, InlineKeyboardMarkup)
    ):
        payload["reply_markup"] = markup.to_dict()
    return payload


class Outcome(Enum):
    """What became of one reply."""

    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"


class Delivery:
    """Sends replies and batches the "sent" confirmations into one write every ``FLUSH_SECONDS``."""

    __slots__ = ("_bot", "_db", "_fast", "_flusher", "_pending", "_recent", "_wake", "sent_count")

    def __init__(self, bot: Bot, db: Database) -> None:
        self._bot = bot
        self._db = db
        # Text replies skip python-telegram-bot's per-call objects when our transport carries them
        # (about a third of a send's CPU); never when a rate limiter must see every call.
        request = bot.request
        self._fast: AiohttpRequest | None = None
        if isinstance(request, AiohttpRequest) and getattr(bot, "rate_limiter", None) is None:
            self._fast = request
        self._pending: list[int] = []
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        # Updates answered by this process, newest last: a redelivery inside the flush interval
        # must not re-send replies whose confirmation is not written yet.
        self._recent: OrderedDict[int, None] = OrderedDict()
        self.sent_count = 0

    async def start(self) -> None:
        """Start the background flusher of confirmations."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="delivery-flusher")

    async def stop(self) -> None:
        """Write the last confirmations and stop the flusher."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()

    def confirm(self, update_id: int) -> None:
        """Queue the confirmation that the replies of ``update_id`` went out."""
        self._pending.append(update_id)
        self._recent[update_id] = None
        if len(self._recent) > RECENT_LIMIT:
            self._recent.popitem(last=False)
        self._wake.set()

    def answered(self, update_id: int) -> bool:
        """True when this process already sent the replies of ``update_id``."""
        return update_id in self._recent

    async def flush(self) -> None:
        """Write queued confirmations now."""
        if not self._pending:
            return
        ids, self._pending = self._pending, []
        try:
            async with self._db.transaction() as repo:
                await repo.updates.mark_sent(ids)
        except Exception:
            log.warning("could not confirm %d sent updates", len(ids), exc_info=True)

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def send_all(self, replies: Sequence[Reply]) -> set[int]:
        """Send replies in order; returns the chat ids found unreachable (403)."""
        blocked: set[int] = set()
        for reply in replies:
            if reply.chat_id in blocked:
                continue
            if not await self.send(reply):
                blocked.add(reply.chat_id)
        return blocked

    async def send(self, reply: Reply) -> bool:
        """Send one reply with retries; False only when the chat blocked the bot.

        A reply Telegram refuses or that fails every retry is logged and skipped (True), so one bad
        message never holds up the next; callers that must know use :meth:`deliver`.
        """
        return await self.deliver(reply) is not Outcome.BLOCKED

    async def deliver(self, reply: Reply) -> Outcome:
        """Send one reply with retries and say what happened."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                await self._call(reply)
            except Forbidden:
                return Outcome.BLOCKED
            except RetryAfter as exc:
                delay = exc.retry_after
                await asyncio.sleep(
                    delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)
                )
            except TimedOut:
                await asyncio.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
            except BadRequest as exc:
                if await self._bad_request(reply, exc):
                    return Outcome.SENT
                log.warning("Telegram refused %s: %s", reply.method, exc.message)
                return Outcome.FAILED
            except NetworkError as exc:
                log.info("network error on %s (attempt %d): %s", reply.method, attempt + 1, exc)
                await asyncio.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
            else:
                self.sent_count += 1
                return Outcome.SENT
        log.error("gave up sending %s after %d attempts", reply.method, MAX_ATTEMPTS)
        return Outcome.FAILED

    async def _bad_request(self, reply: Reply, exc: BadRequest) -> bool:
        message = exc.message.lower()
        if reply.method.startswith("edit") and any(e in message for e in IGNORED_EDIT_ERRORS):
            return True
        if reply.method == "answerCallbackQuery":
            return True  # the press is too old to answer: nothing to do
        if reply.method == "editMessageText" and any(e in message for e in EDIT_FALLBACK_ERRORS):
            markup = reply.markup if isinstance(reply.markup, InlineKeyboardMarkup) else None
            await self.send(Reply("sendMessage", reply.chat_id, text=reply.text, markup=markup))
            return True
        return False

    async def _call(self, reply: Reply) -> None:
        bot = self._bot
        if self._fast is not None and reply.method in FAST_METHODS:
            await self._fast.post_json(f"{bot.base_url}/{reply.method}", json_payload(reply))
            return
        match reply.method:
            case "sendMessage":
                await bot.send_message(
                    chat_id=reply.chat_id,
                    text=reply.text or "",
                    reply_markup=reply.markup,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                )
            case "editMessageText":
                markup = reply.markup if isinstance(reply.markup, InlineKeyboardMarkup) else None
                await bot.edit_message_text(
                    text=reply.text or "",
                    chat_id=reply.chat_id,
                    message_id=reply.message_id,
                    reply_markup=markup,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                )
            case "editMessageReplyMarkup":
                await bot.edit_message_reply_markup(
                    chat_id=reply.chat_id, message_id=reply.message_id, reply_markup=None
                )
            case "answerCallbackQuery":
                await bot.answer_callback_query(
                    callback_query_id=reply.callback_query_id or "",
                    text=reply.text,
                    show_alert=reply.show_alert,
                )
            case "sendDocument":
                await bot.send_document(
                    chat_id=reply.chat_id,
                    document=InputFile(reply.file or b"", filename=reply.filename),
                    caption=reply.text,
                    parse_mode=ParseMode.HTML,
                )
            case "sendPhoto":
                await bot.send_photo(
                    chat_id=reply.chat_id,
                    photo=InputFile(reply.file or b"", filename=reply.filename or "chart.png"),
                    caption=reply.text,
                    parse_mode=ParseMode.HTML,
                )
            case _:
                raise ValueError(f"unknown reply method {reply.method!r}")
