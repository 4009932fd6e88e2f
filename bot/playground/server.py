"""The playground server: try the whole bot in a browser, without Telegram.

One aiohttp application on 127.0.0.1 serves three things:

* the Bot API, by mounting :class:`~bot.emulator.BotApiEmulator`'s routes (the same emulator the
  test suite uses), which the real bot — built by :func:`~bot.application.build_application`,
  unchanged — long-polls like it would poll Telegram;
* the page (``static/``: plain HTML, CSS and JavaScript, nothing fetched from elsewhere);
* a small JSON API for the page: ``GET /api/state`` (a long poll returning the chat of one
  persona), ``POST /api/chat/{persona}/{action}`` (the persona sends text, presses a button,
  shares a contact, sends a photo...), ``POST /api/reset`` and ``GET /files/{file_id}``.

The bot keeps its data in an embedded SQLite file (``data/playground.sqlite3``) that "reset"
deletes. Nothing leaves the machine: the server listens on loopback only and refuses requests
whose ``Host`` is not a loopback name, and cross-site form posts (``Origin`` of another site).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import struct
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from bot.application import BotApp, build_application
from bot.emulator import BotApiEmulator, QueuedUpdate
from bot.emulator.server import MAX_TEXT_LENGTH, MAX_UPLOAD_BYTES
from bot.settings import DEFAULT_SQLITE_PATH, Settings
from storage.crypto import KeyRing
from storage.db import Database

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Next to the production default, so ``make clean`` (``data/playground*``) removes it.
DEFAULT_DATABASE_PATH = DEFAULT_SQLITE_PATH.parent / "playground.sqlite3"
HOST = "127.0.0.1"
BOT_NAME = "Jamsostek Bot"
BOT_USERNAME = "jamsostek_bot"
#: Longest a page's ``/api/state`` request waits for a change (browsers keep it open fine).
MAX_POLL_SECONDS = 25.0
#: How long a button press waits for the bot's answerCallbackQuery (its toast or alert).
ANSWER_WAIT_SECONDS = 5.0
#: Where the "location" button says the persona is: Paringin, the regency seat of Balangan.
DEFAULT_LOCATION = (-2.3293, 115.4641)
#: The page is served under a policy that forbids loading anything from another origin.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Persona:
    """A simulated Telegram user of the playground.

    Ids are fixed, so the users the bot stored in the playground's database are the same
    personas after a restart (the chats themselves live in memory and start empty).

    Attributes:
        key: Short ASCII name used in URLs (``worker``).
        label: What the page's tab shows (``Pekerja (Siti)``).
        user_id: Telegram user id (also the private chat's id).
        first_name: Telegram first name.
        last_name: Telegram last name.
        phone: The number "share my number" sends, as Telegram clients send it (no ``+``).
        language_code: The Telegram app's language.
        admin: Listed in the playground's ``ADMIN_IDS``.
    """

    key: str
    label: str
    user_id: int
    first_name: str
    last_name: str | None
    phone: str
    language_code: str = "id"
    admin: bool = False

    def to_json(self) -> dict[str, Any]:
        """The persona as the page sees it."""
        return {
            "key": self.key,
            "label": self.label,
            "user_id": self.user_id,
            "name": f"{self.first_name} {self.last_name or ''}".strip(),
            "admin": self.admin,
        }


PERSONAS: tuple[Persona, ...] = (
    Persona("worker", "Pekerja (Siti)", 7_100_001, "Siti", "Aminah", "6281251000001"),
    Persona("worker2", "Pekerja 2 (Budi)", 7_100_002, "Budi", "Santoso", "6281351000002"),
    # Becomes a facilitator through an admin's invitation, like in real life.
    Persona("facilitator", "Fasilitator (Rahmat)", 7_100_003, "Rahmat", None, "6285251000003"),
    Persona("admin", "Admin (Dinas)", 7_100_009, "Dinas", "Naker", "6282151000009", admin=True),
)


def generate_token() -> str:
    """A fresh bot token in Telegram's shape; only the in-process emulator ever sees it."""
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}"


