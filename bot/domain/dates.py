"""Birth dates as people type them, age limits, and the NIK cross-check.

Accepted (day first, as written in Indonesia): ``17-08-1985``, ``17/8/85``, ``17.08.1985``,
``17 8 1985``, ``17081985``, ``17 Agustus 1985``, ``17 agt 1985``, ``17-Agu-1985``,
``August 17, 1985`` and ISO ``1985-08-17``. Month names and abbreviations (Indonesian and English)
come from ``bot/data/months.toml``; the default age limits from ``bot/data/registration.toml``.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

from bot.domain.facts import load_toml
from bot.domain.nik import Nik

_TOKENS = re.compile(r"[0-9]+|[^\W\d_]+")
#: Besides digits, letters and spaces, only these may be typed ("17 Agustus '85" included).
_SEPARATORS = "-/.,'"
#: A word this close (difflib ratio) to one month's name is taken as a typo of it ("agustsu").
_MONTH_TYPO_CUTOFF = 0.8
_MIN_MONTH_PREFIX = 3


class DateError(StrEnum):
    """Why a typed birth date was rejected."""

    UNRECOGNISED = "unrecognised"
    """Not a date in any accepted format."""
    IMPOSSIBLE_DATE = "impossible_date"
    """Looks like a date but does not exist (31/02, month 13)."""
    IN_FUTURE = "in_future"
    """After today."""
    TOO_YOUNG = "too_young"
    """Younger than ``limit`` years; ``age`` is the age today."""
    TOO_OLD = "too_old"
    """Older than ``limit`` years; ``age`` is the age today."""


class DatePart(StrEnum):
    """A part of a date, named when a typed birth date and the NIK disagree."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True, slots=True)
class DateInvalid:
    """A rejected birth date: the error code and the values its message needs.

    Attributes:
        error: Why the date was rejected.
        limit: For ``TOO_YOUNG`` / ``TOO_OLD``, the age limit in years.
        age: For ``TOO_YOUNG`` / ``TOO_OLD``, the age today in years.
    """

    error: DateError
    limit: int | None = None
    age: int | None = None

    @property
    def params(self) -> dict[str, int]:
        """The message placeholders that are set, e.g. ``{"limit": 15, "age": 12}``."""
        values = {"limit": self.limit, "age": self.age}
        return {key: value for key, value in values.items() if value is not None}


DateResult = date | DateInvalid


@dataclass(frozen=True, slots=True)
class AgeLimits:
    """Registration age limits in whole years, both inclusive."""

    min_age: int
    max_age: int


@cache
def age_limits() -> AgeLimits:
    """Default age limits from ``bot/data/registration.toml`` (15–65, marked [U])."""
    data = load_toml("registration.toml")["age"]
    return AgeLimits(min_age=int(data["min"]), max_age=int(data["max"]))


def regency_today() -> date:
    """Today's date in Balangan (WITA), the ``today`` to pass to the parsers."""
    zone = ZoneInfo(load_toml("registration.toml")["region"]["timezone"])
    return datetime.now(zone).date()


def regency_time(moment: datetime) -> datetime:
    """``moment`` (an aware datetime, e.g. ``ctx.now()``) as Balangan's local time (WITA)."""
    return moment.astimezone(ZoneInfo(load_toml("registration.toml")["region"]["timezone"]))


def regency_date(moment: datetime) -> date:
    """The date in Balangan (WITA) at ``moment`` (an aware datetime, e.g. ``ctx.now()``)."""
    return regency_time(moment).date()


def age_on(birth_date: date, today: date) -> int:
    """Age in whole years on ``today`` (a 29 February birthday counts from 1 March)."""
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if had_birthday else 1)


@cache
def _month_names() -> Mapping[str, int]:
    names: dict[str, int] = {}
    for month in load_toml("months.toml")["month"]:
        for name in month["names"]:
            names[name.casefold()] = int(month["number"])
    return MappingProxyType(names)


def month_number(word: str) -> int | None:
    """The month (1–12) a typed word names, or None when unknown or ambiguous.

    Listed names and abbreviations match exactly; otherwise a word of 3+ letters that starts
    only one month's names ("agust", "septem") or is a close typo of one ("agustsu") matches.
    """
    names = _month_names()
    word = word.casefold().strip(".")
    if word in names:
        return names[word]
    if len(word) >= _MIN_MONTH_PREFIX:
        by_prefix = {number for name, number in names.items() if name.startswith(word)}
        if len(by_prefix) == 1:
            return by_prefix.pop()
        close = difflib.get_close_matches(word, names, n=3, cutoff=_MONTH_TYPO_CUTOFF)
        by_typo = {names[name] for name in close}
        if len(by_typo) == 1:
            return by_typo.pop()
    return None


