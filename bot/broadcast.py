"""The rules of admin broadcasts, without I/O: audiences, pacing, outcomes, quiet hours, schedules.

* **Audience** — what an admin chose (everyone, a kecamatan, a desa, a submission status, pemda-paid
  or self-paying, coverage ending within N days, facilitators), stored as JSON on the broadcast and
  turned into SQL by :mod:`storage.repos.broadcast`.
* **Pacing** — Telegram allows about 30 messages per second overall and one per second per chat, and
  answers 429 beyond that. Two mechanisms work together:

  - :class:`WindowGuard` (one per process) is the hard guarantee: a message counts against the
    rolling second from the moment its request starts until one ``window`` after its *response*
    arrived. Telegram stamps a request somewhere between those two moments, so however the network
    or the event loop jitters, Telegram never sees more than ``rate`` of our requests within one
    second. (python-telegram-bot's ``AIORateLimiter`` lets a burst through in the first second and
    drops messages on 429; it is not used.)
  - :class:`RatePlan` spaces send *slots* ``1 / (rate × (1 − headroom))`` apart; the slots come from
    one budget row every bot process shares (:func:`plan_slots`), so several processes together
    keep one pace. While other processes draw from the budget too, a slot reached later than
    :attr:`RatePlan.late_tolerance` is given up instead of used, so that one process catching up
    never squeezes its messages between another's; a process sending alone uses late slots (its
    guard already bounds any catch-up).

  :class:`ChatSpacing` keeps one chat's messages a second apart.
* **Outcomes** — :func:`classify` maps a Bot API error to what the sender does: a 429 pauses the
  whole sender for ``retry_after``; a 403 means the user blocked the bot (never retried); a timeout
  may have delivered the message, so it is *not* retried (no one may get a broadcast twice); server
  and network errors are retried :data:`RetryPolicy.max_attempts` times with back-off.
* **Quiet hours** — between 20:00 and 08:00 WITA nothing is delivered unless the admin overrides it
  (the window is the one of ``coverage.toml``'s ``[reminders]``, the hours messages may be sent).
* **Schedules** — a date and time typed in WITA.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.domain import wilayah
from bot.domain.reminders import next_send_time, reminder_rules
from storage.models.broadcast import AudienceKind
from storage.models.registration import SubmissionStatus

#: Longest "coverage ending within N days" an admin may choose.
MAX_ENDING_DAYS = 366
#: Telegram's limits on a message text and a media caption (after entities are parsed).
MAX_TEXT_CHARS = 4096
MAX_CAPTION_CHARS = 1024
#: Room kept for the header line the sender puts above the admin's text.
HEADER_ALLOWANCE = 100
#: Furthest ahead a broadcast may be scheduled.
MAX_SCHEDULE_AHEAD = timedelta(days=90)


# --- audience ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audience:
    """Who receives a broadcast.

    Attributes:
        kind: Which group.
        code: The kecamatan code, desa code or submission status, for those kinds.
        days: For :attr:`AudienceKind.ENDING`: coverage ending within this many days.
    """

    kind: AudienceKind
    code: str | None = None
    days: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON stored on the broadcast."""
        return {"kind": self.kind.value, "code": self.code, "days": self.days}

    @classmethod
    def from_json(cls, data: Any) -> Audience | None:
        """Rebuild a stored audience; None when it is malformed or names an unknown place."""
        if not isinstance(data, dict):
            return None
        try:
            kind = AudienceKind(str(data.get("kind")))
        except ValueError:
            return None
        code = data.get("code")
        days = data.get("days")
        audience = cls(
            kind,
            code if isinstance(code, str) else None,
            days if isinstance(days, int) and not isinstance(days, bool) else None,
        )
        return audience if audience.is_valid() else None

    def is_valid(self) -> bool:
        """True when the parameters fit the kind (a real place, a known status, sane days)."""
        match self.kind:
            case AudienceKind.KECAMATAN:
                return self.code is not None and wilayah.kecamatan_by_code(self.code) is not None
            case AudienceKind.DESA:
                return self.code is not None and wilayah.desa_by_code(self.code) is not None
            case AudienceKind.STATUS:
                return self.code in {s.value for s in SubmissionStatus}
            case AudienceKind.ENDING:
                return self.days is not None and 0 <= self.days <= MAX_ENDING_DAYS
            case _:
                return self.code is None and self.days is None