def sample_photo(width: int = 160, height: int = 120) -> bytes:
    """A small PNG picture (sky, sun, fields) for the "photo" button: visibly a photo."""
    sun_x, sun_y, sun_r2 = width * 3 // 4, height // 4, (height // 8) ** 2
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # PNG filter type "none"
        for x in range(width):
            if (x - sun_x) ** 2 + (y - sun_y) ** 2 <= sun_r2:
                row += b"\xff\xd5\x4f"
            elif y < height * 3 // 5:
                row += bytes((140 + y // 2, 190 + y // 3, 235))
            else:
                row += bytes((70, 150 - (y - height // 2) // 3, 70))
        rows.append(bytes(row))

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + body))
        return struct.pack(">I", len(body)) + tag + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def _is_loopback_host(host: str) -> bool:
    hostname = urlsplit(f"//{host}").hostname or ""
    return hostname in _LOOPBACK_NAMES or hostname.startswith("127.")


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


class Playground:
    """The emulator, the real bot polling it, and the page, wired together.

    Use :meth:`serve` (the command line) or mount :attr:`app` on a test server and call
    :meth:`start` with its URL; :meth:`stop` / :meth:`close` shut it down.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        database_path: Path = DEFAULT_DATABASE_PATH,
        personas: tuple[Persona, ...] = PERSONAS,
    ) -> None:
        """Prepare everything; nothing runs until :meth:`start` or :meth:`serve`.

        Args:
            settings: The environment's settings; the playground replaces the token, API URL,
                database and webhook, and adds the admin personas to ``ADMIN_IDS``.
            database_path: The SQLite file (created, migrated, and deleted by a reset); its
                encryption key is kept beside it (``.key``).
            personas: The simulated users.
        """
        self.personas = personas
        self.by_key = {p.key: p for p in personas}
        self.database_path = database_path
        token = generate_token()
        # The database outlives the process, and the bot takes an update id it has seen as a
        # redelivery (and may edit a message by a stored id): like Telegram, never reuse ids.
        first_id = time.time_ns() // 1_000_000
        self.emu = BotApiEmulator(
            token,
            host=HOST,
            bot_username=BOT_USERNAME,
            bot_first_name=BOT_NAME,
            max_recorded_calls=1000,
            first_update_id=first_id,
            first_message_id=first_id,
        )
        admins = frozenset(p.user_id for p in personas if p.admin)
        self.settings = settings.replace(
            token=token,
            database_url=f"sqlite+aiosqlite:///{database_path}",
            admin_ids=settings.admin_ids | admins,
            webhook_url=None,
            webhook_secret=None,
        )
        #: Grows with every reset, so a page knows to forget what it shows.
        self.epoch = 1
        self.api_url = ""
        self.db: Database | None = None
        self.botapp: BotApp | None = None
        self._lock = asyncio.Lock()
        self._closing = False
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        for persona in personas:
            self.emu.add_user(
                persona.user_id,
                persona.first_name,
                last_name=persona.last_name,
                language_code=persona.language_code,
            )

    # ------------------------------------------------------------------ lifecycle

    @property
    def app(self) -> web.Application:
        """The aiohttp application: Bot API emulator, page, JSON API (built once)."""
        if self._app is None:
            app = web.Application(
                middlewares=[self._guard], client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024
            )
            self.emu.add_routes(app)
            app.router.add_get("/", self._index)
            app.router.add_static("/static/", STATIC_DIR)
            app.router.add_get("/api/state", self._state)
            app.router.add_post("/api/reset", self._reset)
            app.router.add_post("/api/chat/{persona}/{action}", self._act)
            app.router.add_get("/files/{file_id}", self._file)
            app.on_shutdown.append(self._on_shutdown)
            self._app = app
        return self._app

    async def serve(self, port: int = 8080) -> str:
        """Listen on ``127.0.0.1:port`` (0: a free port), start the bot, return the page's URL.

        Raises:
            OSError: The port is taken.
        """
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, HOST, port)
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        actual_port = runner.addresses[0][1]
        url = f"http://{HOST}:{actual_port}"
        await self.start(url)
        return url

    async def start(self, api_url: str) -> None:
        """Start the bot against the emulator served at ``api_url`` (this app's own URL)."""
        self.api_url = api_url.rstrip("/")
        self.emu.base_url = self.api_url
        async with self._lock:
            await self._start_bot()

    async def stop(self) -> None:
        """Stop the bot and close the database (the page keeps being served)."""
        async with self._lock:
            await self._stop_bot()

    async def close(self) -> None:
        """Stop the bot, then the server started by :meth:`serve`."""
        await self.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def reset(self) -> None:
        """Forget everything: stop the bot, delete the database, empty the chats, start again."""
        async with self._lock:
            await self._stop_bot()
            self._delete_database()
            self.emu.clear()
            self.epoch += 1
            await self._start_bot()
        log.info("playground reset")

    @property
    def running(self) -> bool:
        """Whether the bot is running."""
        return self.botapp is not None

    def _delete_database(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            self.database_path.with_name(self.database_path.name + suffix).unlink(missing_ok=True)

    async def _open_database(self) -> Database:
        """The playground's database, migrated; recreated empty when it cannot be migrated."""
        # The playground's own key (fake people's data), kept next to its database.
        keyring = KeyRing.load_or_create(self.database_path.with_suffix(".key"))
        existed = self.database_path.exists()
        db = Database(self.settings.database_url, keyring=keyring)
        try:
            await db.migrate()
        except Exception:
            await db.dispose()
            if not existed:
                raise
            # Its data is disposable: a file from another version of the code (e.g. one whose
            # tables were created before their migration existed) is replaced, not repaired.
            log.warning("the playground database does not fit this version; starting empty")
            self._delete_database()
            db = Database(self.settings.database_url, keyring=keyring)
            await db.migrate()
        return db

    async def _start_bot(self) -> None:
        if self.botapp is not None:
            return
        db = await self._open_database()
        try:
            botapp = build_application(
                self.settings.replace(api_url=self.api_url), db, webhook=False
            )
            await botapp.start(polling=True)
        except BaseException:
            await db.dispose()
            raise
        self.db, self.botapp = db, botapp

    async def _stop_bot(self) -> None:
        botapp, db = self.botapp, self.db
        self.botapp = self.db = None
        try:
            if botapp is not None:
                await botapp.stop()
        finally:
            if db is not None:
                await db.dispose()

    async def _on_shutdown(self, _app: web.Application) -> None:
        # Let waiting long polls return at once instead of holding the shutdown.
        self._closing = True

    # ------------------------------------------------------------------ HTTP: guard and page

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # Another web site open in the same browser must not drive the playground: refuse
        # other host names (DNS rebinding) and cross-site posts (form submissions, fetch).
        if not _is_loopback_host(request.host):
            return _error("The playground answers only on 127.0.0.1.", 403)
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin and urlsplit(origin).netloc != request.host:
            return _error("Cross-site requests are refused.", 403)
        response = await handler(request)
        if request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-cache"
        return response

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            STATIC_DIR / "index.html",
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": PAGE_POLICY,
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def _file(self, request: web.Request) -> web.Response:
        stored = self.emu.files.get(request.match_info["file_id"])
        if stored is None:
            return _error("No such file.", 404)
        mime = stored.mime_type or "application/octet-stream"
        headers = {
            "X-Content-Type-Options": "nosniff",
            # A file is data, never a page of this origin (an uploaded .html must not run).
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, max-age=3600",
        }
        inline_image = mime.startswith("image/") and mime != "image/svg+xml"
        if not inline_image or request.query.get("download"):
            name = stored.file_name or stored.file_path.rsplit("/", 1)[-1]
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
        return web.Response(body=stored.data, content_type=mime, headers=headers)

    # ------------------------------------------------------------------ HTTP: JSON API

    def snapshot(self, persona: Persona) -> dict[str, Any]:
        """What ``/api/state`` answers: personas, and the chat of ``persona``."""
        personas = []
        for p in self.personas:
            last_seq = max((m.seq for m in self.emu.bot_messages(p.user_id)), default=0)
            personas.append({**p.to_json(), "last_seq": last_seq})
        return {
            "ok": True,
            "epoch": self.epoch,
            "change_seq": self.emu.change_seq,
            "running": self.running,
            "bot": {"name": BOT_NAME, "username": BOT_USERNAME},
            "persona": persona.key,
            "personas": personas,
            "chat": self.emu.chat_view(persona.user_id),
        }

    def _persona(self, key: str) -> Persona:
        persona = self.by_key.get(key)
        if persona is None:
            raise web.HTTPNotFound(
                text='{"ok": false, "error": "No such persona."}', content_type="application/json"
            )
        return persona

    async def _state(self, request: web.Request) -> web.Response:
        """Long poll: answer at once, or when something changed after ``since``."""
        persona = self._persona(request.query.get("persona", self.personas[0].key))
        try:
            since = int(request.query.get("since", "-1"))
            epoch = int(request.query.get("epoch", "0"))
            wait = min(max(float(request.query.get("wait", "0")), 0.0), MAX_POLL_SECONDS)
        except ValueError:
            return _error("since, epoch and wait must be numbers.")
        if epoch == self.epoch and since >= 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            # Short slices so that a shutdown or a reset never waits for a whole poll.
            while not self._closing and self.epoch == epoch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                piece = min(remaining, 1.0)
                started = loop.time()
                if await self.emu.wait_changed(since, piece) > since:
                    break
                if loop.time() - started < piece / 2:
                    break  # returned early without a change: the emulator is shutting down
        return web.json_response(self.snapshot(persona))

    async def _reset(self, _request: web.Request) -> web.Response:
        await self.reset()
        return web.json_response({"ok": True, "epoch": self.epoch})

    async def _act(self, request: web.Request) -> web.Response:
        persona = self._persona(request.match_info["persona"])
        action = request.match_info["action"]
        uid = persona.user_id
        emu = self.emu
        body: dict[str, Any] = {}
        if request.content_type == "application/json" and request.body_exists:
            try:
                loaded = await request.json()
            except ValueError:
                return _error("The body is not JSON.")
            if not isinstance(loaded, dict):
                return _error("The body must be a JSON object.")
            body = loaded
        update: QueuedUpdate
        if action == "send":
            text = body.get("text")
            if not isinstance(text, str) or not text.strip():
                return _error("Type a message first.")
            text = text.strip()
            if len(text) > MAX_TEXT_LENGTH:
                return _error(f"A message has at most {MAX_TEXT_LENGTH} characters.")
            update = await emu.send_text(uid, text)
        elif action == "press":
            return await self._press(persona, body)
        elif action == "contact":
            update = await emu.send_contact(uid, persona.phone, own=True)
        elif action == "location":
            update = await emu.send_location(uid, *DEFAULT_LOCATION)
        elif action == "sticker":
            emoji = body.get("emoji")
            update = await emu.send_sticker(
                uid, emoji if isinstance(emoji, str) and emoji else "👍"
            )
        elif action == "voice":
            update = await emu.send_voice(uid, 3)
        elif action == "photo":
            upload = await self._upload(request)
            data = upload[1] if upload else sample_photo()
            update = await emu.send_photo(uid, data)
        elif action == "document":
            upload = await self._upload(request)
            if upload is None:
                return _error("Choose a file to send.")
            name, data, mime = upload
            update = await emu.send_document(uid, name, data, mime)
        else:
            return _error("Unknown action.", 404)
        return web.json_response({"ok": True, "update_id": update.update_id})

    async def _press(self, persona: Persona, body: dict[str, Any]) -> web.Response:
        message_id, data = body.get("message_id"), body.get("data")
        if not isinstance(message_id, int) or not isinstance(data, str):
            return _error("message_id (a number) and data (text) are needed.")
        try:
            update = await self.emu.press(persona.user_id, message_id, data)
        except ValueError:
            return _error("This button is no longer there.", 409)
        pending = self.emu.callbacks[str(update.payload["id"])]
        with contextlib.suppress(TimeoutError):
            await self.emu.wait_for(lambda: pending.answer, ANSWER_WAIT_SECONDS)
        answer = pending.answer
        return web.json_response(
            {
                "ok": True,
                "update_id": update.update_id,
                "answer": None
                if answer is None
                else {"text": answer.text, "show_alert": answer.show_alert, "url": answer.url},
            }
        )

    async def _upload(self, request: web.Request) -> tuple[str, bytes, str] | None:
        """The ``file`` part of a multipart body: (name, bytes, mime), or None when absent."""
        if request.content_type != "multipart/form-data":
            return None
        form = await request.post()
        part = form.get("file")
        if not isinstance(part, web.FileField):
            return None
        data = part.file.read()
        if not data:
            return None
        return part.filename or "file", data, part.content_type or "application/octet-stream"


async def run(settings: Settings, *, database_path: Path = DEFAULT_DATABASE_PATH) -> int:
    """Serve the playground until Ctrl+C or SIGTERM (``python -m bot playground``).

    Prints ``Playground: http://127.0.0.1:<port>`` on standard output once the bot is running.

    Returns:
        The exit status (2 when the port is taken).
    """
    playground = Playground(settings, database_path=database_path)
    port = settings.playground_port
    try:
        url = await playground.serve(port)
    except OSError as exc:
        print(
            f"The playground cannot listen on {HOST}:{port} ({exc.strerror or exc}). "
            "Set PLAYGROUND_PORT to a free port.",
            file=sys.stderr,
        )
        await playground.close()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"Playground: {url}", flush=True)
    print(
        "Open it in a web browser to chat with the bot as a worker, a facilitator or an admin. "
        "Nothing leaves this machine. Press Ctrl+C to stop.",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await playground.close()
    return 0
