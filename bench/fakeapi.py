"""The fake Bot API process: the project's emulator plus a closed-loop load generator.

Run as ``python -m bench.fakeapi`` (the harness does it); it prints ``READY <base url>`` and then
serves the Bot API for the bot under test and a few control routes for the harness:

* ``GET /_bench/ready?after=N`` — answers once a bot has long-polled (after the N-th poll);
* ``POST /_bench/run`` — ``{"spec": LoadSpec, "bot_pid": int}``: runs the load, answers a
  :class:`~bench.load.LoadResult`;
* ``GET /_bench/stats`` — answers per-method and per-status call counts so far;
* ``POST /_bench/chats`` — ``{"first", "count"}``: recipient-only users whose chats are watched;
* ``POST /_bench/limits`` — ``{"global", "per_chat"}``: Telegram's flood limits, 429 beyond;
* ``GET /_bench/deliveries`` — messages accepted per watched chat, their times, and every 429.

It runs in its own process so that simulating users never competes with the bot for the GIL; its
own CPU use over the window is reported, so a saturated fake shows up in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bench.load import Action, LoadResult, LoadSpec, Step, percentile
from bench.procstat import MachineCpu, cpu_seconds
from bot.emulator import BotApiEmulator, StoredMessage
from bot.emulator.server import DEFAULT_TOKEN

#: Methods whose result is a message the user sees (what completes a step).
MESSAGE_METHODS = frozenset(
    {"sendmessage", "editmessagetext", "editmessagecaption", "senddocument", "sendphoto"}
)
#: Messages kept per simulated chat; older ones are dropped so long runs stay small and fast.
KEEP_MESSAGES = 24
MAX_ERROR_SAMPLES = 5


def _chat_id(params: dict[str, Any]) -> int | None:
    raw = params.get("chat_id")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            return int(raw)
    return None


def reply_matches(message: dict[str, Any], expect: str | None) -> bool:
    """Whether a bot message (Bot API ``Message`` dict) completes a step expecting ``expect``.

    It does when ``expect`` is part of its text, caption or document file name, or is the label
    or the callback data of one of its inline buttons.
    """
    if expect is None:
        return True
    text = message.get("text") or message.get("caption") or ""
    if expect in text:
        return True
    document = message.get("document") or {}
    if expect in str(document.get("file_name") or ""):
        return True
    markup = message.get("reply_markup") or {}
    return any(
        expect in (b.get("text"), b.get("callback_data"))
        for row in markup.get("inline_keyboard", ())
        for b in row
    )


@dataclass(slots=True)
class _Waiter:
    expect: str | None
    done: asyncio.Future[float]


class BenchEmulator(BotApiEmulator):
    """The emulator, told which bot messages complete which user's pending step."""

    def __init__(self, **kwargs: Any) -> None:
        """Create the emulator without call recording (long runs)."""
        # Update ids must not repeat across runs: a database kept between two runs (the status
        # check grows one) remembers processed update ids and would ignore a repeated one. Time in
        # 10 µs units leaves 500,000 ids between two runs started 5 s apart.
        kwargs.setdefault("first_update_id", time.time_ns() // 10_000)
        super().__init__(record_calls=False, **kwargs)
        self.waiters: dict[int, _Waiter] = {}
        self.call_counts: Counter[str] = Counter()
        self.status_counts: Counter[int] = Counter()
        self.polls = 0
        # Broadcast accounting: accepted messages to the watched chats, and every 429 answered.
        self.watched: range = range(0)
        self.watched_sends: Counter[int] = Counter()
        self.watched_times: list[float] = []
        self.throttled: list[tuple[float, int | None]] = []

    async def execute(
        self, token: str, method: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Run the call as the emulator does, then complete the chat's pending step if it fits."""
        lowered = method.lower()
        if lowered == "getupdates":
            self.polls += 1
        status, body = await super().execute(token, method, params)
        self.call_counts[lowered] += 1
        self.status_counts[status] += 1
        if status == 429:
            self.throttled.append((time.perf_counter(), _chat_id(params)))
        elif status == 200 and lowered in MESSAGE_METHODS:
            chat_id = _chat_id(params)
            if chat_id is not None and chat_id in self.watched and lowered.startswith("send"):
                self.watched_sends[chat_id] += 1
                self.watched_times.append(time.perf_counter())
            waiter = self.waiters.get(chat_id) if chat_id is not None else None
            if (
                waiter is not None
                and not waiter.done.done()
                and reply_matches(body["result"], waiter.expect)
            ):
                waiter.done.set_result(time.perf_counter())
        return status, body


def _find_button(emu: BenchEmulator, user_id: int, label: str) -> tuple[int, str]:
    """(message id, callback data) of the newest bot message with a button ``label``.

    ``label`` is matched against the button's callback data and label, exactly, then as a
    case-insensitive part of the label.
    """
    folded = label.casefold()
    messages = list(emu.chat(user_id).messages.values())
    for message in reversed(messages):
        if not message.from_bot or message.deleted:
            continue
        buttons = [b for row in message.inline_keyboard for b in row]
        for exact in (True, False):
            for button in buttons:
                text = str(button.get("text", ""))
                data = button.get("callback_data")
                hit = label in (text, data) if exact else folded in text.casefold()
                if hit and isinstance(data, str):
                    return message.message_id, data
    raise LookupError(f"no button {label!r}; last bot text: {_last_bot_text(messages)!r}")


def _last_bot_text(messages: list[StoredMessage]) -> str:
    for message in reversed(messages):
        if message.from_bot:
            return (message.text or "")[:160]
    return ""


@dataclass(slots=True)
class _Window:
    """Counters snapshotted when the measurement window opens and closes."""

    bot_pid: int | None
    opened: float = 0.0
    closed: float = 0.0
    bot_cpu: list[float] = field(default_factory=list)
    fake_cpu: list[float] = field(default_factory=list)
    machine: list[MachineCpu] = field(default_factory=list)
    calls: list[Counter[str]] = field(default_factory=list)

    def snapshot(self, emu: BenchEmulator) -> float:
        now = time.perf_counter()
        if self.bot_pid is not None:
            try:
                self.bot_cpu.append(cpu_seconds(self.bot_pid))
            except OSError:
                self.bot_cpu.append(0.0)
        self.fake_cpu.append(time.process_time())
        self.machine.append(MachineCpu.read())
        self.calls.append(Counter(emu.call_counts))
        return now

    def open(self, emu: BenchEmulator) -> None:
        self.opened = self.snapshot(emu)

    def close(self, emu: BenchEmulator) -> None:
        self.closed = self.snapshot(emu)


class LoadDriver:
    """Runs one :class:`LoadSpec` against the bot polling ``emu``."""

    def __init__(self, emu: BenchEmulator, spec: LoadSpec, bot_pid: int | None) -> None:
        """Prepare the users (nothing runs until :meth:`run`)."""
        self.emu = emu
        self.spec = spec
        self.window = _Window(bot_pid)
        self.samples: list[tuple[float, float, int]] = []
        self.errors: list[str] = []
        self.finished = 0
        self.stop_at = float("inf")

    async def run(self) -> LoadResult:
        """Run the load and measure it."""
        spec = self.spec
        if spec.rate_limits is not None:
            self.emu.set_rate_limits(*spec.rate_limits)
        total = spec.users + (0 if spec.repeat else spec.warmup_users)
        for index in range(total):
            user_id = spec.first_user_id + index
            self.emu.add_user(user_id, f"Pekerja{index}", language_code=spec.language)
        if spec.repeat:
            await self._run_steady()
        else:
            await self._run_once()
        return self._result()

    async def _run_steady(self) -> None:
        spec = self.spec
        started = time.perf_counter()
        self.stop_at = started + spec.warmup_seconds + spec.seconds
        users = [
            asyncio.create_task(self._user(spec.first_user_id + i, spec.script_for(i)))
            for i in range(spec.users)
        ]
        await asyncio.sleep(spec.warmup_seconds)
        self.window.open(self.emu)
        await asyncio.sleep(max(0.0, self.stop_at - time.perf_counter()))
        self.window.close(self.emu)
        await asyncio.gather(*users)

    async def _run_once(self) -> None:
        spec = self.spec
        warm = spec.warmup_users
        if warm:
            await asyncio.gather(
                *(self._user(spec.first_user_id + i, spec.script_for(i)) for i in range(warm))
            )
            self.samples.clear()
            self.finished = 0
        self.window.open(self.emu)
        await asyncio.gather(
            *(
                self._user(spec.first_user_id + i, spec.script_for(i))
                for i in range(warm, warm + spec.users)
            )
        )
        self.window.close(self.emu)

    async def _user(self, user_id: int, script: tuple[Step, ...]) -> None:
        index = 0
        repeat = self.spec.repeat
        while repeat or index < len(script):
            if time.perf_counter() >= self.stop_at:
                return
            step = script[index % len(script)]
            if not await self._step(user_id, step, index % len(script)):
                return
            index += 1
        self.finished += 1

    async def _step(self, user_id: int, step: Step, index: int) -> bool:
        emu = self.emu
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        emu.waiters[user_id] = _Waiter(step.expect, done)
        started = time.perf_counter()
        try:
            await self._act(user_id, step)
            finished = await asyncio.wait_for(done, self.spec.step_timeout)
        except (TimeoutError, LookupError, ValueError, KeyError) as exc:
            messages = list(emu.chat(user_id).messages.values())
            reason = "no matching reply" if isinstance(exc, TimeoutError) else str(exc)
            self._error(
                f"user {user_id} step {index + 1} ({step.action} {step.value[:40]!r}, "
                f"expecting {step.expect!r}): {reason}; "
                f"last bot text: {_last_bot_text(messages)!r}"
            )
            return False
        finally:
            emu.waiters.pop(user_id, None)
        self.samples.append((started, finished, index))
        _trim(emu, user_id)
        return True

    async def _act(self, user_id: int, step: Step) -> None:
        emu = self.emu
        match step.action:
            case Action.TEXT:
                await emu.send_text(user_id, step.value)
            case Action.PRESS:
                message_id, data = _find_button(emu, user_id, step.value)
                await emu.press(user_id, message_id, data)
            case Action.CONTACT:
                await emu.send_contact(user_id, step.value)
            case Action.PHOTO:
                await emu.send_photo(user_id)
            case Action.STICKER:
                await emu.send_sticker(user_id)
            case Action.DOCUMENT:
                mime = "text/csv" if step.value.endswith(".csv") else "application/octet-stream"
                await emu.send_document(user_id, step.value, step.data.encode("latin-1"), mime)

    def _error(self, text: str) -> None:
        self.errors.append(text)

    def _result(self) -> LoadResult:
        window = self.window
        kept = [
            (index, (end - start) * 1000)
            for start, end, index in self.samples
            if window.opened <= end <= window.closed
        ]
        inside = sorted(ms for _, ms in kept)
        by_step: dict[int, list[float]] = {}
        for index, ms in kept:
            by_step.setdefault(index, []).append(ms)
        steps = [sorted(by_step.get(i, ())) for i in range(max(by_step, default=-1) + 1)]
        seconds = window.closed - window.opened
        bot_cpu = window.bot_cpu[1] - window.bot_cpu[0] if len(window.bot_cpu) == 2 else 0.0
        calls = window.calls[1] - window.calls[0]
        return LoadResult(
            steps=len(inside),
            seconds=seconds,
            p50_ms=percentile(inside, 0.50),
            p99_ms=percentile(inside, 0.99),
            mean_ms=sum(inside) / len(inside) if inside else 0.0,
            max_ms=inside[-1] if inside else 0.0,
            bot_cpu_seconds=bot_cpu,
            fake_cpu_seconds=window.fake_cpu[1] - window.fake_cpu[0],
            machine_busy=window.machine[1].busy_since(window.machine[0]),
            errors=len(self.errors),
            error_samples=tuple(self.errors[:MAX_ERROR_SAMPLES]),
            calls=dict(calls),
            users_finished=self.finished,
            step_p50_ms=tuple(percentile(v, 0.50) for v in steps),
            step_p99_ms=tuple(percentile(v, 0.99) for v in steps),
        )


def _trim(emu: BenchEmulator, user_id: int) -> None:
    messages = emu.chat(user_id).messages
    if len(messages) > 2 * KEEP_MESSAGES:
        for message_id in list(messages)[:-KEEP_MESSAGES]:
            del messages[message_id]


def add_control_routes(app: web.Application, emu: BenchEmulator) -> None:
    """Mount the harness's control routes (``/_bench/...``) on the emulator's application."""

    async def ready(request: web.Request) -> web.Response:
        # Answers once a bot long-polls (a getUpdates after the ``after``-th one: a restarted bot).
        deadline = time.monotonic() + float(request.query.get("timeout", "60"))
        after = int(request.query.get("after", "0"))
        while emu.polls <= after:
            if time.monotonic() > deadline:
                return web.json_response({"ok": False, "polls": emu.polls}, status=504)
            await asyncio.sleep(0.02)
        return web.json_response({"ok": True, "polls": emu.polls})

    async def chats(request: web.Request) -> web.Response:
        # Users who exist only as recipients (a broadcast audience); their chats are watched.
        payload = await request.json()
        first, count = int(payload["first"]), int(payload["count"])
        for user_id in range(first, first + count):
            emu.add_user(user_id, f"Warga{user_id}", language_code="id")
        emu.watched = range(first, first + count)
        return web.json_response({"ok": True})

    async def limits(request: web.Request) -> web.Response:
        payload = await request.json()
        emu.set_rate_limits(payload.get("global"), payload.get("per_chat"))
        return web.json_response({"ok": True})

    async def deliveries(_request: web.Request) -> web.Response:
        sends = emu.watched_sends
        return web.json_response(
            {
                "now": time.perf_counter(),
                "reached": len(sends),
                "sends": sum(sends.values()),
                "duplicates": sum(n - 1 for n in sends.values() if n > 1),
                "times": emu.watched_times,
                "throttled": emu.throttled,
            }
        )

    async def run(request: web.Request) -> web.Response:
        payload = await request.json()
        spec = LoadSpec.from_json(payload["spec"])
        result = await LoadDriver(emu, spec, payload.get("bot_pid")).run()
        return web.json_response(result.to_json())

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "calls": dict(emu.call_counts),
                "statuses": {str(k): v for k, v in emu.status_counts.items()},
            }
        )

    app.router.add_get("/_bench/ready", ready)
    app.router.add_post("/_bench/run", run)
    app.router.add_get("/_bench/stats", stats)
    app.router.add_post("/_bench/chats", chats)
    app.router.add_post("/_bench/limits", limits)
    app.router.add_get("/_bench/deliveries", deliveries)


async def serve(host: str, port: int, token: str) -> None:
    """Serve until SIGTERM/SIGINT; print ``READY <url>`` once listening."""
    emu = BenchEmulator(token=token, host=host, port=port)
    add_control_routes(emu.make_app(), emu)
    await emu.start()
    print(f"READY {emu.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emu.stop()


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m bench.fakeapi [--host H] [--port P] [--token T]``."""
    parser = argparse.ArgumentParser(prog="python -m bench.fakeapi")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
