"""Loading a roster file into the database: the one service behind the chat upload and the CLI.

The file is streamed (:mod:`bot.domain.roster`), parsed in a worker thread a batch at a time, and
each batch is written in **one transaction**: the stored values of the batch's NIKs are read in one
query, every row is classified as new, changed or unchanged, and the new and changed rows are
upserted by NIK in one ``INSERT ... ON CONFLICT DO UPDATE``. A row is never half applied, the
same file imported twice changes nothing the second time (every row counts as unchanged), and
memory stays bounded whatever the file size.

A NIK that appears twice in one file keeps its first row; the later one is reported as a bad row
(``duplicate_nik``). The NIKs seen so far are kept as a sorted array of 64-bit integers
(8 bytes each), not a set of strings.

Each import is recorded (who, when, file, counts, outcome) in ``roster_imports``, and in the
audit log; afterwards the roster rows are linked to accounts that registered the same NIK and
reminders are planned again.
"""

from __future__ import annotations

import array
import asyncio
import bisect
import heapq
import html
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.coverage_lookup import programmes_to_text, regency_date
from bot.domain.roster import (
    HeaderProblem,
    RosterFormatError,
    RosterReader,
    RosterRow,
    RowError,
    RowErrorCode,
    RowResult,
    open_roster,
)
from bot.reminder_sender import plan_all
from storage.db import Database
from storage.models.coverage import ImportStatus, ImportVia
from storage.repos.coverage import ROSTER_DATA_COLUMNS, RosterValues

if TYPE_CHECKING:
    from bot.i18n import Translator

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
#: Bad rows kept for the report (the rest are only counted).
DEFAULT_KEEP_BAD = 10


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """Rows seen so far: read = inserted + updated + unchanged + bad."""

    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts keyed like the ``roster_imports`` columns."""
        return {
            "rows_read": self.rows_read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "bad": self.bad,
        }


@dataclass(frozen=True, slots=True)
class BadRow:
    """A rejected data row: its line in the file and why."""

    line_no: int
    error: RowError


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """Reported after every batch: counts so far and, when known, the estimated total rows."""

    counts: ImportCounts
    total_estimate: int | None


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The outcome of one import.

    Attributes:
        import_id: The ``roster_imports`` row.
        status: Done, or failed (then nothing or only earlier batches were written).
        counts: Final counts.
        bad_rows: The first bad rows (at most ``keep_bad``), in file order.
        header_problems: Why the header was refused (the file was not imported).
        format_error: Why the file could not be read at all (a ``RosterFormatErrorCode``).
        data_date: The regency date the import finished ("data per ...").
        linked: Roster rows newly linked to the account that registered the NIK.
    """

    import_id: int
    status: ImportStatus
    counts: ImportCounts
    bad_rows: tuple[BadRow, ...] = ()
    header_problems: tuple[HeaderProblem, ...] = ()
    format_error: str | None = None
    data_date: date | None = None
    linked: int = 0


ProgressCallback = Callable[[ImportProgress], Awaitable[None]]
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _SeenNiks:
    """NIKs already read from this file: a sorted ``array('q')``, merged in once per batch."""

    __slots__ = ("_sorted",)

    def __init__(self) -> None:
        self._sorted = array.array("q")

    def __contains__(self, nik: int) -> bool:
        index = bisect.bisect_left(self._sorted, nik)
        return index < len(self._sorted) and self._sorted[index] == nik

    def add_batch(self, niks: list[int]) -> None:
        self._sorted = array.array("q", heapq.merge(self._sorted, sorted(niks)))


def _values(row: RosterRow) -> RosterValues:
    # Same order as ROSTER_DATA_COLUMNS.
    return (
        row.name,
        row.kpj,
        programmes_to_text(row.programmes),
        row.payer.value,
        row.coverage_start,
        row.paid_until,
        row.birth_date,
    )


