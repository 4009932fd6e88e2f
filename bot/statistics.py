"""Programme statistics for admins: pure folding of database aggregates, and phone-sized charts.

The database does the counting (``storage.repos.admin``: a handful of ``GROUP BY`` queries
returning small rows); this module folds those rows into per-kecamatan and per-desa figures against
the targets of ``bot/data/targets.csv``, fills the monthly trend, and works out the APBD budget for
the pemda-paid participants from the tariff data (``bot/data/statistics.toml``). Charts are drawn
with matplotlib's object API on the Agg canvas — a fresh :class:`~matplotlib.figure.Figure` per
chart, never pyplot's global state — so rendering is safe in a worker thread.

Nothing here produces user-visible text: chart titles and labels come in from the handler.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import wilayah
from bot.domain.coverage import CoverageState, add_months, lapse_rule, nonaktif_date
from bot.domain.facts import load_csv, load_toml
from bot.domain.tariffs import Payer, confirmed_bases, monthly_contribution
from storage.models.registration import SubmissionStatus

_FILE = "statistics.toml"
_TARGETS = "targets.csv"
REGENCY_CODE = "63.11"
#: Submissions that count as registrations (sent and not refused).
REGISTRATION_STATUSES = frozenset(
    {SubmissionStatus.SUBMITTED, SubmissionStatus.VERIFIED, SubmissionStatus.REGISTERED}
)
PROTECTED_STATES = frozenset({CoverageState.ACTIVE, CoverageState.GRACE})
#: Key of figures for places outside Balangan or unknown (no desa given).
ELSEWHERE = "elsewhere"


# --- targets -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A coverage target of one area (``bot/data/targets.csv``).

    Attributes:
        code: Dotted Kemendagri code of the area.
        participants: Participants to cover; None when no target is set (0 in the file).
        mark: Confidence mark (C2, C1, U, or ``placeholder``).
    """

    code: str
    participants: int | None
    mark: str


def _dotted(code: str) -> str:
    digits = "".join(ch for ch in code if ch.isdigit())
    parts = [digits[:2], digits[2:4], digits[4:6], digits[6:]]
    return ".".join(part for part in parts if part)


@cache
def targets() -> Mapping[str, Target]:
    """Targets by dotted area code.

    Raises:
        ValueError: a row has a target that is not a whole number >= 0.
    """
    found: dict[str, Target] = {}
    for row in load_csv(_TARGETS):
        raw = row["target"].replace(".", "").replace(",", "").replace("_", "")
        if not raw.isdigit():
            raise ValueError(f"{_TARGETS}: target of {row['kode']} is not a whole number")
        code = _dotted(row["kode"])
        value = int(raw)
        found[code] = Target(code, value or None, row.get("mark", ""))
    return MappingProxyType(found)


def target_of(code: str) -> int | None:
    """The target of an area, or None when none is set."""
    found = targets().get(_dotted(code))
    return None if found is None else found.participants


# --- dates ---------------------------------------------------------------------------------------


