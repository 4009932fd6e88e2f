"""Tests for bot.domain.roster: CSV/XLSX streaming, header aliases, row errors, memory."""

from __future__ import annotations

import io
import tracemalloc
from datetime import date, datetime
from importlib import resources
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.coverage import Payer
from bot.domain.nik import NikError
from bot.domain.roster import (
    Field,
    HeaderProblem,
    HeaderProblemCode,
    Programme,
    RosterFormatError,
    RosterFormatErrorCode,
    RowErrorCode,
    RowResult,
    RowWarningCode,
    open_roster,
)

TODAY = date(2025, 11, 21)
HEADER = "nik,nama,kpj,program,pembayar,mulai,dibayar_sampai,tanggal_lahir"
# Fictitious but structurally valid NIKs (Balangan prefix 6311, kecamatan 01-08).
NIK_MAN = "6311011205850001"  # born 12-05-1985
NIK_WOMAN = "6311025708900002"  # born 17-08-1990 (day + 40)
GOOD = f"{NIK_MAN},Ahmad Fauzi,90000000001,JKK+JKM,APBD,2024-07-01,2025-12-31,1985-05-12"


def _read_csv(text: str, *, encoding: str = "utf-8", name: str = "roster.csv") -> list[RowResult]:
    with open_roster(io.BytesIO(text.encode(encoding)), name, today=TODAY) as reader:
        assert reader.header_problems() == []
        return list(reader)


def _one(line: str) -> RowResult:
    (result,) = _read_csv(f"{HEADER}\n{line}\n")
    return result


# --- valid files -------------------------------------------------------------------------------


def test_sample_roster_is_clean() -> None:
    path = resources.files("bot") / "data" / "sample_roster.csv"
    with resources.as_file(path) as real_path, open_roster(real_path, today=TODAY) as reader:
        assert reader.header_problems() == []
        results = list(reader)
    assert 10 <= len(results) <= 20
    assert [r.error for r in results] == [None] * len(results)
    assert [r.line_no for r in results] == list(range(2, len(results) + 2))
    rows = [r.row for r in results if r.row]
    assert {r.payer for r in rows} == set(Payer)
    assert all({Programme.JKK, Programme.JKM} <= r.programmes for r in rows)
    assert all(r.warnings == () for r in rows)
    assert len({r.nik for r in rows}) == len(rows)


def test_good_row_fields() -> None:
    result = _one(GOOD)
    assert result.line_no == 2
    assert result.error is None
    row = result.row
    assert row is not None
    assert row.nik == NIK_MAN
    assert row.name == "Ahmad Fauzi"
    assert row.kpj == "90000000001"
    assert row.programmes == {Programme.JKK, Programme.JKM}
    assert row.payer is Payer.APBD
    assert row.coverage_start == date(2024, 7, 1)
    assert row.paid_until == date(2025, 12, 31)
    assert row.birth_date == date(1985, 5, 12)
    assert NIK_MAN not in repr(row)  # PDP: the NIK never lands whole in a log line


def test_header_aliases_semicolons_bom_and_column_order() -> None:
    text = (
        "Lunas Sampai;TMT;NAMA_LENGKAP;Sumber-Iuran;No. KPJ;Jenis Program;NIK KTP\n"
        f"31/01/2026;01-07-2024;  Siti   Rahmah ;Mandiri;9000 0000 002;JKK, JKM, JHT;{NIK_WOMAN}\n"
    )
    with open_roster(io.BytesIO(b"\xef\xbb\xbf" + text.encode()), "daftar.CSV") as reader:
        assert reader.header_problems() == []
        assert reader.columns[Field.NIK] == "NIK KTP"
        assert reader.columns[Field.PAID_UNTIL] == "Lunas Sampai"
        assert Field.BIRTH_DATE not in reader.columns  # optional column
        (result,) = list(reader)
    row = result.row
    assert row is not None
    assert row.nik == NIK_WOMAN
    assert row.name == "Siti Rahmah"
    assert row.kpj == "90000000002"
    assert row.programmes == set(Programme)
    assert row.payer is Payer.SELF
    assert (row.coverage_start, row.paid_until) == (date(2024, 7, 1), date(2026, 1, 31))
    assert row.birth_date is None


