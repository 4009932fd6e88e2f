"""Streaming parser for uploaded participant rosters (CSV or XLSX).

Columns are matched by header name (case-insensitive, aliases from
``bot/data/roster_columns.toml``), so column order does not matter. Rows are read one at a time
— CSV through :mod:`csv` on a text stream, XLSX through openpyxl's read-only mode — so memory
stays bounded whatever the file size. Each data row yields a :class:`RowResult` with the file's
line number (header = line 1 when it is the first line) and either a parsed :class:`RosterRow`
or the first :class:`RowError` found in it. Fully blank rows are skipped silently.

Nothing here produces user-visible text: problems are codes with the field and value so that a
handler can explain them (and the admin can fix the file).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import itertools
import os
import re
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self

from bot.domain.coverage import Payer
from bot.domain.dates import regency_today
from bot.domain.facts import load_toml
from bot.domain.nik import Nik, parse_nik

_DATA_FILE = "roster_columns.toml"
_CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
_XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_ZIP_MAGIC = b"PK\x03\x04"
_DELIMITERS = (",", ";", "\t")
_HEADER_SEPARATORS = re.compile(r"[\s_\-.]+")
_PROGRAMME_SEPARATORS = re.compile(r"[+,;/&]")
_SPACES = re.compile(r"\s+")
# U+FFFD is what the UTF-8 decoder puts in place of bytes that are not UTF-8.
_REPLACEMENT_CHAR = "\ufffd"


class Programme(StrEnum):
    """BPJS Ketenagakerjaan programme codes found in rosters."""

    JKK = "jkk"
    JKM = "jkm"
    JHT = "jht"


class Field(StrEnum):
    """Roster columns, as keyed in ``roster_columns.toml``."""

    NIK = "nik"
    NAME = "name"
    KPJ = "kpj"
    PROGRAMMES = "programmes"
    PAYER = "payer"
    COVERAGE_START = "coverage_start"
    PAID_UNTIL = "paid_until"
    BIRTH_DATE = "birth_date"


class HeaderProblemCode(StrEnum):
    """What is wrong with the header row."""

    EMPTY_FILE = "empty_file"  # no non-blank row at all
    MISSING_COLUMN = "missing_column"  # a required column has no matching header


class RowErrorCode(StrEnum):
    """Why a data row was rejected (the first problem found, in column order)."""

    BAD_NIK = "bad_nik"  # detail: the NikError code
    MISSING_NAME = "missing_name"
    MISSING_VALUE = "missing_value"  # a required cell is blank
    BAD_KPJ = "bad_kpj"
    UNKNOWN_PROGRAMME = "unknown_programme"  # value: the part not recognised
    UNKNOWN_PAYER = "unknown_payer"
    BAD_DATE = "bad_date"
    START_AFTER_PAID_UNTIL = "start_after_paid_until"
    BAD_ENCODING = "bad_encoding"  # the CSV line is not valid UTF-8
    # Set by the importer (bot/roster_import.py), never by the parser: the NIK already appeared
    # on an earlier line of the same file, whose row is the one kept.
    DUPLICATE_NIK = "duplicate_nik"


class RowWarningCode(StrEnum):
    """Accepted, but worth a look."""

    # Excel keeps 15 significant digits, so a NIK stored as a number may have lost its last digit.
    NIK_NUMERIC_CELL = "nik_numeric_cell"
    # The NIK's encoded birth date differs from the birth-date column (FACTS.md §6: confirm).
    NIK_BIRTH_DATE_MISMATCH = "nik_birth_date_mismatch"


class RosterFormatErrorCode(StrEnum):
    """Why a file could not be opened as a roster at all."""

    UNSUPPORTED_TYPE = "unsupported_type"
    UNREADABLE_XLSX = "unreadable_xlsx"


class RosterFormatError(ValueError):
    """The file is not a CSV or XLSX roster that can be read."""

    def __init__(self, code: RosterFormatErrorCode, detail: str = "") -> None:
        """Create the error.

        Args:
            code: What went wrong.
            detail: Technical detail for logs (never shown to users).
        """
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class HeaderProblem:
    """A problem with the header row; ``column`` is the missing :class:`Field`, if any."""

    code: HeaderProblemCode
    column: Field | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row: code, column and the offending cell text."""

    code: RowErrorCode
    field: Field | None = None
    # May hold a NIK: kept out of repr so it does not end up whole in a log line.
    value: str | None = dataclasses.field(default=None, repr=False)
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class RosterRow:
    """A valid roster row."""

    nik: str = dataclasses.field(repr=False)
    name: str = dataclasses.field(repr=False)
    kpj: str | None
    programmes: frozenset[Programme]
    payer: Payer
    coverage_start: date
    paid_until: date | None  # None: no payment recorded yet
    birth_date: date | None = dataclasses.field(default=None, repr=False)
    warnings: tuple[RowWarningCode, ...] = ()


