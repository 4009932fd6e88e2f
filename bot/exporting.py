"""Admin exports: submissions, the roster and facilitator activity as CSV or XLSX, streamed.

Rows are read from the database in keyset pages (each page its own short transaction, see
:mod:`storage.repos.admin`) and written to a file as they arrive — CSV through :mod:`csv`, XLSX
through openpyxl's ``write_only`` workbook, which spools rows to disk instead of building a sheet
in memory. Page conversion and writing run in a worker thread so the bot keeps answering while a
large file is written. Memory is bounded by the page size, whatever the number of rows.

Column headers and code labels (statuses, payers...) are English msgids translated for the admin
who asked; dates are real date cells in XLSX and ISO text in CSV. Free text typed by people
(names, occupations, reasons) is written so that a spreadsheet never reads it as a formula.
"""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Protocol

from bot.domain import wilayah
from bot.domain.coverage import CoverageState
from bot.domain.dates import DateInvalid, parse_birth_date
from bot.domain.income import income_range
from bot.domain.occupations import occupation
from bot.i18n import N_, Translator
from bot.review import match_headers, match_sex
from bot.statistics import local_midnight, protected_from, regency_zone
from storage.db import Database
from storage.models.registration import EntryRole, SubmissionStatus
from storage.repos.admin import CoverageWindow, RosterFilter, SubmissionFilter

#: Rows read per database page (and written per worker-thread call).
DEFAULT_PAGE_SIZE = 2000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_RANGE_SEPARATORS = re.compile(
    r"\s+(?:-|–|—|s/d|s\.d\.?|sd|sampai|hingga|to|until)\s+|\s*[–—]\s*", re.IGNORECASE
)
#: Any date a range may name: the birth-date parser with no age limit.
_ANY_AGE = 0, 200

Cell = str | int | date | datetime | None


class ExportKind(StrEnum):
    """What an export contains."""

    SUBMISSIONS = "sub"
    ROSTER = "ros"
    FACILITATORS = "fac"


class ExportFormat(StrEnum):
    """The file type."""

    CSV = "csv"
    XLSX = "xlsx"


class DatePreset(StrEnum):
    """Date ranges offered as buttons."""

    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    THIS_MONTH = "tm"
    LAST_MONTH = "lm"
    THIS_YEAR = "ty"


KIND_LABELS: Mapping[ExportKind, str] = MappingProxyType(
    {
        ExportKind.SUBMISSIONS: N_("Registrations"),
        ExportKind.ROSTER: N_("Participants (roster)"),
        ExportKind.FACILITATORS: N_("Facilitator activity"),
    }
)
#: What the date filter applies to, per kind.
DATE_FIELD_LABELS: Mapping[ExportKind, str] = MappingProxyType(
    {
        ExportKind.SUBMISSIONS: N_("date sent"),
        ExportKind.ROSTER: N_("coverage start"),
        ExportKind.FACILITATORS: N_("date entered"),
    }
)
PRESET_LABELS: Mapping[DatePreset, str] = MappingProxyType(
    {
        DatePreset.LAST_7_DAYS: N_("Last 7 days"),
        DatePreset.LAST_30_DAYS: N_("Last 30 days"),
        DatePreset.THIS_MONTH: N_("This month"),
        DatePreset.LAST_MONTH: N_("Last month"),
        DatePreset.THIS_YEAR: N_("This year"),
    }
)
SUBMISSION_STATUS_LABELS: Mapping[str, str] = MappingProxyType(
    {
        SubmissionStatus.DRAFT.value: N_("Draft"),
        SubmissionStatus.SUBMITTED.value: N_("Waiting for review"),
        SubmissionStatus.VERIFIED.value: N_("Verified"),
        SubmissionStatus.REJECTED.value: N_("Rejected"),
        SubmissionStatus.REGISTERED.value: N_("Registered with BPJS"),
    }
)
COVERAGE_STATE_LABELS: Mapping[str, str] = MappingProxyType(
    {
        CoverageState.ACTIVE.value: N_("Active"),
        CoverageState.GRACE.value: N_("Unpaid, still protected"),
        CoverageState.NONAKTIF.value: N_("Nonaktif"),
        CoverageState.NO_PAYMENT.value: N_("No payment recorded"),
        CoverageState.NOT_STARTED.value: N_("Not started yet"),
    }
)
PAYER_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "apbd": N_("Regency budget (APBD)"),
        "apbn": N_("National budget (APBN)"),
        "self": N_("Self-paying"),
        "other": N_("Other party"),
    }
)
ENTRY_LABELS: Mapping[str, str] = MappingProxyType(
    {EntryRole.SELF.value: N_("Self"), EntryRole.FACILITATOR.value: N_("Facilitator")}
)
SEX_LABELS: Mapping[str, str] = MappingProxyType({"male": N_("Male"), "female": N_("Female")})

