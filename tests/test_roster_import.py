"""Roster import: good file, bad rows, duplicates, re-import, CSV and XLSX, one transaction per
batch, the import record, the admin's chat upload with progress, the command line, and a
50,000-row file in bounded memory."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import col, func, select

import handlers.coverage
from bot.cli import main as cli_main
from bot.domain.roster import HeaderProblemCode, RosterFormatErrorCode, RowErrorCode
from bot.roster_import import (
    ImportProgress,
    ImportResult,
    TextProgressBar,
    estimate_rows,
    import_roster,
    plain_text,
)
from storage.db import Database
from storage.models.core import AuditEntry
from storage.models.coverage import ImportStatus, ImportVia, RosterEntry, RosterImport
from storage.repos.coverage import CoverageRepository
from tests.support import ADMIN_ID, TEST_DATA_KEY, BotHarness

HEADER = "nik,nama,kpj,program,pembayar,mulai,dibayar_sampai,tanggal_lahir"
GOOD = [
    "6311011205850001,Ahmad Fauzi,90000000001,JKK+JKM,APBD,2024-07-01,2026-12-31,1985-05-12",
    "6311025708900002,Siti Rahmah,90000000002,JKK+JKM,mandiri,2024-07-01,2026-09-30,1990-08-17",
    "6311030302780003,Muhammad Arsyad,90000000003,JKK+JKM,mandiri,2024-09-01,2026-05-31,",
]
SAMPLE = Path(str(resources.files("bot") / "data" / "sample_roster.csv"))


def _csv(tmp_path: Path, lines: list[str], name: str = "roster.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


async def _import(
    db: Database,
    path: Path,
    *,
    batch_size: int = 1000,
    progress: Callable[[ImportProgress], Awaitable[None]] | None = None,
) -> ImportResult:
    return await import_roster(
        db, path, actor_id=None, via=ImportVia.CLI, batch_size=batch_size, progress=progress
    )


async def _entries(db: Database) -> dict[str, RosterEntry]:
    async with db.transaction() as repo:
        rows = (await repo.session.exec(select(RosterEntry))).all()
    return {row.nik: row for row in rows}


# --- the import service -----------------------------------------------------------------------------


async def test_sample_file_imports_cleanly(db: Database) -> None:
    result = await _import(db, SAMPLE)
    assert result.status is ImportStatus.DONE
    assert result.counts.rows_read == 12
    assert result.counts.inserted == 12
    assert result.counts.bad == 0
    entries = await _entries(db)
    ahmad = entries["6311011205850001"]
    assert ahmad.name == "Ahmad Fauzi"
    assert ahmad.kpj == "90000000001"
    assert ahmad.programmes == "jkk,jkm"
    assert ahmad.payer == "apbd"
    assert ahmad.coverage_start == date(2024, 7, 1)
    assert ahmad.paid_until == date(2025, 12, 31)
    assert ahmad.birth_date == date(1985, 5, 12)
    assert ahmad.import_id == result.import_id
    assert entries["6311046111950004"].programmes == "jht,jkk,jkm"
    assert entries["6311085012990008"].paid_until is None
    assert entries["6311085012990008"].kpj is None
    async with db.transaction() as repo:
        record = await repo.coverage.get_import(result.import_id)
        audit = (await repo.session.exec(select(AuditEntry))).all()
    assert record is not None
    assert record.status == "done"
    assert record.via == "cli"
    assert record.actor_id is None
    assert record.file_name == "sample_roster.csv"
    assert (record.rows_read, record.inserted, record.updated, record.unchanged, record.bad) == (
        12,
        12,
        0,
        0,
        0,
    )
    assert record.finished_at is not None
    assert [a.action for a in audit] == ["roster_import"]
    assert audit[0].details["inserted"] == 12


async def test_bad_rows_are_reported_with_line_numbers(db: Database, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        [
            GOOD[0],
            "631101120585000,Pendek,,JKK+JKM,APBD,2024-07-01,2026-12-31,",  # line 3: 15 digits
            GOOD[1].replace("mandiri", "BPJS"),  # line 4: unknown payer
            "",  # blank lines are skipped but counted in line numbers
            GOOD[2].replace("2024-09-01", "2024-13-01"),  # line 6: bad date
        ],
    )
    result = await _import(db, path)
    assert result.status is ImportStatus.DONE
    assert result.counts.rows_read == 4
    assert result.counts.inserted == 1
    assert result.counts.bad == 3
    assert [(b.line_no, b.error.code) for b in result.bad_rows] == [
        (3, RowErrorCode.BAD_NIK),
        (4, RowErrorCode.UNKNOWN_PAYER),
        (6, RowErrorCode.BAD_DATE),
    ]
    assert set(await _entries(db)) == {"6311011205850001"}


async def test_duplicate_nik_keeps_the_first_row(db: Database, tmp_path: Path) -> None:
    changed = GOOD[0].replace("Ahmad Fauzi", "Ahmad Lain")
    # Duplicates inside one batch and across batches (batch_size=2).
    path = _csv(tmp_path, [GOOD[0], changed, GOOD[1], GOOD[2], GOOD[1]])
    result = await _import(db, path, batch_size=2)
    assert result.counts.rows_read == 5
    assert result.counts.inserted == 3
    assert result.counts.bad == 2
    assert [(b.line_no, b.error.code) for b in result.bad_rows] == [
        (3, RowErrorCode.DUPLICATE_NIK),
        (6, RowErrorCode.DUPLICATE_NIK),
    ]
    assert (await _entries(db))["6311011205850001"].name == "Ahmad Fauzi"


async def test_reimport_changes_nothing_then_updates_only_changed_rows(
    db: Database, tmp_path: Path
) -> None:
    path = _csv(tmp_path, GOOD)
    first = await _import(db, path)
    before = await _entries(db)
    again = await _import(db, path)
    assert again.status is ImportStatus.DONE
    assert (again.counts.inserted, again.counts.updated, again.counts.unchanged) == (0, 0, 3)
    after = await _entries(db)
    assert {n: (e.updated_at, e.import_id) for n, e in after.items()} == {
        n: (e.updated_at, first.import_id) for n, e in before.items()
    }
    paid = _csv(tmp_path, [GOOD[0], GOOD[1].replace("2026-09-30", "2026-12-31"), GOOD[2]])
    third = await _import(db, paid)
    assert (third.counts.inserted, third.counts.updated, third.counts.unchanged) == (0, 1, 2)
    final = await _entries(db)
    assert final["6311025708900002"].paid_until == date(2026, 12, 31)
    assert final["6311025708900002"].import_id == third.import_id
    assert final["6311011205850001"].import_id == first.import_id


async def test_reimport_keeps_the_telegram_link(db: Database, tmp_path: Path) -> None:
    await _import(db, _csv(tmp_path, GOOD))
    async with db.transaction() as repo:
        assert await repo.coverage.link_entry(
            nik="6311025708900002", user_id=555, now=datetime.now().astimezone()
        )
    await _import(db, _csv(tmp_path, [GOOD[1].replace("2026-09-30", "2026-10-31")]))
    entry = (await _entries(db))["6311025708900002"]
    assert entry.telegram_user_id == 555
    assert entry.paid_until == date(2026, 10, 31)


def _xlsx(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    # Other column order and header spellings, real date cells and a numeric KPJ.
    sheet.append(["Nama Peserta", "NIK", "Program", "Sumber Iuran", "TMT", "Iuran Sampai", "KPJ"])
    sheet.append(
        [
            "Ahmad Fauzi",
            "6311011205850001",
            "JKK+JKM",
            "APBD",
            date(2024, 7, 1),
            date(2026, 12, 31),
            90000000001,
        ]
    )
    sheet.append(
        [
            "Siti Rahmah",
            "6311025708900002",
            "JKK, JKM",
            "Mandiri",
            date(2024, 7, 1),
            date(2026, 9, 30),
            90000000002,
        ]
    )
    sheet.append(["Rusak", "123", "JKK", "APBD", date(2024, 7, 1), None, None])
    book.save(path)
    return path


async def test_xlsx_and_csv_give_the_same_roster(
    db_url: str, tmp_path: Path, db: Database
) -> None:
    result = await _import(db, _xlsx(tmp_path / "roster.xlsx"))
    assert result.status is ImportStatus.DONE
    assert result.counts.inserted == 2
    assert [(b.line_no, b.error.code) for b in result.bad_rows] == [(4, RowErrorCode.BAD_NIK)]
    from_xlsx = await _entries(db)
    csv_lines = [
        "6311011205850001,Ahmad Fauzi,90000000001,JKK+JKM,APBD,01-07-2024,31/12/2026,",
        "6311025708900002,Siti Rahmah,90000000002,JKK+JKM,mandiri,2024-07-01,2026-09-30,",
    ]
    again = await _import(db, _csv(tmp_path, csv_lines))
    # The CSV says the same thing: every row unchanged.
    assert (again.counts.unchanged, again.counts.updated) == (2, 0)
    assert set(from_xlsx) == {"6311011205850001", "6311025708900002"}
    assert estimate_rows(tmp_path / "roster.xlsx") == 3


async def test_files_that_cannot_be_imported(db: Database, tmp_path: Path) -> None:
    missing = _csv(tmp_path, [GOOD[0]], header="nik,nama,program")
    result = await _import(db, missing)
    assert result.status is ImportStatus.FAILED
    assert {p.code for p in result.header_problems} == {HeaderProblemCode.MISSING_COLUMN}
    pdf = tmp_path / "roster.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    assert (await _import(db, pdf)).format_error == RosterFormatErrorCode.UNSUPPORTED_TYPE
    broken = tmp_path / "roster.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    assert (await _import(db, broken)).format_error == RosterFormatErrorCode.UNREADABLE_XLSX
    async with db.transaction() as repo:
        records = (await repo.session.exec(select(RosterImport))).all()
        assert await repo.coverage.latest_import() is None
    assert [r.status for r in records] == ["failed"] * 3
    assert [r.error for r in records] == ["missing_column", "unsupported_type", "unreadable_xlsx"]
    assert await _entries(db) == {}


async def test_a_failing_batch_is_rolled_back_whole(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = CoverageRepository.upsert_entries
    calls = 0

    async def flaky(self: CoverageRepository, rows: list[dict[str, object]]) -> None:
        nonlocal calls
        calls += 1
        await real(self, rows)
        if calls == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(CoverageRepository, "upsert_entries", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        await _import(db, _csv(tmp_path, GOOD), batch_size=2)
    # Batch 1 (two rows) is in; batch 2 was written, then rolled back with its transaction.
    assert set(await _entries(db)) == {"6311011205850001", "6311025708900002"}
    async with db.transaction() as repo:
        record = (await repo.session.exec(select(RosterImport))).one()
    assert record.status == "failed"
    assert record.error == "crashed"
    assert record.inserted == 2


async def test_progress_is_reported_after_every_batch(db: Database, tmp_path: Path) -> None:
    seen: list[ImportProgress] = []

    async def progress(p: ImportProgress) -> None:
        seen.append(p)

    await _import(db, _csv(tmp_path, GOOD), batch_size=1, progress=progress)
    assert [p.counts.rows_read for p in seen] == [1, 2, 3]
    assert {p.total_estimate for p in seen} == {3}
    bar = TextProgressBar(io.StringIO(), width=10)
    assert bar.render(seen[0]) == "[###.......]  33%  1/3 rows"
    assert bar.render(ImportProgress(seen[-1].counts, None)) == "3 rows"


# --- 50,000 rows ---------------------------------------------------------------------------------


def _big_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        for i in range(rows):
            kec = i % 8 + 1
            day = i % 28 + 1 + (40 if i % 2 else 0)
            nik = f"6311{kec:02d}{day:02d}0690{i % 9999 + 1:04d}"
            out.write(f"{nik},Peserta {i},{90000000000 + i},JKK+JKM,APBD,2024-07-01,2026-12-31,\n")


_MEASURED_CLI = """
import resource, sys
from bot.cli import main
try:
    status = main(sys.argv[1:])
