"""Pure rules behind the admins' review of submitted registrations.

* **Rejection reasons** an admin picks with one button (``bot/data/review.toml``).
* **Warnings** shown beside a submission: the birth date or sex differs from the NIK, the NIK was
  first issued outside Balangan, the desa is not a Balangan desa, a possible duplicate (same
  birth date and same name once titles and spellings are folded), or the NIK already on the
  participant roster.
* **The matching file** exchanged with BPJS Ketenagakerjaan / Disdukcapil: the headers the bot
  writes for the verified batch, and a streaming reader for the file that comes back with a
  result per row (registered with a KPJ number, or invalid with a reason).

Nothing here produces user-visible text: warnings and problems are codes with parameters.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from bot.domain import wilayah
from bot.domain.dates import DatePart, compare_with_nik
from bot.domain.facts import load_toml
from bot.domain.nik import Nik, parse_nik

_FILE = "review.toml"
_HEADER_SEPARATORS = re.compile(r"[\s_\-.]+")
_DELIMITERS = (",", ";", "\t")
_ZIP_MAGIC = b"PK\x03\x04"
_SPACES = re.compile(r"\s+")


# --- rejection reasons ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejectionReason:
    """A reason an admin can pick with one button.

    Attributes:
        code: Stable ASCII id (button data and audit log), e.g. ``"nik_mismatch"``.
        label: English msgid read by the worker and the facilitator.
    """

    code: str
    label: str


@cache
def rejection_reasons() -> tuple[RejectionReason, ...]:
    """The reasons in display order."""
    return tuple(
        RejectionReason(code=item["code"], label=item["label"])
        for item in load_toml(_FILE)["rejection_reason"]
    )


def rejection_reason(code: str) -> RejectionReason | None:
    """The reason with this code, or None (a stale or forged button)."""
    return next((r for r in rejection_reasons() if r.code == code), None)


class TypedReasonError(StrEnum):
    """Why a typed rejection reason was refused."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class TypedReasonInvalid:
    """A refused typed reason and the limit it broke."""

    error: TypedReasonError
    limit: int


def parse_typed_reason(raw: str) -> str | TypedReasonInvalid:
    """Tidy a typed rejection reason (spaces collapsed) and check its length.

    Returns:
        The tidied reason, or why it was refused. Never raises.
    """
    text = " ".join(raw.split())
    limits = load_toml(_FILE)["typed_reason"]
    low, high = int(limits["min_length"]), int(limits["max_length"])
    if len(text) < low:
        return TypedReasonInvalid(TypedReasonError.TOO_SHORT, low)
    if len(text) > high:
        return TypedReasonInvalid(TypedReasonError.TOO_LONG, high)
    return text


def default_invalid_reason() -> str:
    """The msgid shown when a matching result says "invalid" without a reason."""
    return str(load_toml(_FILE)["match_default_reason"]["label"])


# --- warnings ------------------------------------------------------------------------------------


class WarningCode(StrEnum):
    """Something the reviewer should look at before verifying."""

    NIK_INVALID = "nik_invalid"
    """The stored NIK does not parse (it should have been refused when typed)."""
    DATE_MISMATCH = "date_mismatch"
    """The birth date differs from the NIK's; ``parts`` says which parts."""
    SEX_MISMATCH = "sex_mismatch"
    """The sex differs from the NIK's."""
    NIK_OUTSIDE = "nik_outside"
    """The NIK was first issued outside Balangan (allowed: NIKs keep their first place)."""
    DOMICILE_OUTSIDE = "domicile_outside"
    """The desa is missing or not a desa of Balangan (or not in the chosen kecamatan)."""
    POSSIBLE_DUPLICATE = "possible_duplicate"
    """Same birth date and name as ``references`` (a roster participant has no reference)."""
    ON_ROSTER = "on_roster"
    """The NIK is already on the participant roster."""


@dataclass(frozen=True, slots=True)
class ReviewWarning:
    """One warning with the values its message needs.

    Attributes:
        code: What is wrong.
        parts: For ``DATE_MISMATCH``: the differing date parts.
        references: For ``POSSIBLE_DUPLICATE``: the other submissions' references.
        on_roster: For ``POSSIBLE_DUPLICATE``: how many roster participants look the same.
    """

    code: WarningCode
    parts: tuple[DatePart, ...] = ()
    references: tuple[str, ...] = ()
    on_roster: int = 0


