"""NIK (Nomor Induk Kependudukan) parsing with plain, specific error codes.

A NIK is 16 digits ``PPRRSSDDMMYYNNNN``: province, regency and kecamatan of *first issue*, the
birth date (women: day + 40) and a serial from 0001 (FACTS.md §6). The first six digits never
change when a person moves, so a NIK issued outside Balangan is valid; the domicile is asked
separately.

:mod:`stdnum.id.nik` supplies the separator clean-up (it also maps full-width digits and Unicode
dashes/spaces to ASCII). What it lacks, and this module adds: the province table from
``bot/data/provinces.toml`` instead of a bundled location database, a distinct error code for each
way a typed NIK can be wrong (so the bot can explain it plainly), and a birth-date century
resolved against a given ``today`` instead of a fixed 1920 pivot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache

from stdnum.id import nik as stdnum_nik

from bot.domain import wilayah
from bot.domain.facts import load_toml

NIK_LENGTH = 16
#: Women's birth day is stored as day + 40 (FACTS.md §6).
FEMALE_DAY_OFFSET = 40
_VISIBLE_DIGITS = 4
_ASCII_DIGITS = re.compile(r"[0-9]+")
_ANY_WHITESPACE = re.compile(r"\s+")


class NikError(StrEnum):
    """Why a typed NIK was rejected; each maps to its own plain explanation."""

    EMPTY = "empty"
    """Nothing but spaces or separators was typed."""
    NOT_DIGITS = "not_digits"
    """Letters or symbols were typed; ``chars`` names them (often O for 0, l for 1)."""
    WRONG_LENGTH = "wrong_length"
    """Not 16 digits; ``got`` is how many digits were typed."""
    ALL_SAME_DIGIT = "all_same_digit"
    """All 16 digits are the same (a placeholder, not a NIK)."""
    UNKNOWN_PROVINCE = "unknown_province"
    """Digits 1–2 are not a province code; ``part`` is what was typed."""
    IMPOSSIBLE_DAY = "impossible_day"
    """Digits 7–8 are 00, 32–40 or above 71; ``part`` is what was typed."""
    IMPOSSIBLE_MONTH = "impossible_month"
    """Digits 9–10 are 00 or above 12; ``part`` is what was typed."""
    IMPOSSIBLE_DATE = "impossible_date"
    """Day and month exist but not together (31 February); ``part`` is DDMMYY as typed."""
    ZERO_SERIAL = "zero_serial"
    """Digits 13–16 are 0000; serials start at 0001."""


class Sex(StrEnum):
    """Sex as encoded in the NIK's day of birth."""

    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True, slots=True)
class NikInvalid:
    """A rejected NIK: the error code and the values its message needs.

    Attributes:
        error: Why the NIK was rejected.
        got: For ``WRONG_LENGTH``, the number of digits typed.
        part: For ``UNKNOWN_PROVINCE`` / ``IMPOSSIBLE_DAY`` / ``IMPOSSIBLE_MONTH`` /
            ``IMPOSSIBLE_DATE``, the offending digits; for ``NOT_DIGITS``, the unexpected
            characters in the order typed (each once).
    """

    error: NikError
    got: int | None = None
    part: str | None = None

    @property
    def params(self) -> dict[str, int | str]:
        """The message placeholders that are set, e.g. ``{"got": 15}``."""
        values: dict[str, int | str] = {}
        if self.got is not None:
            values["got"] = self.got
        if self.part is not None:
            values["part"] = self.part
        return values