def test_bom_in_a_path_file(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\r\n{GOOD}\r\n".encode())
    with open_roster(path, today=TODAY) as reader:
        assert reader.header_problems() == []
        assert reader.columns[Field.NIK] == "nik"
        assert [r.row is not None for r in reader] == [True]


def test_tab_delimited_text_stream() -> None:
    text = HEADER.replace(",", "\t") + "\n" + GOOD.replace(",", "\t") + "\n"
    with open_roster(io.StringIO("\ufeff" + text), "roster.tsv", today=TODAY) as reader:
        assert reader.header_problems() == []
        assert [r.error for r in reader] == [None]


@pytest.mark.parametrize(
    "cell", ["2025-12-31", "31-12-2025", "31/12/2025", "31.12.2025", "2025-12-31 00:00:00"]
)
def test_date_formats(cell: str) -> None:
    row = _one(GOOD.replace("2025-12-31", cell)).row
    assert row is not None
    assert row.paid_until == date(2025, 12, 31)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_every_accepted_format_round_trips(day: date) -> None:
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y"):
        line = f"{NIK_MAN},A,,JKK+JKM,APBD,1900-01-01,{day.strftime(fmt)}"
        row = _one(line).row
        assert row is not None
        assert row.paid_until == day


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("JKK+JKM", {Programme.JKK, Programme.JKM}),
        ("jkk / jkm", {Programme.JKK, Programme.JKM}),
        ("JKK JKM JHT", set(Programme)),
        ("Jaminan Kecelakaan Kerja & Jaminan Kematian", {Programme.JKK, Programme.JKM}),
        ('"JKK;JKM"', {Programme.JKK, Programme.JKM}),
    ],
)
def test_programme_cells(cell: str, expected: set[Programme]) -> None:
    row = _one(GOOD.replace("JKK+JKM", cell)).row
    assert row is not None
    assert row.programmes == expected


@pytest.mark.parametrize(
    ("cell", "payer"),
    [("apbd", Payer.APBD), ("Pemda", Payer.APBD), ("SELF", Payer.SELF), ("Lainnya", Payer.OTHER)],
)
def test_payer_aliases(cell: str, payer: Payer) -> None:
    row = _one(GOOD.replace("APBD", cell)).row
    assert row is not None
    assert row.payer is payer


def test_blank_kpj_and_paid_until_are_allowed() -> None:
    row = _one(f"{NIK_MAN},Ahmad,,JKK+JKM,APBD,2024-07-01,,").row
    assert row is not None
    assert row.kpj is None
    assert row.paid_until is None


def test_birth_date_mismatch_is_a_warning() -> None:
    row = _one(GOOD.replace("1985-05-12", "1985-05-13")).row
    assert row is not None
    assert row.warnings == (RowWarningCode.NIK_BIRTH_DATE_MISMATCH,)


# --- header problems ---------------------------------------------------------------------------


def test_missing_required_columns() -> None:
    data = b"nik,nama,tanggal_lahir\n6311011205850001,Ahmad,1985-05-12\n"
    with open_roster(io.BytesIO(data), "r.csv") as reader:
        problems = reader.header_problems()
        assert list(reader) == []  # rows are not parsed under a bad header
    assert problems == [
        HeaderProblem(HeaderProblemCode.MISSING_COLUMN, f)
        for f in (
            Field.KPJ,
            Field.PROGRAMMES,
            Field.PAYER,
            Field.COVERAGE_START,
            Field.PAID_UNTIL,
        )
    ]


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\n  \n", b",,,\n"])
def test_empty_file(data: bytes) -> None:
    with open_roster(io.BytesIO(data), "r.csv") as reader:
        assert reader.header_problems() == [HeaderProblem(HeaderProblemCode.EMPTY_FILE)]
        assert list(reader) == []


def test_wrong_delimiter_guess_shows_as_missing_columns() -> None:
    data = b"nik|nama|kpj\n"
    with open_roster(io.BytesIO(data), "r.csv") as reader:
        assert {p.column for p in reader.header_problems()} >= {Field.NIK, Field.NAME}


# --- bad rows ----------------------------------------------------------------------------------