@dataclass(frozen=True, slots=True)
class RowResult:
    """One data row: ``row`` when valid, else ``error``; ``line_no`` is 1-based in the file."""

    line_no: int
    row: RosterRow | None
    error: RowError | None


@dataclass(frozen=True, slots=True)
class _ColumnRule:
    required: bool
    allow_empty: bool
    aliases: frozenset[str]


@dataclass(frozen=True, slots=True)
class _RosterRules:
    columns: Mapping[Field, _ColumnRule]
    payers: Mapping[str, Payer]
    programmes: Mapping[str, Programme]
    kpj_min: int
    kpj_max: int
    date_formats: tuple[str, ...]
    excel_epoch: date


def _norm(text: str) -> str:
    """Normalise a header or code value for comparison."""
    return _HEADER_SEPARATORS.sub(" ", text.replace("\ufeff", "")).strip().casefold()


@cache
def _rules() -> _RosterRules:
    raw = load_toml(_DATA_FILE)
    columns = {
        Field(key): _ColumnRule(
            required=bool(spec["required"]),
            allow_empty=bool(spec["allow_empty"]),
            aliases=frozenset(_norm(a) for a in spec["aliases"]),
        )
        for key, spec in raw["columns"].items()
    }
    if set(columns) != set(Field):
        raise ValueError(f"{_DATA_FILE}: [columns] must describe every roster field")
    payers = {_norm(v): Payer(code) for code, vals in raw["payer_values"].items() for v in vals}
    programmes = {
        _norm(v): Programme(code) for code, vals in raw["programme_values"].items() for v in vals
    }
    return _RosterRules(
        columns=columns,
        payers=payers,
        programmes=programmes,
        kpj_min=int(raw["kpj"]["min_digits"]),
        kpj_max=int(raw["kpj"]["max_digits"]),
        date_formats=tuple(raw["dates"]["formats"]),
        excel_epoch=raw["dates"]["excel_epoch"],
    )


def expected_headers() -> Mapping[Field, str]:
    """The preferred header of each column (its first alias in ``roster_columns.toml``).

    For telling an admin which header a file lacks; any alias is accepted when reading.
    """
    raw = load_toml(_DATA_FILE)["columns"]
    return {Field(key): str(spec["aliases"][0]) for key, spec in raw.items()}


# --- low-level row sources ---------------------------------------------------------------------

_Cells = Sequence[object]


class _TextLines(Protocol):
    """What the CSV source needs from a text stream (a text file or a codecs reader)."""

    def readline(self) -> str: ...

    def __iter__(self) -> Iterator[str]: ...


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier (comma)
    return best if counts[best] else ","


def _csv_rows(stream: _TextLines) -> Iterator[tuple[int, _Cells]]:
    # Leading blank lines are skipped before sniffing so the delimiter is guessed from the header.
    skipped = 0
    first = stream.readline()
    while first and not first.strip():
        skipped += 1
        first = stream.readline()
    if not first:
        return
    reader = csv.reader(itertools.chain([first], stream), delimiter=_sniff_delimiter(first))
    previous_end = 0
    for cells in reader:
        # A quoted cell may span lines: report the line where the record starts.
        start = skipped + previous_end + 1
        previous_end = reader.line_num
        yield start, cells


def _xlsx_rows(source: str | os.PathLike[str] | IO[bytes]) -> Iterator[tuple[int, _Cells]]:
    import openpyxl  # heavy import, only needed for spreadsheets

    try:
        workbook = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or non-xlsx file
        raise RosterFormatError(RosterFormatErrorCode.UNREADABLE_XLSX, repr(exc)) from exc
    try:
        sheet = workbook.worksheets[0]
        # Some writers store a wrong sheet size, which would make read-only mode cut rows off.
        sheet.reset_dimensions()
        yield from enumerate(sheet.iter_rows(values_only=True), start=1)
    finally:
        workbook.close()


def _is_blank(cells: _Cells) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


# --- cell parsing ------------------------------------------------------------------------------


def _text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    return _SPACES.sub(" ", str(cell)).strip()


class _RowInvalid(Exception):
    def __init__(self, error: RowError) -> None:
        super().__init__(error.code)
        self.error = error


def _parse_date(cell: object, fld: Field, rules: _RosterRules) -> date | None:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        try:
            return rules.excel_epoch + timedelta(days=int(cell))
        except OverflowError:
            raise _RowInvalid(RowError(RowErrorCode.BAD_DATE, fld, _text(cell))) from None
    text = _text(cell)
    if not text:
        return None
    # "2025-01-31 00:00:00" / "2025-01-31T00:00" from spreadsheet or database exports.
    candidate = re.split(r"[ T]", text, maxsplit=1)[0]
    for fmt in rules.date_formats:
        try:
            return datetime.strptime(candidate, fmt).date()  # noqa: DTZ007 - a date, no time
        except ValueError:
            continue
    raise _RowInvalid(RowError(RowErrorCode.BAD_DATE, fld, text))