finally:
    print("MAXRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(status)
"""


def _run_cli(db_url: str, path: Path) -> tuple[float, float, str, str]:
    """Run ``python -m bot import-roster`` in a subprocess: seconds, its peak RSS (MiB), out, err."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(DATABASE_URL=db_url, DATA_KEY=TEST_DATA_KEY, LOG_LEVEL="WARNING")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED_CLI, "import-roster", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stderr.rsplit("MAXRSS", 1)[1].split()[0])
    return seconds, peak_kib / 1024, proc.stdout, proc.stderr


@pytest.mark.slow
def test_fifty_thousand_rows_in_bounded_memory(db_url: str, tmp_path: Path) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    _big_csv(small, 5_000)
    _big_csv(big, 50_000)  # its first 5,000 rows are the small file's
    small_seconds, small_rss, _, _ = _run_cli(db_url, small)
    big_seconds, big_rss, out, err = _run_cli(db_url, big)
    assert "Baris dibaca: 50.000" in out
    assert "Baru: 45.000" in out
    assert "Tidak berubah: 5.000" in out
    assert "100%  50,000/50,000 rows" in err
    again_seconds, _, out, _ = _run_cli(db_url, big)
    assert "Tidak berubah: 50.000" in out
    print(
        f"\nimport-roster: 5,000 rows {small_seconds:.1f} s (max RSS {small_rss:.0f} MiB); "
        f"50,000 rows ({big.stat().st_size / 1e6:.1f} MB) {big_seconds:.1f} s "
        f"(max RSS {big_rss:.0f} MiB); same 50,000 again {again_seconds:.1f} s"
    )
    # Ten times the rows, about the same memory: the file is streamed a batch at a time.
    assert big_rss < small_rss + 24


@pytest.mark.slow
async def test_import_memory_is_bounded_by_the_batch(db: Database, tmp_path: Path) -> None:
    # tracemalloc makes allocation slow, so this measures a 10,000-row file in process.
    path = tmp_path / "medium.csv"
    _big_csv(path, 10_000)
    tracemalloc.start()
    try:
        result = await _import(db, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.counts.inserted == 10_000
    print(f"\n10,000 rows in process: tracemalloc peak {peak / 2**20:.1f} MiB")
    assert peak < 8 * 2**20


# --- command line ------------------------------------------------------------------------------------


def test_cli_import_roster_without_a_token(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI configures logging for a terminal; in-process it would keep pytest's captured stderr.
    monkeypatch.setattr("bot.cli.logs.configure", lambda _level: None)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("WEBHOOK_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DATA_KEY", TEST_DATA_KEY)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    assert cli_main(["import-roster", str(SAMPLE)]) == 0
    captured = capsys.readouterr()
    assert "[" in captured.err
    assert "100%" in captured.err
    assert "12/12 rows" in captured.err
    assert "Daftar peserta sudah diimpor: sample_roster.csv" in captured.out
    assert "Baris dibaca: 12" in captured.out
    assert "<b>" not in captured.out
    assert cli_main(["import-roster", str(SAMPLE)]) == 0
    assert "Tidak berubah: 12" in capsys.readouterr().out
    assert cli_main(["import-roster", "/no/such/roster.csv"]) == 2
    assert "No such file" in capsys.readouterr().err


def test_plain_text() -> None:
    assert plain_text("<b>Daftar</b>: a &amp; b") == "Daftar: a & b"


# --- chat upload --------------------------------------------------------------------------------------


async def test_admin_uploads_a_roster_and_sees_progress(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers.coverage, "IMPORT_BATCH_SIZE", 3)
    monkeypatch.setattr(handlers.coverage, "PROGRESS_EDIT_SECONDS", 0.0)
    admin = harness.admin()
    replies = await admin.send_document("roster.csv", SAMPLE.read_bytes(), "text/csv")
    texts = [m.text or "" for m in replies]
    assert any("Impor selesai: roster.csv" in t for t in texts)
    report = admin.last_text
    assert "Daftar peserta sudah diimpor" in report
    assert "Baris dibaca: 12" in report
    assert "Baru: 12" in report
    assert "Data per 21 November 2026" in report
    edits = harness.emu.calls_for("editMessageText", chat_id=ADMIN_ID)
    progress_edits = [c for c in edits if "baris sudah dibaca" in str(c.params.get("text"))]
    assert len(progress_edits) >= 3  # a batch of 3 rows at a time, at most once a "second"
    assert "sekitar" in str(progress_edits[0].params.get("text"))
    async with harness.db.transaction() as repo:
        record = await repo.coverage.latest_import()
        count = (await repo.session.exec(select(func.count()).select_from(RosterEntry))).one()
    assert record is not None
    assert record.actor_id == ADMIN_ID
    assert record.via == "chat"
    assert count == 12


async def test_admin_upload_lists_the_first_bad_rows(harness: BotHarness) -> None:
    lines = [GOOD[0]] + [
        f"63110112058500{i:02d},Orang {i},,JKK,entah,2024-07-01,2026-12-31," for i in range(1, 14)
    ]
    data = (HEADER + "\n" + "\n".join(lines) + "\n").encode()
    admin = harness.admin()
    await admin.send_document("peserta.csv", data, "text/csv")
    report = admin.last_text
    assert "Ditolak: 13" in report
    assert "Baris yang ditolak</b>" not in report  # rendered as HTML
    assert "Baris yang ditolak (10 pertama):" in report
    assert '• Baris 3: pembayar "entah" tidak dikenal' in report
    assert "• Baris 12:" in report
    assert "• Baris 13:" not in report
    assert "…dan 3 lagi." in report


async def test_admin_upload_of_an_xlsx_and_of_a_bad_header(
    harness: BotHarness, tmp_path: Path
) -> None:
    admin = harness.admin()
    await admin.send_document("peserta.xlsx", _xlsx(tmp_path / "p.xlsx").read_bytes())
    assert "Baru: 2" in admin.last_text
    assert "Baris 4: NIK tidak sah: bukan 16 angka" in admin.last_text
    await admin.send_document("kosong.csv", b"nama;alamat\nA;B\n", "text/csv")
    assert "Daftar peserta tidak diimpor" in admin.last_text
    assert "Kolom tidak ada: nik" in admin.last_text
    assert "Judul kolom yang dipakai: nik, nama, kpj" in admin.last_text


async def test_admin_file_of_another_type_is_refused(harness: BotHarness) -> None:
    admin = harness.admin()
    await admin.send_document("foto.pdf", b"%PDF-1.4", "application/pdf")
    assert "kirim sebagai file CSV atau XLSX" in admin.last_text
    async with harness.db.transaction() as repo:
        assert await repo.coverage.latest_import() is None


async def test_a_worker_sending_a_file_gets_the_fallback(harness: BotHarness) -> None:
    worker = harness.chat(4242)
    await worker.send_document("roster.csv", SAMPLE.read_bytes(), "text/csv")
    assert "tidak mengerti" in worker.last_text
    async with harness.db.transaction() as repo:
        imports = (await repo.session.exec(select(func.count()).select_from(RosterImport))).one()
        entries = (
            await repo.session.exec(
                select(func.count())
                .select_from(RosterEntry)
                .where(col(RosterEntry.nik_index) != "")
            )
        ).one()
    assert (imports, entries) == (0, 0)