@dataclass(frozen=True, slots=True)
class Person:
    """The answers of a submission the checks need (None when not given)."""

    nik: str | None
    full_name: str | None
    birth_date: date | None
    sex: str | None
    kecamatan_code: str | None
    desa_code: str | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """Someone else born on the same day, from submissions or the roster.

    Attributes:
        reference: The submission's reference; None for a roster participant.
        full_name: Their name.
        nik: Their NIK.
    """

    reference: str | None
    full_name: str
    nik: str


@cache
def _name_rules() -> tuple[frozenset[str], Mapping[str, str]]:
    data = load_toml(_FILE)["duplicates"]
    aliases = {
        variant: canonical
        for canonical, variants in data["word_aliases"].items()
        for variant in variants
    }
    return frozenset(data["ignored_words"]), aliases


def name_key(name: str) -> str:
    """The comparison form of a name for duplicate detection.

    Accents, case and punctuation are ignored, titles dropped (``H.``, ``Hj.``, ``bin``) and
    common spellings folded (``M.``/``Muh.`` → ``muhammad``), so ``"H. Muh. Yusuf"`` and
    ``"MUHAMMAD YUSUF"`` compare equal. A name made only of ignored words keeps them.

    Example: ``name_key("Hj. Siti Aminah") == "siti aminah"``.
    """
    ignored, aliases = _name_rules()
    decomposed = unicodedata.normalize("NFKD", name).casefold()
    letters = "".join(
        "" if unicodedata.combining(ch) or ch in "'`´‘’" else (ch if ch.isalnum() else " ")
        for ch in decomposed
    )
    words = [aliases.get(word, word) for word in letters.split()]
    kept = [word for word in words if word not in ignored]
    return " ".join(kept or words)


def same_person_likely(name_a: str, name_b: str) -> bool:
    """True when two names (of people born the same day) compare equal by :func:`name_key`."""
    key = name_key(name_a)
    return bool(key) and key == name_key(name_b)


def review_warnings(
    person: Person,
    *,
    today: date,
    candidates: Sequence[Candidate] = (),
    on_roster: bool = False,
) -> tuple[ReviewWarning, ...]:
    """The warnings for one submission, in a stable order (most serious first).

    Args:
        person: The submission's answers.
        today: The regency's date (resolves the century of the NIK's birth year).
        candidates: Other submissions and roster participants born on the same day (the
            caller looks them up by birth date; this function compares the names).
        on_roster: The NIK itself is already on the participant roster.

    Returns:
        Every warning that applies; empty when nothing needs a second look.
    """
    found: list[ReviewWarning] = []
    if on_roster:
        found.append(ReviewWarning(WarningCode.ON_ROSTER))
    if person.full_name:
        same = [
            c
            for c in candidates
            if c.nik != person.nik and same_person_likely(person.full_name, c.full_name)
        ]
        if same:
            found.append(
                ReviewWarning(
                    WarningCode.POSSIBLE_DUPLICATE,
                    references=tuple(sorted(c.reference for c in same if c.reference)),
                    on_roster=sum(1 for c in same if c.reference is None),
                )
            )
    nik = parse_nik(person.nik, today=today) if person.nik else None
    if person.nik and not isinstance(nik, Nik):
        found.append(ReviewWarning(WarningCode.NIK_INVALID))
    if isinstance(nik, Nik):
        if person.birth_date is not None:
            parts = compare_with_nik(nik, person.birth_date)
            if parts:
                found.append(ReviewWarning(WarningCode.DATE_MISMATCH, parts=tuple(parts)))
        if person.sex is not None and person.sex != nik.sex.value:
            found.append(ReviewWarning(WarningCode.SEX_MISMATCH))
        if not nik.is_balangan:
            found.append(ReviewWarning(WarningCode.NIK_OUTSIDE))
    desa = wilayah.desa_by_code(person.desa_code) if person.desa_code else None
    if desa is None or (person.kecamatan_code and desa.kecamatan_code != person.kecamatan_code):
        found.append(ReviewWarning(WarningCode.DOMICILE_OUTSIDE))
    return tuple(found)


# --- the matching file ---------------------------------------------------------------------------


class MatchColumn(StrEnum):
    """Columns of the matching file, in the order the bot writes them."""

    REFERENCE = "reference"
    NIK = "nik"
    NAME = "name"
    BIRTH_DATE = "birth_date"
    SEX = "sex"
    PHONE = "phone"
    KECAMATAN = "kecamatan"
    DESA = "desa"
    OCCUPATION = "occupation"
    PAYER = "payer"
    RESULT = "result"
    KPJ = "kpj"
    REASON = "reason"


