"""Monthly income ranges (``bot/data/income.toml``) and the contribution base each maps to."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from bot.domain.facts import load_toml


@dataclass(frozen=True, slots=True)
class IncomeRange:
    """One income button.

    Attributes:
        code: Stable ASCII id stored in the database and used in button data.
        label: English msgid of the button text, e.g. ``"Under Rp1,000,000"``.
        min_income: Lower bound in rupiah (inclusive), None when open.
        max_income: Upper bound in rupiah (exclusive), None when open.
        base: Monthly contribution base in rupiah used to compute the iuran.
        estimate: True when ``base`` is not a confirmed step of PP 44/2015 Lampiran II, so
            amounts computed from it must be presented as an estimate.
    """

    code: str
    label: str
    min_income: int | None
    max_income: int | None
    base: int
    estimate: bool


@cache
def income_ranges() -> tuple[IncomeRange, ...]:
    """The income buttons in display order."""
    return tuple(
        IncomeRange(
            code=item["code"],
            label=item["label"],
            min_income=item.get("min_income"),
            max_income=item.get("max_income"),
            base=int(item["base"]),
            estimate=bool(item["estimate"]),
        )
        for item in load_toml("income.toml")["range"]
    )


def income_range(code: str) -> IncomeRange | None:
    """The income range with this code, or None (e.g. a stale button)."""
    return next((r for r in income_ranges() if r.code == code), None)
