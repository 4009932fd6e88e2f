"""The broadcast sender: a background loop in every bot process that works through recipient rows.

**How a row is sent.** The sender *claims* a small batch of pending rows (``status = sending``,
``claimed_by`` = this process, ``attempts + 1``) and, in the same transaction, reserves as many send
slots from the one budget row all processes share (:func:`bot.broadcast.plan_slots`). Each row is
sent at its slot through ``services.require_bot()``; the outcomes are written in batches a few times
a second. A claim is taken shortly before its slots come (a batch covers about 0.2 s of sending), so
claiming the next batch overlaps with sending the current one and the pace never stalls.

**Limits.** This process never has more than ``rate`` requests in any rolling second as Telegram sees
them (:class:`bot.broadcast.WindowGuard` counts a request until a second after its response).
Slots are ``1 / (rate × 0.995)`` apart (``rate × 0.98`` while several processes draw from the budget,
and then a slot reached late is given up rather than used, so no process squeezes its messages
between another's). A sender that starts while the budget was in use a moment ago (after a crash,
or beside another instance) waits one window before its first send, so that requests it cannot
count have reached Telegram. One chat gets at most one message a second.
A 429 pauses the whole sender — and, through the budget row, every other process — for
``retry_after``. Progress edits and reports take slots like any other message.

**Crash safety (at most once).** A row is in ``sending`` from its claim until its outcome is written.
A process that stops gracefully gives its unsent claims back (attempt undone) and writes every
outcome first, so a normal restart resumes without loss. A process that dies leaves its claims in
``sending``; whether Telegram got those messages is unknown, so after :attr:`SenderTuning.claim_lease`
another process closes them as failed with reason "interrupted" instead of sending them again. Nobody
gets a broadcast twice; at most one batch plus the unwritten outcomes of a killed process (well under
a second of sending) are reported as "interrupted" and listed in the failure CSV. A timeout is treated
the same way (not retried): the message may have arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from telegram import InlineKeyboardMarkup, InputFile, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter

from bot import keyboards
from bot.broadcast import (
    ChatSpacing,
    ErrorCode,
    Outcome,
    ProgressCounts,
    RatePlan,
    RetryPolicy,
    Verdict,
    WindowGuard,
    classify,
    eta_seconds,
    percent,
    progress_bar,
    quiet_until,
    regency_zone,
)
from bot.domain.dates import regency_date
from bot.i18n import N_, Html, Translator
from storage.models.broadcast import Broadcast, BroadcastStatus, MediaKind, RecipientStatus
from storage.repos.broadcast import NotDelivered
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.services import Services
    from storage.repositories import Repositories

log = logging.getLogger(__name__)
T = TypeVar("T")

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
#: Slots are reserved this far ahead of "now", so the first one is not already late on arrival.
SLOT_LEAD = 0.02
#: A control message (progress, report) gives up after this many failed slot attempts.
CONTROL_TRIES = 20
#: Another process that reserved slots this recently means the budget is shared.
SHARED_WITHIN = 5.0
#: When stopping: how long to wait for sends in flight, and for progress messages. (The
#: application cancels its loops 10 s after asking them to stop.)
#: Longest wait at start for another sender's last requests to reach Telegram.
MAX_SETTLE = 2.0
SHUTDOWN_SENDS = 6.0
SHUTDOWN_CONTROL = 1.0

ANNOUNCEMENT_HEADER = N_("📢 <b>Announcement</b>")
REMINDER_HEADER = N_("🔔 <b>Reminder</b>")
REMINDER_FOOTER = N_("<i>To turn reminders off, type /pengingat.</i>")
REASONS: dict[str, str] = {
    ErrorCode.BLOCKED: N_("Blocked the bot"),
    ErrorCode.BAD_REQUEST: N_("Telegram refused the message"),
    ErrorCode.TIMEOUT: N_("Telegram did not answer in time (it may have arrived)"),
    ErrorCode.SERVER: N_("Telegram error, still failing after retries"),
    ErrorCode.INTERRUPTED: N_("The bot stopped while sending (it may have arrived)"),
    ErrorCode.CANCELLED: N_("Broadcast cancelled"),
    ErrorCode.REMINDERS_OFF: N_("Turned reminders off"),
    ErrorCode.UNREACHABLE: N_("Had blocked the bot earlier"),
    ErrorCode.UNKNOWN: N_("Unknown error"),
}


@dataclass(frozen=True, slots=True)
class SenderTuning:
    """Timing of the sender (tests shorten some of these).

    Attributes:
        headroom: While other processes draw from the budget too, slots are spaced for
            ``rate × (1 − headroom)``; the gap absorbs the jitter between processes.
        solo_headroom: The same when this process sends alone (its window guard is exact, so
            the pace only needs to stay just under the limit).
        poll_seconds: Pause between looks at the database when nothing is being sent.
        control_seconds: How often broadcast states (pause, cancel, quiet hours) are re-read
            while sending.
        flush_seconds: How often outcomes are written.
        start_delay: Seconds after the admin's confirmation before anything is sent, so that the
            confirmation reply never shares a rate-limit second with the broadcast.
        batch_seconds: A claim covers about this much sending time.
        max_batch: ... and at most this many rows.
        lookahead: The next batch is claimed when the queued slots run out within this time.
        progress_seconds: The progress message is edited at most this often.
        claim_lease: A claim older than this, held by another process, is closed as interrupted.
        recover_seconds: How often stale claims are looked for.
        chat_gap: Seconds between two messages to one chat.
        retry: Retries of transient failures.
    """

    headroom: float = 0.02
    solo_headroom: float = 0.005
    poll_seconds: float = 1.0
    control_seconds: float = 0.5
    flush_seconds: float = 0.1
    start_delay: float = 1.2
    batch_seconds: float = 0.25
    max_batch: int = 100
    lookahead: float = 0.3
    progress_seconds: float = 3.0
    claim_lease: float = 60.0
    recover_seconds: float = 30.0
    chat_gap: float = 1.05
    retry: RetryPolicy = field(default_factory=RetryPolicy)


DEFAULT_TUNING = SenderTuning()


# --- what recipients and the admin read ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Content:
    """What a broadcast sends (immutable once confirmed)."""

    broadcast_id: int
    body_html: str
    media_kind: MediaKind
    file_id: str | None
    is_reminder: bool

    @classmethod
    def of(cls, broadcast: Broadcast) -> Content:
        """The content of a stored broadcast."""
        assert broadcast.id is not None
        return cls(
            broadcast_id=broadcast.id,
            body_html=broadcast.body_html,
            media_kind=MediaKind(broadcast.media_kind),
            file_id=broadcast.media_file_id,
            is_reminder=broadcast.is_reminder,
        )


def render_message(t: Translator, *, body_html: str, is_reminder: bool) -> str:
    """The text (or caption) a recipient reads: a header in their language, then the admin's text.

    The header tells an announcement from a reminder, so that "reminders off" is visible.
    """
    header = t(REMINDER_HEADER if is_reminder else ANNOUNCEMENT_HEADER)
    parts = [header, body_html] if body_html else [header]
    if is_reminder:
        parts.append(t(REMINDER_FOOTER))
    return "\n\n".join(parts)


def duration_text(t: Translator, seconds: int) -> str:
    """``1 min 5 s`` / ``40 s``."""
    if seconds >= 60:
        return t("{minutes} min {seconds} s", minutes=seconds // 60, seconds=seconds % 60)
    return t("{seconds} s", seconds=seconds)


def progress_text(
    t: Translator,
    *,
    broadcast_id: int,
    status: BroadcastStatus,
    counts: ProgressCounts,
    plan: RatePlan,
    resumes_at: datetime | None,
    final: bool = False,
) -> str:
    """The live progress message: state, bar, counts, remaining and time left."""
    if final or status is BroadcastStatus.DONE:
        head = (
            t("<b>Broadcast #{id}</b>: cancelled.", id=broadcast_id)
            if status is BroadcastStatus.CANCELLED
            else t("<b>Broadcast #{id}</b>: finished.", id=broadcast_id)
        )
    elif status is BroadcastStatus.CANCELLED:
        head = t("<b>Broadcast #{id}</b>: cancelling…", id=broadcast_id)
    elif status is BroadcastStatus.PAUSED:
        head = t("<b>Broadcast #{id}</b>: paused.", id=broadcast_id)
    elif resumes_at is not None:
        head = t(
            "<b>Broadcast #{id}</b>: quiet hours, sending continues at {time} WITA.",
            id=broadcast_id,
            time=t.time(resumes_at.astimezone(regency_zone())),
        )
    else:
        head = t("<b>Broadcast #{id}</b>: sending…", id=broadcast_id)
    total, done = counts.total, counts.done
    lines = [
        head,
        f"{progress_bar(done, total)} {percent(done, total)}%",
        t(
            "Sent: {sent} · Blocked the bot: {blocked} · Failed: {failed} · Skipped: {skipped}",
            sent=t.number(counts.sent),
            blocked=t.number(counts.blocked),
            failed=t.number(counts.failed),
            skipped=t.number(counts.skipped),
        ),
    ]
    if not final and counts.remaining:
        lines.append(
            t(
                "Remaining: {remaining} · about {eta} left",
                remaining=t.number(counts.remaining),
                eta=Html(duration_text(t, eta_seconds(counts.remaining, plan))),
            )
        )
    return "\n".join(lines)


def progress_keyboard(
    t: Translator, broadcast_id: int, status: BroadcastStatus
) -> InlineKeyboardMarkup | None:
    """Pause or resume, and cancel (None once the broadcast is over)."""
    if status is BroadcastStatus.RUNNING:
        first = keyboards.button(t("⏸ Pause"), f"bc:pause:{broadcast_id}")
    elif status is BroadcastStatus.PAUSED:
        first = keyboards.button(t("▶ Resume"), f"bc:resume:{broadcast_id}")
    else:
        return None
    return keyboards.inline(
        [[first, keyboards.button(t("✖ Cancel"), f"bc:cancel:{broadcast_id}")]]
    )


def report_text(
    t: Translator, *, broadcast: Broadcast, counts: ProgressCounts, with_file: bool
) -> str:
    """The final report: counts, duration, and a pointer to the CSV when there is one."""
    started = broadcast.started_at or broadcast.confirmed_at
    finished = broadcast.finished_at or utcnow()
    seconds = max(0, int((finished - started).total_seconds()))
    duration = Html(duration_text(t, seconds))
    head = (
        t(
            "<b>Broadcast #{id}</b> was cancelled after {duration}.",
            id=broadcast.id,
            duration=duration,
        )
        if broadcast.status == BroadcastStatus.CANCELLED.value
        else t(
            "<b>Broadcast #{id}</b> finished in {duration}.", id=broadcast.id, duration=duration
        )
    )
    lines = [
        head,
        t("Recipients: {count}", count=t.number(counts.total)),
        t("✅ Sent: {count}", count=t.number(counts.sent)),
        t("🚫 Blocked the bot: {count}", count=t.number(counts.blocked)),
        t("⚠️ Failed: {count}", count=t.number(counts.failed)),
        t("⏭ Skipped: {count}", count=t.number(counts.skipped)),
    ]
    if with_file:
        lines.append(t("The file lists everyone who did not get it, with the reason."))
    return "\n".join(lines)


def reason_text(t: Translator, code: str | None) -> str:
    """A recipient's failure reason in words."""
    return t(REASONS.get(code or ErrorCode.UNKNOWN, REASONS[ErrorCode.UNKNOWN]))