#: Statuses an admin can filter on, per kind (the roster's are coverage states).
STATUS_CHOICES: Mapping[ExportKind, tuple[str, ...]] = MappingProxyType(
    {
        ExportKind.SUBMISSIONS: tuple(
            s.value for s in SubmissionStatus if s is not SubmissionStatus.DRAFT
        ),
        ExportKind.ROSTER: tuple(s.value for s in CoverageState),
        ExportKind.FACILITATORS: tuple(s.value for s in SubmissionStatus),
    }
)

_SUBMISSION_HEADERS = (
    N_("Reference"),
    N_("Status"),
    N_("Sent at (WITA)"),
    N_("NIK"),
    N_("Name"),
    N_("Date of birth"),
    N_("Sex"),
    N_("Mobile number"),
    N_("Kecamatan"),
    N_("Desa"),
    N_("Occupation"),
    N_("Income"),
    N_("Contribution base"),
    N_("Payer expected"),
    N_("JHT"),
    N_("Pekerja Rentan candidate"),
    N_("Monthly contribution"),
    N_("Entered by"),
    N_("Entered by (Telegram id)"),
    N_("Reason not accepted"),
)
_ROSTER_HEADERS = (
    N_("NIK"),
    N_("Name"),
    N_("KPJ"),
    N_("Programmes"),
    N_("Payer"),
    N_("Coverage start"),
    N_("Paid until"),
    N_("Coverage today"),
    N_("Date of birth"),
    N_("Kecamatan"),
    N_("Desa"),
    N_("Linked to Telegram"),
)
_FACILITATOR_HEADERS = (
    N_("Facilitator (Telegram id)"),
    N_("Name"),
    N_("Mobile number"),
    N_("Entries"),
    N_("Draft"),
    N_("Waiting for review"),
    N_("Verified"),
    N_("Rejected"),
    N_("Registered with BPJS"),
    N_("First entry (WITA)"),
    N_("Last entry (WITA)"),
)
HEADERS: Mapping[ExportKind, tuple[str, ...]] = MappingProxyType(
    {
        ExportKind.SUBMISSIONS: _SUBMISSION_HEADERS,
        ExportKind.ROSTER: _ROSTER_HEADERS,
        ExportKind.FACILITATORS: _FACILITATOR_HEADERS,
    }
)