def parse_days(text: str) -> int | None:
    """A typed number of days for "coverage ending within N days" (0..366), else None."""
    digits = text.strip().lower().removesuffix("hari").removesuffix("days").strip()
    if not digits.isdigit() or len(digits) > 3:
        return None
    days = int(digits)
    return days if days <= MAX_ENDING_DAYS else None


# --- pacing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RatePlan:
    """How fast broadcast messages may go out.

    Attributes:
        rate: The configured limit, messages per second overall (``BROADCAST_RATE``).
        headroom: Fraction below the limit the slots are spaced at: room for the jitter between
            the processes sharing the budget.
        window: The rolling window of the limit, in seconds.
    """

    rate: float
    headroom: float = 0.02
    window: float = 1.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or not 0 <= self.headroom < 0.5 or self.window <= 0:
            raise ValueError("rate must be positive and headroom in [0, 0.5)")

    @property
    def interval(self) -> float:
        """Seconds between two send slots."""
        return 1.0 / (self.rate * (1.0 - self.headroom))

    @property
    def per_window(self) -> int:
        """At most this many sends may start in any rolling window."""
        return max(1, math.floor(self.rate * self.window))

    @property
    def slack(self) -> float:
        """How much longer than ``window`` the slots of ``per_window + 1`` sends span."""
        return self.per_window * self.interval - self.window

    @property
    def late_tolerance(self) -> float:
        """While sharing the budget, a slot reached later than this is given up."""
        return max(0.0, min(0.05, self.slack * 0.4))

    @property
    def effective_rate(self) -> float:
        """Messages per second the slots allow (what an uninterrupted broadcast achieves)."""
        return 1.0 / self.interval


def plan_slots(*, next_free: float, now: float, count: int, plan: RatePlan) -> tuple[float, ...]:
    """The next ``count`` send slots of the shared budget, starting at ``max(next_free, now)``.

    Args:
        next_free: The budget's next free slot (epoch seconds).
        now: The current time (epoch seconds).
        count: How many slots to reserve.
        plan: The rate.

    Returns:
        The slot times, ``plan.interval`` apart; the budget's new ``next_free`` is the last slot
        plus one interval (see :func:`after_slots`).
    """
    start = max(next_free, now)
    return tuple(start + i * plan.interval for i in range(count))


def after_slots(slots: tuple[float, ...], plan: RatePlan, next_free: float) -> float:
    """The budget's next free slot after reserving ``slots``."""
    return slots[-1] + plan.interval if slots else next_free


