"""Monthly BPU contributions (iuran) by date, base, occupation and payer.

All figures, regulations and validity dates come from ``bot/data/tariffs.toml``; this module only
applies them: JKK is a percentage of the base within a minimum and maximum, JKM is flat, JHT is an
optional percentage, and a discount (PP 50/2025) cuts the programmes it names when the date falls
in its window, the occupation is in its sector and the payer is not excluded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from bot.domain.facts import load_toml
from bot.domain.occupations import is_transport

_FILE = "tariffs.toml"
_HUNDRED = Decimal(100)


class Programme(StrEnum):
    """BPJS Ketenagakerjaan programmes open to BPU participants."""

    JKK = "jkk"
    JKM = "jkm"
    JHT = "jht"


class Payer(StrEnum):
    """Who pays the iuran (values match ``bot.domain.coverage.Payer``, plus APBN)."""

    SELF = "self"
    """The participant (peserta mandiri)."""
    APBD = "apbd"
    """The regency budget (Balangan's Pekerja Rentan programme)."""
    APBN = "apbn"
    """The national budget."""
    OTHER = "other"
    """Another third party outside the state budget (a cooperative, a company's CSR)."""


class Sector(StrEnum):
    """Which occupations a discount covers."""

    TRANSPORT = "transport"
    OTHER = "other"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Discount:
    """A temporary iuran discount that applied.

    Attributes:
        code: Stable id, e.g. ``"pp50_2025_transport"``.
        regulation: The regulation granting it, e.g. ``"PP 50/2025"``.
        percent: How much of each named programme's iuran is cut.
        valid_from: First day of the window.
        valid_until: Last day of the window.
    """

    code: str
    regulation: str
    percent: int
    valid_from: date
    valid_until: date


@dataclass(frozen=True, slots=True)
class ProgrammeAmount:
    """The iuran of one programme.

    Attributes:
        programme: Which programme.
        amount: What is payable this month, in rupiah (after any discount).
        full_amount: The amount before any discount.
        regulation: The regulation that sets the tariff.
    """

    programme: Programme
    amount: int
    full_amount: int
    regulation: str


@dataclass(frozen=True, slots=True)
class Contribution:
    """The monthly iuran for one participant.

    Attributes:
        base: Monthly contribution base in rupiah.
        on: The date the tariff was taken for.
        items: One entry per programme (JKK, JKM, then JHT when chosen).
        discount: The discount that applied, or None.
        estimate: True when the base is not a confirmed step of the official table, so the
            amounts must be presented as an estimate ("perkiraan").
    """

    base: int
    on: date
    items: tuple[ProgrammeAmount, ...]
    discount: Discount | None
    estimate: bool

    def amount(self, programme: Programme) -> int:
        """The payable amount of one programme; 0 when not included."""
        return sum(item.amount for item in self.items if item.programme is programme)

    @property
    def jkk(self) -> int:
        """Payable JKK iuran."""
        return self.amount(Programme.JKK)

    @property
    def jkm(self) -> int:
        """Payable JKM iuran."""
        return self.amount(Programme.JKM)

    @property
    def jht(self) -> int:
        """Payable JHT iuran; 0 when JHT was not chosen."""
        return self.amount(Programme.JHT)

    @property
    def total(self) -> int:
        """What is payable this month."""
        return sum(item.amount for item in self.items)

    @property
    def full_total(self) -> int:
        """The total without any discount."""
        return sum(item.full_amount for item in self.items)

    @property
    def regulations(self) -> tuple[str, ...]:
        """Every regulation behind the amounts, in order, each once."""
        names = [item.regulation for item in self.items]
        if self.discount is not None:
            names.append(self.discount.regulation)
        return tuple(dict.fromkeys(names))


def _rupiah(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _percent_of(base: int, percent: Any) -> Decimal:
    # str() first: a TOML float such as 0.24 must not carry binary rounding into rupiah.
    return Decimal(base) * Decimal(str(percent)) / _HUNDRED


def _period(programme: Programme, on: date) -> Mapping[str, Any]:
    periods: Sequence[Mapping[str, Any]] = load_toml(_FILE)[programme.value]
    for period in periods:
        until = period.get("valid_until")
        if period["valid_from"] <= on and (until is None or on <= until):
            return period
    raise LookupError(f"no {programme.value} tariff in {_FILE} for {on.isoformat()}")


def _full_amount(programme: Programme, base: int, on: date) -> tuple[int, str]:
    period = _period(programme, on)
    if "amount" in period:
        amount = int(period["amount"])
    else:
        amount = _rupiah(_percent_of(base, period["rate_percent"]))
        if "min_amount" in period:
            amount = max(amount, int(period["min_amount"]))
        if "max_amount" in period:
            amount = min(amount, int(period["max_amount"]))
    return amount, str(period["regulation"])


@cache
def confirmed_bases() -> frozenset[int]:
    """Contribution bases confirmed as official steps (amounts at others are estimates)."""
    return frozenset(int(base) for base in load_toml(_FILE)["confirmed_bases"])


def _discount(
    on: date, occupation_code: str | None, payer: Payer
) -> tuple[Discount, frozenset[Programme]] | None:
    sector = Sector.TRANSPORT if is_transport(occupation_code) else Sector.OTHER
    for item in load_toml(_FILE).get("discount", ()):
        if not item["valid_from"] <= on <= item["valid_until"]:
            continue
        if payer.value in item.get("excluded_payers", ()):
            continue
        if Sector(item["sector"]) not in (sector, Sector.ALL):
            continue
        discount = Discount(
            code=item["code"],
            regulation=item["regulation"],
            percent=int(item["percent"]),
            valid_from=item["valid_from"],
            valid_until=item["valid_until"],
        )
        return discount, frozenset(Programme(p) for p in item["programmes"])
    return None


def monthly_contribution(
    *, base: int, on: date, occupation_code: str | None, payer: Payer | str, with_jht: bool
) -> Contribution:
    """Compute one month's iuran.

    Args:
        base: Monthly contribution base in rupiah (from the chosen income range).
        on: The month's date; picks the tariff period and any discount window.
        occupation_code: Code from ``occupations.toml`` (decides the discount sector); None or
            an unknown code counts as a non-transport occupation.
        payer: Who pays, a :class:`Payer` or its value (``coverage.Payer`` has the same values);
            payers listed in a discount's ``excluded_payers`` (APBD/APBN) get no discount.
        with_jht: Include the optional JHT savings.

    Returns:
        The per-programme amounts, the discount that applied (if any) and whether the amounts
        are an estimate.

    Raises:
        LookupError: ``tariffs.toml`` has no tariff period covering ``on``.
        ValueError: ``payer`` is not a known payer value.
    """
    payer = Payer(payer)
    programmes = [Programme.JKK, Programme.JKM] + ([Programme.JHT] if with_jht else [])
    found = _discount(on, occupation_code, payer)
    items = []
    for programme in programmes:
        full, regulation = _full_amount(programme, base, on)
        amount = full
        if found is not None and programme in found[1]:
            amount = _rupiah(Decimal(full) * (_HUNDRED - found[0].percent) / _HUNDRED)
        items.append(ProgrammeAmount(programme, amount, full, regulation))
    return Contribution(
        base=base,
        on=on,
        items=tuple(items),
        discount=None if found is None else found[0],
        estimate=base not in confirmed_bases(),
    )
