"""The occupation pick-list (``bot/data/occupations.toml``) and the typed "other" occupation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from bot.domain.facts import load_toml

_FILE = "occupations.toml"


@dataclass(frozen=True, slots=True)
class Occupation:
    """One entry of the pick-list.

    Attributes:
        code: Stable ASCII id stored in the database and used in button data, e.g. ``"karet"``.
        label: English msgid of the button text.
        transport: True for transport work (the PP 50/2025 discount window differs).
        free_text: True for "other": the user types the occupation.
    """

    code: str
    label: str
    transport: bool
    free_text: bool


class OccupationTextError(StrEnum):
    """Why a typed "other" occupation was rejected."""

    NO_LETTERS = "no_letters"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class OccupationTextInvalid:
    """A rejected "other" occupation.

    Attributes:
        error: Why it was rejected.
        limit: For ``TOO_SHORT`` / ``TOO_LONG``, the limit broken.
    """

    error: OccupationTextError
    limit: int | None = None

    @property
    def params(self) -> dict[str, int]:
        """The message placeholders that are set, e.g. ``{"limit": 60}``."""
        return {} if self.limit is None else {"limit": self.limit}


@cache
def occupations() -> tuple[Occupation, ...]:
    """The pick-list in display order ("other" last)."""
    return tuple(
        Occupation(
            code=item["code"],
            label=item["label"],
            transport=bool(item.get("transport", False)),
            free_text=bool(item.get("free_text", False)),
        )
        for item in load_toml(_FILE)["occupation"]
    )


def occupation(code: str) -> Occupation | None:
    """The occupation with this code, or None (e.g. a stale button after a list change)."""
    return next((o for o in occupations() if o.code == code), None)


def is_transport(code: str | None) -> bool:
    """True when ``code`` is a transport occupation; False for unknown codes and None."""
    found = None if code is None else occupation(code)
    return found is not None and found.transport


def parse_other_occupation(raw: str) -> str | OccupationTextInvalid:
    """Tidy a typed "other" occupation (spaces collapsed) and check its length.

    Args:
        raw: What the user typed.

    Returns:
        The tidied text, or an :class:`OccupationTextInvalid`. Never raises.
    """
    text = " ".join(raw.split())
    limits = load_toml(_FILE)["free_text"]
    if not any(char.isalpha() for char in text):
        return OccupationTextInvalid(OccupationTextError.NO_LETTERS)
    if len(text) < limits["min_length"]:
        return OccupationTextInvalid(OccupationTextError.TOO_SHORT, limit=limits["min_length"])
    if len(text) > limits["max_length"]:
        return OccupationTextInvalid(OccupationTextError.TOO_LONG, limit=limits["max_length"])
    return text
