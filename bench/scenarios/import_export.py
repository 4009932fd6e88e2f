"""Import and export: a 50,000-row roster import and a 100,000-row export, time and peak RSS.

Both go through the admin's chat with the real bot (``python -m bot``, SQLite), as an admin would
do it: the roster is sent as a CSV document (the bot downloads it, imports it in batches and edits
a progress message), then ``/ekspor`` → "Make the file" exports the 100,000 submissions already in
the database as XLSX (the default). The time of each is the admin's wait: from sending the file
(or pressing the button) to the report (or the file) arriving. Peak RSS is the bot process's
``VmHWM`` after each; it includes the bot's own start-up footprint, shown separately.
"""

from __future__ import annotations

import io

from sqlalchemy import text

from bench.database import data_key, fresh_sqlite, open_database
from bench.harness import BenchError, FakeApi, bot_process, ours_app
from bench.load import Action, LoadSpec, Step
from bench.procstat import peak_rss_mb, rss_mb
from bench.report import Check, Section
from bench.scenarios.base import RunContext, Scenario, missing_feature
from bench.seed import birth_date, insert_rows, nik, submission_row

TITLE = "Import 50,000 roster rows and export 100,000 rows"
IMPORT_ROWS = 50_000
EXPORT_ROWS = 100_000
QUICK_IMPORT_ROWS = 5_000
QUICK_EXPORT_ROWS = 10_000
RSS_LIMIT_MB = 200.0
ADMIN_ID = 900_001
#: Kec. Lampihong's code: these NIKs do not collide with the status check's or the submissions'.
IMPORT_REGION = "631103"
HEADER = "nik,nama,kpj,program,pembayar,mulai,dibayar_sampai,tanggal_lahir"


def roster_csv(rows: int) -> str:
    """A roster file as the regency would send it (ASCII)."""
    out = io.StringIO()
    out.write(HEADER + "\n")
    for i in range(rows):
        born = birth_date(i)
        out.write(
            f"{nik(IMPORT_REGION, i)},Peserta Impor {i},{91_000_000_000 + i},JKK+JKM,APBD,"
            f"2024-07-01,2026-12-31,{born.isoformat()}\n"
        )
    return out.getvalue()


async def _roster_rows(url: str) -> int:
    db = open_database(url)
    try:
        async with db.engine.connect() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM roster_entries"))
    finally:
        await db.dispose()
    return int(count or 0)


def _import_script(rows: int) -> tuple[Step, ...]:
    return (Step(Action.DOCUMENT, "roster.csv", "Baris dibaca", data=roster_csv(rows)),)


def _export_script() -> tuple[Step, ...]:
    return (Step.text("/ekspor", "exp:go"), Step.press("exp:go", ".xlsx"))


async def run(ctx: RunContext) -> Section:
    """Import, then export, through the admin's chat; time and peak RSS of each."""
    missing = missing_feature("admin export (issue 8)", "ekspor", "export")
    if missing is not None:
        return Section("import_export", TITLE, unavailable=missing)
    imported = QUICK_IMPORT_ROWS if ctx.quick else IMPORT_ROWS
    exported = QUICK_EXPORT_ROWS if ctx.quick else EXPORT_ROWS
    title = f"Import {imported:,} roster rows and export {exported:,} rows"
    print(f"  … seeding {exported:,} submissions", flush=True)
    url = await fresh_sqlite(ctx.results / "import-export.sqlite3")
    from storage.crypto import KeyRing
    from storage.models import Submission

    db = open_database(url, keyring=KeyRing.from_text(data_key()))
    try:
        await insert_rows(db, Submission.__table__, submission_row, 0, exported)  # type: ignore[attr-defined]
    finally:
        await db.dispose()
    bot = ours_app("ours: import/export", url, ADMIN_IDS=str(ADMIN_ID))
    logs = ctx.logs
    logs.mkdir(parents=True, exist_ok=True)
    figures: dict[str, float] = {}
    async with (
        FakeApi.running(logs / "import-export.fakeapi.log") as fake,
        bot_process(bot, fake.url, logs / "import-export.bot.log") as process,
    ):
        await fake.wait_ready(process, logs / "import-export.bot.log")
        figures["start_rss"] = rss_mb(process.pid)
        for name, script in (("import", _import_script(imported)), ("export", _export_script())):
            print(f"  … {name}", flush=True)
            spec = LoadSpec(
                users=1,
                scripts=(script,),
                repeat=False,
                first_user_id=ADMIN_ID,
                step_timeout=600.0,
            )
            result = await fake.run(spec, process.pid)
            if result.errors or not result.step_p50_ms:
                raise BenchError(f"{name} failed: {result.error_samples[:1]}")
            figures[f"{name}_seconds"] = result.step_p50_ms[-1] / 1000
            figures[f"{name}_cpu"] = result.bot_cpu_seconds
            figures[f"{name}_peak"] = peak_rss_mb(process.pid)
    stored = await _roster_rows(url)
    facts = [
        ("bot RSS after start-up", f"{figures['start_rss']:.0f} MB"),
        ("roster rows stored by the import", f"{stored:,} of {imported:,}"),
        (
            f"import of {imported:,} rows (CSV, {len(_import_script(imported)[0].data) / 1e6:.1f} MB)",
            f"{figures['import_seconds']:.1f} s, bot CPU {figures['import_cpu']:.1f} s, "
            f"peak RSS {figures['import_peak']:.0f} MB",
        ),
        (
            f"export of {exported:,} submissions (XLSX)",
            f"{figures['export_seconds']:.1f} s, bot CPU {figures['export_cpu']:.1f} s, "
            f"peak RSS {figures['export_peak']:.0f} MB",
        ),
    ]
    checks = (
        Check.ratio_at_most(
            "import: peak RSS / 200 MB", figures["import_peak"], RSS_LIMIT_MB, 1.0
        ),
        Check.ratio_at_most(
            "export: peak RSS / 200 MB", figures["export_peak"], RSS_LIMIT_MB, 1.0
        ),
    )
    return Section(
        "import_export",
        title,
        checks=checks,
        facts=tuple(facts),
        notes=(
            "Through the admin's chat with the real bot on SQLite; times are the admin's wait "
            "from sending the file (or pressing the button) to the report (or the file).",
        ),
    )


SCENARIO = Scenario("import_export", TITLE, run)