# --- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """What the admin chose (None: everything).

    Attributes:
        kecamatan_code: Kecamatan of residence.
        desa_code: Desa of residence (within the kecamatan).
        status: A value of :data:`STATUS_CHOICES` for the kind.
        date_from: First day (WITA), inclusive.
        date_to: Last day (WITA), inclusive.
    """

    kecamatan_code: str | None = None
    desa_code: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def to_json(self) -> dict[str, str]:
        """The filters that are set, as strings (conversation scratch data and audit log)."""
        values = {
            "kecamatan": self.kecamatan_code,
            "desa": self.desa_code,
            "status": self.status,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
        }
        return {key: value for key, value in values.items() if value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExportFilters:
        """Rebuild from :meth:`to_json` output; unknown or malformed values are dropped."""

        def day(key: str) -> date | None:
            raw = data.get(key)
            try:
                return date.fromisoformat(raw) if isinstance(raw, str) else None
            except ValueError:
                return None

        def text(key: str) -> str | None:
            raw = data.get(key)
            return raw if isinstance(raw, str) and raw else None

        return cls(text("kecamatan"), text("desa"), text("status"), day("from"), day("to"))

    def submission_filter(self) -> SubmissionFilter:
        """The repository filter; the WITA days become UTC bounds."""
        return SubmissionFilter(
            kecamatan_code=self.kecamatan_code,
            desa_code=self.desa_code,
            status=self.status,
            since=local_midnight(self.date_from) if self.date_from else None,
            until=local_midnight(self.date_to + timedelta(days=1)) if self.date_to else None,
        )

    def roster_filter(self) -> RosterFilter:
        """The repository filter for the roster (the dates bound the coverage start)."""
        return RosterFilter(
            kecamatan_code=self.kecamatan_code,
            desa_code=self.desa_code,
            state=self.status,
            start_from=self.date_from,
            start_until=self.date_to,
        )


def preset_range(preset: DatePreset, today: date) -> tuple[date, date]:
    """The first and last day of a preset range ending today (or last month)."""
    match preset:
        case DatePreset.LAST_7_DAYS:
            return today - timedelta(days=6), today
        case DatePreset.LAST_30_DAYS:
            return today - timedelta(days=29), today
        case DatePreset.THIS_MONTH:
            return today.replace(day=1), today
        case DatePreset.LAST_MONTH:
            last = today.replace(day=1) - timedelta(days=1)
            return last.replace(day=1), last
        case DatePreset.THIS_YEAR:
            return today.replace(month=1, day=1), today
    raise ValueError(preset)


def parse_date_range(text: str, *, today: date) -> tuple[date, date] | None:
    """Read a typed range: ``1-1-2026 sampai 31-3-2026``, ``1/1/26 - 31/3/26`` or one day.

    Each date is read like a birth date (day first; month names in Indonesian or English;
    ``2026-01-31`` too) and may not be after ``today``. Reversed dates are swapped.

    Returns:
        ``(first, last)``, or None when the text is not one or two dates.
    """
    parts = [part for part in _RANGE_SEPARATORS.split(text.strip()) if part.strip()]
    if not 1 <= len(parts) <= 2:
        return None
    days = []
    for part in parts:
        parsed = parse_birth_date(part, today=today, min_age=_ANY_AGE[0], max_age=_ANY_AGE[1])
        if isinstance(parsed, DateInvalid):
            return None
        days.append(parsed)
    first, last = days[0], days[-1]
    return (first, last) if first <= last else (last, first)


# --- writers -------------------------------------------------------------------------------------


class RowWriter(Protocol):
    """Writes rows to a file as they come (blocking; called from a worker thread)."""

    def write_rows(self, rows: Iterable[Sequence[Cell]]) -> None:
        """Append rows."""

    def close(self) -> None:
        """Finish the file."""


def _csv_cell(value: Cell) -> str | int:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return value


class CsvRowWriter:
    """UTF-8 CSV with a byte-order mark, so spreadsheet programs read the accents right."""

    __slots__ = ("_file", "_writer")

    def __init__(self, path: Path) -> None:
        self._file: IO[str] = path.open("w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._file)

    def write_rows(self, rows: Iterable[Sequence[Cell]]) -> None:
        """Append rows."""
        self._writer.writerows([_csv_cell(value) for value in row] for row in rows)

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


class XlsxRowWriter:
    """An XLSX workbook in openpyxl's write-only mode (rows spooled to disk, not kept)."""

    __slots__ = ("_path", "_sheet", "_workbook")

    def __init__(self, path: Path, title: str) -> None:
        from openpyxl import Workbook

        self._path = path
        self._workbook = Workbook(write_only=True)
        # Sheet titles: at most 31 characters, none of []:*?/\ .
        self._sheet = self._workbook.create_sheet(re.sub(r"[\[\]:*?/\\]", " ", title)[:31])

    def write_rows(self, rows: Iterable[Sequence[Cell]]) -> None:
        """Append rows (dates become date cells)."""
        for row in rows:
            self._sheet.append(list(row))

    def close(self) -> None:
        """Write the workbook to its path."""
        self._workbook.save(self._path)


def open_writer(fmt: ExportFormat, path: Path, title: str) -> RowWriter:
    """A writer for ``fmt`` at ``path`` (``title`` names the XLSX sheet)."""
    if fmt is ExportFormat.XLSX:
        return XlsxRowWriter(path, title)
    return CsvRowWriter(path)


def safe_text(value: str | None) -> str | None:
    """Text typed by a person, made harmless for spreadsheets (a leading ``=`` is no formula)."""
    if value and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


# --- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportResult:
    """A written export file."""

    path: Path
    file_name: str
    rows: int
    size: int


def _local(moment: datetime | None) -> datetime | None:
    # XLSX cannot hold time zones: write WITA wall time, as the header says.
    if moment is None:
        return None
    return moment.astimezone(regency_zone()).replace(tzinfo=None)