@dataclass(frozen=True, slots=True)
class _Typed:
    day: int
    month: int
    year: int
    two_digit_year: bool


def _number(token: str, *lengths: int) -> int | None:
    return int(token) if token.isdigit() and len(token) in lengths else None


def _month(token: str) -> int | None:
    return _number(token, 1, 2) if token.isdigit() else month_number(token)


def _year(token: str) -> tuple[int, bool] | None:
    value = _number(token, 2, 4)
    return None if value is None else (value, len(token) == 2)


def _allowed(char: str) -> bool:
    return ("0" <= char <= "9") or char.isalpha() or char.isspace() or char in _SEPARATORS


def _split(text: str) -> _Typed | None:
    """Day, month and year as typed, before checking that they form a real date."""
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    if not all(_allowed(char) for char in text):
        return None
    tokens = _TOKENS.findall(text)
    if len(tokens) == 1 and tokens[0].isdigit() and len(tokens[0]) in (6, 8):
        tokens = [tokens[0][:2], tokens[0][2:4], tokens[0][4:]]  # 17081985 / 170885
    if len(tokens) != 3:
        return None
    first, second, third = tokens
    year: tuple[int, bool] | None
    if len(first) == 4 and first.isdigit():  # ISO 1985-08-17
        day, month, year = _number(third, 1, 2), _month(second), (int(first), False)
    elif not first.isdigit():  # August 17, 1985
        day, month, year = _number(second, 1, 2), month_number(first), _year(third)
    else:
        day, month, year = _number(first, 1, 2), _month(second), _year(third)
    if day is None or month is None or year is None:
        return None
    return _Typed(day=day, month=month, year=year[0], two_digit_year=year[1])


def _candidates(typed: _Typed, today: date) -> list[date]:
    if typed.two_digit_year:
        century = today.year - today.year % 100
        years = [century + typed.year, century + typed.year - 100]
    else:
        years = [typed.year]
    found = []
    for year in years:
        try:
            found.append(date(year, typed.month, typed.day))
        except ValueError:
            continue  # 29/02/00 is real in 2000 but not in 1900
    return found


def parse_birth_date(
    raw: str, *, today: date, min_age: int | None = None, max_age: int | None = None
) -> DateResult:
    """Parse a typed birth date and check it against the age limits.

    Args:
        raw: The text the user typed.
        today: The regency's current date (see :func:`regency_today`).
        min_age: Youngest allowed age in years; defaults to ``registration.toml``.
        max_age: Oldest allowed age in years (inclusive); defaults to ``registration.toml``.

    Returns:
        The date, or a :class:`DateInvalid`. A two-digit year becomes the most recent past year
        that gives an age within the limits ("85" → 1985, "10" → 2010 in 2026); when none does,
        the most recent past year, which then fails the age check. Never raises.
    """
    defaults = age_limits()
    low = defaults.min_age if min_age is None else min_age
    high = defaults.max_age if max_age is None else max_age
    typed = _split(raw)
    if typed is None:
        return DateInvalid(DateError.UNRECOGNISED)
    candidates = _candidates(typed, today)
    if not candidates:
        return DateInvalid(DateError.IMPOSSIBLE_DATE)
    past = [c for c in candidates if c <= today]
    plausible = [c for c in past if low <= age_on(c, today) <= high]
    if plausible:
        return plausible[0]
    if not past:
        return DateInvalid(DateError.IN_FUTURE)
    birth_date = past[0]
    age = age_on(birth_date, today)
    if age < low:
        return DateInvalid(DateError.TOO_YOUNG, limit=low, age=age)
    return DateInvalid(DateError.TOO_OLD, limit=high, age=age)


def compare_with_nik(nik: Nik, birth_date: date) -> list[DatePart]:
    """The parts of a typed birth date that differ from the date in the NIK.

    A difference is a warning to confirm, not an error: a NIK is never re-issued after a
    birth-date correction (FACTS.md §6). Only the two year digits are compared, because that is
    all the NIK stores.

    Returns:
        The differing parts in day, month, year order; empty when they agree.
    """
    encoded = nik.birth_date
    parts = []
    if encoded.day != birth_date.day:
        parts.append(DatePart.DAY)
    if encoded.month != birth_date.month:
        parts.append(DatePart.MONTH)
    if encoded.year % 100 != birth_date.year % 100:
        parts.append(DatePart.YEAR)
    return parts