def failures_csv(t: Translator, rows: Iterable[NotDelivered]) -> bytes:
    """The recipients who did not get a broadcast, with the reason (UTF-8 with BOM for Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["telegram_user_id", "status", "reason_code", "reason", "attempts"])
    for row in rows:
        writer.writerow(
            [row.user_id, row.status, row.error or "", reason_text(t, row.error), row.attempts]
        )
    return buffer.getvalue().encode("utf-8-sig")


def failures_filename(broadcast_id: int) -> str:
    """The CSV's file name."""
    return f"siaran-{broadcast_id}-tidak-terkirim.csv"


# --- the sender ----------------------------------------------------------------------------------


def worker_name() -> str:
    """A name for this sender, unique across processes and restarts (``host:pid:random``)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(slots=True)
class _Job:
    """A claimed row waiting for its slot."""

    row_id: int
    broadcast_id: int
    user_id: int
    attempts: int
    language: str
    not_before: float = 0.0


@dataclass(frozen=True, slots=True)
class _Result:
    job: _Job
    status: RecipientStatus | None  # None: retry later
    error: str | None = None
    not_before: datetime | None = None


async def _sleep(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stopping`` is set."""
    if seconds <= 0:
        await asyncio.sleep(0)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


class BroadcastSender:
    """Sends the recipient rows of running broadcasts; one per process (see the module doc)."""

    def __init__(self, services: Services, *, tuning: SenderTuning | None = None) -> None:
        self.services = services
        self.tuning = tuning or DEFAULT_TUNING
        rate = services.settings.broadcast_rate
        #: The pace alone, and while sharing the budget with other processes.
        self.plan = RatePlan(rate, self.tuning.solo_headroom)
        self.shared_plan = RatePlan(rate, self.tuning.headroom)
        self.worker = worker_name()
        self.guard = WindowGuard(self.plan.per_window, self.plan.window)
        self.chats = ChatSpacing(self.tuning.chat_gap)
        self.batch_size = max(
            1,
            min(
                self.tuning.max_batch, round(self.plan.effective_rate * self.tuning.batch_seconds)
            ),
        )
        self._queue: deque[tuple[_Job, float]] = deque()
        self._unslotted: deque[_Job] = deque()
        self._release: list[int] = []
        self._results: list[_Result] = []
        self._contents: dict[int, Content] = {}
        self._open: list[Broadcast] = []
        self._eligible: frozenset[int] = frozenset()
        self._progress_ids: dict[int, int] = {}
        self._showing: dict[int, asyncio.Task[None]] = {}
        self._last_progress: dict[int, str] = {}
        self._paused_until = 0.0
        self._shared_until = 0.0
        self._dry_until = 0.0
        self._feeding: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._control_tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        #: Counters for logs and tests.
        self.sent = 0
        self.rate_limited = 0
        self.late_slots = 0

    # -- lifecycle ------------------------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        """Send until ``stopping`` is set, then give back unsent claims and write every outcome.

        Cancelling the task instead is treated as a crash: nothing more is written (the claims are
        closed as "interrupted" by whichever process looks next).
        """
        maintenance = asyncio.create_task(self._maintain(stopping), name="broadcast-maintenance")
        try:
            await self._recover()
            await self._settle_in(stopping)
            await self._pump(stopping)
        except asyncio.CancelledError:
            self._abandon(maintenance)
            raise
        except Exception:
            self._abandon(maintenance)
            raise
        # The bookkeeping loop sees ``stopping`` too; let it finish the write it may be in.
        _done, late = await asyncio.wait({maintenance}, timeout=SHUTDOWN_CONTROL * 2)
        for task in late:
            task.cancel()
        await asyncio.gather(maintenance, return_exceptions=True)
        await self._shutdown()

    def _abandon(self, maintenance: asyncio.Task[None]) -> None:
        for task in (maintenance, self._feeding, *self._inflight, *self._control_tasks):
            if task is not None:
                task.cancel()

    async def _shutdown(self) -> None:
        if self._feeding is not None:
            await asyncio.gather(self._feeding, return_exceptions=True)
        self._release.extend(job.row_id for job, _ in self._queue)
        self._release.extend(job.row_id for job in self._unslotted)
        self._queue.clear()
        self._unslotted.clear()
        # Sends in flight are answered within the request timeout; progress messages may be
        # waiting for a slot and are not worth delaying the stop for.
        if self._inflight:
            _done, late = await asyncio.wait(self._inflight, timeout=SHUTDOWN_SENDS)
            for task in late:
                task.cancel()
        if self._control_tasks:
            _done, late = await asyncio.wait(self._control_tasks, timeout=SHUTDOWN_CONTROL)
            for task in late:
                task.cancel()
        # Rows a 429 put back while stopping are unsent too.
        self._release.extend(job.row_id for job in self._unslotted)
        self._unslotted.clear()
        await self._flush()

    # -- sending loop ---------------------------------------------------------------------------
    async def _pump(self, stopping: asyncio.Event) -> None:
        tuning = self.tuning
        while not stopping.is_set():
            self._maybe_feed()
            if not self._queue:
                feeding = self._feeding
                if feeding is not None and not feeding.done():
                    await asyncio.wait({feeding}, timeout=tuning.poll_seconds)
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), tuning.poll_seconds)
                continue
            job, slot = self._queue[0]
            now = time.time()
            wait = max(slot - now, self._paused_until - now, self.guard.wait_time(now))
            if wait > 0:
                # Wake up in time for the slot, and often enough to claim the next batch.
                await _sleep(stopping, min(wait, tuning.lookahead / 2))
                continue
            self._queue.popleft()
            self._dispatch(job, slot, now)

    def _dispatch(self, job: _Job, slot: float, now: float) -> None:
        if job.broadcast_id not in self._eligible:
            self._release.append(job.row_id)
            return
        if now - slot > self.shared_plan.late_tolerance and now < self._shared_until:
            # Another process sends too: using a missed slot now could squeeze our message
            # between two of theirs. Take a new slot instead.
            self.late_slots += 1
            self._unslotted.append(job)
            return
        chat_wait = self.chats.wait_time(job.user_id, now)
        if chat_wait > 0:
            job.not_before = now + chat_wait
            self._unslotted.append(job)
            return
        self.guard.started()
        self.chats.record(job.user_id, now)
        task = asyncio.create_task(self._send(job))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    def _maybe_feed(self) -> None:
        feeding = self._feeding
        if feeding is not None:
            if not feeding.done():
                return
            self._feeding = None
            if not feeding.cancelled() and feeding.exception() is not None:
                log.error("claiming broadcast rows failed", exc_info=feeding.exception())
        now = time.time()
        ready = any(j.not_before <= now for j in self._unslotted)
        if not ready and not (self._eligible and now >= self._dry_until):
            return
        if self._queue and self._queue[-1][1] - now > self.tuning.lookahead:
            return
        self._feeding = asyncio.create_task(self._feed(), name="broadcast-claim")

    async def _feed(self) -> None:
        now = time.time()
        ready: list[_Job] = []
        waiting: deque[_Job] = deque()
        for job in self._unslotted:
            if job.broadcast_id not in self._eligible:
                self._release.append(job.row_id)
            elif job.not_before <= now:
                ready.append(job)
            else:
                waiting.append(job)
        self._unslotted = waiting
        want = 0
        if self._eligible and now >= self._dry_until:
            want = max(0, self.batch_size - len(ready))
        eligible = self._eligible
        try:
            jobs, first, interval = await self._claim(eligible, want, len(ready))
        except Exception:
            self._unslotted.extend(ready)
            self._dry_until = time.time() + self.tuning.poll_seconds
            raise
        if want and len(jobs) < want:
            self._dry_until = time.time() + self.tuning.poll_seconds
        for i, job in enumerate([*ready, *jobs]):
            self._queue.append((job, first + i * interval))

    async def _claim(
        self, eligible: frozenset[int], want: int, extra_slots: int
    ) -> tuple[list[_Job], float, float]:
        """Claim up to ``want`` rows and reserve slots for them plus ``extra_slots``.

        Returns:
            The jobs, the first slot and the interval between slots.
        """
        services = self.services
        jobs: list[_Job] = []
        first = 0.0
        interval = self._interval()
        async with services.db.transaction() as repo:
            rows = await repo.broadcasts.claim(
                broadcast_ids=eligible, limit=want, worker=self.worker, now=utcnow()
            )
            if rows:
                missing = {r.broadcast_id for r in rows} - self._contents.keys()
                for broadcast in await repo.broadcasts.many(missing):
                    self._contents[broadcast.id or 0] = Content.of(broadcast)
                users = {u.id: u for u in await repo.broadcasts.users([r.user_id for r in rows])}
                unreachable: list[int] = []
                opted_out: list[int] = []
                for row in rows:
                    user = users.get(row.user_id)
                    assert row.id is not None
                    if user is None or user.unreachable:
                        unreachable.append(row.id)
                    elif self._contents[row.broadcast_id].is_reminder and not (
                        user.reminders_enabled
                    ):
                        opted_out.append(row.id)
                    else:
                        jobs.append(
                            _Job(
                                row.id, row.broadcast_id, row.user_id, row.attempts, user.language
                            )
                        )
                now = utcnow()
                for ids, code in (
                    (unreachable, ErrorCode.UNREACHABLE),
                    (opted_out, ErrorCode.REMINDERS_OFF),
                ):
                    await repo.broadcasts.finish(
                        ids,
                        worker=self.worker,
                        status=RecipientStatus.SKIPPED,
                        now=now,
                        error=code,
                    )
            count = len(jobs) + extra_slots
            if count:
                first = await self._reserve(repo, count, interval)
        return jobs, first, interval

    async def _send(self, job: _Job) -> None:
        error: Exception | None = None
        try:
            await self._deliver(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        finally:
            self.guard.finished(time.time())
        verdict = classify(error)
        match verdict.outcome:
            case Outcome.SENT:
                self.sent += 1
                self._results.append(_Result(job, RecipientStatus.SENT))
            case Outcome.RATE_LIMITED:
                self.rate_limited += 1
                self._pause(verdict.retry_after)
                self._unslotted.append(job)  # still claimed; it gets a new slot
            case Outcome.BLOCKED:
                self._results.append(_Result(job, RecipientStatus.BLOCKED, ErrorCode.BLOCKED))
            case Outcome.RETRY:
                self._retry_or_fail(job, verdict)
            case _:
                log.info("broadcast row %d failed: %s", job.row_id, verdict.error)
                self._results.append(_Result(job, RecipientStatus.FAILED, verdict.error))

    def _retry_or_fail(self, job: _Job, verdict: Verdict) -> None:
        delay = self.tuning.retry.delay_after(job.attempts)
        if delay is None:
            self._results.append(_Result(job, RecipientStatus.FAILED, verdict.error))
            return
        self._results.append(
            _Result(job, None, verdict.error, not_before=utcnow() + timedelta(seconds=delay))
        )

    async def _deliver(self, job: _Job) -> None:
        content = self._contents[job.broadcast_id]
        t = self.services.catalogs.get(job.language)
        text = render_message(t, body_html=content.body_html, is_reminder=content.is_reminder)
        bot = self.services.require_bot()
        match content.media_kind:
            case MediaKind.PHOTO:
                await bot.send_photo(
                    chat_id=job.user_id,
                    photo=content.file_id or "",
                    caption=text,
                    parse_mode=ParseMode.HTML,
                )
            case MediaKind.DOCUMENT:
                await bot.send_document(
                    chat_id=job.user_id,
                    document=content.file_id or "",
                    caption=text,
                    parse_mode=ParseMode.HTML,
                )
            case _:
                await bot.send_message(
                    chat_id=job.user_id,
                    text=text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                )

    def _interval(self) -> float:
        plan = self.shared_plan if time.time() < self._shared_until else self.plan
        return plan.interval

    async def _reserve(self, repo: Repositories, count: int, interval: float) -> float:
        """Reserve ``count`` slots of the shared budget; notes whether others draw from it too."""
        now = time.time()
        first, shared = await repo.broadcasts.reserve_slots(
            count=count,
            interval=interval,
            now=now + SLOT_LEAD,
            worker=self.worker,
            shared_within=SHARED_WITHIN,
        )
        if shared:
            self._shared_until = now + SHARED_WITHIN
        return first

    def _pause(self, seconds: float) -> None:
        """Telegram said 429: nothing is sent by anyone until ``retry_after`` has passed."""
        until = time.time() + seconds
        if until <= self._paused_until:
            return
        log.warning("Telegram asked to slow down: broadcasts pause for %.0f s", seconds)
        self._paused_until = until
        # The queued slots fall inside the pause: their rows need new ones.
        self._unslotted.extend(job for job, _ in self._queue)
        self._queue.clear()
        self._spawn_control(self._store_pause(until))

    async def _store_pause(self, until: float) -> None:
        async with self.services.db.transaction() as repo:
            await repo.broadcasts.pause_budget(until=until)

    # -- bookkeeping ----------------------------------------------------------------------------
    async def _maintain(self, stopping: asyncio.Event) -> None:
        tuning = self.tuning
        last_flush = last_control = last_house = last_recover = 0.0
        while not stopping.is_set():
            now = time.time()
            busy = bool(self._open or self._queue or self._inflight)
            try:
                if now - last_flush >= tuning.flush_seconds:
                    last_flush = now
                    await self._flush()
                if busy and now - last_control >= tuning.control_seconds:
                    last_control = now
                    await self._control()
                if now - last_house >= tuning.poll_seconds:
                    last_house = now
                    if now - last_recover >= tuning.recover_seconds:
                        last_recover = now
                        await self._recover()
                    await self._housekeeping()
                    last_control = time.time()
            except Exception:
                log.exception("broadcast bookkeeping failed; trying again")
                await _sleep(stopping, tuning.poll_seconds)
            await _sleep(stopping, min(tuning.flush_seconds, tuning.control_seconds))

    async def _settle_in(self, stopping: asyncio.Event) -> None:
        """Before the first send, let the requests of senders this process cannot see land.

        The window guard counts this process's own requests only. A sender that starts right after
        another one used the budget (a predecessor that crashed mid-way, or another instance) gives
        that one's last slots a full window to reach Telegram first, at most ``MAX_SETTLE`` seconds.
        """
        async with self.services.db.transaction() as repo:
            last_slot = await repo.broadcasts.budget_next_slot()
        wait = min(last_slot + self.guard.window - time.time(), MAX_SETTLE)
        if wait > 0:
            log.info("broadcast slots were in use a moment ago: first send in %.1f s", wait)
            await _sleep(stopping, wait)

    async def _recover(self) -> None:
        before = utcnow() - timedelta(seconds=self.tuning.claim_lease)
        async with self.services.db.transaction() as repo:
            closed = await repo.broadcasts.fail_stale_claims(
                claimed_before=before, worker=self.worker
            )
        if closed:
            log.warning(
                "%d broadcast messages were interrupted by a crash; closed as failed "
                "(never sent twice)",
                closed,
            )

    async def _flush(self) -> None:
        results, self._results = self._results, []
        release, self._release = self._release, []
        if not results and not release:
            return
        now = utcnow()
        by_status: dict[tuple[RecipientStatus, str | None], list[int]] = {}
        retries = [r for r in results if r.status is None]
        blocked_users = [r.job.user_id for r in results if r.status is RecipientStatus.BLOCKED]
        for result in results:
            if result.status is not None:
                by_status.setdefault((result.status, result.error), []).append(result.job.row_id)
        try:
            async with self.services.db.transaction() as repo:
                for (status, error), ids in by_status.items():
                    await repo.broadcasts.finish(
                        ids, worker=self.worker, status=status, now=now, error=error
                    )
                for result in retries:
                    await repo.broadcasts.retry_later(
                        result.job.row_id,
                        worker=self.worker,
                        error=result.error or ErrorCode.UNKNOWN,
                        not_before=result.not_before or now,
                    )
                for user_id in blocked_users:
                    await repo.users.mark_unreachable(user_id=user_id)
                await repo.broadcasts.release(release, worker=self.worker)
        except BaseException:
            # Kept for the next flush (every write above is idempotent); the claims stay ours.
            self._results[:0] = results
            self._release[:0] = release
            raise

    async def _control(self) -> None:
        """Re-read broadcast states: which ones may be sent now (running, not in quiet hours)."""
        async with self.services.db.transaction() as repo:
            self._open = list(await repo.broadcasts.open_broadcasts())
        self._update_eligible()

    def _update_eligible(self) -> None:
        business_now = self.services.clock()
        ready_after = utcnow() - timedelta(seconds=self.tuning.start_delay)
        eligible = frozenset(
            b.id
            for b in self._open
            if b.id is not None
            and b.status == BroadcastStatus.RUNNING.value
            and b.confirmed_at <= ready_after
            and quiet_until(business_now, override=b.ignore_quiet_hours) is None
        )
        if eligible - self._eligible:
            self._dry_until = 0.0
            self._wake.set()
        self._eligible = eligible
        if self._queue and any(job.broadcast_id not in eligible for job, _ in self._queue):
            keep: deque[tuple[_Job, float]] = deque()
            for job, slot in self._queue:
                if job.broadcast_id in eligible:
                    keep.append((job, slot))
                else:
                    self._release.append(job.row_id)
            self._queue = keep

    async def _housekeeping(self) -> None:
        """Start due broadcasts, show progress, close finished ones and send their reports."""
        services = self.services
        business_now = services.clock()
        async with services.db.transaction() as repo:
            due = await repo.broadcasts.due(now=business_now)
        for broadcast_id in due:
            async with services.db.transaction() as repo:
                total = await repo.broadcasts.start(
                    broadcast_id,
                    today=regency_date(business_now),
                    started_at=utcnow(),
                )
            if total is not None:
                log.info("broadcast %d started with %d recipients", broadcast_id, total)
        await self._control()
        ready_after = utcnow() - timedelta(seconds=self.tuning.start_delay)
        for broadcast in self._open:
            assert broadcast.id is not None
            showing = self._showing.get(broadcast.id)
            if broadcast.confirmed_at > ready_after or (
                showing is not None and not showing.done()
            ):
                # One progress message at a time: the previous one may still wait for its slot.
                continue
            async with services.db.transaction() as repo:
                counts = ProgressCounts.from_mapping(await repo.broadcasts.counts(broadcast.id))
                if counts.remaining == 0:
                    finished = await repo.broadcasts.try_finish(broadcast.id, now=utcnow())
                    turn = False
                else:
                    finished = False
                    turn = await repo.broadcasts.take_progress_turn(
                        broadcast.id, now=utcnow(), every=self.tuning.progress_seconds
                    )
            if finished:
                self._spawn_control(self._final_report(broadcast.id))
            elif turn:
                task = self._spawn_control(self._show_progress(broadcast, counts))
                self._showing[broadcast.id] = task

    # -- messages to the admin ------------------------------------------------------------------
    def _spawn_control(self, job: Awaitable[None]) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await job
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("a broadcast progress message failed", exc_info=True)

        task = asyncio.create_task(guarded())
        self._control_tasks.add(task)
        task.add_done_callback(self._control_tasks.discard)
        return task

    async def _paced(self, chat_id: int, call: Callable[[], Awaitable[T]]) -> T | None:
        """Make one Bot API call to ``chat_id`` in a slot of the shared budget."""
        for _ in range(CONTROL_TRIES):
            now = time.time()
            wait = max(self.chats.wait_time(chat_id, now), self._paused_until - now)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            async with self.services.db.transaction() as repo:
                slot = await self._reserve(repo, 1, self._interval())
            await asyncio.sleep(max(0.0, slot - time.time()))
            now = time.time()
            if (
                (now - slot > self.shared_plan.late_tolerance and now < self._shared_until)
                or now < self._paused_until
                or self.guard.wait_time(now) > 0
                or self.chats.wait_time(chat_id, now) > 0
            ):
                continue
            self.guard.started()
            self.chats.record(chat_id, now)
            try:
                return await call()
            except RetryAfter as exc:
                self.rate_limited += 1
                self._pause(classify(exc).retry_after)
            finally:
                self.guard.finished(time.time())
        log.warning("gave up a broadcast progress message after %d tries", CONTROL_TRIES)
        return None

    async def _admin_translator(self, broadcast: Broadcast) -> Translator:
        async with self.services.db.transaction() as repo:
            admin = await repo.users.get(broadcast.progress_chat_id)
        return self.services.catalogs.get(admin.language if admin is not None else None)

    async def _show_progress(self, broadcast: Broadcast, counts: ProgressCounts) -> None:
        assert broadcast.id is not None
        t = await self._admin_translator(broadcast)
        status = BroadcastStatus(broadcast.status)
        resumes = quiet_until(self.services.clock(), override=broadcast.ignore_quiet_hours)
        text = progress_text(
            t,
            broadcast_id=broadcast.id,
            status=status,
            counts=counts,
            plan=self.plan,
            resumes_at=resumes,
        )
        if self._last_progress.get(broadcast.id) == text:
            return
        self._last_progress[broadcast.id] = text
        await self._put_progress(broadcast, text, progress_keyboard(t, broadcast.id, status))

    async def _put_progress(
        self, broadcast: Broadcast, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        """Edit the progress message (or send it the first time, or when it is gone)."""
        assert broadcast.id is not None
        bot = self.services.require_bot()
        chat_id = broadcast.progress_chat_id
        message_id = self._progress_ids.get(broadcast.id) or broadcast.progress_message_id
        if message_id is not None:
            try:
                edited = await self._paced(
                    chat_id,
                    lambda: bot.edit_message_text(
                        text=text,
                        chat_id=chat_id,
                        message_id=message_id,
                        reply_markup=markup,
                        parse_mode=ParseMode.HTML,
                        link_preview_options=NO_PREVIEW,
                    ),
                )
            except BadRequest as exc:
                if "not modified" in exc.message.lower():
                    return
                log.info("progress message of broadcast %d is gone: %s", broadcast.id, exc)
            else:
                if edited is not None:
                    return
        sent = await self._paced(
            chat_id,
            lambda: bot.send_message(
                chat_id=chat_id,
                text=text,
                reply_markup=markup,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            ),
        )
        if isinstance(sent, Message):
            self._progress_ids[broadcast.id] = sent.message_id
            async with self.services.db.transaction() as repo:
                await repo.broadcasts.set_progress_message(
                    broadcast.id, message_id=sent.message_id
                )

    async def _final_report(self, broadcast_id: int) -> None:
        async with self.services.db.transaction() as repo:
            broadcast = await repo.broadcasts.get(broadcast_id)
            counts = ProgressCounts.from_mapping(await repo.broadcasts.counts(broadcast_id))
            missed = await repo.broadcasts.not_delivered(broadcast_id)
        if broadcast is None:
            return
        t = await self._admin_translator(broadcast)
        status = BroadcastStatus(broadcast.status)
        # Another process may have edited the progress message a moment ago.
        if broadcast.progress_at is not None:
            gap = self.tuning.chat_gap - (utcnow() - broadcast.progress_at).total_seconds()
            if gap > 0:
                await asyncio.sleep(gap)
        final = progress_text(
            t,
            broadcast_id=broadcast_id,
            status=status,
            counts=counts,
            plan=self.plan,
            resumes_at=None,
            final=True,
        )
        await self._put_progress(broadcast, final, None)
        report = report_text(t, broadcast=broadcast, counts=counts, with_file=bool(missed))
        bot = self.services.require_bot()
        chat_id = broadcast.progress_chat_id
        if missed:
            data = failures_csv(t, missed)
            await self._paced(
                chat_id,
                lambda: bot.send_document(
                    chat_id=chat_id,
                    document=InputFile(data, filename=failures_filename(broadcast_id)),
                    caption=report,
                    parse_mode=ParseMode.HTML,
                ),
            )
        else:
            await self._paced(
                chat_id,
                lambda: bot.send_message(chat_id=chat_id, text=report, parse_mode=ParseMode.HTML),
            )
        log.info(
            "broadcast %d %s: %d sent, %d blocked, %d failed, %d skipped",
            broadcast_id,
            status.value,
            counts.sent,
            counts.blocked,
            counts.failed,
            counts.skipped,
        )


async def broadcast_loop(services: Services, stopping: asyncio.Event) -> None:
    """The background service (registered by ``handlers.broadcast``): one sender per process."""
    await BroadcastSender(services).run(stopping)