def _label(t: Translator, labels: Mapping[str, str], code: str | None) -> str | None:
    if code is None:
        return None
    msgid = labels.get(code)
    return t.raw(msgid) if msgid else code


def _yes_no(t: Translator, value: bool | None) -> str | None:
    if value is None:
        return None
    return t.raw(N_("Yes")) if value else t.raw(N_("No"))


def _kecamatan_name(code: str | None) -> str | None:
    found = wilayah.kecamatan_by_code(code) if code else None
    return found.name if found is not None else code


def _desa_name(code: str | None) -> str | None:
    found = wilayah.desa_by_code(code) if code else None
    return found.name if found is not None else code


def _occupation_text(t: Translator, code: str | None, typed: str | None) -> str | None:
    job = occupation(code) if code else None
    if job is None:
        return safe_text(typed) or code
    return safe_text(typed) if job.free_text and typed else t.raw(job.label)


def submission_cells(t: Translator, row: Any) -> list[Cell]:
    """One submission as export cells (in :data:`HEADERS` order)."""
    income = income_range(row.income_code) if row.income_code else None
    return [
        row.reference,
        _label(t, SUBMISSION_STATUS_LABELS, row.status),
        _local(row.submitted_at),
        row.nik,
        safe_text(row.full_name),
        row.birth_date,
        _label(t, SEX_LABELS, row.sex),
        row.phone,
        _kecamatan_name(row.kecamatan_code),
        _desa_name(row.desa_code),
        _occupation_text(t, row.occupation_code, row.occupation_text),
        t.raw(income.label) if income is not None else row.income_code,
        row.contribution_base,
        _label(t, PAYER_LABELS, row.payer),
        _yes_no(t, row.with_jht),
        _yes_no(t, row.rentan_candidate),
        row.contribution_total,
        _label(t, ENTRY_LABELS, row.entered_by_role),
        row.entered_by_user_id,
        safe_text(t.raw(row.rejection_reason)) if row.rejection_reason else None,
    ]


def _prefix_kecamatan(nik: str) -> str | None:
    for kecamatan in wilayah.kecamatan_list():
        if nik.startswith(kecamatan.nik_prefix):
            return kecamatan.name
    return None


def roster_cells(t: Translator, row: Any) -> list[Cell]:
    """One roster row as export cells (in :data:`HEADERS` order)."""
    kecamatan = (
        _kecamatan_name(row.kecamatan_code) if row.kecamatan_code else _prefix_kecamatan(row.nik)
    )
    return [
        row.nik,
        safe_text(row.name),
        row.kpj,
        row.programmes.upper().replace(",", "+"),
        _label(t, PAYER_LABELS, row.payer),
        row.coverage_start,
        row.paid_until,
        _label(t, COVERAGE_STATE_LABELS, row.state),
        row.birth_date,
        kecamatan,
        _desa_name(row.desa_code),
        _yes_no(t, row.telegram_user_id is not None),
    ]


def facilitator_cells(row: Any) -> list[Cell]:
    """One facilitator's activity as export cells (in :data:`HEADERS` order)."""
    return [
        row.facilitator_id,
        safe_text(row.facilitator_name),
        row.facilitator_phone,
        int(row.total),
        *(int(getattr(row, status.value) or 0) for status in SubmissionStatus),
        _local(row.first_at),
        _local(row.last_at),
    ]


async def _pages(
    db: Database,
    kind: ExportKind,
    filters: ExportFilters,
    today: date,
    page_size: int,
) -> AsyncIterator[Sequence[Any]]:
    if kind is ExportKind.FACILITATORS:
        async with db.transaction() as repo:
            rows = await repo.admin.facilitator_activity(filters.submission_filter())
        if rows:
            yield rows
        return
    if kind is ExportKind.SUBMISSIONS:
        flt = filters.submission_filter()
        after_id = 0
        while True:
            async with db.transaction() as repo:
                rows = await repo.admin.submissions_page(flt, after_id=after_id, limit=page_size)
            if not rows:
                return
            yield rows
            after_id = rows[-1].id
    window = CoverageWindow(today=today, protected_from=protected_from(today))
    roster = filters.roster_filter()
    kecamatan = wilayah.kecamatan_by_code(filters.kecamatan_code or "")
    prefix = kecamatan.nik_prefix if kecamatan is not None else None
    after_index = ""
    while True:
        async with db.transaction() as repo:
            rows = await repo.admin.roster_page(
                roster, window, after_index=after_index, limit=page_size, kecamatan_prefix=prefix
            )
        if not rows:
            return
        yield rows
        after_index = rows[-1].nik_index


