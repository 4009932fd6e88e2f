"""Registration: 100 users each completing the whole ``/daftar`` conversation at once.

The script is the happy path of ``tests/test_registration.py`` (a regency-paid Pekerja Rentan
candidate): consent, NIK, name, birth date, sex, shared contact, kecamatan, desa, occupation,
income, three screening questions, payer, summary, send — 16 updates per user, each with database
writes, validation, encryption and catalogs. Every user gets a distinct valid NIK and phone number.
A step waits for the next question's button (callback data, stable across wording changes) or,
where the question has no inline button, for a phrase of its text.

Five warm-up users register first; then the window spans the 100 measured users from the first
update to the last reply, and the submissions in the database are counted afterwards.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from bench.database import fresh_postgres, fresh_sqlite, open_database, postgres_missing
from bench.harness import BotKind, Measurement, ours_app
from bench.load import Action, LoadSpec, Step
from bench.report import Check, Section
from bench.scenarios.base import RunContext, Scenario, missing_feature

TITLE = "Registration (100 users, whole /daftar conversation at once)"
USERS = 100
QUICK_USERS = 30
WARMUP_USERS = 5
#: A woman born 17-08-1985 (day 17 + 40), NIK issued in Kec. Juai; the last 4 digits vary.
NIK_PREFIX = "631101570885"


def nik(index: int) -> str:
    """The distinct NIK of user ``index`` (serial 0001, 0002...)."""
    return f"{NIK_PREFIX}{index + 1:04d}"


def script(index: int) -> tuple[Step, ...]:
    """The steps of user ``index``."""
    phone = f"6281234{index + 1:06d}"
    return (
        Step.text("/daftar", "reg:consent:yes"),
        Step.press("reg:consent:yes", "Langkah 1 dari"),
        Step.text(nik(index), "nama lengkap"),
        Step.text("siti AMINAH", "tanggal lahir"),
        Step.text("17 agt 1985", "Ya, benar"),
        Step.press("Ya, benar", "Nomor HP"),
        Step(Action.CONTACT, phone, "Juai"),
        Step.press("Juai", "Galumbang"),
        Step.press("Galumbang", "reg:occ:karet"),
        Step.press("reg:occ:karet", "reg:inc:under_1m"),
        Step.press("reg:inc:under_1m", "reg:scr:self_employed:y"),
        Step.press("reg:scr:self_employed:y", "reg:scr:civil_servant:n"),
        Step.press("reg:scr:civil_servant:n", "reg:scr:covered_elsewhere:n"),
        Step.press("reg:scr:covered_elsewhere:n", "reg:pay:apbd"),
        Step.press("reg:pay:apbd", "reg:sum:send"),
        Step.press("reg:sum:send", "Terkirim!"),
    )


def _validate_niks(count: int) -> None:
    # Fail early and clearly if the NIK rules change under the script.
    from bot.domain.nik import Nik, parse_nik

    for index in range(count):
        if not isinstance(parse_nik(nik(index), today=date(2026, 11, 21)), Nik):
            raise ValueError(f"benchmark NIK {nik(index)} is not valid any more")


def load(ctx: RunContext) -> LoadSpec:
    """100 measured users (30 in quick mode) after 5 warm-up users."""
    users = QUICK_USERS if ctx.quick else USERS
    total = users + WARMUP_USERS
    _validate_niks(total)
    return LoadSpec(
        users=users,
        scripts=tuple(script(i) for i in range(total)),
        repeat=False,
        warmup_users=WARMUP_USERS,
        step_timeout=60.0,
    )


async def submitted_count(url: str) -> int:
    """Submitted registrations in the database at ``url``."""
    from storage.models import Submission

    db = open_database(url)
    try:
        async with db.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(Submission)
                .where(Submission.status == "submitted")  # type: ignore[arg-type]
            )
    finally:
        await db.dispose()
    return int(count or 0)


async def _measure(ctx: RunContext, label: str, url: str) -> tuple[Measurement, str]:
    spec = load(ctx)
    m = await ctx.measure(ours_app(label, url), spec)
    stored = await submitted_count(url)
    expected = spec.users + spec.warmup_users
    return m, f"{stored} of {expected} submissions stored"


async def run(ctx: RunContext) -> Section:
    """Measure the registration on SQLite and PostgreSQL against baseline A's echo."""
    missing = missing_feature("registration (issue 3)", "daftar")
    if missing is not None:
        return Section("registration", TITLE, unavailable=missing)
    baselines = await ctx.baselines()
    facts = []
    sqlite, stored = await _measure(
        ctx, "ours: registration (SQLite)", await fresh_sqlite(ctx.results / "reg.sqlite3")
    )
    facts.append(("SQLite", stored))
    pg_label = "ours: registration (PostgreSQL)"
    pg_missing = await postgres_missing()
    if pg_missing is None:
        pg, stored = await _measure(ctx, pg_label, await fresh_postgres())
        facts.append(("PostgreSQL", stored))
    else:
        pg = Measurement(pg_label, BotKind.OURS, note=f"skipped: {pg_missing}")
    a = next(m for m in baselines if m.label.startswith("baseline A"))
    base = a.result.updates_per_second if a.result else None
    checks = tuple(
        Check.ratio_at_least(
            f"{m.label} / baseline A echo, updates/s",
            m.result.updates_per_second if m.result else None,
            base,
            1.0,
        )
        for m in (sqlite, pg)
    )
    return Section(
        name="registration",
        title=TITLE.replace("100 users", f"{QUICK_USERS if ctx.quick else USERS} users"),
        baselines=baselines,
        measurements=(sqlite, pg),
        checks=checks,
        facts=tuple(facts),
        notes=(
            f"{QUICK_USERS if ctx.quick else USERS} users at once, 16 updates each "
            f"(after {WARMUP_USERS} warm-up users); "
            "updates/s = all their updates / time from the first to the last reply. "
            "Baselines: the echo load of this run.",
        ),
    )


SCENARIO = Scenario("registration", TITLE, run)
