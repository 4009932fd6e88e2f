"""Full-name validation and capitalisation.

A name may hold letters of any script (``Siti Aminah``, ``José``), spaces, apostrophes
(``Ma'ruf``), dots (``H. Ahmad``, ``M. Yusuf``) and hyphens. Typed text is tidied first: Unicode
composed (NFC), curly/backtick apostrophes and dash variants made plain, runs of spaces collapsed.
Capitalisation is normalised because people type in all capitals (as printed on the e-KTP) or all
lower case: every part after a space, hyphen or dot starts with a capital and the rest is lower
case; after an apostrophe it stays lower case (``MA'RUF`` → ``Ma'ruf``).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from bot.domain.facts import load_toml

_APOSTROPHES = "'`´‘’ʼʻ′"
_HYPHENS = "-‐‑‒–—﹣－"
_PUNCTUATION = "'.-"
#: A new capitalised part starts after these.
_PART_BREAKS = " -."


class PersonNameError(StrEnum):
    """Why a typed name was rejected."""

    FORBIDDEN_CHARS = "forbidden_chars"
    """Characters other than letters, spaces, ' . -; ``chars`` names them."""
    NO_LETTERS = "no_letters"
    """Only punctuation or nothing at all was typed."""
    TOO_SHORT = "too_short"
    """Fewer than ``limit`` characters; ``got`` is the length."""
    TOO_LONG = "too_long"
    """More than ``limit`` characters; ``got`` is the length."""


@dataclass(frozen=True, slots=True)
class PersonName:
    """A valid, tidied full name.

    Attributes:
        text: The name with normalised spaces and capitalisation, e.g. ``"Siti Aminah"``.
    """

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class PersonNameInvalid:
    """A rejected name: the error code and the values its message needs.

    Attributes:
        error: Why the name was rejected.
        chars: For ``FORBIDDEN_CHARS``, the offending characters in the order typed (each once).
        got: For ``TOO_SHORT`` / ``TOO_LONG``, the length after tidying.
        limit: For ``TOO_SHORT`` / ``TOO_LONG``, the limit that was broken.
    """

    error: PersonNameError
    chars: str | None = None
    got: int | None = None
    limit: int | None = None

    @property
    def params(self) -> dict[str, int | str]:
        """The message placeholders that are set, e.g. ``{"chars": "3@"}``."""
        values: dict[str, int | str | None] = {
            "chars": self.chars,
            "got": self.got,
            "limit": self.limit,
        }
        return {key: value for key, value in values.items() if value is not None}


NameResult = PersonName | PersonNameInvalid


@dataclass(frozen=True, slots=True)
class NameLimits:
    """Length limits for a full name, counted after tidying."""

    min_length: int
    max_length: int


@cache
def name_limits() -> NameLimits:
    """The limits from ``bot/data/registration.toml``."""
    data = load_toml("registration.toml")["name"]
    return NameLimits(min_length=int(data["min_length"]), max_length=int(data["max_length"]))


def _is_letter(char: str) -> bool:
    # Combining marks count as part of a letter: a decomposed "é" that NFC cannot compose.
    return unicodedata.category(char)[0] in "LM"


def _tidy(raw: str) -> str:
    text = unicodedata.normalize("NFC", raw)
    text = "".join(
        "'" if ch in _APOSTROPHES else "-" if ch in _HYPHENS else " " if ch.isspace() else ch
        for ch in text
    )
    return " ".join(text.split())


def _capitalise(text: str) -> str:
    out: list[str] = []
    start_of_part = True
    for char in text:
        if char in _PART_BREAKS:
            out.append(char)
            start_of_part = True
        elif _is_letter(char):
            # title() rather than upper(): digraphs such as "ǆ" have a distinct title case.
            out.append(char.title() if start_of_part else char.lower())
            if unicodedata.category(char)[0] == "L":
                start_of_part = False
        else:
            out.append(char)  # apostrophe: the letter after it stays lower case
    return unicodedata.normalize("NFC", "".join(out))


def parse_name(raw: str) -> NameResult:
    """Validate and tidy a full name as typed.

    Args:
        raw: The text the user typed.

    Returns:
        A :class:`PersonName` with tidied spacing and capitalisation, or a
        :class:`PersonNameInvalid` with the first problem found. Never raises; the tidied text of
        a valid name parses to itself.
    """
    text = _tidy(raw)
    forbidden = "".join(
        dict.fromkeys(ch for ch in text if not (_is_letter(ch) or ch in _PUNCTUATION or ch == " "))
    )
    if forbidden:
        return PersonNameInvalid(PersonNameError.FORBIDDEN_CHARS, chars=forbidden)
    if not any(unicodedata.category(ch)[0] == "L" for ch in text):
        return PersonNameInvalid(PersonNameError.NO_LETTERS)
    # Length is checked on the final text: a few letters grow when capitalised ("ß" → "Ss").
    text = _capitalise(text)
    limits = name_limits()
    if len(text) < limits.min_length:
        return PersonNameInvalid(PersonNameError.TOO_SHORT, got=len(text), limit=limits.min_length)
    if len(text) > limits.max_length:
        return PersonNameInvalid(PersonNameError.TOO_LONG, got=len(text), limit=limits.max_length)
    return PersonName(text)
