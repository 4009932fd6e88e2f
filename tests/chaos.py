"""Fault injection for the fault and chaos tests.

* :class:`SqliteLock` holds SQLite's write lock from another connection (``BEGIN EXCLUSIVE``), so
  every transaction of the bot fails with "database is locked" until it is released: the SQLite
  form of "the database is unavailable".
* :class:`TcpProxy` sits between the bot and PostgreSQL; :meth:`TcpProxy.cut` drops every
  connection and refuses new ones, :meth:`TcpProxy.restore` accepts them again.
* :class:`FaultHarness` is :class:`tests.support.BotHarness` with a short SQLite busy timeout, so a
  locked database is noticed in a fraction of a second.
* :class:`BotProcess` runs ``python -m bot`` as a subprocess that can be killed with SIGKILL.
* :class:`Registrant` is a simulated person registering through the emulator the way people do:
  they answer what the bot last asked, and when no answer comes they send the same thing again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.emulator import BotApiEmulator
from bot.emulator.model import StoredMessage
from bot.settings import Settings
from storage.db import Database
from tests.support import TEST_DATA_KEY, TEST_KEYRING, TEST_TOKEN, BotHarness

ROOT = Path(__file__).resolve().parent.parent

# -- database faults ------------------------------------------------------------------------------


class SqliteLock:
    """Another process's exclusive lock on a SQLite file (the bot cannot write until released)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    async def acquire(self) -> None:
        """Take the write lock (in a thread: the bot may have to finish a transaction first)."""

        def take() -> sqlite3.Connection:
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            conn.execute("BEGIN EXCLUSIVE")
            return conn

        self._conn = await asyncio.to_thread(take)

    def release(self) -> None:
        """Give the lock back."""
        if self._conn is not None:
            self._conn.execute("ROLLBACK")
            self._conn.close()
            self._conn = None


class TcpProxy:
    """A TCP relay to ``host:port`` that can drop every connection and refuse new ones."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = 0
        self.target = (host, port)
        self.cuts = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.WriteTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def is_cut(self) -> bool:
        """True while connections are refused."""
        return self._server is None

    def url_for(self, url: str) -> str:
        """``url`` with its host and port replaced by this proxy's."""
        parsed = make_url(url).set(host="127.0.0.1", port=self.port)
        return parsed.render_as_string(hide_password=False)

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after a cut)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Drop every open connection (like a database restart) and refuse new ones."""
        self.cuts += 1
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for transport in list(self._links):
            transport.abort()
        self._links.clear()

    async def restore(self) -> None:
        """Accept connections again."""
        await self.start()

    async def stop(self) -> None:
        """Close everything."""
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                self.refused += 1
                writer.transport.abort()
                return
            links = {writer.transport, up_writer.transport}
            self._links |= links
            await asyncio.gather(
                _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
            )
            self._links -= links
        finally:
            if task is not None:
                self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        writer.transport.abort()


class FaultHarness(BotHarness):
    """The bot and the emulator, with a database that reports a locked SQLite file quickly."""

    def __init__(self, db_url: str, *, busy_timeout_ms: int = 300, **settings: object) -> None:
        super().__init__(db_url, **settings)
        self.busy_timeout_ms = busy_timeout_ms

    async def __aenter__(self) -> FaultHarness:
        await self.emu.start()
        self.settings = Settings(
            token=TEST_TOKEN, api_url=self.emu.base_url, database_url=self.db_url
        ).replace(**self.overrides)
        self.db = Database(
            self.db_url, keyring=TEST_KEYRING, sqlite_busy_timeout_ms=self.busy_timeout_ms
        )
        await self.start_bot()
        return self


# -- a killable bot process ---------------------------------------------------------------------

WEBHOOK_SECRET = "chaos-secret"


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """``python -m bot run`` against the emulator, started, killed with SIGKILL and restarted.

    ``webhook=False``: long polling. ``webhook=True``: the bot serves a webhook on a local port
    (registered with the emulator at every start, as in production), and the emulator pushes the
    updates, retrying while nobody answers.
    """

    def __init__(
        self, emu: BotApiEmulator, database_url: str, log: Path, *, webhook: bool = False
    ) -> None:
        self.emu = emu
        self.database_url = database_url
        self.log = log
        self.webhook = webhook
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=TEST_TOKEN,
            BOT_API_URL=self.emu.base_url,
            DATABASE_URL=self.database_url,
            DATA_KEY=TEST_DATA_KEY,
            LOG_LEVEL="WARNING",
        )
        if self.webhook:
            env.update(
                WEBHOOK_URL=f"http://127.0.0.1:{self.port}/hook",
                WEBHOOK_SECRET=WEBHOOK_SECRET,
                HOST="127.0.0.1",
                PORT=str(self.port),
            )
        return env

    async def start(self) -> None:
        """Start the bot and wait until it serves (it publishes its menu, then its webhook)."""
        since = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=ROOT,
                env=self._env(),
                stdout=out,
                stderr=out,
            )
        self.starts += 1
        ready = "setWebhook" if self.webhook else "setMyCommands"
        try:
            await self.emu.wait_for(
                lambda: any(c.method == ready and c.time > since for c in self.emu.calls),
                timeout=60,
            )
        except TimeoutError:
            raise AssertionError(f"the bot did not start\n{self.tail()}") from None

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no last confirmations, exactly like a power cut."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
            self.kills += 1
        self.proc = None

    async def stop(self) -> None:
        """SIGTERM and wait (the graceful stop)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None

    def tail(self, chars: int = 4000) -> str:
        """The end of the bot's log (for assertion messages)."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


# -- a person registering -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What a person does about the bot's latest message."""

    kind: str  # "text", "contact", "press" or "done"
    value: str
    #: The stored field this answers (None for consent, "continue", screening, "send").
    answers: str | None
    #: The bot message it responds to (a question asked again is a new message).
    message_id: int


