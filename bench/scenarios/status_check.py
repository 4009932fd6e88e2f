"""Status check: ``/cek`` by NIK + birth date with 1,000 and with 1,000,000 rows in the database.

Each of 5 closed-loop users repeats the lookup of someone else: ``/cek`` → NIK → birth date (the
lookup: roster row by NIK, submission by NIK, failed-lookup count, latest import) → "No, someone
else". The database holds N roster entries **and** N submitted registrations (bulk-inserted, see
:mod:`bench.seed`); the users look up roster rows spread over the whole table. The same database
is measured at 1,000 rows, then grown to 1,000,000 (20,000 in quick mode) and measured again: the
lookup step's latency must not grow with the data (the issue's target: at most 1.5×).

5 users rather than 100 keep the bot far from saturation, so latency shows the cost of the queries
rather than the queue in front of them.
"""

from __future__ import annotations

from bench.database import (
    data_key,
    fresh_postgres,
    fresh_sqlite,
    open_database,
    postgres_missing,
)
from bench.harness import Measurement, ours_app
from bench.load import LoadSpec, Step
from bench.report import Check, Section
from bench.scenarios.base import RunContext, Scenario, missing_feature
from bench.seed import (
    ROSTER_REGION,
    analyze,
    birth_date,
    insert_rows,
    nik,
    roster_row,
    submission_row,
)

TITLE = "Status check (/cek) with 1,000 and 1,000,000 rows"
USERS = 5
SMALL = 1_000
LARGE = 1_000_000
QUICK_LARGE = 20_000
#: Position of the lookup (the birth-date answer) in the script.
LOOKUP_STEP = 2


def script(index: int, rows: int) -> tuple[Step, ...]:
    """User ``index`` looks up a roster row spread over the first ``rows`` rows."""
    target = (index * 7_919 + 12_345) % rows
    born = birth_date(target)
    return (
        Step.text("/cek", "cek:stop"),
        Step.text(nik(ROSTER_REGION, target), "cek:stop"),
        Step.text(f"{born.day:02d}-{born.month:02d}-{born.year}", "cek:notme"),
        Step.press("cek:notme", "cek:other"),
    )


def load(ctx: RunContext, rows: int) -> LoadSpec:
    """5 users looking up rows among the first ``rows`` (the small set, so both runs compare)."""
    return LoadSpec(
        users=USERS,
        scripts=tuple(script(i, rows) for i in range(USERS)),
        warmup_seconds=1.0 if ctx.quick else 2.0,
        seconds=4.0 if ctx.quick else 10.0,
    )


async def _grow(url: str, start: int, stop: int) -> float:
    from storage.crypto import KeyRing
    from storage.models import RosterEntry, Submission

    db = open_database(url, keyring=KeyRing.from_text(data_key()))
    try:
        seconds = await insert_rows(db, RosterEntry.__table__, roster_row, start, stop)  # type: ignore[attr-defined]
        seconds += await insert_rows(db, Submission.__table__, submission_row, start, stop)  # type: ignore[attr-defined]
        await analyze(db)
    finally:
        await db.dispose()
    return seconds


async def _backend(
    ctx: RunContext, name: str, url: str, large: int
) -> tuple[list[Measurement], list[tuple[str, str]], Check]:
    measurements = []
    facts = []
    lookups = []
    rows = 0
    for size in (SMALL, large):
        seconds = await _grow(url, rows, size)
        rows = size
        facts.append((f"{name}: seeding to {size:,} + {size:,} rows", f"{seconds:.1f} s"))
        spec = load(ctx, SMALL)
        [m] = await ctx.measure_all([ours_app(f"ours: /cek, {size:,} rows ({name})", url)], spec)
        measurements.append(m)
        if m.result is not None and len(m.result.step_p50_ms) > LOOKUP_STEP:
            p50 = m.result.step_p50_ms[LOOKUP_STEP]
            p99 = m.result.step_p99_ms[LOOKUP_STEP]
            lookups.append(p50)
            facts.append(
                (f"{name}: lookup step at {size:,} rows", f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")
            )
        else:
            lookups.append(0.0)
    check = Check.ratio_at_most(
        f"{name}: lookup p50 at {large:,} rows / at {SMALL:,} rows",
        lookups[1] or None,
        lookups[0] or None,
        1.5,
    )
    return measurements, facts, check


async def run(ctx: RunContext) -> Section:
    """Measure /cek on SQLite and PostgreSQL at both sizes."""
    missing = missing_feature("coverage check (issue 5)", "cek")
    if missing is not None:
        return Section("status_check", TITLE, unavailable=missing)
    baselines = await ctx.baselines()
    large = QUICK_LARGE if ctx.quick else LARGE
    measurements: list[Measurement] = []
    facts: list[tuple[str, str]] = []
    checks: list[Check] = []
    found = await _backend(ctx, "SQLite", await fresh_sqlite(ctx.results / "cek.sqlite3"), large)
    measurements += found[0]
    facts += found[1]
    checks.append(found[2])
    pg_missing = await postgres_missing()
    if pg_missing is None:
        found = await _backend(ctx, "PostgreSQL", await fresh_postgres(), large)
        measurements += found[0]
        facts += found[1]
        checks.append(found[2])
    else:
        facts.append(("PostgreSQL", f"skipped: {pg_missing}"))
    return Section(
        name="status_check",
        title=TITLE.replace("1,000,000", f"{large:,}"),
        baselines=baselines,
        measurements=tuple(measurements),
        checks=tuple(checks),
        facts=tuple(facts),
        notes=(
            f'{USERS} closed-loop users repeating /cek → NIK → birth date → "someone else" '
            f"(4 updates, the third is the lookup); N roster rows and N submissions. "
            f"updates/s and p50/p99 cover all four steps.",
        ),
    )


SCENARIO = Scenario("status_check", TITLE, run)