def estimate_rows(path: Path) -> int | None:
    """A cheap estimate of a roster's data rows (for a progress bar); None when unknown.

    CSV: the number of line breaks minus the header. XLSX: the sheet's stored dimension.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
            if head.startswith(b"PK\x03\x04"):
                return _xlsx_rows_estimate(path)
            handle.seek(0)
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None
    return max(0, lines - 1)


def _xlsx_rows_estimate(path: Path) -> int | None:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True)
    except Exception:  # a damaged file is reported by the import itself
        return None
    try:
        rows = workbook.worksheets[0].max_row
    finally:
        workbook.close()
    return max(0, rows - 1) if rows else None


def _take(rows: Iterator[RowResult], size: int) -> list[RowResult]:
    batch: list[RowResult] = []
    for result in rows:
        batch.append(result)
        if len(batch) >= size:
            break
    return batch


@dataclass(slots=True)
class _Run:
    """Mutable state of one import run (kept off module level)."""

    import_id: int
    keep_bad: int
    counts: ImportCounts = ImportCounts()
    bad_rows: list[BadRow] = field(default_factory=list)
    seen: _SeenNiks = field(default_factory=_SeenNiks)

    def add_bad(self, line_no: int, error: RowError) -> None:
        if len(self.bad_rows) < self.keep_bad:
            self.bad_rows.append(BadRow(line_no, error))


async def import_roster(
    db: Database,
    source: str | os.PathLike[str],
    *,
    file_name: str | None = None,
    actor_id: int | None,
    via: ImportVia,
    clock: Clock = _utcnow,
    progress: ProgressCallback | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    keep_bad: int = DEFAULT_KEEP_BAD,
) -> ImportResult:
    """Import a roster file (CSV or XLSX) into the database.

    Args:
        db: The database.
        source: Path of the file (an upload is first saved to a temporary file).
        file_name: The name to record and to tell CSV from XLSX (default: the path's name).
        actor_id: The admin's Telegram id, or None for the command line.
        via: Chat upload or command line.
        clock: The current time (tests move it); the regency date of NIK checks comes from it.
        progress: Awaited after every batch with the counts so far.
        batch_size: Rows per transaction.
        keep_bad: How many bad rows to keep for the report.

    Returns:
        The outcome; a file that cannot be read or whose header is wrong gives status failed.
    """
    path = Path(source)
    name = file_name or path.name
    async with db.transaction() as repo:
        record = await repo.coverage.start_import(
            actor_id=actor_id, via=via.value, file_name=name[:255], now=clock()
        )
        assert record.id is not None
        import_id = record.id
    run = _Run(import_id=import_id, keep_bad=keep_bad)
    try:
        result = await _import_rows(db, path, name, run, clock, progress, batch_size)
    except BaseException:
        log.exception("roster import %d failed", import_id)
        await _finish(db, run, ImportStatus.FAILED, clock, error="crashed")
        raise
    if result.status is ImportStatus.DONE:
        linked = await _after_import(db, clock)
        result = ImportResult(
            import_id=result.import_id,
            status=result.status,
            counts=result.counts,
            bad_rows=result.bad_rows,
            data_date=result.data_date,
            linked=linked,
        )
    return result


async def _import_rows(
    db: Database,
    path: Path,
    name: str,
    run: _Run,
    clock: Clock,
    progress: ProgressCallback | None,
    batch_size: int,
) -> ImportResult:
    today = regency_date(clock())
    try:
        reader: RosterReader = await asyncio.to_thread(open_roster, path, name, today=today)
    except RosterFormatError as exc:
        await _finish(db, run, ImportStatus.FAILED, clock, error=exc.code.value)
        return ImportResult(run.import_id, ImportStatus.FAILED, run.counts, format_error=exc.code)
    with reader:
        problems = tuple(reader.header_problems())
        if problems:
            await _finish(db, run, ImportStatus.FAILED, clock, error=problems[0].code.value)
            return ImportResult(
                run.import_id, ImportStatus.FAILED, run.counts, header_problems=problems
            )
        total = await asyncio.to_thread(estimate_rows, path)
        rows = iter(reader)
        while True:
            # Parsing is CPU and file work: keep it off the event loop so the bot stays responsive.
            batch = await asyncio.to_thread(_take, rows, batch_size)
            if not batch:
                break
            await _write_batch(db, batch, run, clock)
            if progress is not None:
                await progress(ImportProgress(run.counts, total))
    finished = await _finish(db, run, ImportStatus.DONE, clock)
    return ImportResult(
        run.import_id,
        ImportStatus.DONE,
        run.counts,
        bad_rows=tuple(run.bad_rows),
        data_date=regency_date(finished),
    )


async def _write_batch(db: Database, batch: list[RowResult], run: _Run, clock: Clock) -> None:
    good: dict[str, RosterRow] = {}
    bad = 0
    new_niks: list[int] = []
    for result in batch:
        if result.row is None:
            assert result.error is not None
            run.add_bad(result.line_no, result.error)
            bad += 1
            continue
        nik = result.row.nik
        if nik in good or int(nik) in run.seen:
            run.add_bad(result.line_no, RowError(RowErrorCode.DUPLICATE_NIK))
            bad += 1
            continue
        good[nik] = result.row
        new_niks.append(int(nik))
    run.seen.add_batch(new_niks)

    inserted = updated = unchanged = 0
    now = clock()
    async with db.transaction() as repo:
        stored = await repo.coverage.existing_entries(good.keys())
        writes: list[dict[str, Any]] = []
        for nik, row in good.items():
            values = _values(row)
            before = stored.get(nik)
            if before == values:
                unchanged += 1
                continue
            if before is None:
                inserted += 1
            else:
                updated += 1
            writes.append(
                {
                    "nik": nik,
                    **dict(zip(ROSTER_DATA_COLUMNS, values, strict=True)),
                    "import_id": run.import_id,
                    "updated_at": now,
                }
            )
        await repo.coverage.upsert_entries(writes)
    counts = run.counts
    run.counts = ImportCounts(
        rows_read=counts.rows_read + len(batch),
        inserted=counts.inserted + inserted,
        updated=counts.updated + updated,
        unchanged=counts.unchanged + unchanged,
        bad=counts.bad + bad,
    )


async def _finish(
    db: Database, run: _Run, status: ImportStatus, clock: Clock, *, error: str | None = None
) -> datetime:
    now = clock()
    async with db.transaction() as repo:
        await repo.coverage.finish_import(
            import_id=run.import_id,
            status=status,
            now=now,
            counts=run.counts.as_dict(),
            error=error,
        )
        record = await repo.coverage.get_import(run.import_id)
        await repo.audit.record(
            actor_id=record.actor_id if record is not None else None,
            action="roster_import",
            target=str(run.import_id),
            details={"status": status.value, "error": error, **run.counts.as_dict()},
        )
    return now


async def _after_import(db: Database, clock: Clock) -> int:
    """Link rows to accounts that registered the same NIK, then plan reminders again."""
    async with db.transaction() as repo:
        linked = await repo.coverage.link_from_submissions()
    await plan_all(db, now=clock())
    return linked


# --- command line -------------------------------------------------------------------------------


class TextProgressBar:
    """A one-line progress bar redrawn in place on a terminal stream (``\\r``)."""

    __slots__ = ("_drawn", "_stream", "width")

    def __init__(self, stream: TextIO, *, width: int = 30) -> None:
        """Draw on ``stream`` (normally ``sys.stderr``), ``width`` characters wide."""
        self._stream = stream
        self._drawn = False
        self.width = width

    def render(self, progress: ImportProgress) -> str:
        """The bar for ``progress``: ``[#####.....]  50%  25,000/50,000 rows``."""
        read = progress.counts.rows_read
        total = progress.total_estimate
        if not total:
            return f"{read:,} rows"
        share = min(1.0, read / total)
        filled = round(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        return f"[{bar}] {share:4.0%}  {read:,}/{total:,} rows"

    async def update(self, progress: ImportProgress) -> None:
        """Redraw the bar (a progress callback for :func:`import_roster`)."""
        self._stream.write("\r" + self.render(progress))
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def plain_text(html_text: str) -> str:
    """Telegram HTML turned into terminal text (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"</?[a-z]+>", "", html_text))


async def import_from_cli(
    db: Database,
    path: Path,
    *,
    translator: Translator,
    out: TextIO,
    err: TextIO,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """``python -m bot import-roster FILE``: import with a progress bar, then print the report.

    Args:
        db: The (migrated) database.
        path: The roster file.
        translator: The language of the report (the bot's default language).
        out: Where the report goes (stdout).
        err: Where the progress bar goes (stderr).
        batch_size: Rows per transaction.

    Returns:
        The exit status: 0 imported (bad rows are listed but do not fail it), 1 not imported,
        2 no such file.
    """
    from bot.coverage_texts import import_report

    if not await asyncio.to_thread(path.is_file):
        print(f"No such file: {path}", file=err)
        return 2
    bar = TextProgressBar(err)
    try:
        result = await import_roster(
            db, path, actor_id=None, via=ImportVia.CLI, progress=bar.update, batch_size=batch_size
        )
    finally:
        bar.close()
    print(plain_text(import_report(translator, path.name, result)), file=out)
    return 0 if result.status is ImportStatus.DONE else 1
