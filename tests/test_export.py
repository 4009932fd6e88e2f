"""Exports: date ranges and filters, the CSV/XLSX writers, each export kind against a known data
set, the /ekspor conversation, and 100,000 rows streamed with bounded memory (slow)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.exporting import (
    CsvRowWriter,
    DatePreset,
    ExportFilters,
    ExportFormat,
    ExportKind,
    XlsxRowWriter,
    export_to_file,
    parse_date_range,
    preset_range,
    safe_text,
)
from bot.i18n import Catalogs
from storage.db import Database
from storage.models import Submission, SubmissionStatus
from storage.models.facilitator import Facilitator
from tests.support import TEST_DATA_KEY, BotHarness
from tests.test_admin_seed import (
    NOW,
    TODAY,
    Person,
    insert_rows,
    make_nik,
    roster_row,
    seed_people,
    seed_roster,
    submission_row,
)

EN = Catalogs.load().get("en")
ID = Catalogs.load().get("id")


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


# --- pure parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1-1-2026 sampai 31-3-2026", (date(2026, 1, 1), date(2026, 3, 31))),
        ("1/1/26 - 31/3/26", (date(2026, 1, 1), date(2026, 3, 31))),
        ("31-3-2026 s/d 1-1-2026", (date(2026, 1, 1), date(2026, 3, 31))),
        ("1 Agustus 2026 – 15 agt 2026", (date(2026, 8, 1), date(2026, 8, 15))),
        ("2026-10-05", (date(2026, 10, 5), date(2026, 10, 5))),
        ("kemarin", None),
        ("1-1-2026 sampai 2-2-2026 sampai 3-3-2026", None),
        ("1-1-2027", None),  # after today
    ],
)
def test_parse_date_range(typed: str, expected: tuple[date, date] | None) -> None:
    assert parse_date_range(typed, today=TODAY) == expected


def test_preset_ranges() -> None:
    assert preset_range(DatePreset.LAST_7_DAYS, TODAY) == (date(2026, 11, 15), TODAY)
    assert preset_range(DatePreset.LAST_30_DAYS, TODAY) == (date(2026, 10, 23), TODAY)
    assert preset_range(DatePreset.THIS_MONTH, TODAY) == (date(2026, 11, 1), TODAY)
    assert preset_range(DatePreset.LAST_MONTH, TODAY) == (date(2026, 10, 1), date(2026, 10, 31))
    assert preset_range(DatePreset.LAST_MONTH, date(2026, 1, 9)) == (
        date(2025, 12, 1),
        date(2025, 12, 31),
    )
    assert preset_range(DatePreset.THIS_YEAR, TODAY) == (date(2026, 1, 1), TODAY)


def test_filters_round_trip_and_become_utc_bounds() -> None:
    filters = ExportFilters("63.11.01", None, "verified", date(2026, 11, 1), date(2026, 11, 21))
    assert ExportFilters.from_json(filters.to_json()) == filters
    assert ExportFilters.from_json({"from": "nonsense", "status": 3}) == ExportFilters()
    bounds = filters.submission_filter()
    # WITA is UTC+8: the local day starts at 16:00 UTC the day before.
    assert bounds.since == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert bounds.until == datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    assert filters.roster_filter().start_until == date(2026, 11, 21)


def test_text_typed_by_people_never_becomes_a_formula() -> None:
    assert safe_text('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert safe_text("@SUM(1)") == "'@SUM(1)"
    assert safe_text("Siti") == "Siti"
    assert safe_text(None) is None


#: XLSX cells hold wall-clock time (WITA), without a zone.
WALL_TIME = datetime(2026, 1, 2, 9, 30)  # noqa: DTZ001
MIDNIGHT = datetime(2026, 1, 2)  # noqa: DTZ001


def test_csv_and_xlsx_writers(tmp_path: Path) -> None:
    rows = [
        ["Nama", "Tanggal", "Waktu", "Angka", "Kosong"],
        ["Sítì", date(2026, 1, 2), WALL_TIME, 16800, None],
    ]
    writer = CsvRowWriter(tmp_path / "a.csv")
    writer.write_rows(rows)
    writer.close()
    raw = (tmp_path / "a.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read the accents right
    assert read_csv(tmp_path / "a.csv")[1] == [
        "Sítì",
        "2026-01-02",
        "2026-01-02 09:30",
        "16800",
        "",
    ]
    xlsx = XlsxRowWriter(tmp_path / "a.xlsx", "Peserta: [semua]")
    xlsx.write_rows(rows)
    xlsx.close()
    book = openpyxl.load_workbook(tmp_path / "a.xlsx", read_only=True)
    sheet = book.worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    book.close()
    assert sheet.title == "Peserta   semua "
    assert values[1][:4] == ("Sítì", MIDNIGHT, WALL_TIME, 16800)


# --- each kind against a known data set ---------------------------------------------------------


async def seed_known(db: Database) -> None:
    await seed_people(
        db,
        [
            Person("BLG-A00001", name="=Ani", serial=1, status="verified"),
            Person("BLG-A00002", name="Budi", serial=2, female=False, desa="63.11.01.2002"),
            Person(
                "BLG-A00003",
                name="Citra",
                serial=3,
                kecamatan="63.11.02",
                desa="63.11.02.2001",
                entered_by=77,
                facilitator=True,
            ),
            Person(
                "BLG-A00004",
                name="Dedi",
                serial=4,
                status="rejected",
                submitted_at=NOW - timedelta(days=40),
                entered_by=77,
                facilitator=True,
            ),
            Person(
                "BLG-A00005", name="Eka", serial=5, status="draft", entered_by=78, facilitator=True
            ),
        ],
    )
    await seed_roster(
        db,
        [
            # Registered here: placed by the submission's desa.
            roster_row(make_nik(date(1985, 8, 17), female=True, serial=1), name="Ani"),
            # No submission: placed by the NIK's kecamatan (Halong), grace months.
            roster_row(
                make_nik(date(1970, 1, 1), serial=9, prefix="631102"),
                name="Fajar",
                paid_until=date(2026, 10, 31),
            ),
            # From outside Balangan, nonaktif.
            roster_row(
                make_nik(date(1970, 1, 1), serial=9, prefix="637101"),
                name="Gita",
                paid_until=date(2026, 1, 31),
                payer="self",
            ),
        ],
    )


async def export(
    db: Database, tmp_path: Path, kind: ExportKind, filters: ExportFilters, **kw: object
) -> list[list[str]]:
    result = await export_to_file(
        db,
        kind=kind,
        fmt=ExportFormat.CSV,
        filters=filters,
        today=TODAY,
        t=EN,
        folder=tmp_path,
        **kw,  # type: ignore[arg-type]
    )
    rows = read_csv(result.path)
    assert result.rows == len(rows) - 1
    assert result.size == result.path.stat().st_size
    return rows


async def test_submission_export_filters(db: Database, tmp_path: Path) -> None:
    await seed_known(db)
    rows = await export(db, tmp_path, ExportKind.SUBMISSIONS, ExportFilters(), page_size=2)
    assert rows[0][:5] == ["Reference", "Status", "Sent at (WITA)", "NIK", "Name"]
    assert [r[0] for r in rows[1:]] == ["BLG-A00001", "BLG-A00002", "BLG-A00003", "BLG-A00004"]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["Name"] == "'=Ani"
    assert first["Status"] == "Verified"
    assert first["Sent at (WITA)"] == "2026-11-21 09:00"
    assert first["NIK"] == make_nik(date(1985, 8, 17), female=True, serial=1)
    assert first["Kecamatan"] == "Juai"
    assert first["Desa"] == "Muara Ninian"
    assert first["Occupation"] == "Rubber farmer / rubber tapper"
    assert first["Payer expected"] == "Regency budget (APBD)"

    async def refs(filters: ExportFilters) -> list[str]:
        found = await export(db, tmp_path, ExportKind.SUBMISSIONS, filters)
        return [r[0] for r in found[1:]]

    assert await refs(ExportFilters(kecamatan_code="63.11.02")) == ["BLG-A00003"]
    assert await refs(ExportFilters(desa_code="63.11.01.2002")) == ["BLG-A00002"]
    assert await refs(ExportFilters(status="rejected")) == ["BLG-A00004"]
    last_month = preset_range(DatePreset.LAST_MONTH, TODAY)
    assert await refs(ExportFilters(date_from=last_month[0], date_to=last_month[1])) == [
        "BLG-A00004"
    ]
    assert await refs(ExportFilters(date_from=TODAY, date_to=TODAY)) == [
        "BLG-A00001",
        "BLG-A00002",
        "BLG-A00003",
    ]


async def test_roster_export_states_and_places(db: Database, tmp_path: Path) -> None:
    await seed_known(db)
    rows = await export(db, tmp_path, ExportKind.ROSTER, ExportFilters())
    table = {r[1]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert table["Ani"]["Coverage today"] == "Active"
    assert table["Ani"]["Desa"] == "Muara Ninian"
    assert table["Fajar"]["Coverage today"] == "Unpaid, still protected"
    assert table["Fajar"]["Kecamatan"] == "Halong"
    assert table["Gita"]["Coverage today"] == "Nonaktif"
    assert table["Gita"]["Kecamatan"] == ""
    assert table["Ani"]["Programmes"] == "JKK+JKM"

    async def names(filters: ExportFilters) -> list[str]:
        found = await export(db, tmp_path, ExportKind.ROSTER, filters)
        return sorted(r[1] for r in found[1:])

    assert await names(ExportFilters(kecamatan_code="63.11.02")) == ["Fajar"]
    assert await names(ExportFilters(kecamatan_code="63.11.01")) == ["Ani"]
    assert await names(ExportFilters(status="grace")) == ["Fajar"]
    assert await names(ExportFilters(desa_code="63.11.01.2001")) == ["Ani"]


async def test_facilitator_activity_export(db: Database, tmp_path: Path) -> None:
    await seed_known(db)
    await insert_rows(
        db,
        Facilitator,
        [{"user_id": 77, "full_name": "Rahmah", "phone": "+6281211112222"}],
    )
    rows = await export(db, tmp_path, ExportKind.FACILITATORS, ExportFilters())
    table = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert set(table) == {"77", "78"}
    assert (table["77"]["Name"], table["77"]["Mobile number"]) == ("Rahmah", "+6281211112222")
    assert table["78"]["Name"] == ""  # entered drafts, no facilitator row (yet)
    assert table["77"]["Entries"] == "2"
    assert table["77"]["Waiting for review"] == "1"
    assert table["77"]["Rejected"] == "1"
    assert table["78"]["Draft"] == "1"
    month = await export(
        db, tmp_path, ExportKind.FACILITATORS, ExportFilters(date_from=TODAY, date_to=TODAY)
    )
    assert [(r[0], r[3]) for r in month[1:]] == [("77", "1"), ("78", "1")]


# --- the conversation ----------------------------------------------------------------------------


async def test_export_conversation_sends_the_file_and_audits_it(harness: BotHarness) -> None:
    await seed_known(harness.db)
    admin = harness.admin()
    await admin.send("/ekspor")
    assert ID("<b>Export</b>").replace("<b>", "").replace("</b>", "") in admin.last_text
    await admin.send("hello")
    assert ID("Please use the buttons above.") in admin.history[-2].text
    await admin.press("Kecamatan")
    await admin.press("Juai")
    await admin.press("Desa")
    await admin.press("Muara Ninian")
    await admin.press("Status")
    await admin.press(ID("Verified"))
    await admin.press(ID("Use {format}", format="CSV"))
    assert "Format: CSV" in admin.last_text
    assert "Desa: Muara Ninian" in admin.last_text
    await admin.press(ID("📄 Make the file"))
    document = admin.documents()[-1]
    assert document.file_name == "pendaftaran-20261121.csv"
    rows = list(csv.reader(io.StringIO(document.data.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["BLG-A00001"]
    assert rows[0][0] == ID("Reference")
    async with harness.db.transaction() as repo:
        entry = (await repo.audit.latest(limit=1))[0]
    assert entry.action == "export"
    assert entry.target == "pendaftaran-20261121.csv"
    assert entry.details == {
        "kind": "sub",
        "format": "csv",
        "rows": 1,
        "bytes": len(document.data),
        "kecamatan": "63.11.01",
        "desa": "63.11.01.2001",
        "status": "verified",
    }


async def test_export_typed_dates_and_roster_xlsx(harness: BotHarness) -> None:
    await seed_known(harness.db)
    admin = harness.admin()
    await admin.send("/ekspor")
    await admin.press("Data")
    await admin.press(ID("Participants (roster)"))
    await admin.press(ID("Dates"))
    await admin.press(ID("Type the dates"))
    await admin.send_sticker()
    await admin.send("kemarin")
    assert ID("I could not read those dates.") in admin.history[-2].text
    await admin.send("1-1-2025 sampai 31-1-2025")
    assert "01/01/25" in admin.last_text
    await admin.press(ID("📄 Make the file"))
    document = admin.documents()[-1]
    assert document.file_name == "peserta-20261121.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(document.data), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert len(rows) == 4  # header + the three roster rows, which started on 1 January 2025
    assert rows[0][0] == ID("NIK")


# --- 100,000 rows ----------------------------------------------------------------------------------

BIG = 100_000


def _big_rows() -> Iterator[dict[str, Any]]:
    start = NOW - timedelta(days=300)
    for i in range(BIG):
        birth = date(1960 + i % 45, 1 + i % 12, 1 + i % 28)
        nik = make_nik(
            birth, female=bool(i % 2), serial=1 + i % 9999, prefix="6311" + f"{1 + i % 8:02d}"
        )
        yield submission_row(
            reference=f"BLG-{i:06d}",
            nik=nik,
            full_name=f"Peserta Nomor {i}",
            birth_date=birth,
            entered_by_user_id=1000 + i % 50,
            kecamatan_code=f"63.11.{1 + i % 8:02d}",
            desa_code=None,
            occupation_code="karet",
            status=(SubmissionStatus.SUBMITTED, SubmissionStatus.VERIFIED)[i % 2].value,
            submitted_at=start + timedelta(minutes=3 * i),
        )


#: Runs one export in a fresh interpreter and prints its row count, file size and peak RSS.
EXPORT_SCRIPT = """
import asyncio, json, os, resource, sys, tempfile, threading, time
from datetime import date
from pathlib import Path
from bot.exporting import ExportFilters, ExportFormat, ExportKind, export_to_file
from bot.i18n import Catalogs
from storage.crypto import KeyRing
from storage.db import Database

