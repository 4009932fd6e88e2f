"""Payment reminders: planning them as rows, and the background loop that sends them.

**Planning** (:func:`plan_all`, after every roster import and once a day): for every roster row
linked to a Telegram account, :func:`bot.domain.reminders.plan_reminders` gives the reminders of
the current paid period; each becomes a ``payment_reminders`` row, inserted with
``ON CONFLICT DO NOTHING`` on ``(nik, dedupe_key)``, so planning again never duplicates one and a
key already sent, skipped or failed is never planned again. Pending rows of a period that changed
(a payment moved ``paid_until``, the link moved) are cancelled first.

**Sending** (:func:`run_once`, called by :func:`reminder_loop` every poll): only between 08:00 and
20:00 WITA (``coverage.toml``), using ``services.clock()`` so tests can move time. Due rows are
*claimed* one at a time with an atomic ``UPDATE ... RETURNING`` (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so two bot processes never take the same row; each is then sent through
``services.require_delivery()`` and marked sent or failed. A user who turned reminders off is
skipped; a user who blocked the bot (403) is marked unreachable and never retried. A claim whose
process died mid-send is closed as failed after :data:`STALE_CLAIM` instead of being sent again:
a reminder may be lost to a crash in that instant, but it never arrives twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.context import Reply
from bot.coverage_lookup import build_status, data_as_of, regency_date
from bot.coverage_texts import reminder_message
from bot.delivery import Outcome
from bot.domain.coverage import Payer
from bot.domain.reminders import ReminderKind, next_send_time, plan_reminders
from storage.models.coverage import PaymentReminder, ReminderStatus, RosterEntry

if TYPE_CHECKING:
    from bot.services import Services
    from storage.db import Database

log = logging.getLogger(__name__)

#: Seconds between two passes of the loop. Tests lower it; a ``reminder_poll_seconds`` setting,
#: when the Settings class has one, wins.
DEFAULT_POLL_SECONDS = 30.0
#: Linked roster rows planned per transaction.
PLAN_PAGE = 500
#: A claim older than this whose sender never finished it is closed as failed.
STALE_CLAIM = timedelta(minutes=10)
#: Prune failed lookups older than this (they stop counting after an hour).
LOOKUP_FAILURE_RETENTION = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PlanReport:
    """What one planning pass did."""

    planned: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class SendReport:
    """What one sending pass did (counts per final status)."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    expired: int = 0
    cancelled: int = 0
    recovered: int = 0

    def plus(self, status: ReminderStatus) -> SendReport:
        """A copy with one more reminder in ``status``."""
        field = status.value
        return SendReport(**{**_as_dict(self), field: getattr(self, field) + 1})


def _as_dict(report: SendReport) -> dict[str, int]:
    return {name: getattr(report, name) for name in SendReport.__slots__}


def poll_seconds(settings: object) -> float:
    """The loop's pause between passes."""
    return float(getattr(settings, "reminder_poll_seconds", DEFAULT_POLL_SECONDS))


def in_sending_window(now: datetime) -> bool:
    """True between 08:00 and 20:00 WITA (the window of ``coverage.toml``)."""
    return next_send_time(now) == now


# --- planning ------------------------------------------------------------------------------------


def _rows_for(entry: RosterEntry, *, now: datetime) -> list[dict[str, Any]]:
    assert entry.telegram_user_id is not None
    plans = plan_reminders(
        paid_until=entry.paid_until, payer=Payer(entry.payer), today=regency_date(now)
    )
    return [
        {
            "nik_index": entry.nik_index,
            "user_id": entry.telegram_user_id,
            "kind": plan.kind.value,
            "dedupe_key": plan.dedupe_key,
            "paid_until": plan.paid_until,
            "kind_offset": plan.offset,
            "nonaktif_from": plan.nonaktif_from,
            "relevant_until": plan.relevant_until,
            "due_at": plan.planned_at.astimezone(UTC),
            "status": ReminderStatus.PENDING.value,
            "created_at": now,
        }
        for plan in plans
    ]


async def plan_entry(repo: Any, entry: RosterEntry, *, now: datetime) -> int:
    """Plan the reminders of one linked roster row in the caller's transaction.

    Args:
        repo: The :class:`~storage.repositories.Repositories` of the transaction.
        entry: A roster row with ``telegram_user_id`` set.
        now: The current time.

    Returns:
        How many reminder rows were new.
    """
    await repo.reminders.cancel_outdated(now=now)
    return int(await repo.reminders.add_planned(_rows_for(entry, now=now)))


async def plan_all(db: Database, *, now: datetime) -> PlanReport:
    """Plan reminders for every linked roster row (idempotent; a page per transaction)."""
    async with db.transaction() as repo:
        cancelled = await repo.reminders.cancel_outdated(now=now)
    planned = 0
    after: str | None = None
    while True:
        async with db.transaction() as repo:
            entries = await repo.coverage.linked_entries_page(after=after, limit=PLAN_PAGE)
            rows = [row for entry in entries for row in _rows_for(entry, now=now)]
            planned += await repo.reminders.add_planned(rows)
        if len(entries) < PLAN_PAGE:
            break
        after = entries[-1].nik_index
    if planned or cancelled:
        log.info("reminders planned: %d new, %d cancelled", planned, cancelled)
    return PlanReport(planned=planned, cancelled=cancelled)