#: Columns a returned file must have.
REQUIRED_MATCH_COLUMNS = (MatchColumn.REFERENCE, MatchColumn.RESULT)


class MatchOutcome(StrEnum):
    """What BPJS Ketenagakerjaan / Disdukcapil said about one registration."""

    REGISTERED = "registered"
    """Registered; the row carries the KPJ number."""
    INVALID = "invalid"
    """The data did not match; the row may carry a reason."""


class MatchRowError(StrEnum):
    """Why a row of a returned file was not applied."""

    NO_REFERENCE = "no_reference"
    UNKNOWN_RESULT = "unknown_result"
    """The result cell is neither a "registered" nor an "invalid" value; ``value`` has it."""
    BAD_KPJ = "bad_kpj"
    """A "registered" row without a plausible KPJ number (digits, length from roster rules)."""


class MatchFileError(StrEnum):
    """Why a returned file could not be read at all."""

    UNREADABLE = "unreadable"
    EMPTY = "empty"
    MISSING_COLUMNS = "missing_columns"


class MatchFileProblem(ValueError):
    """A returned file that cannot be read; ``missing`` names absent required columns."""

    def __init__(self, error: MatchFileError, missing: Sequence[MatchColumn] = ()) -> None:
        super().__init__(error.value)
        self.error = error
        self.missing = tuple(missing)


@dataclass(frozen=True, slots=True)
class MatchResult:
    """One row of a returned file.

    Attributes:
        line_no: Line (CSV) or row (XLSX) number in the file, the header being 1.
        reference: The registration's reference.
        nik: The NIK in the row, when the file has that column and the cell is filled.
        outcome: Registered or invalid.
        kpj: The KPJ number of a registered row.
        reason: The reason given for an invalid row (None when blank).
    """

    line_no: int
    reference: str
    nik: str | None
    outcome: MatchOutcome
    kpj: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class MatchProblem:
    """A row that was not applied, with its line and the offending value."""

    line_no: int
    error: MatchRowError
    reference: str | None = None
    value: str | None = None


def _norm_header(text: str) -> str:
    return _HEADER_SEPARATORS.sub(" ", text.strip().casefold()).strip()


def _norm_value(text: str) -> str:
    return _SPACES.sub(" ", text.replace("_", " ").strip().casefold())


@cache
def _column_aliases() -> Mapping[MatchColumn, tuple[str, ...]]:
    raw = load_toml(_FILE)["match_file"]["columns"]
    return {column: tuple(raw[column.value]) for column in MatchColumn}


@cache
def _result_values() -> Mapping[str, MatchOutcome]:
    raw = load_toml(_FILE)["match_file"]["results"]
    return {
        _norm_value(value): MatchOutcome(key) for key, values in raw.items() for value in values
    }


@cache
def _kpj_digits() -> tuple[int, int]:
    # The KPJ rule is the roster's (one fact, one file): digits of a loosely checked length.
    raw = load_toml("roster_columns.toml")["kpj"]
    return int(raw["min_digits"]), int(raw["max_digits"])


def match_max_bytes() -> int:
    """The largest returned file the bot downloads."""
    return int(load_toml(_FILE)["match_file"]["max_bytes"])


def match_headers() -> tuple[str, ...]:
    """The header row the bot writes, one per :class:`MatchColumn`, in order."""
    aliases = _column_aliases()
    return tuple(aliases[column][0] for column in MatchColumn)


def match_sex(sex: str | None) -> str:
    """How the matching file writes a stored sex value (empty when unknown)."""
    values = load_toml(_FILE)["match_file"]["sex_values"]
    return str(values.get(sex, "")) if sex else ""


def parse_result(value: str) -> MatchOutcome | None:
    """The outcome named by a result cell (None for an unknown or blank value)."""
    return _result_values().get(_norm_value(value))


def clean_kpj(value: str) -> str | None:
    """The KPJ number with separators removed, or None when it is not plausible."""
    digits = re.sub(r"[\s.\-]", "", value)
    low, high = _kpj_digits()
    if digits.isascii() and digits.isdigit() and low <= len(digits) <= high:
        return digits
    return None


def _cell_text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # a number typed into Excel: "6311..." must not become "6.3e15"
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell).strip()