BAD_ROWS = [
    (
        GOOD.replace(NIK_MAN, "63110112O5850001"),
        RowErrorCode.BAD_NIK,
        Field.NIK,
        NikError.NOT_DIGITS,
    ),
    (GOOD.replace(NIK_MAN, "631101120585000"), RowErrorCode.BAD_NIK, Field.NIK, "wrong_length"),
    (GOOD.replace(NIK_MAN, "6311013205850001"), RowErrorCode.BAD_NIK, Field.NIK, "impossible_day"),
    (GOOD.replace(NIK_MAN, "6311011205850000"), RowErrorCode.BAD_NIK, Field.NIK, "zero_serial"),
    (GOOD.replace(NIK_MAN, ""), RowErrorCode.MISSING_VALUE, Field.NIK, None),
    (GOOD.replace("Ahmad Fauzi", "   "), RowErrorCode.MISSING_NAME, Field.NAME, None),
    (GOOD.replace("90000000001", "KPJ-001"), RowErrorCode.BAD_KPJ, Field.KPJ, None),
    (GOOD.replace("JKK+JKM", "JKK+JKN"), RowErrorCode.UNKNOWN_PROGRAMME, Field.PROGRAMMES, None),
    (GOOD.replace("JKK+JKM", ""), RowErrorCode.MISSING_VALUE, Field.PROGRAMMES, None),
    (GOOD.replace("APBD", "BPJS"), RowErrorCode.UNKNOWN_PAYER, Field.PAYER, None),
    (GOOD.replace("2024-07-01", "2024-13-01"), RowErrorCode.BAD_DATE, Field.COVERAGE_START, None),
    (GOOD.replace("2024-07-01", ""), RowErrorCode.MISSING_VALUE, Field.COVERAGE_START, None),
    (GOOD.replace("2025-12-31", "12/31/2025"), RowErrorCode.BAD_DATE, Field.PAID_UNTIL, None),
    (GOOD.replace("1985-05-12", "kemarin"), RowErrorCode.BAD_DATE, Field.BIRTH_DATE, None),
    (
        GOOD.replace("2024-07-01", "2026-01-01"),
        RowErrorCode.START_AFTER_PAID_UNTIL,
        Field.COVERAGE_START,
        "2025-12-31",
    ),
]


@pytest.mark.parametrize(("line", "code", "field", "detail"), BAD_ROWS)
def test_bad_row(line: str, code: RowErrorCode, field: Field, detail: str | None) -> None:
    result = _one(line)
    assert result.row is None
    assert result.error is not None
    assert result.error.code is code
    assert result.error.field is field
    assert result.error.detail == detail
    if code is RowErrorCode.UNKNOWN_PROGRAMME:
        assert result.error.value == "JKN"
    if code is RowErrorCode.BAD_NIK:
        assert "6311" not in repr(result.error)  # raw NIK kept out of repr


def test_line_numbers_with_blank_lines_and_multiline_cells() -> None:
    text = "\n".join(
        [
            "",  # 1: blank line before the header
            HEADER,  # 2
            GOOD,  # 3
            "",  # 4: blank, skipped
            GOOD.replace("APBD", "BPJS"),  # 5: bad payer
            GOOD.replace("Ahmad Fauzi", '"Ahmad\nFauzi"'),  # 6-7: quoted new line
            GOOD.replace("JKK+JKM", "JKX"),  # 8: bad programme
            GOOD,  # 9
        ]
    )
    results = _read_csv(text + "\n")
    assert [(r.line_no, r.error.code if r.error else None) for r in results] == [
        (3, None),
        (5, RowErrorCode.UNKNOWN_PAYER),
        (6, None),
        (8, RowErrorCode.UNKNOWN_PROGRAMME),
        (9, None),
    ]
    assert results[2].row is not None
    assert results[2].row.name == "Ahmad Fauzi"


def test_short_rows_read_missing_cells_as_blank() -> None:
    result = _one(f"{NIK_MAN},Ahmad,,JKK+JKM,APBD,2024-07-01")
    assert result.row is not None
    assert result.row.paid_until is None


def test_non_utf8_line_is_reported_not_fatal() -> None:
    data = f"{HEADER}\n".encode() + GOOD.replace("Ahmad Fauzi", "Ahmad Fauz\xed").encode("latin-1")
    data += f"\n{GOOD}\n".encode()
    with open_roster(io.BytesIO(data), "r.csv", today=TODAY) as reader:
        results = list(reader)
    assert [(r.line_no, r.error.code if r.error else None) for r in results] == [
        (2, RowErrorCode.BAD_ENCODING),
        (3, None),
    ]


# --- XLSX --------------------------------------------------------------------------------------