@cache
def regency_zone() -> ZoneInfo:
    return ZoneInfo(load_toml("registration.toml")["region"]["timezone"])


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in Balangan (WITA), as an aware UTC-comparable datetime."""
    return datetime.combine(day, time(), tzinfo=regency_zone())


def utc_offset_minutes(day: date) -> int:
    """Balangan's offset from UTC on ``day``, in minutes (WITA: 480)."""
    offset = local_midnight(day).utcoffset() or timedelta()
    return int(offset.total_seconds() // 60)


def protected_from(today: date) -> date:
    """The earliest ``paid_until`` whose cover is still in force on ``today``.

    A participant is protected while ``today`` is before the nonaktif date, which grows with
    ``paid_until``; the smallest such ``paid_until`` is found from the domain rule itself, so the
    SQL ``CASE`` and :func:`bot.domain.coverage.coverage_status` cannot disagree.
    """
    candidate = add_months(today, -(lapse_rule().grace_months + 1)) - timedelta(days=1)
    while nonaktif_date(candidate) <= today:
        candidate += timedelta(days=1)
    return candidate


def month_starts(today: date, months: int) -> tuple[date, ...]:
    """The first days of the ``months`` months ending with ``today``'s month, oldest first."""
    current = today.replace(day=1)
    return tuple(add_months(current, -back) for back in range(months - 1, -1, -1))


def trend_months() -> int:
    """How many months the trend shows."""
    return int(load_toml(_FILE)["trend"]["months"])


# --- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AreaFigures:
    """Registrations and coverage of one area.

    Attributes:
        code: Dotted area code (or :data:`ELSEWHERE`).
        name: The area's name (a proper noun), empty for :data:`ELSEWHERE`.
        registrations: Sent and not refused submissions of people living there.
        covered: Roster participants protected today (active or in the grace months).
        target: Participants the regency aims to cover there; None when none is set.
    """

    code: str
    name: str
    registrations: int
    covered: int
    target: int | None

    @property
    def percent(self) -> int | None:
        """Covered as a whole percentage of the target (None without a target)."""
        if not self.target:
            return None
        return self.covered * 100 // self.target


@dataclass(frozen=True, slots=True)
class MonthCount:
    """Submissions sent in one month (``month`` is its first day)."""

    month: date
    count: int


@dataclass(frozen=True, slots=True)
class PayerFigures:
    """Registrations and protected participants by who pays."""

    payer: str
    registrations: int
    covered: int


@dataclass(frozen=True, slots=True)
class BudgetMonth:
    """The APBD contribution for one participant in one month."""

    month: date
    per_person: int


@dataclass(frozen=True, slots=True)
class Budget:
    """The APBD money needed for the pemda-paid participants over the coming months.

    Attributes:
        participants: Pemda-paid roster participants protected today.
        pending: Registrations still waiting whose person expects the regency to pay.
        base: The contribution base the amounts are computed at.
        months: The contribution per person for each coming month.
        estimate: True when ``base`` is not a confirmed step of the tariff table.
    """

    participants: int
    pending: int
    base: int
    months: tuple[BudgetMonth, ...]
    estimate: bool

    @property
    def per_person(self) -> int:
        """One participant over all the months."""
        return sum(m.per_person for m in self.months)

    @property
    def monthly(self) -> int:
        """The contribution per person in the first month (the usual quote)."""
        return self.months[0].per_person if self.months else 0

    @property
    def total(self) -> int:
        """Participants × contribution, summed over the months."""
        return self.participants * self.per_person

    @property
    def total_with_pending(self) -> int:
        """The total if every waiting pemda-paid registration is accepted."""
        return (self.participants + self.pending) * self.per_person


def apbd_budget(*, participants: int, pending: int, today: date) -> Budget:
    """The budget for the months after ``today``'s month (count and base from the data file).

    Each month's amount comes from the tariff valid on its first day, for payer APBD (no
    discount) and without JHT (FACTS.md §2: pemda-paid workers get JKK + JKM only).
    """
    data = load_toml(_FILE)["apbd_budget"]
    base, count = int(data["base"]), int(data["months"])
    first = add_months(today.replace(day=1), 1)
    months = tuple(
        BudgetMonth(
            month,
            monthly_contribution(
                base=base, on=month, occupation_code=None, payer=Payer.APBD, with_jht=False
            ).total,
        )
        for month in (add_months(first, i) for i in range(count))
    )
    return Budget(participants, pending, base, months, base not in confirmed_bases())


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything ``/statistik`` shows.

    Attributes:
        today: The regency's date of the figures.
        statuses: Submissions by status value (drafts included).
        coverage: Roster participants by coverage state value.
        regency: Balangan as a whole.
        kecamatan: The 8 kecamatan in code order.
        desa: Per kecamatan code, its desa with any registration, participant or target.
        elsewhere: Registrations without a Balangan desa and participants placed outside.
        occupations: ``(occupation code or None, registrations)``, most first.
        payers: Registrations and protected participants per payer value.
        trend: Submissions sent per month, oldest first, ending with the current month.
        budget: The APBD budget for the coming months.
    """

    today: date
    statuses: Mapping[str, int]
    coverage: Mapping[str, int]
    regency: AreaFigures
    kecamatan: tuple[AreaFigures, ...]
    desa: Mapping[str, tuple[AreaFigures, ...]]
    elsewhere: AreaFigures
    occupations: tuple[tuple[str | None, int], ...]
    payers: tuple[PayerFigures, ...]
    trend: tuple[MonthCount, ...]
    budget: Budget

    @property
    def registrations(self) -> int:
        """Sent and not refused submissions."""
        return sum(self.statuses.get(s.value, 0) for s in REGISTRATION_STATUSES)

    @property
    def covered(self) -> int:
        """Participants protected today."""
        return sum(self.coverage.get(s.value, 0) for s in PROTECTED_STATES)


def _kecamatan_of_prefix(prefix: str | None) -> str | None:
    if not prefix:
        return None
    for kecamatan in wilayah.kecamatan_list():
        if kecamatan.nik_prefix == prefix:
            return kecamatan.code
    return None


def _place(kecamatan_code: str | None, desa_code: str | None) -> tuple[str, str | None]:
    """``(kecamatan code or ELSEWHERE, desa code or None)`` of a residence as stored."""
    desa = wilayah.desa_by_code(desa_code) if desa_code else None
    if desa is not None:
        return desa.kecamatan_code, desa.code
    kecamatan = wilayah.kecamatan_by_code(kecamatan_code) if kecamatan_code else None
    return (kecamatan.code if kecamatan is not None else ELSEWHERE), None


def build_overview(
    *,
    today: date,
    by_area_status: Iterable[Sequence[Any]],
    coverage_rows: Iterable[Sequence[Any]],
    occupation_rows: Iterable[Sequence[Any]],
    payer_rows: Iterable[Sequence[Any]],
    month_rows: Iterable[Sequence[Any]],
    pending_apbd: int,
    months: int | None = None,
) -> Overview:
    """Fold the repository's aggregate rows into an :class:`Overview`.

    Args:
        today: The regency's date.
        by_area_status: ``(kecamatan_code, desa_code, status, n)`` over all submissions.
        coverage_rows: ``(kecamatan_code, desa_code, nik_prefix, payer, state, n)`` over the
            roster (residence from the participant's submission, else the NIK's kecamatan).
        occupation_rows: ``(occupation_code, n)`` over registrations.
        payer_rows: ``(payer, n)`` over registrations.
        month_rows: ``("YYYY-MM", n)`` of submissions sent per local month.
        pending_apbd: Waiting registrations expecting the regency to pay.
        months: Months in the trend (default from the data file).
    """
    statuses: dict[str, int] = defaultdict(int)
    registered: dict[tuple[str, str | None], int] = defaultdict(int)
    registration_codes = {s.value for s in REGISTRATION_STATUSES}
    for kecamatan_code, desa_code, status, n in by_area_status:
        statuses[status] += n
        if status in registration_codes:
            registered[_place(kecamatan_code, desa_code)] += n

    coverage: dict[str, int] = defaultdict(int)
    covered: dict[tuple[str, str | None], int] = defaultdict(int)
    payer_covered: dict[str, int] = defaultdict(int)
    apbd_participants = 0
    protected_codes = {s.value for s in PROTECTED_STATES}
    for kecamatan_code, desa_code, prefix, payer, state, n in coverage_rows:
        coverage[state] += n
        if state not in protected_codes:
            continue
        payer_covered[payer] += n
        if payer == Payer.APBD.value:
            apbd_participants += n
        if kecamatan_code is None and desa_code is None:
            covered[(_kecamatan_of_prefix(prefix) or ELSEWHERE, None)] += n
        else:
            covered[_place(kecamatan_code, desa_code)] += n

    def total(table: Mapping[tuple[str, str | None], int], kecamatan: str) -> int:
        return sum(n for (kec, _desa), n in table.items() if kec == kecamatan)

    kecamatan_rows = tuple(
        AreaFigures(
            k.code, k.name, total(registered, k.code), total(covered, k.code), target_of(k.code)
        )
        for k in wilayah.kecamatan_list()
    )
    desa: dict[str, tuple[AreaFigures, ...]] = {}
    for k in wilayah.kecamatan_list():
        rows = []
        for d in wilayah.desa_list(k.code):
            figures = AreaFigures(
                d.code,
                d.name,
                registered.get((k.code, d.code), 0),
                covered.get((k.code, d.code), 0),
                target_of(d.code),
            )
            if figures.registrations or figures.covered or figures.target:
                rows.append(figures)
        desa[k.code] = tuple(rows)
    elsewhere = AreaFigures(
        ELSEWHERE, "", total(registered, ELSEWHERE), total(covered, ELSEWHERE), None
    )
    regency = AreaFigures(
        REGENCY_CODE,
        "",
        sum(registered.values()),
        sum(covered.values()),
        target_of(REGENCY_CODE),
    )

    occupations = tuple(
        sorted(
            ((code, n) for code, n in occupation_rows), key=lambda item: (-item[1], item[0] or "")
        )
    )
    payer_registrations: dict[str | None, int] = {payer: n for payer, n in payer_rows}  # noqa: C416
    payers = tuple(
        PayerFigures(payer, payer_registrations.get(payer, 0), payer_covered.get(payer, 0))
        for payer in sorted(set(payer_registrations) | set(payer_covered), key=lambda p: p or "")
        if payer is not None
    )
    counted = {str(month): n for month, n in month_rows}
    trend = tuple(
        MonthCount(start, counted.get(start.strftime("%Y-%m"), 0))
        for start in month_starts(today, months or trend_months())
    )
    return Overview(
        today=today,
        statuses=MappingProxyType(dict(statuses)),
        coverage=MappingProxyType(dict(coverage)),
        regency=regency,
        kecamatan=kecamatan_rows,
        desa=MappingProxyType(desa),
        elsewhere=elsewhere,
        occupations=occupations,
        payers=payers,
        trend=trend,
        budget=apbd_budget(participants=apbd_participants, pending=pending_apbd, today=today),
    )


# --- charts --------------------------------------------------------------------------------------

#: Inches and dots per inch: about 1000 px wide, sharp on a phone after Telegram's compression.
_DPI = 160
_BAR_SIZE = (6.4, 7.2)
_TREND_SIZE = (6.4, 4.4)
_FONT = 12
_TITLE_FONT = 15
_REGISTRATION_COLOUR = "#1f77b4"
_COVERED_COLOUR = "#2ca02c"
_TARGET_COLOUR = "#d62728"

NumberFormat = Callable[[int], str]


def _axis_numbers(number: NumberFormat) -> Any:
    from matplotlib.ticker import FuncFormatter

    # Whole numbers with the reader's thousands separator (8.000, not 8000).
    return FuncFormatter(lambda value, _pos: number(int(value)) if value == int(value) else "")


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def area_chart(
    areas: Sequence[AreaFigures],
    *,
    title: str,
    registrations_label: str,
    covered_label: str,
    target_label: str,
    number: NumberFormat = str,
) -> bytes:
    """A horizontal bar chart per area: registrations and covered side by side, target ticks.

    Returns:
        PNG bytes.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=_BAR_SIZE, layout="constrained")
    axes = figure.add_subplot()
    names = [area.name for area in areas]
    positions = list(range(len(areas)))
    height = 0.38
    upper = [p - height / 2 for p in positions]
    lower = [p + height / 2 for p in positions]
    registrations = [area.registrations for area in areas]
    covered = [area.covered for area in areas]
    axes.barh(upper, registrations, height, label=registrations_label, color=_REGISTRATION_COLOUR)
    axes.barh(lower, covered, height, label=covered_label, color=_COVERED_COLOUR)
    with_target = [
        (p, area.target) for p, area in zip(positions, areas, strict=True) if area.target
    ]
    if with_target:
        axes.scatter(
            [t for _p, t in with_target],
            [p for p, _t in with_target],
            marker="|",
            s=900,
            linewidths=3,
            color=_TARGET_COLOUR,
            label=target_label,
            zorder=3,
        )
    peak = max([*registrations, *covered, *(t for _p, t in with_target), 1])
    for y, value in [*zip(upper, registrations, strict=True), *zip(lower, covered, strict=True)]:
        axes.text(value + peak * 0.01, y, number(value), va="center", fontsize=_FONT - 1)
    axes.set_yticks(positions, names, fontsize=_FONT)
    axes.invert_yaxis()  # first kecamatan on top, as in a list
    axes.set_xlim(0, peak * 1.18)
    axes.tick_params(axis="x", labelsize=_FONT - 2)
    axes.xaxis.set_major_formatter(_axis_numbers(number))
    axes.set_title(title, fontsize=_TITLE_FONT, fontweight="bold")
    # Under the chart, in one row: a legend inside the axes would cover the last kecamatan.
    figure.legend(loc="outside lower center", ncols=3, fontsize=_FONT - 1, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def trend_chart(
    points: Sequence[MonthCount],
    *,
    title: str,
    month_labels: Sequence[str],
    number: NumberFormat = str,
) -> bytes:
    """A line of submissions per month with the value above each point.

    Returns:
        PNG bytes.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=_TREND_SIZE, layout="constrained")
    axes = figure.add_subplot()
    xs = list(range(len(points)))
    ys = [point.count for point in points]
    axes.plot(xs, ys, marker="o", linewidth=2.5, markersize=7, color=_REGISTRATION_COLOUR)
    peak = max([*ys, 1])
    for x, y in zip(xs, ys, strict=True):
        axes.annotate(
            number(y),
            (x, y),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=_FONT - 2,
        )
    axes.set_xticks(xs, list(month_labels), rotation=45, ha="right", fontsize=_FONT - 2)
    axes.set_ylim(0, peak * 1.2)
    axes.tick_params(axis="y", labelsize=_FONT - 2)
    axes.yaxis.set_major_formatter(_axis_numbers(number))
    axes.grid(axis="y", alpha=0.3)
    axes.set_title(title, fontsize=_TITLE_FONT, fontweight="bold")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)