class MatchReader:
    """Reads a returned matching file (CSV or XLSX) row by row, with bounded memory.

    Use as a context manager; iterate for :class:`MatchResult` and :class:`MatchProblem` items.
    Rows whose result cell is blank are counted in :attr:`pending` and yield nothing.

    Raises:
        MatchFileProblem: from the constructor, when the file is unreadable, empty or lacks a
            required column.
    """

    def __init__(self, path: Path) -> None:
        self.pending = 0
        self._workbook: Any = None
        self._handle: IO[str] | None = None
        try:
            with path.open("rb") as probe:
                is_xlsx = probe.read(4) == _ZIP_MAGIC
            self._rows = self._open_xlsx(path) if is_xlsx else self._open_csv(path)
            header = next(self._rows, None)
        except (OSError, UnicodeDecodeError, csv.Error, ValueError, KeyError) as exc:
            self.close()
            raise MatchFileProblem(MatchFileError.UNREADABLE) from exc
        except Exception as exc:  # openpyxl raises assorted errors on a damaged zip
            self.close()
            raise MatchFileProblem(MatchFileError.UNREADABLE) from exc
        if header is None:
            self.close()
            raise MatchFileProblem(MatchFileError.EMPTY)
        self._columns = self._map_header(header[1])

    def _open_csv(self, path: Path) -> Iterator[tuple[int, Sequence[object]]]:
        self._handle = path.open(encoding="utf-8-sig", newline="")
        first = self._handle.readline()
        delimiter = max(_DELIMITERS, key=first.count)
        reader = csv.reader(io.StringIO(first), delimiter=delimiter)
        header = next(reader, None)

        def rows() -> Iterator[tuple[int, Sequence[object]]]:
            if header is None:
                return
            yield 1, header
            assert self._handle is not None
            body = csv.reader(self._handle, delimiter=delimiter)
            for cells in body:
                yield body.line_num + 1, cells

        return rows()

    def _open_xlsx(self, path: Path) -> Iterator[tuple[int, Sequence[object]]]:
        import openpyxl

        self._workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheet = self._workbook.worksheets[0]

        def rows() -> Iterator[tuple[int, Sequence[object]]]:
            yield from enumerate(sheet.iter_rows(values_only=True), start=1)

        return rows()

    def _map_header(self, header: Sequence[object]) -> dict[MatchColumn, int]:
        names = [_norm_header(_cell_text(cell)) for cell in header]
        found: dict[MatchColumn, int] = {}
        for column, aliases in _column_aliases().items():
            wanted = {_norm_header(alias) for alias in aliases}
            index = next((i for i, name in enumerate(names) if name in wanted), None)
            if index is not None:
                found[column] = index
        missing = [c for c in REQUIRED_MATCH_COLUMNS if c not in found]
        if missing:
            self.close()
            raise MatchFileProblem(MatchFileError.MISSING_COLUMNS, missing)
        return found

    def _get(self, cells: Sequence[object], column: MatchColumn) -> str:
        index = self._columns.get(column)
        if index is None or index >= len(cells):
            return ""
        return _cell_text(cells[index])

    def __iter__(self) -> Iterator[MatchResult | MatchProblem]:
        for line_no, cells in self._rows:
            if not any(_cell_text(cell) for cell in cells):
                continue
            item = self._parse(line_no, cells)
            if item is not None:
                yield item

    def _parse(self, line_no: int, cells: Sequence[object]) -> MatchResult | MatchProblem | None:
        reference = self._get(cells, MatchColumn.REFERENCE).upper()
        result_text = self._get(cells, MatchColumn.RESULT)
        if not result_text:
            self.pending += 1
            return None
        if not reference:
            return MatchProblem(line_no, MatchRowError.NO_REFERENCE)
        outcome = parse_result(result_text)
        if outcome is None:
            return MatchProblem(line_no, MatchRowError.UNKNOWN_RESULT, reference, result_text)
        kpj = None
        if outcome is MatchOutcome.REGISTERED:
            raw_kpj = self._get(cells, MatchColumn.KPJ)
            kpj = clean_kpj(raw_kpj)
            if kpj is None:
                return MatchProblem(line_no, MatchRowError.BAD_KPJ, reference, raw_kpj)
        nik = re.sub(r"\D", "", self._get(cells, MatchColumn.NIK)) or None
        reason = " ".join(self._get(cells, MatchColumn.REASON).split()) or None
        return MatchResult(line_no, reference, nik, outcome, kpj, reason)

    def close(self) -> None:
        """Release the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._workbook is not None:
            self._workbook.close()
            self._workbook = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