def file_name(kind: ExportKind, fmt: ExportFormat, today: date) -> str:
    """``pendaftaran-20261121.xlsx`` and the like (names are for Indonesian staff)."""
    stem = {
        ExportKind.SUBMISSIONS: "pendaftaran",
        ExportKind.ROSTER: "peserta",
        ExportKind.FACILITATORS: "fasilitator",
    }[kind]
    return f"{stem}-{today:%Y%m%d}.{fmt.value}"


async def export_to_file(
    db: Database,
    *,
    kind: ExportKind,
    fmt: ExportFormat,
    filters: ExportFilters,
    today: date,
    t: Translator,
    folder: Path,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> ExportResult:
    """Write one export into ``folder``, a page at a time.

    Args:
        db: The database (each page is read in its own transaction).
        kind: What to export.
        fmt: CSV or XLSX.
        filters: The admin's choices.
        today: The regency's date (coverage states, file name).
        t: The admin's translator (headers and labels).
        folder: Where to write (a temporary directory the caller removes).
        page_size: Rows per page.

    Returns:
        The file, its row count (without the header) and size.
    """
    name = file_name(kind, fmt, today)
    path = folder / name
    writer = await asyncio.to_thread(open_writer, fmt, path, t.raw(KIND_LABELS[kind]))
    count = 0
    try:
        headers = [t.raw(header) for header in HEADERS[kind]]
        await asyncio.to_thread(writer.write_rows, [headers])
        async for rows in _pages(db, kind, filters, today, page_size):
            await asyncio.to_thread(_write_page, writer, kind, t, rows)
            count += len(rows)
    finally:
        await asyncio.to_thread(writer.close)
    return ExportResult(path=path, file_name=name, rows=count, size=path.stat().st_size)


def _write_page(writer: RowWriter, kind: ExportKind, t: Translator, rows: Sequence[Any]) -> None:
    if kind is ExportKind.SUBMISSIONS:
        writer.write_rows(submission_cells(t, row) for row in rows)
    elif kind is ExportKind.ROSTER:
        writer.write_rows(roster_cells(t, row) for row in rows)
    else:
        writer.write_rows(facilitator_cells(row) for row in rows)


# --- the batch for BPJS Ketenagakerjaan / Disdukcapil matching -------------------------------------


def match_cells(t: Translator, submission: Any) -> list[Cell]:
    """One verified submission as a row of the matching file (result columns left blank)."""
    return [
        submission.reference,
        submission.nik,
        safe_text(submission.full_name),
        submission.birth_date,
        match_sex(submission.sex),
        submission.phone,
        _kecamatan_name(submission.kecamatan_code),
        _desa_name(submission.desa_code),
        _occupation_text(t, submission.occupation_code, submission.occupation_text),
        submission.payer,
        None,
        None,
        None,
    ]


def match_file_name(fmt: ExportFormat, today: date) -> str:
    """``pencocokan-20261121.csv`` and the like."""
    return f"pencocokan-{today:%Y%m%d}.{fmt.value}"


async def export_match_batch(
    db: Database,
    *,
    fmt: ExportFormat,
    today: date,
    t: Translator,
    folder: Path,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> ExportResult:
    """Write every verified submission into the matching file (headers from ``review.toml``).

    The file goes to BPJS Ketenagakerjaan / Disdukcapil; the same file, with the result columns
    filled in, is read back by :class:`bot.review.MatchReader`.
    """
    name = match_file_name(fmt, today)
    path = folder / name
    writer = await asyncio.to_thread(open_writer, fmt, path, "pencocokan")
    count = 0
    try:
        await asyncio.to_thread(writer.write_rows, [list(match_headers())])
        after_id = 0
        while True:
            async with db.transaction() as repo:
                page = await repo.admin.verified_page(after_id=after_id, limit=page_size)
            if not page:
                break
            await asyncio.to_thread(writer.write_rows, [match_cells(t, s) for s in page])
            count += len(page)
            after_id = page[-1].id or after_id
    finally:
        await asyncio.to_thread(writer.close)
    return ExportResult(path=path, file_name=name, rows=count, size=path.stat().st_size)