def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

async def main():
    url, fmt, status = sys.argv[1], sys.argv[2], sys.argv[3]
    db = Database(url, keyring=KeyRing.from_text(os.environ["DATA_KEY"]))
    t = Catalogs.load().get("id")
    async with db.transaction() as repo:
        await repo.admin.count_waiting()  # connect before measuring
    before = peak = rss()
    stop = threading.Event()
    def sample():
        nonlocal peak
        while not stop.wait(0.002):
            peak = max(peak, rss())
    sampler = threading.Thread(target=sample)
    sampler.start()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = await export_to_file(
            db, kind=ExportKind.SUBMISSIONS, fmt=ExportFormat(fmt),
            filters=ExportFilters(status=status or None), today=date(2026, 11, 21),
            t=t, folder=Path(folder),
        )
    took = time.perf_counter() - began
    stop.set()
    sampler.join()
    await db.dispose()
    print(json.dumps({
        "rows": result.rows, "size": result.size, "seconds": took,
        "before": before, "peak": max(peak, rss()),
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))

asyncio.run(main())
"""


async def export_in_fresh_process(db: Database, fmt: ExportFormat, status: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        EXPORT_SCRIPT,
        db.url,
        fmt.value,
        status,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DATA_KEY": TEST_DATA_KEY},
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [ExportFormat.CSV, ExportFormat.XLSX])
async def test_export_of_100000_rows_has_bounded_memory(db: Database, fmt: ExportFormat) -> None:
    """Peak memory of a process exporting 100,000 rows vs the same process exporting none."""
    began = time.perf_counter()
    await insert_rows(db, Submission, _big_rows())
    seeded = time.perf_counter() - began
    empty = await export_in_fresh_process(db, fmt, SubmissionStatus.REGISTERED.value)
    full = await export_in_fresh_process(db, fmt, "")
    growth = full["peak"] - full["before"]
    print(
        f"\n[export {fmt.value} {db.engine.dialect.name}] {full['rows']} rows, "
        f"{full['size'] / 1e6:.1f} MB file in {full['seconds']:.1f} s; RSS during the export "
        f"+{growth / 1e6:.1f} MB (from {full['before'] / 1e6:.0f} MB; exporting nothing: "
        f"+{(empty['peak'] - empty['before']) / 1e6:.1f} MB); process peak "
        f"{full['maxrss'] / 1e6:.0f} MB vs {empty['maxrss'] / 1e6:.0f} MB; seeding {seeded:.1f} s"
    )
    assert empty["rows"] == 0
    assert full["rows"] == BIG
    # Bounded by the page size (2,000 rows in flight), not by the 100,000 rows.
    assert growth < 40_000_000


async def test_export_choices_pages_and_presets(harness: BotHarness) -> None:
    await seed_known(harness.db)
    admin = harness.admin()
    await admin.send("/ekspor")
    await admin.press("Kecamatan")
    await admin.press("Juai")
    await admin.press("Desa")
    assert "Pamurus" not in [label for row in admin.buttons() for label in row]
    await admin.press(ID("Next ▶"))
    await admin.press("Pamurus")
    assert "Desa: Pamurus" in admin.last_text
    await admin.press("Kecamatan")
    await admin.press(ID("All"))
    assert "Desa: " + ID("all") in admin.last_text  # a new kecamatan choice clears the desa
    await admin.press(ID("Dates"))
    await admin.press(ID("Last month"))
    assert "01/10/26 – 31/10/26" in admin.last_text
    await admin.press(ID("Dates"))
    await admin.press(ID("◀ Back"))
    assert "01/10/26 – 31/10/26" in admin.last_text
    await admin.press(ID("📄 Make the file"))
    document = admin.documents()[-1]
    assert document.file_name.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(document.data), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert [r[0] for r in rows[1:]] == ["BLG-A00004"]  # the one sent in October
    menu = admin.history[1]
    update = await harness.emu.press(admin.user_id, menu.message_id, "exp:go", forge=True)
    await harness.emu.wait_delivered(update)
    await harness.settle()
    assert len(admin.documents()) == 1  # an old "make the file" press does nothing
    answer = harness.emu.callbacks[str(update.payload["id"])].answer
    assert answer is not None
    assert answer.text == ID("This button is no longer active.")
