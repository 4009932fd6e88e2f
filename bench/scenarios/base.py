"""What every scenario gets (:class:`RunContext`) and provides (:class:`Scenario`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    BASELINE_A,
    BASELINE_B,
    BotKind,
    BotSpec,
    Measurement,
    aiogram_missing,
    measure,
)
from bench.load import LoadSpec, Step
from bench.report import Section

ECHO_USERS = 100


@dataclass(frozen=True, slots=True)
class Scenario:
    """One benchmark: a name for ``--only``, a title, and the coroutine that measures it."""

    name: str
    title: str
    run: Callable[[RunContext], Awaitable[Section]]


@dataclass(slots=True)
class RunContext:
    """Options of this run, where files go, and the baselines measured once per run.

    Attributes:
        quick: shorter windows, fewer repetitions and smaller data (for iteration).
        results: folder for logs, databases and the report (``bench/results``).
        profile: run our bots under cProfile (statistics next to the logs).
    """

    quick: bool
    results: Path
    profile: bool = False
    _baselines: tuple[Measurement, ...] | None = field(default=None, repr=False)

    @property
    def logs(self) -> Path:
        """Where each process's output goes."""
        return self.results / "logs"

    @property
    def repeats(self) -> int:
        """How often each steady-state load is measured (the median run is reported)."""
        return 1 if self.quick else 3

    def echo_load(self, text: str = "hello there", expect: str | None = None) -> LoadSpec:
        """The steady-state load every echo-like bot gets: 100 users, one message each in turn."""
        return LoadSpec(
            users=ECHO_USERS,
            scripts=((Step.text(text, expect),),),
            warmup_seconds=1.0 if self.quick else 2.0,
            seconds=3.0 if self.quick else 10.0,
        )

    async def baselines(self) -> tuple[Measurement, ...]:
        """Baselines A and B under the echo load, measured on the first call of this run."""
        if self._baselines is None:
            bots = [BASELINE_A, BASELINE_B]
            missing = aiogram_missing()
            self._baselines = tuple(
                await self.measure_all(
                    bots, self.echo_load(), skip={BASELINE_B.label: missing} if missing else None
                )
            )
        return self._baselines

    async def measure(self, bot: BotSpec, spec: LoadSpec) -> Measurement:
        """One measurement (see :func:`bench.harness.measure`); logs progress."""
        print(f"  … {bot.label}", flush=True)
        result = await measure(
            bot, spec, self.logs, profile=self.profile and bot.kind is BotKind.OURS
        )
        _progress(result)
        return result

    async def measure_all(
        self,
        bots: Sequence[BotSpec],
        spec: LoadSpec,
        *,
        skip: dict[str, str] | None = None,
    ) -> list[Measurement]:
        """Measure each bot ``repeats`` times, interleaved; keep each bot's median run.

        Interleaving (A, B, A, B...) spreads any background load on the machine evenly.
        """
        skip = skip or {}
        runs: dict[str, list[Measurement]] = {b.label: [] for b in bots}
        for _ in range(self.repeats):
            for bot in bots:
                if bot.label in skip:
                    continue
                runs[bot.label].append(await self.measure(bot, spec))
        chosen = []
        for bot in bots:
            if bot.label in skip:
                chosen.append(Measurement(bot.label, bot.kind, note=f"skipped: {skip[bot.label]}"))
            else:
                chosen.append(median_run(runs[bot.label]))
        return chosen


def median_run(runs: Sequence[Measurement]) -> Measurement:
    """The run with the median updates/s (failed runs sort first); notes the spread."""

    def speed(m: Measurement) -> float:
        return m.result.updates_per_second if m.result is not None else -1.0

    ordered = sorted(runs, key=speed)
    chosen = ordered[len(ordered) // 2]
    speeds = [speed(m) for m in ordered if m.ok]
    if len(speeds) < 2 or chosen.result is None:
        return chosen
    spread = f"median of {len(runs)} runs: {' / '.join(f'{s:,.0f}' for s in speeds)} updates/s"
    note = f"{chosen.note}; {spread}" if chosen.note else spread
    return Measurement(chosen.label, chosen.kind, chosen.result, chosen.peak_rss_mb, note)


def _progress(m: Measurement) -> None:
    r = m.result
    if r is None:
        print(f"    {m.note}", flush=True)
        return
    errors = f", {r.errors} errors: {r.error_samples[0]}" if r.errors else ""
    print(
        f"    {r.updates_per_second:,.0f} updates/s, p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, "
        f"{r.cpu_ms_per_update:.2f} CPU ms/update, {m.peak_rss_mb:.0f} MB{errors}",
        flush=True,
    )


def commands() -> frozenset[str] | str:
    """The bot's command names, or why the handlers could not be loaded (a broken tree)."""
    try:
        import handlers
        from bot.router import Routes

        return frozenset(Routes.merge(handlers.routers()).commands)
    except Exception as exc:
        return f"the handlers failed to load ({type(exc).__name__}: {exc})"


def missing_feature(feature: str, *command_names: str) -> str | None:
    """ "not available yet: ..." when none of ``command_names`` is a command of the bot yet."""
    known = commands()
    if isinstance(known, str):
        return f"not available: {known}"
    if not known.intersection(command_names):
        names = " or ".join(f"/{c}" for c in command_names)
        return f"not available yet: feature {feature} missing (no {names} command)"
    return None