# --- sending -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Decision:
    status: ReminderStatus | None  # None: send
    error: str | None = None
    chat_id: int = 0
    text: str = ""


async def _claim_and_prepare(
    services: Services, now: datetime
) -> tuple[PaymentReminder, _Decision] | None:
    """Claim the next due reminder and decide what to do with it, in one transaction."""
    today = regency_date(now)
    async with services.db.transaction() as repo:
        claimed = await repo.reminders.claim_due(now=now, limit=1)
        if not claimed:
            return None
        reminder = claimed[0]
        if today >= reminder.relevant_until:
            return reminder, _Decision(ReminderStatus.EXPIRED, "too_late")
        entry = await repo.coverage.get_entry_by_index(reminder.nik_index)
        if (
            entry is None
            or entry.telegram_user_id != reminder.user_id
            or entry.paid_until != reminder.paid_until
        ):
            return reminder, _Decision(ReminderStatus.CANCELLED, "changed")
        user = await repo.users.get(reminder.user_id)
        if user is None or user.unreachable:
            return reminder, _Decision(ReminderStatus.SKIPPED, "unreachable")
        if not user.reminders_enabled:
            return reminder, _Decision(ReminderStatus.SKIPPED, "opted_out")
        submission = await repo.registration.submitted_with_nik(entry.nik)
        status = build_status(
            nik=entry.nik,
            entry=entry,
            submission=submission,
            today=today,
            data_as_of=await data_as_of(repo),
        )
        t = services.catalogs.get(user.language)
        text = reminder_message(
            t,
            kind=ReminderKind(reminder.kind),
            offset=reminder.kind_offset,
            status=status,
            paid_until=reminder.paid_until,
            nonaktif_from=reminder.nonaktif_from,
            today=today,
        )
        return reminder, _Decision(None, chat_id=user.id, text=text)


async def _finish(
    services: Services, reminder: PaymentReminder, status: ReminderStatus, error: str | None
) -> None:
    assert reminder.id is not None
    async with services.db.transaction() as repo:
        await repo.reminders.finish(
            reminder_id=reminder.id, status=status, now=services.clock(), error=error
        )
        if error == "blocked":
            await repo.users.mark_unreachable(user_id=reminder.user_id)


async def run_once(services: Services, *, stopping: asyncio.Event | None = None) -> SendReport:
    """Send every reminder that is due now, if now is inside the sending window.

    Safe to run in several processes at once: each reminder is claimed by exactly one of them.

    Args:
        services: The running application's services.
        stopping: When set, the pass ends after the reminder being sent.

    Returns:
        Counts of what happened to the reminders handled in this pass.
    """
    report = SendReport()
    now = services.clock()
    async with services.db.transaction() as repo:
        recovered = await repo.reminders.fail_stale_claims(
            claimed_before=now - STALE_CLAIM, now=now
        )
    if recovered:
        log.warning("%d reminders were interrupted by a crash and closed as failed", recovered)
        report = SendReport(**{**_as_dict(report), "recovered": recovered})
    delivery = services.require_delivery()
    pause = 1.0 / max(services.settings.broadcast_rate, 0.1)
    while stopping is None or not stopping.is_set():
        now = services.clock()
        if not in_sending_window(now):
            break
        prepared = await _claim_and_prepare(services, now)
        if prepared is None:
            break
        reminder, decision = prepared
        if decision.status is not None:
            await _finish(services, reminder, decision.status, decision.error)
            report = report.plus(decision.status)
            continue
        outcome = await delivery.deliver(
            Reply("sendMessage", decision.chat_id, text=decision.text)
        )
        if outcome is Outcome.SENT:
            await _finish(services, reminder, ReminderStatus.SENT, None)
            report = report.plus(ReminderStatus.SENT)
        else:
            # 403: the user blocked the bot (marked unreachable); otherwise Telegram refused it or
            # every retry failed. Neither is retried by the loop: recorded as failed, with the reason.
            await _finish(services, reminder, ReminderStatus.FAILED, outcome.value)
            report = report.plus(ReminderStatus.FAILED)
        await asyncio.sleep(pause)  # stay under Telegram's broadcast limits
    return report


async def housekeeping(services: Services, *, now: datetime) -> None:
    """The daily part: plan reminders and forget old failed lookups."""
    await plan_all(services.db, now=now)
    async with services.db.transaction() as repo:
        await repo.coverage.prune_lookup_failures(before=now - LOOKUP_FAILURE_RETENTION)


async def reminder_loop(services: Services, stopping: asyncio.Event) -> None:
    """The background service: plan once a (WITA) day, send what is due every poll.

    The first pass comes one poll interval after start, so a restarting bot does not race the
    updates that arrive while it starts.
    """
    planned_for = None
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), poll_seconds(services.settings))
        if stopping.is_set():
            return
        now = services.clock()
        today = regency_date(now)
        if planned_for != today:
            await housekeeping(services, now=now)
            planned_for = today
        await run_once(services, stopping=stopping)