def _parse_programmes(text: str, rules: _RosterRules) -> frozenset[Programme]:
    found: set[Programme] = set()
    for part in _PROGRAMME_SEPARATORS.split(text):
        key = _norm(part)
        if not key:
            continue
        if key in rules.programmes:
            found.add(rules.programmes[key])
            continue
        # "JKK JKM": space-separated codes.
        for word in key.split(" "):
            if word not in rules.programmes:
                raise _RowInvalid(
                    RowError(RowErrorCode.UNKNOWN_PROGRAMME, Field.PROGRAMMES, part.strip())
                )
            found.add(rules.programmes[word])
    if not found:
        raise _RowInvalid(RowError(RowErrorCode.MISSING_VALUE, Field.PROGRAMMES))
    return frozenset(found)


class RosterReader:
    """Iterates the data rows of an opened roster; use as a context manager to close the file.

    Iteration is single-pass: the rows are streamed from the file.
    """

    def __init__(
        self,
        rows: Iterator[tuple[int, _Cells]],
        *,
        today: date,
        close: Callable[[], None] | None = None,
    ) -> None:
        """Read the header row from ``rows`` (use :func:`open_roster` rather than this).

        Args:
            rows: ``(line_no, cells)`` pairs from a CSV or XLSX source.
            today: Date used to resolve the century of NIK birth dates.
            close: Called by :meth:`close` to release what :func:`open_roster` opened.
        """
        self._rows = rows
        self._today = today
        self._close = close
        self._rules = _rules()
        self._positions: dict[Field, int] = {}
        self._headers: dict[Field, str] = {}
        self._problems: list[HeaderProblem] = []
        self._read_header()

    def _read_header(self) -> None:
        for _line_no, cells in self._rows:
            if not _is_blank(cells):
                break
        else:
            self._problems.append(HeaderProblem(HeaderProblemCode.EMPTY_FILE))
            return
        for index, cell in enumerate(cells):
            header = _norm(_text(cell))
            for fld, rule in self._rules.columns.items():
                if header in rule.aliases and fld not in self._positions:
                    self._positions[fld] = index
                    self._headers[fld] = _text(cell).replace("\ufeff", "")
        self._problems.extend(
            HeaderProblem(HeaderProblemCode.MISSING_COLUMN, fld)
            for fld, rule in self._rules.columns.items()
            if rule.required and fld not in self._positions
        )

    def header_problems(self) -> list[HeaderProblem]:
        """Return the header problems; rows should not be imported unless this is empty."""
        return list(self._problems)

    @property
    def columns(self) -> Mapping[Field, str]:
        """The header text matched for each recognised field."""
        return dict(self._headers)

    def __iter__(self) -> Iterator[RowResult]:
        """Yield one :class:`RowResult` per non-blank data row (nothing if the header is bad)."""
        if self._problems:
            return
        for line_no, cells in self._rows:
            if _is_blank(cells):
                continue
            try:
                row = self._parse(cells)
            except _RowInvalid as invalid:
                yield RowResult(line_no, None, invalid.error)
            else:
                yield RowResult(line_no, row, None)

    def _cell(self, cells: _Cells, fld: Field) -> object:
        index = self._positions.get(fld)
        if index is None or index >= len(cells):
            return None
        return cells[index]

    def _required_text(self, cells: _Cells, fld: Field) -> str:
        text = _text(self._cell(cells, fld))
        if not text and not self._rules.columns[fld].allow_empty:
            code = RowErrorCode.MISSING_NAME if fld is Field.NAME else RowErrorCode.MISSING_VALUE
            raise _RowInvalid(RowError(code, fld))
        return text

    def _date(self, cells: _Cells, fld: Field) -> date | None:
        self._required_text(cells, fld)  # blank check
        return _parse_date(self._cell(cells, fld), fld, self._rules)

    def _parse(self, cells: _Cells) -> RosterRow:
        for cell in cells:
            if isinstance(cell, str) and _REPLACEMENT_CHAR in cell:
                raise _RowInvalid(RowError(RowErrorCode.BAD_ENCODING))
        rules = self._rules
        warnings: list[RowWarningCode] = []

        nik_cell = self._cell(cells, Field.NIK)
        nik_text = self._required_text(cells, Field.NIK)
        if isinstance(nik_cell, int | float) and not isinstance(nik_cell, bool):
            warnings.append(RowWarningCode.NIK_NUMERIC_CELL)
        nik = parse_nik(nik_text, today=self._today)
        if not isinstance(nik, Nik):
            raise _RowInvalid(RowError(RowErrorCode.BAD_NIK, Field.NIK, nik_text, nik.error))

        name = self._required_text(cells, Field.NAME)

        kpj = re.sub(r"[\s.\-]", "", self._required_text(cells, Field.KPJ)) or None
        if kpj is not None and not (
            kpj.isascii() and kpj.isdigit() and rules.kpj_min <= len(kpj) <= rules.kpj_max
        ):
            raise _RowInvalid(RowError(RowErrorCode.BAD_KPJ, Field.KPJ, kpj))

        programmes = _parse_programmes(self._required_text(cells, Field.PROGRAMMES), rules)

        payer_text = self._required_text(cells, Field.PAYER)
        payer = rules.payers.get(_norm(payer_text))
        if payer is None:
            raise _RowInvalid(RowError(RowErrorCode.UNKNOWN_PAYER, Field.PAYER, payer_text))

        coverage_start = self._date(cells, Field.COVERAGE_START)
        paid_until = self._date(cells, Field.PAID_UNTIL)
        birth_date = self._date(cells, Field.BIRTH_DATE)
        if coverage_start is None:  # only when the data file allows a blank start
            raise _RowInvalid(RowError(RowErrorCode.MISSING_VALUE, Field.COVERAGE_START))
        if paid_until is not None and coverage_start > paid_until:
            raise _RowInvalid(
                RowError(
                    RowErrorCode.START_AFTER_PAID_UNTIL,
                    Field.COVERAGE_START,
                    coverage_start.isoformat(),
                    paid_until.isoformat(),
                )
            )
        if birth_date is not None and birth_date != nik.birth_date:
            warnings.append(RowWarningCode.NIK_BIRTH_DATE_MISMATCH)

        return RosterRow(
            nik=nik.digits,
            name=name,
            kpj=kpj,
            programmes=programmes,
            payer=payer,
            coverage_start=coverage_start,
            paid_until=paid_until,
            birth_date=birth_date,
            warnings=tuple(warnings),
        )

    def close(self) -> None:
        """Stop reading and close the underlying file if :func:`open_roster` opened it."""
        rows = self._rows
        if isinstance(rows, Generator):
            rows.close()  # runs the XLSX source's cleanup (workbook.close)
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> Self:
        """Return self."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the reader."""
        self.close()


