"""Rate limiting and fault injection for the Bot API emulator.

Telegram throttles bots (roughly 30 messages per second overall and one per second per chat)
by answering 429 with ``retry_after``; the limiter reproduces that with rolling one-second
windows so the bot's retry logic can be exercised. Faults are one-shot: a test arms them and
the next matching calls consume them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

# Methods that post or change content in a chat; Telegram's flood limits apply to these.
RATE_LIMITED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendSticker",
        "sendVoice",
        "sendLocation",
        "sendContact",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
    }
)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Limits to enforce; ``None`` disables a limit (all are off by default).

    Attributes:
        global_per_second: Accepted sends across all chats within any rolling window.
        per_chat_per_second: Accepted sends to one chat within any rolling window.
        window: Length of the rolling window in seconds.
        methods: Method names the limits apply to.
    """

    global_per_second: int | None = None
    per_chat_per_second: int | None = None
    window: float = 1.0
    methods: frozenset[str] = RATE_LIMITED_METHODS

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return self.global_per_second is not None or self.per_chat_per_second is not None


@dataclass(slots=True)
class RateLimiter:
    """Rolling-window limiter; each check is amortised O(1) (old stamps fall off the left).

    Only accepted calls are stamped, so "at most N accepted per window" holds exactly.
    """

    limits: RateLimits = field(default_factory=RateLimits)
    rejected: int = 0
    accepted: int = 0
    _global: deque[float] = field(default_factory=deque)
    _per_chat: dict[int, deque[float]] = field(default_factory=dict)

    def configure(self, limits: RateLimits) -> None:
        """Replace the limits and forget earlier stamps (counters are kept)."""
        self.limits = limits
        self._global.clear()
        self._per_chat.clear()

    def applies_to(self, method: str) -> bool:
        """Whether calls of ``method`` are subject to the limits."""
        return self.limits.enabled and method in self.limits.methods

    def check(self, chat_id: int | None, now: float) -> int | None:
        """Admit one send, or refuse it.

        Args:
            chat_id: Target chat (``None`` when the call names none).
            now: Monotonic time of the call.

        Returns:
            ``None`` when admitted (and stamped); otherwise ``retry_after`` in whole seconds.
        """
        limits = self.limits
        horizon = now - limits.window
        waits: list[float] = []
        if limits.global_per_second is not None:
            _expire(self._global, horizon)
            if len(self._global) >= limits.global_per_second:
                waits.append(self._global[0] + limits.window - now)
        chat_stamps: deque[float] | None = None
        if limits.per_chat_per_second is not None and chat_id is not None:
            chat_stamps = self._per_chat.get(chat_id)
            if chat_stamps is None:
                chat_stamps = self._per_chat[chat_id] = deque()
            _expire(chat_stamps, horizon)
            if len(chat_stamps) >= limits.per_chat_per_second:
                waits.append(chat_stamps[0] + limits.window - now)
        if waits:
            self.rejected += 1
            # Telegram always says at least 1 second.
            return max(1, math.ceil(max(waits)))
        if limits.global_per_second is not None:
            self._global.append(now)
        if chat_stamps is not None:
            chat_stamps.append(now)
        self.accepted += 1
        return None


def _expire(stamps: deque[float], horizon: float) -> None:
    while stamps and stamps[0] <= horizon:
        stamps.popleft()


@dataclass(frozen=True, slots=True)
class Fault:
    """An error the emulator answers instead of running the method."""

    status: int
    description: str
    retry_after: int | None = None


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    403: "Forbidden",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(slots=True)
class FaultInjector:
    """One-shot failures and delays armed per method name."""

    _failures: dict[str, deque[Fault]] = field(default_factory=dict)
    _delays: dict[str, deque[float]] = field(default_factory=dict)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str | None = None,
        count: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail with ``status``.

        Args:
            method: Bot API method name (as documented, e.g. ``sendMessage``).
            status: HTTP status and ``error_code`` to answer.
            description: Error description; a standard phrase for ``status`` when omitted.
            count: How many calls fail.
            retry_after: Adds ``parameters.retry_after`` (meaningful with status 429).
        """
        if description is None:
            description = _DEFAULT_DESCRIPTIONS.get(status, "Internal Server Error")
            if status == 429 and retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
        fault = Fault(status, description, retry_after)
        self._failures.setdefault(method, deque()).extend([fault] * count)

    def delay_next(self, method: str, seconds: float, *, count: int = 1) -> None:
        """Hold the next ``count`` calls of ``method`` for ``seconds`` before answering."""
        self._delays.setdefault(method, deque()).extend([seconds] * count)

    def take_failure(self, method: str) -> Fault | None:
        """Consume the next armed failure for ``method``, if any."""
        queue = self._failures.get(method)
        if not queue:
            return None
        return queue.popleft()

    def take_delay(self, method: str) -> float:
        """Consume the next armed delay for ``method`` (0 when none)."""
        queue = self._delays.get(method)
        if not queue:
            return 0.0
        return queue.popleft()

    def clear(self) -> None:
        """Disarm everything."""
        self._failures.clear()
        self._delays.clear()

    @property
    def armed(self) -> bool:
        """Whether any failure or delay is pending."""
        return any(self._failures.values()) or any(self._delays.values())
