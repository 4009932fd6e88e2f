"""Per-user flood control: a token bucket per chat, in memory.

A user may send ``burst`` updates at once; after that they are slowed to ``burst / window`` updates
per second. Nothing a user sends is dropped: an update over the limit waits for its token (holding
only that user's queue — other users are unaffected), and the user is told once per window, politely,
why the bot is slower.

Telegram delivers an update again when its first delivery was not acknowledged in time (a slow
webhook answer, a restart). A copy of an update is not the user typing again: it takes no token.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

#: How many of a chat's latest update ids are remembered to recognise redelivered copies.
RECENT_IDS = 64


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    warned_at: float = -1e9
    #: The update ids that took a token most recently (copies of them are free).
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_IDS))


@dataclass(slots=True)
class FloodControl:
    """Token buckets keyed by chat id."""

    burst: int
    window_seconds: float
    clock: object = time.monotonic
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Tokens regained per second."""
        return self.burst / self.window_seconds

    def take(self, chat_id: int, update_id: int | None = None) -> tuple[float, bool]:
        """Take a token for ``chat_id``.

        Args:
            chat_id: The user's chat.
            update_id: The update's id: a copy of one of the chat's recent updates takes no token.

        Returns:
            ``(wait_seconds, warn)``: how long the update must wait for its token (0 when within the
            burst), and whether the user should now be told they are being slowed.
        """
        now = self.clock()  # type: ignore[operator]
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            if len(self._buckets) > 50_000:
                self._forget_idle(now)
            bucket = self._buckets[chat_id] = _Bucket(float(self.burst), now)
        else:
            if update_id is not None and update_id in bucket.recent:
                return 0.0, False
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if update_id is not None:
            bucket.recent.append(update_id)
        was_limited = bucket.tokens < 1.0 and now - bucket.warned_at < self.window_seconds * 2
        bucket.tokens -= 1.0
        if bucket.tokens >= 0:
            return 0.0, False
        wait = -bucket.tokens / self.rate
        # One notice per flood: not again while the user is still being held back.
        warn = not was_limited and now - bucket.warned_at >= self.window_seconds
        if warn:
            bucket.warned_at = now
        return wait, warn

    def _forget_idle(self, now: float) -> None:
        # Buckets that have refilled completely carry no information: drop them to bound memory.
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
