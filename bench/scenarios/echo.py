"""Echo: the baselines, our echo stack on both transports, and the real bot answering free text.

"ours-echo" is the python-telegram-bot ``Application`` exactly as ``build_application`` configures it
(our aiohttp transport, per-chat ordering) with a trivial echo handler; with ``BOT_TRANSPORT=httpx``
it shows what the transport alone is worth. "ours-app" is the real bot (``python -m bot``) answering
free text with its "not understood" message and menu: the floor cost of one update through the
database transaction, routing, catalogs and delivery.
"""

from __future__ import annotations

from bench.database import fresh_postgres, fresh_sqlite, postgres_missing
from bench.harness import BotKind, Measurement, ours_app, ours_echo
from bench.report import Check, Section
from bench.scenarios.base import ECHO_USERS, RunContext, Scenario


async def run(ctx: RunContext) -> Section:
    """Measure the echo bots and the real bot's free-text reply."""
    baselines = await ctx.baselines()
    aio, httpx = await ctx.measure_all([ours_echo("aiohttp"), ours_echo("httpx")], ctx.echo_load())
    app = [await _app_sqlite(ctx), await _app_postgres(ctx)]
    b = next(m for m in baselines if m.label.startswith("baseline B"))
    checks = [
        Check.ratio_at_least(
            "ours-echo (aiohttp) / baseline B, updates/s",
            aio.result.updates_per_second if aio.result else None,
            b.result.updates_per_second if b.result else None,
            1.0,
        )
    ]
    facts = []
    if aio.ok and httpx.ok and aio.result and httpx.result:
        facts.append(
            (
                "transport: aiohttp vs httpx on the same stack",
                f"{aio.result.updates_per_second / httpx.result.updates_per_second:.2f}× "
                f"updates/s, {aio.result.cpu_ms_per_update / httpx.result.cpu_ms_per_update:.2f}× "
                "CPU per update",
            )
        )
    return Section(
        name="echo",
        title="Echo (steady state)",
        baselines=baselines,
        measurements=(aio, httpx, *app),
        checks=tuple(checks),
        facts=tuple(facts),
        notes=(
            f"{ECHO_USERS} closed-loop users, each sending its next text after the reply; "
            f"median of {ctx.repeats} run(s) of {ctx.echo_load().seconds:.0f} s after "
            f"{ctx.echo_load().warmup_seconds:.0f} s warm-up. ours-app answers free text with "
            'the "not understood" message and the menu (one database transaction per update).',
        ),
    )


async def _app_sqlite(ctx: RunContext) -> Measurement:
    url = await fresh_sqlite(ctx.results / "echo.sqlite3")
    [m] = await ctx.measure_all([ours_app("ours-app: free text (SQLite)", url)], ctx.echo_load())
    return m


async def _app_postgres(ctx: RunContext) -> Measurement:
    label = "ours-app: free text (PostgreSQL)"
    missing = await postgres_missing()
    if missing is not None:
        return Measurement(label, BotKind.OURS, note=f"skipped: {missing}")
    url = await fresh_postgres()
    [m] = await ctx.measure_all([ours_app(label, url)], ctx.echo_load())
    return m


SCENARIO = Scenario("echo", "Echo (steady state)", run)
