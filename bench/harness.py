"""Starting the fake Bot API and the bot under test as processes, and measuring one load.

:func:`measure` is the whole protocol: start a fresh fake API process, start the bot pointed at it,
wait until the bot long-polls, have the fake run the closed-loop load (it snapshots the bot's CPU
counters when the window opens and closes), read the bot's peak RSS, stop both.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import LoadResult, LoadSpec
from bench.procstat import peak_rss_mb
from bot.emulator.server import DEFAULT_TOKEN

ROOT = Path(__file__).resolve().parent.parent
#: The interpreter with aiogram (baseline B); see bench/requirements.txt and the Makefile.
AIOGRAM_PYTHON = Path(
    os.environ.get("BENCH_AIOGRAM_PYTHON", ROOT / ".venv" / "bench-aiogram" / "bin" / "python")
)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class BotKind(StrEnum):
    """Whether a bot under test is a baseline or ours (ours are reported as ratios)."""

    BASELINE = "baseline"
    OURS = "ours"


class BenchError(RuntimeError):
    """A process of the benchmark failed; the message says which and shows its log's tail."""


@dataclass(frozen=True, slots=True)
class BotSpec:
    """How to start one bot under test.

    Attributes:
        label: the name shown in the table.
        module: what ``python -m`` runs (``bot`` is the real application).
        env: extra environment (``DATABASE_URL``, ``BOT_TRANSPORT``...).
        python: the interpreter (the project's unless given).
        kind: ``baseline`` or ``ours`` (ours are reported as ratios to the baselines).
        args: command-line arguments after the module.
    """

    label: str
    module: str
    env: Mapping[str, str] = field(default_factory=dict)
    python: str = sys.executable
    kind: BotKind = BotKind.OURS
    args: tuple[str, ...] = ()

    def command(self, profile: Path | None = None) -> list[str]:
        """The command line; under cProfile (writing ``profile``) when given."""
        if profile is None:
            return [self.python, "-m", self.module, *self.args]
        return [self.python, "-m", "bench.profiled", str(profile), self.module, *self.args]

    def missing(self) -> str | None:
        """Why this bot cannot run here (None when it can)."""
        if not Path(self.python).exists():
            return f"interpreter {self.python} not found (run `make bench` to create it)"
        return None


@functools.cache
def aiogram_missing() -> str | None:
    """Why baseline B cannot run (None when its interpreter imports aiogram)."""
    if not AIOGRAM_PYTHON.exists():
        return f"aiogram not installed ({AIOGRAM_PYTHON} missing; `make bench` installs it)"
    try:
        subprocess.run(
            [str(AIOGRAM_PYTHON), "-c", "import aiogram"],
            capture_output=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return f"aiogram not importable by {AIOGRAM_PYTHON} (`make bench` installs it)"
    return None


BASELINE_A = BotSpec(
    "baseline A: PTB echo (defaults)", "bench.bots.ptb_echo", kind=BotKind.BASELINE
)
BASELINE_B = BotSpec(
    "baseline B: aiogram 3 echo",
    "bench.bots.aiogram_echo",
    python=str(AIOGRAM_PYTHON),
    kind=BotKind.BASELINE,
)


def ours_echo(transport: str) -> BotSpec:
    """Our echo stack with the given ``BOT_TRANSPORT``."""
    return BotSpec(
        f"ours-echo ({transport})", "bench.bots.ours_echo", {"BOT_TRANSPORT": transport}
    )


#: The simulated users answer within milliseconds, for minutes: far above any person's pace, so
#: the per-user flood control (default 20 updates per 10 s) would cap 100 users at 200 updates/s
#: and measure the limiter rather than the bot. Thousands of real users at a human pace load the
#: bot like these 100 robots do without ever meeting the limit.
UNTHROTTLED = {"FLOOD_BURST": "10000", "FLOOD_WINDOW_SECONDS": "1"}


def ours_app(label: str, database_url: str, **env: str) -> BotSpec:
    """The real application (``python -m bot run``) on ``database_url``, flood control lifted."""
    from bench.database import data_key

    settings = {"DATABASE_URL": database_url, "DATA_KEY": data_key(), **UNTHROTTLED, **env}
    return BotSpec(label, "bot", settings, args=("run",))


@dataclass(frozen=True, slots=True)
class Measurement:
    """One bot under one load: the fake's measurements plus the bot's peak RSS."""

    label: str
    kind: BotKind
    result: LoadResult | None = None
    peak_rss_mb: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        """A number was measured (errors may still have occurred; see ``result.errors``)."""
        return self.result is not None and self.result.steps > 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "label": self.label,
            "kind": self.kind,
            "result": None if self.result is None else self.result.to_json(),
            "peak_rss_mb": self.peak_rss_mb,
            "note": self.note,
        }


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