class WindowGuard:
    """At most ``limit`` of this process's requests in any rolling ``window`` as Telegram sees them.

    A request occupies the window from its start until ``window`` seconds after its response (or
    error) arrived: Telegram received it somewhere in between, so no choice of Telegram's clock can
    put ``limit + 1`` of them in one window. The cost is the response latency per message: about
    a millisecond against a local API, a tenth of a second against Telegram.
    """

    __slots__ = ("_done", "_in_flight", "limit", "window")

    def __init__(self, limit: int, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._in_flight = 0
        #: Response times still inside the window, oldest first.
        self._done: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        """Seconds until one more request may start (0 when it may start now)."""
        done = self._done
        # A microsecond beyond the window, so that rounding never lets a stamp count twice.
        span = self.window + 1e-6
        while done and done[0] + span <= now:
            done.popleft()
        if self._in_flight + len(done) < self.limit:
            return 0.0
        if not done:
            return 0.005  # every slot is in flight: look again when a response is in
        return done[0] + span - now

    def started(self) -> None:
        """A request starts now."""
        self._in_flight += 1

    def finished(self, now: float) -> None:
        """A request started earlier got its answer (whatever it was) at ``now``."""
        self._in_flight = max(0, self._in_flight - 1)
        self._done.append(now)


class ChatSpacing:
    """At most one message per chat per ``gap`` seconds (this process)."""

    __slots__ = ("_last", "gap")

    def __init__(self, gap: float = 1.05) -> None:
        self.gap = gap
        self._last: dict[int, float] = {}

    def wait_time(self, chat_id: int, now: float) -> float:
        """Seconds until ``chat_id`` may get another message."""
        last = self._last.get(chat_id)
        return 0.0 if last is None else max(0.0, last + self.gap - now)

    def record(self, chat_id: int, now: float) -> None:
        """A message to ``chat_id`` started at ``now``; forget chats older than the gap."""
        self._last[chat_id] = now
        if len(self._last) > 4096:
            horizon = now - self.gap
            self._last = {c: t for c, t in self._last.items() if t > horizon}


# --- outcomes ------------------------------------------------------------------------------------


class Outcome(StrEnum):
    """What became of one send."""

    SENT = "sent"
    BLOCKED = "blocked"  # 403: mark the user unreachable, never retry
    RATE_LIMITED = "rate_limited"  # 429: pause everything for retry_after, then send again
    RETRY = "retry"  # a transient error: retry later (bounded)
    FAILED = "failed"  # permanent: do not retry


class ErrorCode(StrEnum):
    """Short reasons stored in ``last_error`` and listed in the failure report."""

    BLOCKED = "blocked"
    BAD_REQUEST = "bad_request"
    TIMEOUT = "timeout"
    SERVER = "server_error"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    REMINDERS_OFF = "reminders_off"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Verdict:
    """How to treat one send's result."""

    outcome: Outcome
    error: ErrorCode | None = None
    retry_after: float = 0.0


def classify(error: BaseException | None) -> Verdict:
    """Map a Bot API call's exception (None: success) to what the sender does next."""
    if error is None:
        return Verdict(Outcome.SENT)
    if isinstance(error, RetryAfter):
        delay = error.retry_after
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        return Verdict(Outcome.RATE_LIMITED, retry_after=max(seconds, 1.0))
    if isinstance(error, Forbidden):
        return Verdict(Outcome.BLOCKED, ErrorCode.BLOCKED)
    if isinstance(error, BadRequest):
        return Verdict(Outcome.FAILED, ErrorCode.BAD_REQUEST)
    if isinstance(error, TimedOut):
        # The request may have reached Telegram: sending again could deliver it twice.
        return Verdict(Outcome.FAILED, ErrorCode.TIMEOUT)
    if isinstance(error, NetworkError):
        return Verdict(Outcome.RETRY, ErrorCode.SERVER)
    return Verdict(Outcome.FAILED, ErrorCode.UNKNOWN)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries of transient failures.

    Attributes:
        max_attempts: Calls per recipient at most (the first one included).
        backoff: Seconds to wait before retry 1, 2, ... (the last value repeats).
    """

    max_attempts: int = 4
    backoff: tuple[float, ...] = (2.0, 10.0, 30.0)

    def delay_after(self, attempts: int) -> float | None:
        """Seconds before the next try after ``attempts`` calls, or None to give up."""
        if attempts >= self.max_attempts or not self.backoff:
            return None
        return self.backoff[min(attempts, len(self.backoff)) - 1]


# --- quiet hours ---------------------------------------------------------------------------------


def quiet_until(now: datetime, *, override: bool = False) -> datetime | None:
    """When quiet hours end, if ``now`` is inside them (None: messages may go out now).

    Args:
        now: An aware datetime (the application clock).
        override: The admin chose to send during quiet hours too.
    """
    if override:
        return None
    allowed = next_send_time(now)
    return None if allowed == now else allowed.astimezone(UTC)


def regency_zone() -> ZoneInfo:
    """Balangan's time zone (WITA)."""
    return ZoneInfo(reminder_rules().tz)


# --- schedules -----------------------------------------------------------------------------------


class ScheduleError(StrEnum):
    """Why a typed date and time cannot be used."""

    FORMAT = "format"
    PAST = "past"
    TOO_FAR = "too_far"


_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})(?:[-/.](\d{2}|\d{4}))?$")


