"""The results table: one section per scenario, ours beside the baselines of the same run.

Every section prints updates/s, p50 and p99 latency, bot CPU milliseconds per update and peak RSS
for each bot under test, the baselines A and B measured in the same run, and our figures as ratios
to them; then the scenario's targets (met / missed by how much) and its other facts. The output is
Markdown, so the README's "Performance" section is a copy of it.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.harness import AIOGRAM_PYTHON, BotKind, Measurement
from bench.procstat import cpu_count

HEADER = (
    "| bot under test | updates/s | p50 ms | p99 ms | CPU ms/update | peak RSS MB "
    "| updates/s ×A | updates/s ×B | CPU/update ×A | CPU/update ×B | notes |"
)
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
#: Above this share of one core the fake API may be limiting throughput (flagged in the notes).
FAKE_BUSY = 0.85


@dataclass(frozen=True, slots=True)
class Check:
    """A target of the issue, evaluated on this run's figures.

    Attributes:
        name: what is compared, e.g. "ours-echo (aiohttp) / baseline B updates/s".
        target: e.g. "≥ 1.0×".
        value: the measured ratio or quantity (None when it could not be measured).
        met: whether the target is met (None when not measurable).
        note: how much it is missed by, or why it could not be measured.
        unit: ``×`` for ratios, empty for counts.
    """

    name: str
    target: str
    value: float | None
    met: bool | None
    note: str = ""
    unit: str = "×"

    @classmethod
    def ratio_at_least(
        cls, name: str, ours: float | None, base: float | None, goal: float
    ) -> Check:
        """``ours / base >= goal`` (higher is better)."""
        if not ours or not base:
            return cls(name, f"≥ {goal:.2f}×", None, None, "not measured")
        value = ours / base
        met = value >= goal
        note = "" if met else f"missed by {100 * (goal - value) / goal:.0f}%"
        return cls(name, f"≥ {goal:.2f}×", value, met, note)

    @classmethod
    def ratio_at_most(
        cls, name: str, ours: float | None, base: float | None, goal: float
    ) -> Check:
        """``ours / base <= goal`` (lower is better)."""
        if not ours or not base:
            return cls(name, f"≤ {goal:.2f}×", None, None, "not measured")
        value = ours / base
        met = value <= goal
        note = "" if met else f"missed by {100 * (value - goal) / goal:.0f}%"
        return cls(name, f"≤ {goal:.2f}×", value, met, note)

    @classmethod
    def count_is_zero(cls, name: str, count: int | None) -> Check:
        """A count that must be zero (429 answers, duplicates)."""
        if count is None:
            return cls(name, "= 0", None, None, "not measured", unit="")
        met = count == 0
        return cls(name, "= 0", float(count), met, "" if met else f"{count} too many", unit="")

    def line(self) -> str:
        """One Markdown list item."""
        if self.value is None:
            return f"- {self.name}: target {self.target} — not measured ({self.note})"
        verdict = "**met**" if self.met else f"**missed** ({self.note})"
        value = f"{self.value:.2f}×" if self.unit == "×" else f"{self.value:,.0f}"
        return f"- {self.name}: **{value}** (target {self.target}) — {verdict}"


@dataclass(frozen=True, slots=True)
class Section:
    """What one scenario reports.

    Attributes:
        name: the scenario's short name (``--only`` takes it).
        title: a heading.
        measurements: the bots under test (ours), in order.
        baselines: baselines A and B from this run, when the section compares with them.
        checks: the issue's targets for this scenario.
        facts: other results as (label, value) pairs (rates, counts, times).
        notes: free-text lines (load used, caveats).
        unavailable: set when the scenario could not run at all ("not available yet: ...").
    """

    name: str
    title: str
    measurements: tuple[Measurement, ...] = ()
    baselines: tuple[Measurement, ...] = ()
    checks: tuple[Check, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    unavailable: str | None = None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "title": self.title,
            "measurements": [m.to_json() for m in self.measurements],
            "baselines": [m.to_json() for m in self.baselines],
            "checks": [
                {
                    "name": c.name,
                    "target": c.target,
                    "value": c.value,
                    "met": c.met,
                    "note": c.note,
                }
                for c in self.checks
            ],
            "facts": [list(f) for f in self.facts],
            "notes": list(self.notes),
            "unavailable": self.unavailable,
        }


def _ratio(ours: float, base: float | None) -> str:
    return f"{ours / base:.2f}" if base and ours else "–"


def _row(m: Measurement, a: Measurement | None, b: Measurement | None) -> str:
    r = m.result
    if r is None or r.steps == 0:
        reason = m.note or (f"no update completed; {r.error_samples[:1]}" if r else "no result")
        return f"| {m.label} | – | – | – | – | – | – | – | – | – | {reason} |"
    notes = []
    if r.errors:
        notes.append(f"{r.errors} errors: {r.error_samples[0][:120]}")
    if r.fake_utilisation >= FAKE_BUSY:
        notes.append(f"fake API at {r.fake_utilisation:.0%} of a core: may be the limit")
    notes.append(f"machine {r.machine_busy:.0%} busy")
    if m.note:
        notes.append(m.note)
    ra = a.result if a is not None and a.ok else None
    rb = b.result if b is not None and b.ok else None
    is_ours = m.kind is not BotKind.BASELINE
    ups, cpu = r.updates_per_second, r.cpu_ms_per_update
    cells = [
        m.label,
        f"{ups:,.0f}",
        f"{r.p50_ms:.1f}",
        f"{r.p99_ms:.1f}",
        f"{cpu:.2f}",
        f"{m.peak_rss_mb:.0f}",
        _ratio(ups, ra.updates_per_second if ra else None) if is_ours else "",
        _ratio(ups, rb.updates_per_second if rb else None) if is_ours else "",
        _ratio(cpu, ra.cpu_ms_per_update if ra else None) if is_ours else "",
        _ratio(cpu, rb.cpu_ms_per_update if rb else None) if is_ours else "",
        "; ".join(notes),
    ]
    return "| " + " | ".join(cells) + " |"


def render_section(section: Section) -> str:
    """The Markdown of one section."""
    lines = [f"### {section.title}", ""]
    if section.unavailable is not None:
        lines += [f"*{section.unavailable}*", ""]
        return "\n".join(lines)
    a = next((m for m in section.baselines if m.label.startswith("baseline A")), None)
    b = next((m for m in section.baselines if m.label.startswith("baseline B")), None)
    rows = [*section.baselines, *section.measurements]
    if rows:
        lines += [HEADER, RULE, *(_row(m, a, b) for m in rows), ""]
    if section.checks:
        lines += ["Targets:", *(c.line() for c in section.checks), ""]
    if section.facts:
        lines += [f"- {label}: {value}" for label, value in section.facts] + [""]
    if section.notes:
        lines += [f"*{note}*" for note in section.notes] + [""]
    return "\n".join(lines)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _aiogram_version() -> str:
    if not AIOGRAM_PYTHON.exists():
        return "not installed"
    try:
        out = subprocess.run(
            [str(AIOGRAM_PYTHON), "-c", "import aiogram; print(aiogram.__version__)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    return out.stdout.strip()


def cpu_model() -> str:
    """The CPU model name as ``lscpu`` reports it (``/proc/cpuinfo`` as a fallback)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=True)
        for line in out.stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


