"""What the harness asks the fake Bot API to do, and what it answers (JSON both ways).

A *script* is the list of :class:`Step` one simulated user performs. Each step is an action (send a
text, press a button, share a contact...) and an expectation: the step is complete — and the user
performs the next one — once the bot sends or edits a message in the user's chat that matches it.
The latency of a step runs from the moment the update is queued to the moment the matching Bot API
call reaches the fake; it therefore includes long-polling delivery, processing and the reply.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """What a simulated user does in one step."""

    TEXT = "text"
    PRESS = "press"  # value: the button's label (exact, else case-insensitive substring)
    CONTACT = "contact"  # value: the phone number; the user shares their own contact
    PHOTO = "photo"
    STICKER = "sticker"
    DOCUMENT = "document"  # value: file name; ``data`` holds the content


@dataclass(frozen=True, slots=True)
class Step:
    """One action of a user and the reply that completes it.

    Attributes:
        action: what the user does.
        value: text, button label, phone number or file name.
        expect: the step completes at the first bot message (sent or edited after the action)
            whose text or caption contains ``expect``, or that has a button labelled ``expect``;
            ``None`` accepts any bot message.
        data: content of a document, as latin-1 text (CSV files are ASCII).
    """

    action: Action
    value: str = ""
    expect: str | None = None
    data: str = ""

    @classmethod
    def text(cls, value: str, expect: str | None = None) -> Step:
        """Send ``value`` as a text message."""
        return cls(Action.TEXT, value, expect)

    @classmethod
    def press(cls, label: str, expect: str | None = None) -> Step:
        """Tap the inline button labelled ``label`` on the latest bot message that has it."""
        return cls(Action.PRESS, label, expect)


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """A closed-loop load.

    Attributes:
        users: number of simulated users running at once.
        scripts: one script per user, or a single script every user follows.
        repeat: cycle through the script until the measurement window closes (steady state);
            when false every user runs the script once and the window spans the whole run.
        warmup_seconds: with ``repeat``: run this long before the window opens.
        seconds: with ``repeat``: length of the measurement window.
        warmup_users: without ``repeat``: this many extra users run their scripts first, one
            batch before the measured users start (their scripts are the first entries).
        step_timeout: a step that gets no matching reply in this many seconds is an error.
        first_user_id: Telegram id of the first simulated user; the others follow.
        language: the users' Telegram app language.
        rate_limits: ``[global_per_second, per_chat_per_second]`` the fake enforces with 429s.
    """

    users: int
    scripts: tuple[tuple[Step, ...], ...]
    repeat: bool = True
    warmup_seconds: float = 2.0
    seconds: float = 10.0
    warmup_users: int = 0
    step_timeout: float = 30.0
    first_user_id: int = 7_000_001
    language: str = "id"
    rate_limits: tuple[int | None, int | None] | None = None

    def script_for(self, index: int) -> tuple[Step, ...]:
        """The script of user number ``index`` (0-based, warm-up users first)."""
        return self.scripts[index] if len(self.scripts) > 1 else self.scripts[0]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadSpec:
        """Rebuild a spec from :meth:`to_json`'s output."""
        scripts = tuple(
            tuple(Step(Action(s["action"]), s["value"], s["expect"], s["data"]) for s in script)
            for script in data["scripts"]
        )
        limits = data.get("rate_limits")
        return cls(
            **{**data, "scripts": scripts, "rate_limits": tuple(limits) if limits else None}
        )


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What the fake measured over the window.

    Attributes:
        steps: steps completed inside the window (= updates the bot answered).
        seconds: length of the window.
        p50_ms, p99_ms, mean_ms, max_ms: step latencies completed inside the window.
        bot_cpu_seconds: CPU time of the bot process over the window (0 when unknown).
        fake_cpu_seconds: CPU time of the fake API process over the window.
        machine_busy: fraction of all cores busy over the window.
        errors: steps that failed (timeout, missing button); the user stopped there.
        error_samples: a few error descriptions.
        calls: Bot API calls by method over the window.
        users_finished: users whose script ran to the end.
        step_p50_ms, step_p99_ms: latencies by position in the script (step 1, 2...).
    """

    steps: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    bot_cpu_seconds: float
    fake_cpu_seconds: float
    machine_busy: float
    errors: int = 0
    error_samples: tuple[str, ...] = ()
    calls: dict[str, int] = field(default_factory=dict)
    users_finished: int = 0
    step_p50_ms: tuple[float, ...] = ()
    step_p99_ms: tuple[float, ...] = ()

    @property
    def updates_per_second(self) -> float:
        """Completed steps per second of window."""
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_update(self) -> float:
        """Bot CPU milliseconds per completed step."""
        return 1000 * self.bot_cpu_seconds / self.steps if self.steps else 0.0

    @property
    def fake_utilisation(self) -> float:
        """Share of one core the fake API used (near 1.0 means it may be the bottleneck)."""
        return self.fake_cpu_seconds / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        """Rebuild a result from :meth:`to_json`'s output."""
        tuples = ("error_samples", "step_p50_ms", "step_p99_ms")
        return cls(**{**data, **{k: tuple(data.get(k, ())) for k in tuples}})


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