def parse_schedule(text: str, now: datetime) -> datetime | ScheduleError:
    """Read "25-11-2026 09:00", "25/11 9.00" or "09:00" (today, or tomorrow once passed) in WITA.

    Args:
        text: What the admin typed.
        now: The current time (aware).

    Returns:
        The moment in UTC, or why it cannot be used.
    """
    zone = regency_zone()
    local_now = now.astimezone(zone)
    parts = text.strip().lower().replace("jam", " ").replace("pukul", " ").split()
    if not 1 <= len(parts) <= 2:
        return ScheduleError.FORMAT
    clock = _TIME.match(parts[-1])
    if clock is None:
        return ScheduleError.FORMAT
    hour, minute = int(clock.group(1)), int(clock.group(2))
    if hour > 23 or minute > 59:
        return ScheduleError.FORMAT
    at = time(hour, minute)
    if len(parts) == 1:
        moment = datetime.combine(local_now.date(), at, tzinfo=zone)
        if moment <= local_now:
            moment = datetime.combine(local_now.date() + timedelta(days=1), at, tzinfo=zone)
    else:
        day = _parse_day(parts[0], local_now.date())
        if day is None:
            return ScheduleError.FORMAT
        moment = datetime.combine(day, at, tzinfo=zone)
    if moment <= local_now:
        return ScheduleError.PAST
    if moment - local_now > MAX_SCHEDULE_AHEAD:
        return ScheduleError.TOO_FAR
    return moment.astimezone(UTC)


def _parse_day(text: str, today: date) -> date | None:
    found = _DATE.match(text)
    if found is None:
        return None
    day, month = int(found.group(1)), int(found.group(2))
    raw_year = found.group(3)
    year = today.year if raw_year is None else int(raw_year)
    if raw_year is not None and len(raw_year) == 2:
        year += 2000
    try:
        parsed = date(year, month, day)
    except ValueError:
        return None
    if raw_year is None and parsed < today:
        # "25/1" typed in December means next January.
        try:
            parsed = date(year + 1, month, day)
        except ValueError:
            return None
    return parsed


# --- progress ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProgressCounts:
    """How many recipient rows are in each status."""

    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    skipped: int = 0

    @classmethod
    def from_mapping(cls, counts: dict[str, int]) -> ProgressCounts:
        """Build from ``{status: count}`` (unknown statuses ignored)."""
        return cls(**{k: int(v) for k, v in counts.items() if k in cls.__dataclass_fields__})

    @property
    def total(self) -> int:
        """Every row."""
        return self.pending + self.sending + self.sent + self.failed + self.blocked + self.skipped

    @property
    def remaining(self) -> int:
        """Rows not finished yet."""
        return self.pending + self.sending

    @property
    def done(self) -> int:
        """Rows finished, whatever the result."""
        return self.total - self.remaining


def progress_bar(done: int, total: int, width: int = 12) -> str:
    """A text bar like ``█████░░░░░░░`` (full when there is nothing to do)."""
    filled = width if total <= 0 else min(width, (done * width) // total)
    return "█" * filled + "░" * (width - filled)


def percent(done: int, total: int) -> int:
    """Whole percent done (100 when there is nothing to do)."""
    return 100 if total <= 0 else min(100, (done * 100) // total)


def eta_seconds(remaining: int, plan: RatePlan) -> int:
    """Seconds the remaining rows take at the planned pace (rounded up)."""
    return math.ceil(remaining / plan.effective_rate) if remaining > 0 else 0
