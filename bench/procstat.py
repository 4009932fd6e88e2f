"""CPU time and memory of a process, read from ``/proc`` (Linux; no psutil needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by every thread of process ``pid``.

    Raises:
        OSError: the process does not exist (any more).
    """
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def _status_mb(pid: int, field: str) -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (``VmHWM``) of process ``pid`` in MiB; 0.0 when unreadable."""
    return _status_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    """Current resident set size (``VmRSS``) of process ``pid`` in MiB; 0.0 when unreadable."""
    return _status_mb(pid, "VmRSS:")


@dataclass(frozen=True, slots=True)
class MachineCpu:
    """A snapshot of the machine-wide CPU counters (``/proc/stat``, first line)."""

    busy: int
    total: int

    @classmethod
    def read(cls) -> MachineCpu:
        """Take a snapshot now."""
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        total = sum(values[:8])  # guest time is already counted in user
        return cls(busy=total - idle, total=total)

    def busy_since(self, earlier: MachineCpu) -> float:
        """Fraction (0..1) of all cores' time spent busy between ``earlier`` and this snapshot."""
        total = self.total - earlier.total
        return (self.busy - earlier.busy) / total if total > 0 else 0.0


def cpu_count() -> int:
    """Number of CPUs this process may run on."""
    return len(os.sched_getaffinity(0))