class FakeApi:
    """A running ``python -m bench.fakeapi`` process and a client for its control routes."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        """Wrap a started process listening at ``url``."""
        self.process = process
        self.url = url
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, log: Path) -> AsyncIterator[FakeApi]:
        """Start the fake API process; stop it on exit."""
        with log.open("wb") as err:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.fakeapi",
                "--token",
                DEFAULT_TOKEN,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
            )
            try:
                assert process.stdout is not None
                line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
                if not line.startswith(b"READY "):
                    raise BenchError(f"the fake API did not start:\n{_tail(log)}")
                fake = cls(process, line.decode().split()[1])
                try:
                    yield fake
                finally:
                    await fake._http.close()
            finally:
                await _stop(process)

    async def wait_ready(
        self, bot: asyncio.subprocess.Process, bot_log: Path, *, after: int = 0
    ) -> None:
        """Return once the bot has long-polled; raise if it exits or never polls.

        ``after``: the number of polls seen before this bot started (a restart).
        """
        ready = asyncio.ensure_future(
            self._get("/_bench/ready", timeout=str(START_TIMEOUT), after=str(after))
        )
        exited = asyncio.ensure_future(bot.wait())
        done, _pending = await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await ready
            raise BenchError(f"the bot exited with status {bot.returncode}:\n{_tail(bot_log)}")
        exited.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await exited
        if not ready.result().get("ok"):
            raise BenchError(f"the bot never polled the fake API:\n{_tail(bot_log)}")

    async def run(self, spec: LoadSpec, bot_pid: int | None) -> LoadResult:
        """Run a load; returns what the fake measured."""
        async with self._http.post(
            f"{self.url}/_bench/run", json={"spec": spec.to_json(), "bot_pid": bot_pid}
        ) as resp:
            resp.raise_for_status()
            return LoadResult.from_json(await resp.json())

    async def stats(self) -> dict[str, Any]:
        """Call counts by method and by HTTP status so far."""
        return await self._get("/_bench/stats")

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST a control request (``/_bench/chats``, ``/_bench/limits``)."""
        async with self._http.post(f"{self.url}{path}", json=payload) as resp:
            resp.raise_for_status()
            data: dict[str, Any] = await resp.json()
            return data

    async def get(self, path: str) -> dict[str, Any]:
        """GET a control route (``/_bench/deliveries``, ``/_bench/stats``)."""
        return await self._get(path)

    async def _get(self, path: str, **query: str) -> dict[str, Any]:
        async with self._http.get(f"{self.url}{path}", params=query) as resp:
            data: dict[str, Any] = await resp.json()
            return data


@contextlib.asynccontextmanager
async def bot_process(
    bot: BotSpec, api_url: str, log: Path, profile: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start ``bot`` against the fake API at ``api_url``; stop it (SIGTERM) on exit.

    With ``profile`` the bot runs under cProfile, which writes its statistics there at exit.
    """
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
        "BOT_API_URL": api_url,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **bot.env,
    }
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *bot.command(profile), cwd=ROOT, env=env, stdout=out, stderr=out
        )
        try:
            yield process
        finally:
            await _stop(process)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")[:60]


async def measure(
    bot: BotSpec, spec: LoadSpec, logs: Path, *, profile: bool = False
) -> Measurement:
    """Run ``spec`` against a fresh fake API and a fresh ``bot`` process; never raises.

    A bot that cannot start or crashes yields a measurement without a result, whose note says why.
    With ``profile`` the bot runs under cProfile and its statistics land next to the logs
    (``<label>.prof``; CPU figures are then inflated by the profiler).
    """
    missing = bot.missing()
    if missing is not None:
        return Measurement(bot.label, bot.kind, note=f"skipped: {missing}")
    logs.mkdir(parents=True, exist_ok=True)
    slug = _slug(bot.label)
    bot_log = logs / f"{slug}.bot.log"
    try:
        async with (
            FakeApi.running(logs / f"{slug}.fakeapi.log") as fake,
            bot_process(
                bot, fake.url, bot_log, logs / f"{slug}.prof" if profile else None
            ) as process,
        ):
            await fake.wait_ready(process, bot_log)
            result = await fake.run(spec, process.pid)
            rss = peak_rss_mb(process.pid)
    except (BenchError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        print(f"    {bot.label} failed: {exc}", file=sys.stderr, flush=True)
        first = f"failed: {exc}".splitlines()[0]
        return Measurement(bot.label, bot.kind, note=f"{first} (log: {bot_log})")
    return Measurement(bot.label, bot.kind, result, rss)