#: (callback data, the field it answers) — the buttons a self-paying rubber tapper presses.
BUTTON_ANSWERS: tuple[tuple[str, str | None], ...] = (
    ("reg:consent:yes", None),
    ("reg:resume:go", None),
    ("reg:mm:ok", None),
    ("reg:sex:female", "sex"),
    ("reg:kec:63.11.01", "kecamatan_code"),
    ("reg:desa:63.11.01.2005", "desa_code"),
    ("reg:occ:karet", "occupation_code"),
    ("reg:inc:under_1m", "income_code"),
    ("reg:scr:self_employed:y", None),
    ("reg:scr:civil_servant:n", None),
    ("reg:scr:covered_elsewhere:n", None),
    ("reg:scr:irregular_income:y", None),
    ("reg:pay:self", "payer"),
    ("reg:jht:n", "with_jht"),
    ("reg:sum:send", None),
)


@dataclass
class Registrant:
    """Someone registering themselves, answering whatever the bot last asked.

    When no new message arrives within ``patience`` seconds of an answer, they send the same
    answer again (a new update, as a person re-typing it); when that goes unanswered too, or the
    button is gone, they type ``/daftar``, which shows the saved draft (or the sent
    registration). Every answer that a question they have seen proves stored is in
    :attr:`acknowledged` (see :meth:`_saw`): those must be in the database, whatever happens.
    """

    emu: BotApiEmulator
    user_id: int
    serial: int
    think: Callable[[], float]
    patience: float = 3.0
    acknowledged: dict[str, object] = field(default_factory=dict)
    reference: str | None = None
    actions: int = 0
    resends: int = 0
    update_ids: list[int] = field(default_factory=list)

    @property
    def nik(self) -> str:
        """A woman born 17-08-1985 in Kecamatan Juai, serial ``serial``."""
        return f"631101570885{self.serial:04d}"

    @property
    def phone(self) -> str:
        """Their own mobile number as Telegram shares it."""
        return f"62813{self.serial:07d}"

    def expected(self) -> dict[str, object]:
        """Every answer of the finished registration, as stored."""
        return {
            "nik": self.nik,
            "full_name": "Siti Aminah",
            "birth_date": date(1985, 8, 17),
            "sex": "female",
            "phone": "+" + self.phone,
            "kecamatan_code": "63.11.01",
            "desa_code": "63.11.01.2005",
            "occupation_code": "karet",
            "income_code": "under_1m",
            "payer": "self",
            "with_jht": False,
        }

    def _latest(self) -> list[StoredMessage]:
        """Bot messages since the person's last message, newest first."""
        found: list[StoredMessage] = []
        for message in reversed(self.emu.messages(self.user_id)):
            if not message.from_bot:
                break
            found.append(message)
        return found

    def decide(self) -> Decision | None:
        """The answer to the bot's latest question, or None when nothing is asked."""
        expected = self.expected()
        for message in self._latest():
            text = message.text or ""
            mid = message.message_id
            if "BLG-" in text:
                return Decision("done", text, None, mid)
            data = {d for row in message.button_data() for d in row if d}
            for wanted, answers in BUTTON_ANSWERS:
                if wanted in data:
                    return Decision("press", wanted, answers, mid)
            if "reg:back:name" in data:
                return Decision("text", str(expected["full_name"]), "full_name", mid)
            if "reg:back:birth_date" in data:
                return Decision("text", "17-08-1985", "birth_date", mid)
            keyboard = message.reply_keyboard or {}
            if any(b.get("request_contact") for row in keyboard.get("keyboard", []) for b in row):
                return Decision("contact", self.phone, "phone", mid)
            if "NIK" in text and "16" in text:
                return Decision("text", self.nik, "nik", mid)
        return None

    async def act(self, decision: Decision | None) -> None:
        """Do it (``None``: type /daftar)."""
        self.actions += 1
        if decision is None:
            update = await self.emu.send_text(self.user_id, "/daftar")
        elif decision.kind == "text":
            update = await self.emu.send_text(self.user_id, decision.value)
        elif decision.kind == "contact":
            update = await self.emu.send_contact(self.user_id, decision.value, own=True)
        else:
            message = self.emu.chat(self.user_id).messages.get(decision.message_id)
            if message is None or not message.has_callback_data(decision.value):
                update = await self.emu.send_text(self.user_id, "/daftar")
            else:
                update = await self.emu.press(self.user_id, decision.message_id, decision.value)
        self.update_ids.append(update.update_id)

    def _saw(self, decision: Decision) -> None:
        """Acknowledge every answer the bot must have stored before asking ``decision``.

        The bot always asks the first question not answered yet, and only after committing the
        answer before it, so a question about field F (whenever it was sent) proves that every
        field before F in :data:`ORDER` is stored.
        """
        if decision.kind == "done" or decision.value == "reg:sum:send":
            position = len(ORDER)
        elif decision.answers in ORDER:
            position = ORDER.index(decision.answers)
        elif decision.value.startswith("reg:scr:"):
            position = ORDER.index("payer")
        else:
            return  # consent, "continue": no evidence either way
        expected = self.expected()
        for name in ORDER[:position]:
            self.acknowledged[name] = expected[name]

    async def run(self, deadline: float, *, start_after: float = 0.0) -> None:
        """Register (after ``start_after`` seconds), until the reference number arrives."""
        await asyncio.sleep(start_after)
        last: Decision | None = None
        unanswered = 0
        acted_at = -1e9
        while time.monotonic() < deadline:
            decision = self.decide()
            if decision is not None:
                self._saw(decision)
            if decision is not None and decision.kind == "done":
                self.reference = _reference(decision.value)
                return
            if decision is not None and decision != last:
                await asyncio.sleep(self.think())
                await self.act(decision)
                unanswered = 0
                last, acted_at = decision, time.monotonic()
            elif time.monotonic() - acted_at > self.patience:
                # No answer came: send the same again (the very first time: /daftar); after
                # that went unanswered too, type /daftar, which shows where the draft stands.
                self.resends += last is not None
                unanswered += 1
                await self.act(last if unanswered % 2 else None)
                acted_at = time.monotonic()
            await asyncio.sleep(0.05)


#: The stored answers in the order the registration asks for them (screening sits before payer).
ORDER = (
    "nik",
    "full_name",
    "birth_date",
    "sex",
    "phone",
    "kecamatan_code",
    "desa_code",
    "occupation_code",
    "income_code",
    "payer",
    "with_jht",
)


def _reference(text: str) -> str:
    start = text.index("BLG-")
    return text[start : start + 10]