def _write_xlsx(path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["NIK", "Nama Peserta", "Nomor KPJ", "Program", "Payer", "Mulai", "Paid Until"])
    sheet.append(
        [
            NIK_MAN,
            "Ahmad Fauzi",
            "90000000001",
            "JKK+JKM",
            "APBD",
            datetime(2024, 7, 1),  # noqa: DTZ001 - Excel date cells are naive
            "31/12/2025",
        ]
    )
    sheet.append([])  # row 3 blank
    # NIK typed as a number (Excel keeps 15 digits) and dates as Excel date cells.
    sheet.append([int(NIK_WOMAN), "Siti", None, "JKK+JKM", "mandiri", date(2025, 1, 1), None])
    excel_datetime = datetime(2025, 1, 1)  # noqa: DTZ001 - Excel date cells are naive
    sheet.append(["1234", "Budi", None, "JKK+JKM", "APBD", excel_datetime, None])
    # Date given as an Excel serial number in a plain numeric cell (45658 = 2025-01-01).
    sheet.append([NIK_MAN, "Ahmad", 90000000001, "JKM", "lainnya", 45658, 45688.0])
    workbook.save(path)


def _check_xlsx_results(results: list[RowResult]) -> None:
    assert [(r.line_no, r.error.code if r.error else None) for r in results] == [
        (2, None),
        (4, None),
        (5, RowErrorCode.BAD_NIK),
        (6, None),
    ]
    first, second, _, fourth = (r.row for r in results)
    assert first is not None
    assert first.coverage_start == date(2024, 7, 1)
    assert first.paid_until == date(2025, 12, 31)
    assert second is not None
    assert second.nik == NIK_WOMAN
    assert second.warnings == (RowWarningCode.NIK_NUMERIC_CELL,)
    assert second.payer is Payer.SELF
    assert second.coverage_start == date(2025, 1, 1)
    assert fourth is not None
    assert fourth.kpj == "90000000001"
    assert (fourth.coverage_start, fourth.paid_until) == (date(2025, 1, 1), date(2025, 1, 31))
    assert fourth.programmes == {Programme.JKM}


def test_xlsx_from_path(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    _write_xlsx(path)
    with open_roster(path, today=TODAY) as reader:
        assert reader.header_problems() == []
        _check_xlsx_results(list(reader))


def test_xlsx_from_upload_stream_without_suffix(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    _write_xlsx(path)
    upload = io.BytesIO(path.read_bytes())
    with open_roster(upload, "document", today=TODAY) as reader:  # detected by ZIP signature
        _check_xlsx_results(list(reader))
    assert not upload.closed  # the caller's file stays open


def test_xlsx_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["NIK", "Nama"])
    workbook.save(path)
    with open_roster(path) as reader:
        assert HeaderProblem(HeaderProblemCode.MISSING_COLUMN, Field.PAYER) in (
            reader.header_problems()
        )


def test_unsupported_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(RosterFormatError) as info:
        open_roster(io.BytesIO(b"%PDF-1.4"), "roster.pdf")
    assert info.value.code is RosterFormatErrorCode.UNSUPPORTED_TYPE
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RosterFormatError) as info:
        open_roster(broken)
    assert info.value.code is RosterFormatErrorCode.UNREADABLE_XLSX


def test_caller_file_object_stays_open() -> None:
    upload = io.BytesIO(f"{HEADER}\n{GOOD}\n".encode())
    with open_roster(upload, "r.csv", today=TODAY) as reader:
        list(reader)
    assert not upload.closed


# --- memory ------------------------------------------------------------------------------------

ROWS = 50_000


def _big_csv(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER.replace(",", ";") + "\n")
        for i in range(ROWS):
            kec = i % 8 + 1
            day = i % 28 + 1 + (40 if i % 2 else 0)
            nik = f"6311{kec:02d}{day:02d}0690{i % 9999 + 1:04d}"
            out.write(f"{nik};Peserta {i};{90000000000 + i};JKK+JKM;APBD;01/07/2024;31-12-2025;\n")


@pytest.mark.slow
def test_fifty_thousand_rows_stream_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    _big_csv(path)
    assert path.stat().st_size > 3_000_000
    tracemalloc.start()
    try:
        valid = last_line = 0
        with open_roster(path, today=TODAY) as reader:
            assert reader.header_problems() == []
            for result in reader:
                valid += result.row is not None
                last_line = result.line_no
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert valid == ROWS
    assert last_line == ROWS + 1
    print(f"tracemalloc peak for {ROWS} rows: {peak / 1024:.0f} KiB")
    # The whole file is several MB; streaming keeps the peak far below that.
    assert peak < 1_000_000
