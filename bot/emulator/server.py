"""An in-process fake of the Telegram Bot API, served over HTTP by aiohttp.

One implementation serves two uses: the test suite's fake Bot API (tests point a real
``telegram.Bot`` at it) and the browser playground's backend (which mounts its own routes next
to the emulator's). Simulated users inject updates through the Python API; the bot receives
them by long polling or by webhook, exactly as from Telegram.

The request path is kept lean for benchmarks: every lookup is a dict access, nothing scans all
messages, and per-call work is parsing, one handler and one JSON dump.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import secrets
import struct
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.emulator.limits import FaultInjector, RateLimiter, RateLimits
from bot.emulator.model import (
    CallbackAnswer,
    ChatState,
    EntityParseError,
    FakeUser,
    FileKind,
    JsonDict,
    MessageKind,
    MessageVersion,
    PendingCallback,
    QueuedUpdate,
    RecordedCall,
    StoredFile,
    StoredMessage,
    UpdateKind,
    Upload,
    parse_html,
    parse_markdown,
    parse_markdown_v2,
    trim_formatted,
    utf16_len,
)

T = TypeVar("T")
# (scope type, scope chat_id, scope user_id, language_code); "" is the default language.
CommandKey = tuple[str, int | None, int | None, str]

# Not a secret: the emulator accepts whatever token it is given; this is only the default.
DEFAULT_TOKEN = "123456789:EMULATOR-test-token"  # noqa: S105

# Telegram's documented limits.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

# Parameters the Bot API takes as JSON-serialised objects; form bodies carry them as strings.
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "link_preview_options",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "allowed_updates",
        "menu_button",
        "media",
    }
)
_INLINE_BUTTON_ACTIONS = frozenset(
    {
        "callback_data",
        "url",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "callback_game",
        "pay",
        "web_app",
        "copy_text",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_COMMAND_IN_TEXT = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FILE_PREFIX = {
    FileKind.DOCUMENT: "BQACAgUAAx",
    FileKind.PHOTO: "AgACAgUAAx",
    FileKind.STICKER: "CAACAgUAAx",
    FileKind.VOICE: "AwACAgUAAx",
}
_FILE_DIR = {
    FileKind.DOCUMENT: "documents",
    FileKind.PHOTO: "photos",
    FileKind.STICKER: "stickers",
    FileKind.VOICE: "voice",
}
_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)


class ApiError(Exception):
    """A Bot API error answer (``ok: false``)."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None):
        """Create the error.

        Args:
            status: HTTP status, also used as ``error_code``.
            description: Telegram's description text.
            retry_after: Seconds to wait, sent as ``parameters.retry_after``.
        """
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JsonDict:
        """Return the JSON answer."""
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


class _Params:
    """Typed, Telegram-like access to request parameters (form values arrive as strings)."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw

    def text(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _bad(f'field "{name}" must be of type String')

    def integer(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        number = _as_int(value)
        if number is None:
            raise _bad(f"invalid {name} specified")
        return number

    def number(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _bad(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    def obj(self, name: str) -> Any:
        return self.raw.get(name)


class _Pulse:
    """Wakes every coroutine waiting at the moment it fires (cheap when nobody waits)."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def fire(self) -> None:
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Return when fired or after ``timeout`` seconds, whichever comes first."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            # A timed-out waiter must leave the list, or idle loops would grow it forever.
            if waiter in self._waiters:
                self._waiters.remove(waiter)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """The webhook the bot registered with setWebhook."""

    url: str
    secret_token: str | None
    max_connections: int


