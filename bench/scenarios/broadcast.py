"""Broadcast: 10,000 recipients under Telegram's flood limits, then the same with a kill -9 half-way.

The fake Bot API enforces 30 messages per rolling second overall and 1 per second per chat and
answers 429 with ``retry_after`` beyond that. The admin composes an announcement to everyone with
``/siaran`` (quiet hours overridden, so the run does not depend on the time of day) and confirms;
the real bot (``python -m bot``, SQLite) sends it with its own pacing at ``BROADCAST_RATE`` = 30/s.

Reported: the achieved rate of recipient messages as a share of the limit (from the first to the
last accepted one), the 429 answers the bot received while sending, duplicates (a chat that got
the broadcast twice) and recipients never reached. The second run SIGKILLs the bot once half the
recipients have their message, starts it again on the same database, and reports the same figures
for each half; rows the killed process had claimed are closed as "interrupted" after the sender's
claim lease, never sent twice (``bot.broadcast_sender``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bench.database import fresh_sqlite, open_database
from bench.harness import BenchError, FakeApi, bot_process, ours_app
from bench.load import LoadSpec, Step
from bench.report import Check, Section
from bench.scenarios.base import RunContext, Scenario, missing_feature
from bench.seed import SEEDED_AT, insert_rows

TITLE = "Broadcast (10,000 recipients, 30 msg/s overall, 1/s per chat)"
RECIPIENTS = 10_000
QUICK_RECIPIENTS = 150
LIMIT = 30
PER_CHAT = 1
ADMIN_ID = 900_001
FIRST_RECIPIENT = 3_000_000_001
ANNOUNCEMENT = "Pengumuman: pertemuan warga hari Sabtu jam 9 pagi di balai desa."


def recipient_row(index: int) -> dict[str, Any]:
    """A worker who has talked to the bot (a ``users`` row)."""
    return {
        "id": FIRST_RECIPIENT + index,
        "language": "id",
        "role": "worker",
        "reminders_enabled": True,
        "unreachable": False,
        "created_at": SEEDED_AT,
        "last_seen_at": SEEDED_AT,
    }


def admin_script() -> tuple[Step, ...]:
    """/siaran → text → announcement → everyone → quiet hours overridden → send now."""
    return (
        Step.text("/siaran", "bc:stop"),
        Step.text(ANNOUNCEMENT, "bc:kind:ann"),
        Step.press("bc:kind:ann", "bc:aud:all"),
        Step.press("bc:aud:all", "bc:go"),
        Step.press("bc:quiet", "bc:go"),
        Step.press("bc:go"),
    )


@dataclass(frozen=True, slots=True)
class Segment:
    """Recipient messages accepted between two moments (fake API clock)."""

    sends: int
    rate: float


def segment(times: list[float], start: float, stop: float) -> Segment:
    """Messages accepted in ``[start, stop]`` and their rate from the first to the last."""
    inside = [t for t in times if start <= t <= stop]
    span = inside[-1] - inside[0] if len(inside) > 1 else 0.0
    rate = (len(inside) - 1) / span if span > 0 else 0.0
    return Segment(len(inside), rate)


async def _status(url: str) -> tuple[bool, dict[str, int]]:
    """Whether the broadcast finished, and its recipient rows per status."""
    db = open_database(url)
    try:
        async with db.engine.connect() as conn:
            finished = await conn.scalar(
                text("SELECT count(*) FROM broadcasts WHERE finished_at IS NOT NULL")
            )
            rows = await conn.execute(
                text("SELECT status, count(*) FROM broadcast_recipients GROUP BY status")
            )
            counts = {str(row[0]): int(row[1]) for row in rows.all()}
    finally:
        await db.dispose()
    return bool(finished), counts


async def _wait(fake: FakeApi, url: str, *, reached: int | None, timeout: float) -> dict[str, Any]:
    """Wait until ``reached`` chats got the message (or, when None, the broadcast finished)."""
    deadline = time.monotonic() + timeout
    while True:
        data = await fake.get("/_bench/deliveries")
        if reached is not None and data["reached"] >= reached:
            return data
        if reached is None and (await _status(url))[0]:
            return await fake.get("/_bench/deliveries")
        if time.monotonic() > deadline:
            raise BenchError(
                f"the broadcast did not get there within {timeout:.0f} s: {data['reached']} chats reached"
            )
        await asyncio.sleep(0.5)


@dataclass(frozen=True, slots=True)
class BroadcastRun:
    """What one broadcast run produced (times on the fake API's clock)."""

    recipients: int
    reached: int
    duplicates: int
    times: list[float]
    throttled: list[float]
    statuses: dict[str, int]
    killed_at: float | None = None
    restarted_at: float | None = None

    def throttled_while_sending(self) -> int:
        """429 answers from just before the first recipient message to the end."""
        if not self.times:
            return 0
        return sum(1 for t in self.throttled if t >= self.times[0] - 0.5)


async def _seed(url: str, recipients: int) -> None:
    from storage.models import User

    db = open_database(url)
    try:
        await insert_rows(db, User.__table__, recipient_row, 0, recipients)  # type: ignore[attr-defined]
    finally:
        await db.dispose()


async def _start_broadcast(fake: FakeApi, pid: int) -> None:
    spec = LoadSpec(
        users=1,
        scripts=(admin_script(),),
        repeat=False,
        first_user_id=ADMIN_ID,
        step_timeout=30.0,
        rate_limits=(LIMIT, PER_CHAT),
    )
    admin = await fake.run(spec, pid)
    if admin.errors:
        raise BenchError(f"the admin could not start the broadcast: {admin.error_samples[0]}")


async def broadcast_run(ctx: RunContext, recipients: int, *, kill: bool) -> BroadcastRun:
    """Seed ``recipients`` users, broadcast to them, optionally kill -9 the bot half-way."""
    name = "kill-resume" if kill else "plain"
    url = await fresh_sqlite(ctx.results / f"broadcast-{name}.sqlite3")
    await _seed(url, recipients)
    bot = ours_app(f"ours: broadcast ({name})", url, ADMIN_IDS=str(ADMIN_ID))
    logs = ctx.logs
    logs.mkdir(parents=True, exist_ok=True)
    budget = recipients / LIMIT * 2 + 60
    killed_at = restarted_at = None
    async with FakeApi.running(logs / f"broadcast-{name}.fakeapi.log") as fake:
        await fake.post("/_bench/chats", {"first": FIRST_RECIPIENT, "count": recipients})
        first_log = logs / f"broadcast-{name}.bot.log"
        async with bot_process(bot, fake.url, first_log) as process:
            await fake.wait_ready(process, first_log)
            await _start_broadcast(fake, process.pid)
            if not kill:
                final = await _wait(fake, url, reached=None, timeout=budget)
            else:
                await _wait(fake, url, reached=recipients // 2, timeout=budget)
                process.kill()  # SIGKILL: claims are not handed back, outcomes not written
                await process.wait()
                killed_at = (await fake.get("/_bench/deliveries"))["now"]
                polls = (await fake.stats())["calls"].get("getupdates", 0)
        if kill:
            second_log = logs / f"broadcast-{name}.restarted.bot.log"
            async with bot_process(bot, fake.url, second_log) as again:
                await fake.wait_ready(again, second_log, after=polls)
                restarted_at = (await fake.get("/_bench/deliveries"))["now"]
                # The killed process's claims are closed after the sender's claim lease.
                final = await _wait(fake, url, reached=None, timeout=budget + 180)
    return BroadcastRun(
        recipients=recipients,
        reached=int(final["reached"]),
        duplicates=int(final["duplicates"]),
        times=[float(t) for t in final["times"]],
        throttled=[float(t) for t, _chat in final["throttled"]],
        statuses=(await _status(url))[1],
        killed_at=killed_at,
        restarted_at=restarted_at,
    )


def _facts(run: BroadcastRun, name: str) -> list[tuple[str, str]]:
    whole = segment(run.times, float("-inf"), float("inf"))
    facts = [
        (
            f"{name}: recipients reached",
            f"{run.reached:,} of {run.recipients:,} "
            f"(rows: {', '.join(f'{k} {v:,}' for k, v in sorted(run.statuses.items()))})",
        ),
        (f"{name}: duplicates", f"{run.duplicates}"),
        (f"{name}: 429 answers while sending", f"{run.throttled_while_sending()}"),
    ]
    if run.killed_at is None:
        facts.append(
            (f"{name}: achieved rate", f"{whole.rate:.2f}/s = {whole.rate / LIMIT:.3f} × limit")
        )
    else:
        before = segment(run.times, float("-inf"), run.killed_at)
        after = segment(run.times, run.restarted_at or run.killed_at, float("inf"))
        gap = next((t for t in run.times if t > run.killed_at), run.killed_at) - run.killed_at
        facts += [
            (f"{name}: before the kill", f"{before.sends:,} messages at {before.rate:.2f}/s"),
            (f"{name}: after the restart", f"{after.sends:,} messages at {after.rate:.2f}/s"),
            (f"{name}: pause from kill to the next message", f"{gap:.1f} s (includes restart)"),
        ]
    return facts


def _checks(run: BroadcastRun, name: str) -> list[Check]:
    if run.killed_at is None:
        rates = [("", segment(run.times, float("-inf"), float("inf")).rate)]
    else:
        rates = [
            (
                " before the kill",
                segment(run.times, float("-inf"), run.killed_at).rate,
            ),
            (
                " after the restart",
                segment(run.times, run.restarted_at or 0.0, float("inf")).rate,
            ),
        ]
    checks = [
        Check.ratio_at_least(f"{name}: achieved rate{where} / limit", rate, LIMIT, 0.97)
        for where, rate in rates
    ]
    checks.append(
        Check.count_is_zero(f"{name}: 429 answers received", run.throttled_while_sending())
    )
    checks.append(Check.count_is_zero(f"{name}: duplicates", run.duplicates))
    return checks


async def run(ctx: RunContext) -> Section:
    """Broadcast to all recipients, then again with a kill -9 half-way (full mode)."""
    missing = missing_feature("admin broadcast (issue 8)", "siaran", "broadcast")
    if missing is not None:
        return Section("broadcast", TITLE, unavailable=missing)
    recipients = QUICK_RECIPIENTS if ctx.quick else RECIPIENTS
    facts: list[tuple[str, str]] = []
    checks: list[Check] = []
    notes = [
        f"{recipients:,} recipients; limits {LIMIT}/s overall and {PER_CHAT}/s per chat enforced "
        "by the fake Bot API (429 + retry_after); the real bot on SQLite, BROADCAST_RATE=30."
    ]
    print(f"  … broadcast to {recipients:,}", flush=True)
    plain = await broadcast_run(ctx, recipients, kill=False)
    facts += _facts(plain, "plain")
    checks += _checks(plain, "plain")
    if ctx.quick:
        notes.append(
            "Quick mode: 5 s of sending make the rate indicative only (one pause of 0.2 s costs "
            "4 %), and the kill -9 run is skipped (it waits out the 60 s claim lease)."
        )
    else:
        print(f"  … broadcast to {recipients:,}, kill -9 half-way", flush=True)
        killed = await broadcast_run(ctx, recipients, kill=True)
        facts += _facts(killed, "kill -9 + restart")
        checks += _checks(killed, "kill -9 + restart")
    return Section(
        "broadcast",
        TITLE.replace("10,000", f"{recipients:,}"),
        checks=tuple(checks),
        facts=tuple(facts),
        notes=tuple(notes),
    )


SCENARIO = Scenario("broadcast", TITLE, run)