@dataclass(frozen=True, slots=True, repr=False)
class Nik:
    """A valid NIK. ``repr`` masks the digits so a NIK never lands whole in a log line.

    Attributes:
        digits: The 16 digits.
        birth_date: The encoded birth date, century resolved against the ``today`` given to
            :func:`parse_nik` (the NIK itself only stores two year digits).
        sex: Female when the stored day is above 40.
    """

    digits: str
    birth_date: date
    sex: Sex

    def __repr__(self) -> str:
        return f"Nik({self.masked()})"

    def __str__(self) -> str:
        return self.masked()

    @property
    def province_code(self) -> str:
        """Digits 1–2: province of first issue."""
        return self.digits[:2]

    @property
    def region_code(self) -> str:
        """Digits 1–6: province, regency and kecamatan of first issue."""
        return self.digits[:6]

    @property
    def serial(self) -> str:
        """Digits 13–16."""
        return self.digits[12:]

    @property
    def is_balangan(self) -> bool:
        """True when first issued in one of Balangan's kecamatan (6311 + 01–08)."""
        return self.region_code in wilayah.kecamatan_nik_prefixes()

    def masked(self) -> str:
        """The NIK with all but the last 4 digits hidden, e.g. ``************3456``."""
        return mask_nik(self.digits)


NikResult = Nik | NikInvalid


def mask_nik(digits: str) -> str:
    """Hide all but the last 4 characters of a stored NIK (for logs and messages to others)."""
    visible = digits[-_VISIBLE_DIGITS:] if len(digits) > _VISIBLE_DIGITS else ""
    return "*" * (len(digits) - len(visible)) + visible


@cache
def province_codes() -> frozenset[str]:
    """The valid two-digit province codes, from ``bot/data/provinces.toml``."""
    return frozenset(load_toml("provinces.toml")["codes"])


def _clean(raw: str) -> str:
    # stdnum maps Unicode dashes/spaces/dots and full-width digits to ASCII and drops " -.";
    # any other whitespace (tabs, new lines from a pasted photo caption) is dropped here.
    return stdnum_nik.compact(_ANY_WHITESPACE.sub("", raw))


def _unexpected_chars(text: str) -> str:
    seen: dict[str, None] = {}
    for char in _ASCII_DIGITS.sub("", text):
        seen.setdefault(char, None)
    return "".join(seen)


def _birth_date(yy: int, month: int, day: int, today: date) -> date | None:
    """The most recent date with these two year digits that exists and is not after ``today``."""
    century = today.year - today.year % 100
    for year in (century + yy, century + yy - 100):
        try:
            candidate = date(year, month, day)
        except ValueError:
            # 29 February exists in 2000 but not 1900: try the previous century.
            continue
        if candidate <= today:
            return candidate
    return None


def parse_nik(raw: str, *, today: date) -> NikResult:
    """Parse a typed NIK, ignoring spaces, dots and dashes.

    Args:
        raw: The text the user typed or pasted.
        today: The regency's current date; resolves the century of the two-digit birth year to
            the most recent one that is not in the future.

    Returns:
        A :class:`Nik`, or a :class:`NikInvalid` with the first problem found (checks run in the
        order of :class:`NikError`). Never raises.
    """
    digits = _clean(raw)
    if not digits:
        return NikInvalid(NikError.EMPTY)
    if not _ASCII_DIGITS.fullmatch(digits):
        return NikInvalid(NikError.NOT_DIGITS, part=_unexpected_chars(digits))
    if len(digits) != NIK_LENGTH:
        return NikInvalid(NikError.WRONG_LENGTH, got=len(digits))
    if len(set(digits)) == 1:
        return NikInvalid(NikError.ALL_SAME_DIGIT)
    if digits[:2] not in province_codes():
        return NikInvalid(NikError.UNKNOWN_PROVINCE, part=digits[:2])

    stored_day, month, yy = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    if stored_day == 0 or 31 < stored_day <= FEMALE_DAY_OFFSET or stored_day > 71:
        return NikInvalid(NikError.IMPOSSIBLE_DAY, part=digits[6:8])
    if not 1 <= month <= 12:
        return NikInvalid(NikError.IMPOSSIBLE_MONTH, part=digits[8:10])
    female = stored_day > FEMALE_DAY_OFFSET
    day = stored_day - FEMALE_DAY_OFFSET if female else stored_day
    birth_date = _birth_date(yy, month, day, today)
    if birth_date is None:
        return NikInvalid(NikError.IMPOSSIBLE_DATE, part=digits[6:12])
    if digits[12:] == "0000":
        return NikInvalid(NikError.ZERO_SERIAL)
    return Nik(digits=digits, birth_date=birth_date, sex=Sex.FEMALE if female else Sex.MALE)