@dataclass(slots=True)
class _WebhookRun:
    """Delivery machinery of one setWebhook: per-chat FIFO queues and a ready-chat queue.

    Updates of one chat are delivered one at a time and in order (so a conversation is never
    reordered), different chats in parallel up to ``max_connections``.
    """

    config: WebhookConfig
    ready: asyncio.Queue[int]
    queues: dict[int, deque[QueuedUpdate]]
    active: set[int]
    tasks: list[asyncio.Task[None]]

    def enqueue(self, update: QueuedUpdate) -> None:
        self.queues.setdefault(update.chat_id, deque()).append(update)
        if update.chat_id not in self.active:
            self.active.add(update.chat_id)
            self.ready.put_nowait(update.chat_id)


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, JPEG, GIF or WebP image; ``None`` when not an image."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(
                data[27:30], "little"
            )
        if chunk == b"VP8 ":
            return (
                int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF,
            )
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xFF, 0x01) or 0xD0 <= marker <= 0xD8:
            i += 1 if marker == 0xFF else 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    """Return a valid white PNG of the given size (used for simulated photos)."""
    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + body))
        return struct.pack(">I", len(body)) + tag + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def command_entities(text: str) -> tuple[JsonDict, ...]:
    """Return the ``bot_command`` entities Telegram would attach to a user's ``text``."""
    if "/" not in text:
        return ()
    return tuple(
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match in _COMMAND_IN_TEXT.finditer(text)
    )


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Collect parameters from the query string and a JSON, urlencoded or multipart body."""
    params: dict[str, Any] = dict(request.query) if request.query_string else {}
    if request.method != "POST" or not request.body_exists:
        return params
    content_type = request.content_type
    if content_type == "application/json":
        body = await request.read()
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                raise _bad("can't parse JSON object") from None
            if not isinstance(data, dict):
                raise _bad("JSON object expected")
            params.update(data)
        return params
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = Upload(value.filename, value.content_type, value.file.read())
            elif isinstance(value, bytes | bytearray):
                params[key] = bytes(value).decode()
            else:
                params[key] = value
        for key in _JSON_PARAMS.intersection(params):
            value = params[key]
            if isinstance(value, str):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    what = "reply keyboard markup" if key == "reply_markup" else key
                    raise _bad(f"can't parse {what} JSON object") from None
    return params


Handler = Callable[[_Params], Awaitable[Any]]


class BotApiEmulator:
    """A fake Telegram Bot API server with simulated users.

    Use as ``async with BotApiEmulator() as emu:``; point a bot at ``emu.base_url``. Users are
    added with :meth:`add_user` and act through :meth:`send_text`, :meth:`press` etc.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "jamsostek_bot",
        bot_first_name: str = "Jamsostek Bot",
        rate_limits: RateLimits | None = None,
        record_calls: bool = True,
        max_recorded_calls: int | None = None,
        allow_remote_webhooks: bool = False,
        webhook_timeout: float = 10.0,
        webhook_retry_delay: float = 0.05,
        webhook_max_retry_delay: float = 1.0,
        first_update_id: int = 10_001,
        first_message_id: int = 1,
    ):
        """Configure the emulator (nothing runs until :meth:`start`).

        Args:
            token: The only token accepted; its numeric prefix becomes the bot's user id.
            host: Interface to listen on (loopback by default).
            port: TCP port; 0 picks a free one.
            bot_username: Username reported by getMe.
            bot_first_name: Display name reported by getMe.
            rate_limits: Flood limits to enforce; off by default.
            record_calls: Keep every call in :attr:`calls` (turn off for long benchmarks).
            max_recorded_calls: Keep only about this many most recent calls.
            allow_remote_webhooks: Allow webhook URLs outside the loopback range.
            webhook_timeout: Seconds to wait for the webhook to answer one update.
            webhook_retry_delay: First delay before retrying a failed webhook delivery.
            webhook_max_retry_delay: Upper bound of the doubling retry delay.
            first_update_id: Id of the first update users produce.
            first_message_id: Id of the first message of every chat. Telegram never reuses
                update or message ids, so a fake restarted over a database the bot kept must
                not either (the playground starts both from the clock).
        """
        self.token = token
        self.host = host
        self.port = port
        prefix = token.split(":", 1)[0]
        bot_id = int(prefix) if prefix.isdigit() else 100_000_001
        self.bot = FakeUser(bot_id, bot_first_name, username=bot_username, is_bot=True)
        self.record_calls = record_calls
        self.max_recorded_calls = max_recorded_calls
        self.allow_remote_webhooks = allow_remote_webhooks
        self.webhook_timeout = webhook_timeout
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_max_retry_delay = webhook_max_retry_delay

        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self.calls: list[RecordedCall] = []
        self.callbacks: dict[str, PendingCallback] = {}
        self.commands_by_scope: dict[CommandKey, tuple[JsonDict, ...]] = {}
        self.default_menu_button: JsonDict = {"type": "default"}
        self.bot_profile: dict[tuple[str, str], str] = {}
        self.limiter = RateLimiter()
        if rate_limits is not None:
            self.limiter.configure(rate_limits)
        self.faults = FaultInjector()
        self.webhook: WebhookConfig | None = None
        self.webhook_last_error: tuple[int, str] | None = None

        self._salt = secrets.token_hex(3)
        self._file_counter = 0
        self._next_update_id = first_update_id
        self.first_message_id = first_message_id
        #: Updates users produced (re-deliveries included); a test harness waits for the bot to
        #: have handled this many.
        self.enqueued_count = 0
        self.last_update_by_chat: dict[int, QueuedUpdate] = {}
        self._next_callback_id = 5_000_000_000_000_000_001
        self._seq = 0
        self._pending: deque[QueuedUpdate] = deque()
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._updates_pulse = _Pulse()
        self._changes = _Pulse()
        self._webhook_run: _WebhookRun | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing = False
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._methods: dict[str, tuple[str, Handler]] = {}
        for name, handler in self._method_table().items():
            self._methods[name.lower()] = (name, handler)

    def _method_table(self) -> dict[str, Handler]:
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendChatAction": self._send_chat_action,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "setMyDescription": self._profile_setter("description"),
            "getMyDescription": self._profile_getter("description"),
            "setMyShortDescription": self._profile_setter("short_description"),
            "getMyShortDescription": self._profile_getter("short_description"),
            "setMyName": self._profile_setter("name"),
            "getMyName": self._profile_getter("name"),
        }

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def app(self) -> web.Application:
        """The aiohttp application :meth:`start` serves (add extra routes before starting)."""
        return self.make_app()

    def make_app(self) -> web.Application:
        """Create (once) and return an application serving the emulator's routes."""
        if self._app is None:
            app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
            self.add_routes(app)
            self._app = app
        return self._app

    def add_routes(self, app: web.Application) -> None:
        """Mount the Bot API and file routes on ``app`` and tie background work to its life.

        Args:
            app: An application not started yet, e.g. the playground's.
        """
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.cleanup_ctx.append(self._lifespan)

    async def _lifespan(self, _app: web.Application) -> AsyncIterator[None]:
        self._closing = False
        yield
        await self._shutdown_background()

    async def start(self) -> None:
        """Serve on ``host:port`` and set :attr:`base_url`."""
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.port = port
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Release waiting long polls, stop webhook delivery and close the server."""
        await self._shutdown_background()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _shutdown_background(self) -> None:
        self._closing = True
        self._poll_generation += 1
        self._updates_pulse.fire()
        self._changes.fire()
        await self._stop_webhook_run()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ HTTP layer

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await _read_params(request)
        except ApiError as exc:
            status, body = exc.status, exc.body()
            self._record(method, {}, status, body, time.monotonic(), None)
        else:
            status, body = await self.execute(request.match_info["token"], method, params)
        return web.Response(
            body=json.dumps(body, ensure_ascii=False).encode(),
            status=status,
            content_type="application/json",
        )

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    async def execute(
        self, token: str, method: str, params: dict[str, Any]
    ) -> tuple[int, JsonDict]:
        """Run one Bot API call as if it came over HTTP, and record it.

        Args:
            token: Token from the URL.
            method: Method name (case-insensitive, like Telegram).
            params: Decoded parameters.

        Returns:
            HTTP status and JSON answer.
        """
        received = time.monotonic()
        if token != self.token:
            body = ApiError(401, "Unauthorized").body()
            self._record(method, params, 401, body, received, None)
            return 401, body
        entry = self._methods.get(method.lower())
        if entry is None:
            body = ApiError(404, "Not Found").body()
            self._record(method, params, 404, body, received, None)
            return 404, body
        name, handler = entry
        chat_id = self._peek_chat_id(params)
        chat = self.chats.get(chat_id) if chat_id is not None else None
        if chat is not None:
            chat.inflight += 1
            chat.last_activity = received
        now = received
        try:
            delay = self.faults.take_delay(name)
            if delay:
                await asyncio.sleep(delay)
                now = time.monotonic()
            fault = self.faults.take_failure(name)
            if fault is not None:
                raise ApiError(fault.status, fault.description, retry_after=fault.retry_after)
            if self.limiter.applies_to(name):
                retry_after = self.limiter.check(chat_id, now)
                if retry_after is not None:
                    raise ApiError(
                        429,
                        f"Too Many Requests: retry after {retry_after}",
                        retry_after=retry_after,
                    )
            status, body = 200, {"ok": True, "result": await handler(_Params(params))}
        except ApiError as exc:
            status, body = exc.status, exc.body()
        finally:
            if chat is not None:
                chat.inflight -= 1
                chat.last_activity = time.monotonic()
        self._record(name, params, status, body, now, chat_id)
        return status, body

    def _peek_chat_id(self, params: Mapping[str, Any]) -> int | None:
        raw = params.get("chat_id")
        if raw is not None:
            return _as_int(raw)
        query_id = params.get("callback_query_id")
        if query_id is not None:
            pending = self.callbacks.get(str(query_id))
            return None if pending is None else pending.chat_id
        return None

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        status: int,
        body: JsonDict,
        at: float,
        chat_id: int | None,
    ) -> None:
        if self.record_calls:
            self.calls.append(RecordedCall(method, params, status, body, at, chat_id))
            limit = self.max_recorded_calls
            # Trim in chunks so the amortised cost per call stays O(1).
            if limit is not None and len(self.calls) > limit + max(16, limit // 4):
                del self.calls[: len(self.calls) - limit]
        self._changes.fire()

    # ------------------------------------------------------------------ helpers for methods

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _chat(self, p: _Params, *, check_blocked: bool = True) -> ChatState:
        raw = p.obj("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        chat_id = _as_int(raw)
        chat = self.chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise _bad("chat not found")
        if check_blocked and chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _format(
        self, text: str, parse_mode: str | None, explicit: Any
    ) -> tuple[str, tuple[JsonDict, ...]]:
        """Parse markup into what the user sees; Telegram also trims surrounding whitespace."""
        if not parse_mode:
            entities = tuple(explicit) if isinstance(explicit, list) else ()
            return trim_formatted(text, entities)
        mode = parse_mode.lower()
        try:
            if mode == "html":
                return trim_formatted(*parse_html(text))
            if mode == "markdownv2":
                return trim_formatted(*parse_markdown_v2(text))
            if mode == "markdown":
                return trim_formatted(*parse_markdown(text))
        except EntityParseError as exc:
            raise _bad(f"can't parse entities: {exc}") from None
        raise _bad(f"unsupported parse_mode {parse_mode}")

    def _message_text(self, p: _Params) -> tuple[str, str, str | None, tuple[JsonDict, ...]]:
        raw = p.text("text")
        if not raw:
            raise _bad("message text is empty")
        parse_mode = p.text("parse_mode")
        plain, entities = self._format(raw, parse_mode, p.obj("entities"))
        if not plain:
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        return plain, raw, parse_mode, entities

    def _caption(self, p: _Params) -> tuple[str | None, str | None, tuple[JsonDict, ...]]:
        raw = p.text("caption")
        if not raw:
            return None, None, ()
        plain, entities = self._format(raw, p.text("parse_mode"), p.obj("caption_entities"))
        if len(plain) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        return plain or None, raw, entities

    def _markup(self, p: _Params, *, inline_only: bool) -> tuple[JsonDict | None, JsonDict | None]:
        """Validate reply_markup; return (inline keyboard, reply-keyboard change)."""
        raw = p.obj("reply_markup")
        if raw is None:
            return None, None
        if not isinstance(raw, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in raw:
            _validate_inline_keyboard(raw["inline_keyboard"])
            return {"inline_keyboard": raw["inline_keyboard"]}, None
        if inline_only:
            raise _bad("inline keyboard expected")
        if "keyboard" in raw:
            return None, _normalise_reply_keyboard(raw)
        if raw.get("remove_keyboard"):
            return None, {"remove_keyboard": True}
        if raw.get("force_reply"):
            return None, None
        raise _bad("can't parse reply keyboard markup JSON object")

    def _bot_message(
        self,
        chat: ChatState,
        kind: MessageKind,
        *,
        text: str | None,
        raw_text: str | None,
        parse_mode: str | None,
        entities: tuple[JsonDict, ...],
        reply_markup: JsonDict | None,
        keyboard_change: JsonDict | None,
        file: StoredFile | None = None,
    ) -> StoredMessage:
        message = StoredMessage(
            message_id=chat.allocate_message_id(),
            chat_id=chat.chat_id,
            sender=self.bot,
            chat_api=chat.chat_api,
            date=int(time.time()),
            kind=kind,
            text=text,
            raw_text=raw_text,
            parse_mode=parse_mode,
            entities=entities,
            reply_markup=reply_markup,
            reply_keyboard=keyboard_change,
            file=file,
            seq=self._next_seq(),
        )
        chat.messages[message.message_id] = message
        if keyboard_change is not None:
            if keyboard_change.get("remove_keyboard"):
                chat.reply_keyboard = None
            else:
                chat.reply_keyboard = keyboard_change
            chat.reply_keyboard_hidden = False
        return message

    def _target_message(self, chat: ChatState, p: _Params, missing: str) -> StoredMessage:
        message_id = p.integer("message_id")
        if message_id is None:
            if p.obj("inline_message_id") is not None:
                raise _bad(missing)
            raise _bad("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise _bad(missing)
        return message

    def _edit(
        self,
        message: StoredMessage,
        *,
        text: str | None,
        raw_text: str | None,
        parse_mode: str | None,
        entities: tuple[JsonDict, ...],
        reply_markup: JsonDict | None,
    ) -> None:
        message.history.append(
            MessageVersion(message.text, message.entities, message.reply_markup, time.monotonic())
        )
        message.text = text
        message.raw_text = raw_text
        message.parse_mode = parse_mode
        message.entities = entities
        message.reply_markup = reply_markup
        message.edit_date = int(time.time())
        message.seq = self._next_seq()

    def _new_file(
        self,
        kind: FileKind,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int = 0,
        height: int = 0,
        duration: int = 0,
        emoji: str | None = None,
    ) -> StoredFile:
        self._file_counter += 1
        n = self._file_counter
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        elif kind is FileKind.PHOTO:
            suffix = ".jpg"
        elif kind is FileKind.VOICE:
            suffix = ".oga"
        elif kind is FileKind.STICKER:
            suffix = ".webp"
        stored = StoredFile(
            file_id=f"{_FILE_PREFIX[kind]}{n:06d}{self._salt}",
            file_unique_id=f"AQAD{n:06d}{self._salt[:2]}",
            kind=kind,
            data=data,
            file_path=f"{_FILE_DIR[kind]}/file_{n}{suffix}",
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
            emoji=emoji,
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _input_file(self, p: _Params, name: str, kind: FileKind) -> StoredFile:
        value = p.obj(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = p.obj(value.removeprefix("attach://"))
        if value is None or value == "":
            raise _bad(f"there is no {name} in the request")
        if isinstance(value, Upload):
            return self._uploaded_file(value, kind)
        if not isinstance(value, str):
            raise _bad("wrong file identifier/HTTP URL specified")
        stored = self.files.get(value)
        if stored is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        if (stored.kind is FileKind.PHOTO) != (kind is FileKind.PHOTO):
            raise _bad("type of file mismatch")
        return stored

    def _uploaded_file(self, upload: Upload, kind: FileKind) -> StoredFile:
        if not upload.data:
            raise _bad("file must be non-empty")
        limit = MAX_PHOTO_BYTES if kind is FileKind.PHOTO else MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise ApiError(413, "Request Entity Too Large")
        if kind is FileKind.PHOTO:
            size = _image_size(upload.data)
            if size is None or min(size) <= 0:
                raise _bad("IMAGE_PROCESS_FAILED")
            return self._new_file(
                kind, upload.data, mime_type="image/jpeg", width=size[0], height=size[1]
            )
        return self._new_file(
            kind, upload.data, file_name=upload.filename, mime_type=upload.mime_type
        )

    # ------------------------------------------------------------------ methods: bot & updates

    async def _get_me(self, _p: _Params) -> JsonDict:
        return {
            **self.bot.to_api(),
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, p: _Params) -> list[JsonDict]:
        if self.webhook is not None:
            raise ApiError(409, _CONFLICT_WEBHOOK)
        offset = p.integer("offset")
        limit = min(max(p.integer("limit") or 100, 1), 100)
        timeout = max(p.number("timeout") or 0.0, 0.0)
        allowed = p.obj("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(map(str, allowed)) or None
        # A newer poll supersedes any poll still waiting, which then answers 409.
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_pulse.fire()
        if offset:
            self._confirm(offset)
        deadline = time.monotonic() + timeout
        while True:
            batch = self._take_batch(limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing:
                break
            await self._updates_pulse.wait(remaining)
            if self._closing or self.webhook is not None:
                return []
            if generation != self._poll_generation:
                raise ApiError(409, _CONFLICT_POLL)
        if batch:
            now = time.monotonic()
            for update in batch:
                if update.delivered_at is None:
                    update.delivered_at = now
            self._changes.fire()
        return [update.to_api() for update in batch]

    def _confirm(self, offset: int) -> None:
        now = time.monotonic()
        pending = self._pending
        if offset < 0:
            # Negative offset: keep only the last -offset updates, forget the rest.
            keep = -offset
            live = [u for u in pending if u.confirmed_at is None]
            for update in live[: max(len(live) - keep, 0)]:
                update.confirmed_at = now
                update.dropped = update.delivered_at is None
            self._trim_pending()
            return
        while pending and pending[0].update_id < offset:
            update = pending.popleft()
            if update.confirmed_at is None:
                update.confirmed_at = now
                update.dropped = update.delivered_at is None
        # A redelivered update (see redeliver) sits behind newer ones: confirm it too.
        for update in pending:
            if update.update_id < offset and update.confirmed_at is None:
                update.confirmed_at = now
                update.dropped = update.delivered_at is None
        self._trim_pending()
        self._changes.fire()

    def _trim_pending(self) -> None:
        pending = self._pending
        while pending and pending[0].confirmed_at is not None:
            pending.popleft()

    def _take_batch(self, limit: int) -> list[QueuedUpdate]:
        batch: list[QueuedUpdate] = []
        allowed = self._allowed_updates
        for update in self._pending:
            if update.confirmed_at is not None:
                continue
            if allowed is not None and update.kind.value not in allowed:
                update.confirmed_at = time.monotonic()
                update.dropped = True
                continue
            batch.append(update)
            if len(batch) >= limit:
                break
        return batch

    async def _set_webhook(self, p: _Params) -> bool:
        url = p.text("url") or ""
        if not url:
            await self._remove_webhook(drop=p.flag("drop_pending_updates"))
            return True
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad("bad webhook: invalid webhook URL specified")
        if not self.allow_remote_webhooks and not _is_loopback(parts.hostname):
            raise _bad("bad webhook: the emulator only delivers to loopback addresses")
        secret = p.text("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise _bad("secret token contains unallowed characters")
        max_connections = p.integer("max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise _bad("invalid max_connections specified")
        allowed = p.obj("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(map(str, allowed)) or None
        if p.flag("drop_pending_updates"):
            self._drop_pending()
        await self._stop_webhook_run()
        self.webhook = WebhookConfig(url, secret or None, max_connections)
        self.webhook_last_error = None
        self._poll_generation += 1
        self._updates_pulse.fire()
        self._start_webhook_run(self.webhook)
        return True

    async def _delete_webhook(self, p: _Params) -> bool:
        await self._remove_webhook(drop=p.flag("drop_pending_updates"))
        return True

    async def _remove_webhook(self, *, drop: bool) -> None:
        await self._stop_webhook_run()
        self.webhook = None
        if drop:
            self._drop_pending()

    def _drop_pending(self) -> None:
        now = time.monotonic()
        for update in self._pending:
            if update.confirmed_at is None:
                update.confirmed_at = now
                update.dropped = True
        self._pending.clear()
        self._changes.fire()

    async def _get_webhook_info(self, _p: _Params) -> JsonDict:
        info: JsonDict = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": sum(1 for u in self._pending if u.confirmed_at is None),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            info["ip_address"] = "127.0.0.1"
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        if self.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        return info

    # ------------------------------------------------------------------ webhook delivery

    def _start_webhook_run(self, config: WebhookConfig) -> None:
        run = _WebhookRun(config, asyncio.Queue(), {}, set(), [])
        for update in self._pending:
            if update.confirmed_at is None:
                run.enqueue(update)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100),
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            )
        run.tasks = [
            asyncio.create_task(self._webhook_worker(run), name=f"webhook-worker-{i}")
            for i in range(config.max_connections)
        ]
        self._webhook_run = run

    async def _stop_webhook_run(self) -> None:
        run, self._webhook_run = self._webhook_run, None
        if run is None:
            return
        for task in run.tasks:
            task.cancel()
        await asyncio.gather(*run.tasks, return_exceptions=True)

    async def _webhook_worker(self, run: _WebhookRun) -> None:
        loop = asyncio.get_running_loop()
        while True:
            chat_id = await run.ready.get()
            queue = run.queues.get(chat_id)
            allowed = self._allowed_updates
            while queue and (
                queue[0].confirmed_at is not None
                or (allowed is not None and queue[0].kind.value not in allowed)
            ):
                dropped = queue.popleft()
                if dropped.confirmed_at is None:
                    dropped.confirmed_at = time.monotonic()
                    dropped.dropped = True
            if not queue:
                run.active.discard(chat_id)
                continue
            update = queue[0]
            update.in_flight = True
            update.attempts += 1
            try:
                ok, reply = await self._post_update(run.config, update)
            finally:
                update.in_flight = False
            if ok:
                now = time.monotonic()
                update.delivered_at = update.confirmed_at = now
                queue.popleft()
                self._trim_pending()
                if queue:
                    run.ready.put_nowait(chat_id)
                else:
                    run.active.discard(chat_id)
                self._changes.fire()
                if reply is not None:
                    await self._webhook_reply(reply)
            else:
                delay = min(
                    self.webhook_max_retry_delay,
                    self.webhook_retry_delay * 2 ** (update.attempts - 1),
                )
                loop.call_later(delay, run.ready.put_nowait, chat_id)

    async def _post_update(
        self, config: WebhookConfig, update: QueuedUpdate
    ) -> tuple[bool, JsonDict | None]:
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        body = json.dumps(update.to_api(), ensure_ascii=False).encode()
        try:
            async with self._session.post(config.url, data=body, headers=headers) as response:
                payload = await response.read()
                if 200 <= response.status < 300:
                    return True, _webhook_reply_call(payload)
                error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientError as exc:
            error = f"Connection failed: {exc.__class__.__name__}"
        self.webhook_last_error = (int(time.time()), error)
        self._changes.fire()
        return False, None

    async def _webhook_reply(self, reply: JsonDict) -> None:
        # Telegram lets a webhook answer carry one method call; run it like a request.
        params = {k: v for k, v in reply.items() if k != "method"}
        await self.execute(self.token, str(reply["method"]), params)

    # ------------------------------------------------------------------ methods: messages

    async def _send_message(self, p: _Params) -> JsonDict:
        chat = self._chat(p)
        plain, raw, parse_mode, entities = self._message_text(p)
        markup, keyboard = self._markup(p, inline_only=False)
        message = self._bot_message(
            chat,
            MessageKind.TEXT,
            text=plain,
            raw_text=raw,
            parse_mode=parse_mode,
            entities=entities,
            reply_markup=markup,
            keyboard_change=keyboard,
        )
        return message.to_api()

    async def _edit_message_text(self, p: _Params) -> JsonDict:
        chat = self._chat(p)
        message = self._target_message(chat, p, "message to edit not found")
        if not message.from_bot:
            raise _bad("message can't be edited")
        if message.file is not None or message.text is None:
            raise _bad("there is no text in the message to edit")
        plain, raw, parse_mode, entities = self._message_text(p)
        markup, _ = self._markup(p, inline_only=True)
        if (plain, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        self._edit(
            message,
            text=plain,
            raw_text=raw,
            parse_mode=parse_mode,
            entities=entities,
            reply_markup=markup,
        )
        return message.to_api()

    async def _edit_message_caption(self, p: _Params) -> JsonDict:
        chat = self._chat(p)
        message = self._target_message(chat, p, "message to edit not found")
        if not message.from_bot:
            raise _bad("message can't be edited")
        if message.file is None:
            raise _bad("there is no caption in the message to edit")
        plain, raw, entities = self._caption(p)
        markup, _ = self._markup(p, inline_only=True)
        if (plain, entities, markup) == (message.text, message.entities, message.reply_markup):
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        self._edit(
            message,
            text=plain,
            raw_text=raw,
            parse_mode=p.text("parse_mode"),
            entities=entities,
            reply_markup=markup,
        )
        return message.to_api()

    async def _edit_message_reply_markup(self, p: _Params) -> JsonDict:
        chat = self._chat(p)
        message = self._target_message(chat, p, "message to edit not found")
        if not message.from_bot:
            raise _bad("message can't be edited")
        markup, _ = self._markup(p, inline_only=True)
        if markup == message.reply_markup:
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        self._edit(
            message,
            text=message.text,
            raw_text=message.raw_text,
            parse_mode=message.parse_mode,
            entities=message.entities,
            reply_markup=markup,
        )
        return message.to_api()

    async def _delete_message(self, p: _Params) -> bool:
        chat = self._chat(p, check_blocked=False)
        message = self._target_message(chat, p, "message to delete not found")
        message.deleted = True
        message.seq = self._next_seq()
        return True

    async def _answer_callback_query(self, p: _Params) -> bool:
        query_id = p.text("callback_query_id") or ""
        pending = self.callbacks.get(query_id)
        if pending is None or pending.answer is not None:
            raise _bad(_QUERY_INVALID.removeprefix("Bad Request: "))
        text = p.text("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        pending.answer = CallbackAnswer(
            query_id, pending.chat_id, text, p.flag("show_alert"), p.text("url")
        )
        return True

    async def _send_document(self, p: _Params) -> JsonDict:
        return self._send_media(p, "document", FileKind.DOCUMENT, MessageKind.DOCUMENT)

    async def _send_photo(self, p: _Params) -> JsonDict:
        return self._send_media(p, "photo", FileKind.PHOTO, MessageKind.PHOTO)

    def _send_media(
        self, p: _Params, name: str, file_kind: FileKind, kind: MessageKind
    ) -> JsonDict:
        chat = self._chat(p)
        caption, raw, entities = self._caption(p)
        markup, keyboard = self._markup(p, inline_only=False)
        stored = self._input_file(p, name, file_kind)
        message = self._bot_message(
            chat,
            kind,
            text=caption,
            raw_text=raw,
            parse_mode=p.text("parse_mode"),
            entities=entities,
            reply_markup=markup,
            keyboard_change=keyboard,
            file=stored,
        )
        return message.to_api()

    async def _get_file(self, p: _Params) -> JsonDict:
        stored = self.files.get(p.text("file_id") or "")
        if stored is None:
            raise _bad("invalid file_id")
        if stored.size > MAX_DOWNLOAD_BYTES:
            raise _bad("file is too big")
        return stored.file_api()

    async def _send_chat_action(self, p: _Params) -> bool:
        chat = self._chat(p)
        action = p.text("action")
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        chat.last_action = action
        return True

    async def _set_chat_menu_button(self, p: _Params) -> bool:
        button = p.obj("menu_button")
        if button is None:
            button = {"type": "default"}
        if not isinstance(button, dict) or "type" not in button:
            raise _bad("can't parse menu button JSON object")
        if p.obj("chat_id") is None:
            self.default_menu_button = button
        else:
            self._chat(p, check_blocked=False).menu_button = button
        return True

    async def _get_chat_menu_button(self, p: _Params) -> JsonDict:
        if p.obj("chat_id") is None:
            return self.default_menu_button
        return self._chat(p, check_blocked=False).menu_button or self.default_menu_button

    def _profile_setter(self, field: str) -> Handler:
        async def setter(p: _Params) -> bool:
            language = p.text("language_code") or ""
            value = p.text(field) or ""
            if value:
                self.bot_profile[(field, language)] = value
            else:
                self.bot_profile.pop((field, language), None)
            return True

        return setter

    def _profile_getter(self, field: str) -> Handler:
        async def getter(p: _Params) -> JsonDict:
            language = p.text("language_code") or ""
            value = self.bot_profile.get((field, language)) or self.bot_profile.get((field, ""))
            if value is None and field == "name":
                value = self.bot.first_name
            return {field: value or ""}

        return getter

    # ------------------------------------------------------------------ methods: commands

    def _scope_key(self, p: _Params) -> CommandKey:
        scope = p.obj("scope")
        language = p.text("language_code") or ""
        if scope is None:
            return "default", None, None, language
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
            raise _bad("can't parse BotCommandScope JSON object")
        chat_id = _as_int(scope.get("chat_id")) if "chat_id" in scope else None
        user_id = _as_int(scope.get("user_id")) if "user_id" in scope else None
        return str(scope["type"]), chat_id, user_id, language

    async def _set_my_commands(self, p: _Params) -> bool:
        commands = p.obj("commands")
        if not isinstance(commands, list):
            raise _bad('parameter "commands" is required')
        if len(commands) > 100:
            raise _bad("too many commands")
        cleaned: list[JsonDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not _COMMAND_NAME.fullmatch(name):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad("command description is empty")
            cleaned.append({"command": name, "description": description})
        key = self._scope_key(p)
        if cleaned:
            self.commands_by_scope[key] = tuple(cleaned)
        else:
            self.commands_by_scope.pop(key, None)
        return True

    async def _get_my_commands(self, p: _Params) -> list[JsonDict]:
        return list(self.commands_by_scope.get(self._scope_key(p), ()))

    async def _delete_my_commands(self, p: _Params) -> bool:
        self.commands_by_scope.pop(self._scope_key(p), None)
        return True

    # ------------------------------------------------------------------ injection API

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "id",
    ) -> FakeUser:
        """Create (or replace) a simulated user and the private chat with the bot.

        Args:
            user_id: Telegram user id; also the chat id of the private chat.
            first_name: Display name.
            last_name: Optional last name.
            username: Optional @username without the @.
            language_code: The user's app language (IETF tag), e.g. ``id`` or ``en``.

        Returns:
            The user.
        """
        user = FakeUser(user_id, first_name, last_name, username, language_code)
        self.users[user_id] = user
        chat = self.chats.get(user_id)
        if chat is None:
            self.chats[user_id] = ChatState(
                chat_id=user_id,
                user=user,
                chat_api=user.private_chat_api(),
                chat_instance=str(-(7_000_000_000_000_000_000 + user_id)),
                next_message_id=self.first_message_id,
            )
        else:
            chat.user = user
            chat.chat_api = user.private_chat_api()
        return user

    def _user_chat(self, user_id: int) -> ChatState:
        chat = self.chats.get(user_id)
        if chat is None:
            raise KeyError(f"unknown user {user_id}: call add_user() first")
        return chat

    def _user_message(
        self,
        chat: ChatState,
        kind: MessageKind,
        *,
        text: str | None = None,
        entities: tuple[JsonDict, ...] = (),
        file: StoredFile | None = None,
        extra: JsonDict | None = None,
    ) -> QueuedUpdate:
        message = StoredMessage(
            message_id=chat.allocate_message_id(),
            chat_id=chat.chat_id,
            sender=chat.user,
            chat_api=chat.chat_api,
            date=int(time.time()),
            kind=kind,
            text=text,
            raw_text=text,
            entities=entities,
            file=file,
            extra=extra or {},
            seq=self._next_seq(),
        )
        chat.messages[message.message_id] = message
        if chat.reply_keyboard is not None and chat.reply_keyboard.get("one_time_keyboard"):
            # Telegram clients hide a one-time keyboard once the user has answered.
            chat.reply_keyboard_hidden = True
        return self._enqueue(UpdateKind.MESSAGE, message.to_api(), chat.chat_id)

    def _enqueue(self, kind: UpdateKind, payload: JsonDict, chat_id: int) -> QueuedUpdate:
        update = QueuedUpdate(self._next_update_id, kind, payload, chat_id, time.monotonic())
        self._next_update_id += 1
        self.enqueued_count += 1
        self.last_update_by_chat[chat_id] = update
        self._pending.append(update)
        if self._webhook_run is not None:
            self._webhook_run.enqueue(update)
        self._updates_pulse.fire()
        self._changes.fire()
        return update

    async def redeliver(self, update: QueuedUpdate) -> QueuedUpdate:
        """Deliver an update again with the same ``update_id``, as Telegram does after a timeout."""
        copy = QueuedUpdate(
            update.update_id, update.kind, update.payload, update.chat_id, time.monotonic()
        )
        self.enqueued_count += 1
        self._pending.append(copy)
        if self._webhook_run is not None:
            self._webhook_run.enqueue(copy)
        self._updates_pulse.fire()
        self._changes.fire()
        return copy

    async def send_text(self, user_id: int, text: str) -> QueuedUpdate:
        """The user sends ``text``; commands (also ``/start payload``) get bot_command entities.

        Args:
            user_id: A user created with :meth:`add_user`.
            text: Message text.

        Returns:
            The queued update.
        """
        chat = self._user_chat(user_id)
        return self._user_message(
            chat, MessageKind.TEXT, text=text, entities=command_entities(text)
        )

    async def send_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        own: bool = True,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> QueuedUpdate:
        """The user shares a contact; ``own=True`` is the share-my-number button.

        Args:
            user_id: Sender.
            phone_number: Number as the client sends it (often without '+').
            own: Whether it is the sender's own contact (then ``user_id`` is set, like
                Telegram does for the ``request_contact`` button).
            first_name: Contact's first name (defaults to the sender's for an own contact).
            last_name: Contact's last name.

        Returns:
            The queued update.
        """
        chat = self._user_chat(user_id)
        contact: JsonDict = {"phone_number": phone_number}
        if own:
            contact["first_name"] = first_name or chat.user.first_name
            last = last_name if last_name is not None else chat.user.last_name
            if last:
                contact["last_name"] = last
            contact["user_id"] = user_id
        else:
            contact["first_name"] = first_name or phone_number
            if last_name:
                contact["last_name"] = last_name
        return self._user_message(chat, MessageKind.CONTACT, extra={"contact": contact})

    async def send_photo(
        self, user_id: int, data: bytes | None = None, *, caption: str | None = None
    ) -> QueuedUpdate:
        """The user sends a photo (a small generated PNG unless ``data`` is given)."""
        chat = self._user_chat(user_id)
        data = data if data is not None else tiny_png()
        width, height = _image_size(data) or (1, 1)
        stored = self._new_file(
            FileKind.PHOTO, data, mime_type="image/jpeg", width=width, height=height
        )
        return self._user_message(chat, MessageKind.PHOTO, text=caption, file=stored)

    async def send_sticker(self, user_id: int, emoji: str = "👍") -> QueuedUpdate:
        """The user sends a sticker showing ``emoji``."""
        chat = self._user_chat(user_id)
        stored = self._new_file(
            FileKind.STICKER,
            b"RIFF\x00\x00\x00\x00WEBPVP8X" + bytes(18),
            mime_type="image/webp",
            width=512,
            height=512,
            emoji=emoji,
        )
        return self._user_message(chat, MessageKind.STICKER, file=stored)

    async def send_voice(
        self, user_id: int, duration: int = 3, data: bytes | None = None
    ) -> QueuedUpdate:
        """The user sends a voice note of ``duration`` seconds."""
        chat = self._user_chat(user_id)
        stored = self._new_file(
            FileKind.VOICE,
            data if data is not None else b"OggS" + bytes(60),
            mime_type="audio/ogg",
            duration=duration,
        )
        return self._user_message(chat, MessageKind.VOICE, file=stored)

    async def send_location(self, user_id: int, latitude: float, longitude: float) -> QueuedUpdate:
        """The user shares a location."""
        chat = self._user_chat(user_id)
        location = {"latitude": latitude, "longitude": longitude}
        return self._user_message(chat, MessageKind.LOCATION, extra={"location": location})

    async def send_document(
        self,
        user_id: int,
        filename: str,
        data: bytes,
        mime: str = "application/octet-stream",
        *,
        caption: str | None = None,
    ) -> QueuedUpdate:
        """The user sends a file; the bot can fetch it with getFile and download it."""
        chat = self._user_chat(user_id)
        stored = self._new_file(FileKind.DOCUMENT, data, file_name=filename, mime_type=mime)
        return self._user_message(chat, MessageKind.DOCUMENT, text=caption, file=stored)

    async def edit_user_message(self, user_id: int, message_id: int, text: str) -> QueuedUpdate:
        """The user edits one of their text messages (an ``edited_message`` update)."""
        chat = self._user_chat(user_id)
        message = chat.messages.get(message_id)
        if message is None or message.from_bot or message.text is None:
            raise ValueError(f"user message {message_id} not found in chat {user_id}")
        message.history.append(
            MessageVersion(message.text, message.entities, None, time.monotonic())
        )
        message.text = message.raw_text = text
        message.entities = command_entities(text)
        message.edit_date = int(time.time())
        message.seq = self._next_seq()
        return self._enqueue(UpdateKind.EDITED_MESSAGE, message.to_api(), chat.chat_id)

    async def press(
        self, user_id: int, message_id: int, callback_data: str, *, forge: bool = False
    ) -> QueuedUpdate:
        """The user taps an inline button (a ``callback_query`` update).

        Args:
            user_id: Who taps.
            message_id: Bot message carrying the keyboard.
            callback_data: Data of the button.
            forge: Send the data even if no such button is there (to test tampering).

        Returns:
            The queued update.

        Raises:
            ValueError: The message or the button does not exist (and ``forge`` is false).
        """
        chat = self._user_chat(user_id)
        message = chat.messages.get(message_id)
        usable = message is not None and message.from_bot and not message.deleted
        if not forge:
            if message is None or not usable:
                raise ValueError(f"no bot message {message_id} in chat {user_id}")
            if not message.has_callback_data(callback_data):
                raise ValueError(
                    f"callback_data {callback_data!r} is not on message {message_id}; "
                    f"its buttons carry {message.button_data()}"
                )
        query_id = str(self._next_callback_id)
        self._next_callback_id += 1
        payload: JsonDict = {
            "id": query_id,
            "from": chat.user.to_api(),
            "chat_instance": chat.chat_instance,
            "data": callback_data,
        }
        if message is not None:
            payload["message"] = message.to_api()
        self.callbacks[query_id] = PendingCallback(query_id, user_id, message_id, callback_data)
        return self._enqueue(UpdateKind.CALLBACK_QUERY, payload, chat.chat_id)

    # ------------------------------------------------------------------ controls

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: sends to the chat answer 403."""
        self._user_chat(chat_id).blocked = True

    def unblock(self, chat_id: int) -> None:
        """The user unblocks the bot."""
        self._user_chat(chat_id).blocked = False

    def clear(self) -> None:
        """Empty every chat and forget files, queued updates, callbacks, calls and command menus.

        Users stay, each with an empty private chat whose message ids start again (at
        ``first_message_id``), as if the bot had just been created. Call it while no bot is
        connected (the playground's reset stops the bot first). :attr:`change_seq` keeps
        growing so that anyone waiting in :meth:`wait_changed` notices.
        """
        for chat_id, chat in list(self.chats.items()):
            self.chats[chat_id] = ChatState(
                chat_id=chat.chat_id,
                user=chat.user,
                chat_api=chat.chat_api,
                chat_instance=chat.chat_instance,
                next_message_id=self.first_message_id,
            )
        self._drop_pending()
        self.files.clear()
        self._files_by_path.clear()
        self.callbacks.clear()
        self.calls.clear()
        self.commands_by_scope.clear()
        self.default_menu_button = {"type": "default"}
        self.bot_profile.clear()
        self.last_update_by_chat.clear()
        self._next_seq()
        self._changes.fire()

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str | None = None,
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail (see :class:`FaultInjector`)."""
        self.faults.fail_next(
            method, status=status, description=description, count=count, retry_after=retry_after
        )

    def delay_next(self, method: str, seconds: float, *, count: int = 1) -> None:
        """Hold the next ``count`` calls of ``method`` for ``seconds`` (a slow API)."""
        self.faults.delay_next(method, seconds, count=count)

    def set_rate_limits(
        self,
        global_per_second: int | None = None,
        per_chat_per_second: int | None = None,
        *,
        window: float = 1.0,
    ) -> None:
        """Enforce flood limits (``None`` disables one); answers 429 beyond them."""
        self.limiter.configure(RateLimits(global_per_second, per_chat_per_second, window))

    @property
    def rate_limited(self) -> int:
        """How many calls were refused with 429 by the rate limiter."""
        return self.limiter.rejected

    # ------------------------------------------------------------------ inspection

    @property
    def change_seq(self) -> int:
        """Sequence number of the latest message change (send, edit, delete) in any chat."""
        return self._seq

    def chat(self, chat_id: int) -> ChatState:
        """The chat with ``chat_id`` (raises ``KeyError`` when unknown)."""
        return self._user_chat(chat_id)

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        """Messages of a chat in both directions, oldest first."""
        chat = self._user_chat(chat_id)
        if include_deleted:
            return list(chat.messages.values())
        return chat.visible_messages()

    def bot_messages(self, chat_id: int) -> list[StoredMessage]:
        """Visible messages the bot sent to a chat, oldest first."""
        return [m for m in self.messages(chat_id) if m.from_bot]

    def calls_for(self, method: str, *, chat_id: int | None = None) -> list[RecordedCall]:
        """Recorded calls of ``method`` (optionally only those for ``chat_id``)."""
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or c.chat_id == chat_id)
        ]

    def clear_calls(self) -> None:
        """Forget recorded calls."""
        self.calls.clear()

    def file_bytes(self, file_id: str) -> bytes:
        """Content of a stored file."""
        return self.files[file_id].data

    def commands(
        self, language_code: str = "", *, scope: str = "default", chat_id: int | None = None
    ) -> list[tuple[str, str]]:
        """Commands set for exactly this scope and language, as (command, description)."""
        stored = self.commands_by_scope.get((scope, chat_id, None, language_code), ())
        return [(c["command"], c["description"]) for c in stored]

    def effective_commands(self, user_id: int) -> list[tuple[str, str]]:
        """The command menu the user would see, resolved like Telegram clients do."""
        user = self.users[user_id]
        languages = [user.language_code or "", ""] if user.language_code else [""]
        scopes: Iterable[tuple[str, int | None]] = (
            ("chat", user_id),
            ("all_private_chats", None),
            ("default", None),
        )
        for scope, chat_id in scopes:
            for language in languages:
                stored = self.commands_by_scope.get((scope, chat_id, None, language))
                if stored:
                    return [(c["command"], c["description"]) for c in stored]
        return []

    def chat_view(self, chat_id: int) -> JsonDict:
        """A JSON-ready picture of one chat as the user's Telegram app shows it.

        The playground's page renders it. Messages are Bot API ``Message`` objects (text plus
        entities, never the bot's raw markup) with a few additions: ``seq`` (change number of
        the latest send or edit), ``outgoing`` (sent by the user), ``kind`` and, for a file,
        ``file`` (``file_id``, ``kind``, ``name``, ``mime_type``, ``size``, ``width``,
        ``height``, ``emoji``).

        Args:
            chat_id: A user's private chat.

        Returns:
            ``chat_id``, ``user``, ``change_seq``, ``messages`` (visible ones, oldest first),
            ``reply_keyboard`` (the keyboard under the input field, or ``None``),
            ``reply_keyboard_hidden`` (a one-time keyboard already used) and ``commands``
            (the command menu as ``[command, description]`` pairs).
        """
        chat = self._user_chat(chat_id)
        messages: list[JsonDict] = []
        for message in chat.visible_messages():
            view = message.to_api()
            view["seq"] = message.seq
            view["outgoing"] = not message.from_bot
            view["kind"] = message.kind.value
            stored = message.file
            if stored is not None:
                view["file"] = {
                    "file_id": stored.file_id,
                    "kind": stored.kind.value,
                    "name": stored.file_name,
                    "mime_type": stored.mime_type,
                    "size": stored.size,
                    "width": stored.width,
                    "height": stored.height,
                    "emoji": stored.emoji,
                }
            messages.append(view)
        return {
            "chat_id": chat.chat_id,
            "user": chat.user.to_api(),
            "change_seq": self._seq,
            "messages": messages,
            "reply_keyboard": chat.reply_keyboard,
            "reply_keyboard_hidden": chat.reply_keyboard_hidden,
            "commands": [list(pair) for pair in self.effective_commands(chat.user.id)],
        }

    def pending_updates(self) -> list[QueuedUpdate]:
        """Updates not yet confirmed, oldest first."""
        return [u for u in self._pending if u.confirmed_at is None]

    # ------------------------------------------------------------------ waiting

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        The predicate is re-evaluated on every change the emulator sees (calls, updates,
        deliveries) and at least every 50 ms, so time-based conditions work too.

        Raises:
            TimeoutError: The condition did not hold within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            await self._changes.wait(min(remaining, 0.05))

    async def wait_changed(self, since: int, timeout: float) -> int:
        """Long-poll for a message change: wait until :attr:`change_seq` exceeds ``since``.

        Returns early when the server shuts down; never raises on timeout.

        Args:
            since: The change number the caller has already seen.
            timeout: Longest wait in seconds.

        Returns:
            The current :attr:`change_seq` (equal to ``since`` when nothing changed).
        """
        deadline = time.monotonic() + timeout
        while self._seq <= since and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await self._changes.wait(remaining)
        return self._seq

    async def wait_delivered(self, update: QueuedUpdate, timeout: float = 5.0) -> QueuedUpdate:
        """Wait until the bot received ``update`` (getUpdates answer or webhook 2xx)."""
        try:
            await self.wait_for(lambda: update.delivered, timeout)
        except TimeoutError:
            mode = f"webhook {self.webhook.url}" if self.webhook else "getUpdates"
            raise TimeoutError(
                f"update {update.update_id} ({update.kind}) not delivered within {timeout} s "
                f"via {mode}; is the bot running?"
            ) from None
        return update

    async def wait_confirmed(self, update: QueuedUpdate, timeout: float = 5.0) -> QueuedUpdate:
        """Wait until the bot confirmed ``update`` (offset moved past it, or webhook 2xx)."""
        await self.wait_for(lambda: update.confirmed, timeout)
        return update

    async def wait_idle(
        self, chat_id: int, *, quiet: float = 0.15, timeout: float = 5.0, since: float = 0.0
    ) -> None:
        """Wait until no API call touched the chat for ``quiet`` seconds.

        Args:
            chat_id: The chat to watch.
            quiet: Length of the silence required.
            timeout: Give up after this many seconds.
            since: Monotonic time the silence may not start before (e.g. a delivery).

        Raises:
            TimeoutError: The chat never went quiet.
        """
        chat = self._user_chat(chat_id)
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            silent_for = now - max(chat.last_activity, since)
            if chat.inflight == 0 and silent_for >= quiet:
                return
            if now >= deadline:
                raise TimeoutError(f"chat {chat_id} did not go quiet within {timeout} s")
            wait = quiet - silent_for if chat.inflight == 0 else quiet
            await asyncio.sleep(max(0.005, min(wait, deadline - now)))


def _webhook_reply_call(payload: bytes) -> JsonDict | None:
    if not payload or not payload.lstrip().startswith(b"{"):
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("method"), str):
        return data
    return None


def _validate_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad("can't parse inline keyboard JSON object")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad("can't parse inline keyboard button: Text must be a String")
            if not _INLINE_BUTTON_ACTIONS.intersection(button):
                raise _bad(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and (
                not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES
            ):
                raise _bad("BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and (
                not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://"))
            ):
                raise _bad("BUTTON_URL_INVALID")


def _normalise_reply_keyboard(raw: JsonDict) -> JsonDict:
    rows = raw["keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad("can't parse keyboard JSON object")
    keyboard: list[list[JsonDict]] = []
    for row in rows:
        buttons: list[JsonDict] = []
        for item in row:
            button = {"text": item} if isinstance(item, str) else item
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad("can't parse keyboard button: Text must be a String")
            buttons.append(button)
        keyboard.append(buttons)
    return {**raw, "keyboard": keyboard}