def _kind(name: str, head: bytes) -> str:
    suffix = Path(name).suffix.casefold()
    if suffix in _XLSX_SUFFIXES:
        return "xlsx"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    raise RosterFormatError(RosterFormatErrorCode.UNSUPPORTED_TYPE, suffix)


def open_roster(
    path_or_file: str | os.PathLike[str] | IO[bytes] | IO[str],
    filename: str | None = None,
    *,
    today: date | None = None,
) -> RosterReader:
    """Open a CSV or XLSX roster and read its header.

    Args:
        path_or_file: A path, or an open file object (binary for XLSX; binary or text for CSV).
            A file object passed in is not closed by the reader.
        filename: The uploaded file's name, used to tell CSV from XLSX; defaults to the path's
            name. Without a known suffix, a ZIP signature means XLSX.
        today: Date used to resolve NIK birth-date centuries; defaults to today in Balangan.

    Returns:
        A reader: check :meth:`RosterReader.header_problems`, then iterate for rows.

    Raises:
        RosterFormatError: Unsupported file type or unreadable XLSX.
    """
    today = today or regency_today()
    if isinstance(path_or_file, str | os.PathLike):
        path = Path(path_or_file)
        with path.open("rb") as probe:
            head = probe.read(4)
        if _kind(filename or path.name, head) == "xlsx":
            return RosterReader(_xlsx_rows(path), today=today)
        stream = path.open(encoding="utf-8-sig", errors="replace", newline="")
        return RosterReader(_csv_rows(stream), today=today, close=stream.close)

    file_obj: IO[Any] = path_or_file
    if isinstance(file_obj.read(0), str):
        if filename is not None and _kind(filename, b"") == "xlsx":
            raise RosterFormatError(RosterFormatErrorCode.UNREADABLE_XLSX, "text stream")
        return RosterReader(_csv_rows(file_obj), today=today)
    start = file_obj.tell()
    head = file_obj.read(4)
    file_obj.seek(start)
    if _kind(filename or str(getattr(file_obj, "name", "")), head) == "xlsx":
        return RosterReader(_xlsx_rows(file_obj), today=today)
    # A codecs reader, unlike io.TextIOWrapper, never closes the caller's file when collected.
    text = codecs.getreader("utf-8-sig")(file_obj, "replace")
    return RosterReader(_csv_rows(text), today=today)
