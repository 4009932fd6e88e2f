"""A facilitator's desa progress against the desa targets: as a short text bar and as a chart.

The figures come from the database (``storage.repos.facilitator.FacilitatorRepository.desa_counts``)
and the targets from ``bot/data/targets.csv`` (via :func:`bot.statistics.target_of`); this module
only draws. The chart uses matplotlib's object API on the Agg canvas — a fresh
:class:`~matplotlib.figure.Figure` per chart, never pyplot's global state — so it is safe to render
in a worker thread while other chats are answered.

Nothing here produces user-visible words: titles and legend labels come in from the handler.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Cells of the text bar; ten cells read as tenths of the target on any phone.
BAR_CELLS = 10
BAR_FULL = "▓"
BAR_EMPTY = "░"

_DPI = 160
_WIDTH_INCHES = 6.4
_ROW_INCHES = 0.75
_MIN_HEIGHT_INCHES = 2.6
_FONT = 12
_TITLE_FONT = 14
_TARGET_COLOUR = "#d9d9d9"
_REGISTERED_COLOUR = "#1f77b4"
_COVERED_COLOUR = "#2ca02c"

NumberFormat = Callable[[int], str]


@dataclass(frozen=True, slots=True)
class DesaProgress:
    """Registrations and protected residents of one desa against its target.

    Attributes:
        code: Dotted Kemendagri desa code.
        name: The desa's name (a proper noun).
        registered: Registrations sent and not refused.
        covered: Residents on the roster and protected today.
        target: Participants the regency aims to cover there; None when none is set.
    """

    code: str
    name: str
    registered: int
    covered: int
    target: int | None

    @property
    def percent(self) -> int | None:
        """Protected residents as a whole percentage of the target (None without a target)."""
        if not self.target:
            return None
        return self.covered * 100 // self.target


def text_bar(value: int, target: int, *, cells: int = BAR_CELLS) -> str:
    """A bar of ``cells`` characters filled in proportion to ``value / target`` (capped at full).

    A value above zero always shows at least one filled cell, so a first registration is visible.

    Raises:
        ValueError: ``target`` or ``cells`` is not positive, or ``value`` is negative.
    """
    if target <= 0 or cells <= 0 or value < 0:
        raise ValueError("text_bar needs target > 0, cells > 0 and value >= 0")
    filled = min(cells, value * cells // target)
    if value > 0 and filled == 0:
        filled = 1
    return BAR_FULL * filled + BAR_EMPTY * (cells - filled)


def progress_chart(
    rows: Sequence[DesaProgress],
    *,
    title: str,
    registered_label: str,
    covered_label: str,
    target_label: str,
    number: NumberFormat = str,
) -> bytes:
    """One horizontal bar per desa: the target in grey behind registrations and protected.

    Args:
        rows: The desa, top to bottom.
        title: The chart's title (already translated).
        registered_label: Legend label of registrations.
        covered_label: Legend label of protected residents.
        target_label: Legend label of the target.
        number: Formats a whole number for the reader (thousands separator).

    Returns:
        PNG bytes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    height = max(_MIN_HEIGHT_INCHES, 1.6 + _ROW_INCHES * len(rows))
    figure = Figure(figsize=(_WIDTH_INCHES, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(rows)))
    targets = [row.target or 0 for row in rows]
    registered = [row.registered for row in rows]
    covered = [row.covered for row in rows]
    if any(targets):
        axes.barh(positions, targets, 0.8, color=_TARGET_COLOUR, label=target_label)
    axes.barh(
        [p - 0.17 for p in positions],
        registered,
        0.32,
        color=_REGISTERED_COLOUR,
        label=registered_label,
    )
    axes.barh(
        [p + 0.17 for p in positions], covered, 0.32, color=_COVERED_COLOUR, label=covered_label
    )
    peak = max([*targets, *registered, *covered, 1])
    for position, row in zip(positions, rows, strict=True):
        label = f"{number(row.covered)} / {number(row.target)}" if row.target else ""
        if row.percent is not None:
            label += f" ({row.percent}%)"
        if label:
            axes.text(peak * 1.01, position, label, va="center", fontsize=_FONT - 2)
    axes.set_yticks(positions, [row.name for row in rows], fontsize=_FONT)
    axes.invert_yaxis()  # first desa on top, as in the text
    axes.set_xlim(0, peak * 1.35)
    axes.tick_params(axis="x", labelsize=_FONT - 2)
    # Whole numbers with the reader's thousands separator (1.000, not 1000).
    axes.xaxis.set_major_formatter(
        FuncFormatter(lambda value, _pos: number(int(value)) if value == int(value) else "")
    )
    axes.set_title(title, fontsize=_TITLE_FONT, fontweight="bold")
    figure.legend(loc="outside lower center", ncols=3, fontsize=_FONT - 2, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()