@dataclass(frozen=True, slots=True)
class Machine:
    """Where and with what the figures were measured."""

    cpus: int
    model: str
    python: str
    libraries: str
    when: str
    command: str
    extra: tuple[str, ...] = field(default=())

    @classmethod
    def describe(cls, command: str) -> Machine:
        """Describe this machine and the library versions."""
        libs = (
            f"python-telegram-bot {_version('python-telegram-bot')}, aiohttp {_version('aiohttp')}, "
            f"httpx {_version('httpx')}, SQLAlchemy {_version('SQLAlchemy')}, "
            f"aiogram {_aiogram_version()}"
        )
        return cls(
            cpus=cpu_count(),
            model=cpu_model(),
            python=platform.python_version(),
            libraries=libs,
            when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            command=command,
        )

    def render(self) -> str:
        """A few Markdown lines."""
        return "\n".join(
            [
                f"Machine: {self.cpus} cores (`nproc`), {self.model} (`lscpu`); "
                f"Python {self.python}; {self.libraries}.",
                f"Measured {self.when} with `{self.command}`.",
            ]
        )


def render(machine: Machine, sections: Sequence[Section]) -> str:
    """The whole report as Markdown."""
    parts = [machine.render(), "", *(render_section(s) for s in sections)]
    return "\n".join(parts).rstrip() + "\n"


def save(folder: Path, machine: Machine, sections: Sequence[Section], text: str) -> None:
    """Write ``latest.md`` and ``latest.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest.md").write_text(text)
    data = {
        "machine": {
            "cpus": machine.cpus,
            "model": machine.model,
            "python": machine.python,
            "libraries": machine.libraries,
            "when": machine.when,
            "command": machine.command,
        },
        "sections": [s.to_json() for s in sections],
    }
    (folder / "latest.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
