"""Broadcasts, their recipient rows, the audience queries and the shared send budget.

Claiming follows the payment reminders' pattern: one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n)
RETURNING``, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that several bot processes never take
the same row (SQLite runs one write transaction at a time). Every state change of a claimed row is
guarded by ``claimed_by`` so that a process only ever finishes its own claims.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, exists, func, literal, not_, or_, true, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from storage.models.broadcast import (
    AudienceKind,
    Broadcast,
    BroadcastBudget,
    BroadcastRecipient,
    BroadcastStatus,
    RecipientStatus,
)
from storage.models.core import Role, User
from storage.models.coverage import RosterEntry
from storage.models.registration import Submission, SubmissionStatus
from storage.repos.base import Repository

BUDGET_ROW = 1
#: ``last_error`` codes written here (the sender has the full list in ``bot.broadcast.ErrorCode``).
ERROR_UNREACHABLE = "unreachable"
ERROR_REMINDERS_OFF = "reminders_off"
ERROR_CANCELLED = "cancelled"
ERROR_INTERRUPTED = "interrupted"
_REMAINING = (RecipientStatus.PENDING.value, RecipientStatus.SENDING.value)
_NOT_DELIVERED = (
    RecipientStatus.FAILED.value,
    RecipientStatus.BLOCKED.value,
    RecipientStatus.SKIPPED.value,
)
#: Submissions that say nothing about who pays (not finished, or refused).
_NO_PAYER_STATUSES = (SubmissionStatus.DRAFT.value, SubmissionStatus.REJECTED.value)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class AudienceCount:
    """How many users an audience holds, and how many of them will be skipped.

    Attributes:
        total: Users in the audience.
        unreachable: Of those, users who blocked the bot earlier.
        reminders_off: Of the reachable ones, users who turned reminders off (skipped only when
            the broadcast is a reminder).
    """

    total: int
    unreachable: int
    reminders_off: int

    def will_receive(self, *, is_reminder: bool) -> int:
        """Users the broadcast will be sent to."""
        return self.total - self.unreachable - (self.reminders_off if is_reminder else 0)


@dataclass(frozen=True, slots=True)
class NotDelivered:
    """One recipient who did not get a broadcast, for the failure report."""

    user_id: int
    status: str
    error: str | None
    attempts: int


class BroadcastRepository(Repository):
    """Broadcast rows, recipient rows and the send budget."""

    # -- audience -----------------------------------------------------------------------------------
    def _audience_filter(
        self, *, kind: AudienceKind, code: str | None, days: int | None, today: date
    ) -> Any:
        """A condition on ``users.id`` selecting the audience."""
        user_id = col(User.id)
        owners = select(Submission.owner_user_id).where(col(Submission.owner_user_id).is_not(None))
        linked = select(RosterEntry.telegram_user_id).where(
            col(RosterEntry.telegram_user_id).is_not(None)
        )
        match kind:
            case AudienceKind.EVERYONE:
                return true()
            case AudienceKind.FACILITATORS:
                return col(User.role) == Role.FACILITATOR.value
            case AudienceKind.KECAMATAN:
                return user_id.in_(owners.where(col(Submission.kecamatan_code) == code))
            case AudienceKind.DESA:
                return user_id.in_(owners.where(col(Submission.desa_code) == code))
            case AudienceKind.STATUS:
                return user_id.in_(owners.where(col(Submission.status) == code))
            case AudienceKind.PEMDA_PAID | AudienceKind.SELF_PAYING:
                payer = "apbd" if kind is AudienceKind.PEMDA_PAID else "self"
                return or_(
                    user_id.in_(linked.where(col(RosterEntry.payer) == payer)),
                    user_id.in_(
                        owners.where(col(Submission.payer) == payer).where(
                            col(Submission.status).not_in(_NO_PAYER_STATUSES)
                        )
                    ),
                )
            case AudienceKind.ENDING:
                last = today + timedelta(days=days or 0)
                return user_id.in_(
                    linked.where(col(RosterEntry.paid_until) >= today).where(
                        col(RosterEntry.paid_until) <= last
                    )
                )
        raise ValueError(f"unknown audience kind {kind!r}")

    async def count_audience(
        self, *, kind: AudienceKind, code: str | None, days: int | None, today: date
    ) -> AudienceCount:
        """How many users an audience holds now (the preview's number)."""
        condition = self._audience_filter(kind=kind, code=code, days=days, today=today)
        unreachable = col(User.unreachable) == true()
        reminders_off = and_(not_(unreachable), col(User.reminders_enabled) != true())
        stmt = (
            select(
                func.count(),
                func.coalesce(func.sum(case((unreachable, 1), else_=0)), 0),
                func.coalesce(func.sum(case((reminders_off, 1), else_=0)), 0),
            )
            .select_from(User)
            .where(condition)
        )
        total, blocked, off = (await self.session.exec(stmt)).one()
        return AudienceCount(int(total), int(blocked), int(off))

    # -- broadcasts ---------------------------------------------------------------------------------
    async def create(
        self,
        *,
        created_by: int,
        audience: dict[str, Any],
        is_reminder: bool,
        body_html: str,
        media_kind: str,
        media_file_id: str | None,
        scheduled_at: datetime,
        ignore_quiet_hours: bool,
        created_at: datetime,
        confirmed_at: datetime,
    ) -> Broadcast:
        """Store a confirmed broadcast (it starts at ``scheduled_at``)."""
        broadcast = Broadcast(
            created_by=created_by,
            created_at=created_at,
            status=BroadcastStatus.SCHEDULED.value,
            is_reminder=is_reminder,
            audience=dict(audience),
            body_html=body_html,
            media_kind=media_kind,
            media_file_id=media_file_id,
            scheduled_at=scheduled_at,
            ignore_quiet_hours=ignore_quiet_hours,
            confirmed_at=confirmed_at,
            progress_chat_id=created_by,
        )
        self.session.add(broadcast)
        await self.session.flush()
        return broadcast

    async def get(self, broadcast_id: int) -> Broadcast | None:
        """One broadcast."""
        return await self.session.get(Broadcast, broadcast_id)

    async def many(self, broadcast_ids: Collection[int]) -> Sequence[Broadcast]:
        """Several broadcasts by id."""
        if not broadcast_ids:
            return []
        stmt = select(Broadcast).where(col(Broadcast.id).in_(list(broadcast_ids)))
        return (await self.session.exec(stmt)).all()

    async def due(self, *, now: datetime) -> Sequence[int]:
        """Ids of scheduled broadcasts whose time has come, oldest first."""
        stmt = (
            select(Broadcast.id)
            .where(col(Broadcast.status) == BroadcastStatus.SCHEDULED.value)
            .where(col(Broadcast.scheduled_at) <= now)
            .order_by(col(Broadcast.scheduled_at), col(Broadcast.id))
        )
        return [i for i in (await self.session.exec(stmt)).all() if i is not None]

    async def start(self, broadcast_id: int, *, today: date, started_at: datetime) -> int | None:
        """Start a scheduled broadcast: create one recipient row per user of its audience.

        Only one process wins the ``scheduled -> running`` switch; the others get None. Users who
        blocked the bot, and for a reminder users who turned reminders off, get a ``skipped`` row
        (so the report counts them) instead of a pending one.

        Args:
            broadcast_id: The broadcast.
            today: The regency's date (for "coverage ending within N days").
            started_at: Real time of the start.

        Returns:
            The number of recipient rows, or None when another process started it.
        """
        switched = await self.session.exec(
            update(Broadcast)
            .where(col(Broadcast.id) == broadcast_id)
            .where(col(Broadcast.status) == BroadcastStatus.SCHEDULED.value)
            .values(status=BroadcastStatus.RUNNING.value, started_at=started_at)
        )
        if _rowcount(switched) != 1:
            return None
        broadcast = await self.session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        await self.session.refresh(broadcast)
        audience = broadcast.audience
        condition = self._audience_filter(
            kind=AudienceKind(str(audience.get("kind"))),
            code=audience.get("code"),
            days=audience.get("days"),
            today=today,
        )
        unreachable = col(User.unreachable) == true()
        skips: list[tuple[Any, str]] = [(unreachable, ERROR_UNREACHABLE)]
        if broadcast.is_reminder:
            skips.append((col(User.reminders_enabled) != true(), ERROR_REMINDERS_OFF))
        status = case(
            *[(cond, RecipientStatus.SKIPPED.value) for cond, _ in skips],
            else_=RecipientStatus.PENDING.value,
        )
        error = case(*skips, else_=None)
        rows = sa_select(
            literal(broadcast_id, Integer),
            col(User.id),
            status,
            error,
            literal(0, Integer),
        ).where(condition)
        await self.session.exec(
            BroadcastRecipient.__table__.insert().from_select(  # type: ignore[attr-defined]
                ["broadcast_id", "user_id", "status", "last_error", "attempts"], rows
            )
        )
        total = (
            await self.session.exec(
                select(func.count()).where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
            )
        ).one()
        broadcast.total = int(total)
        return broadcast.total

    async def open_broadcasts(self) -> Sequence[Broadcast]:
        """Started broadcasts whose final report has not been sent (running, paused, cancelled)."""
        stmt = (
            select(Broadcast)
            .where(col(Broadcast.started_at).is_not(None))
            .where(col(Broadcast.finished_at).is_(None))
            .order_by(col(Broadcast.id))
        )
        return (await self.session.exec(stmt)).all()

    async def active_for(self, created_by: int | None = None) -> Sequence[Broadcast]:
        """Scheduled, running and paused broadcasts, oldest first (optionally one admin's)."""
        stmt = select(Broadcast).where(
            col(Broadcast.status).in_(
                [
                    BroadcastStatus.SCHEDULED.value,
                    BroadcastStatus.RUNNING.value,
                    BroadcastStatus.PAUSED.value,
                ]
            )
        )
        if created_by is not None:
            stmt = stmt.where(col(Broadcast.created_by) == created_by)
        return (await self.session.exec(stmt.order_by(col(Broadcast.id)))).all()

    async def switch(
        self, broadcast_id: int, *, from_: BroadcastStatus, to: BroadcastStatus
    ) -> bool:
        """Change the status if it is ``from_`` (pause and resume); True when it changed."""
        result = await self.session.exec(
            update(Broadcast)
            .where(col(Broadcast.id) == broadcast_id)
            .where(col(Broadcast.status) == from_.value)
            .values(status=to.value)
        )
        return _rowcount(result) == 1

    async def cancel(self, broadcast_id: int, *, now: datetime) -> bool:
        """Cancel a broadcast that has not finished; its unsent rows become ``skipped``.

        Rows a sender holds right now are skipped by that sender when it gives them back. A
        broadcast cancelled before it started is finished at once (there is nothing to report).
        """
        result = await self.session.exec(
            update(Broadcast)
            .where(col(Broadcast.id) == broadcast_id)
            .where(
                col(Broadcast.status).in_(
                    [
                        BroadcastStatus.SCHEDULED.value,
                        BroadcastStatus.RUNNING.value,
                        BroadcastStatus.PAUSED.value,
                    ]
                )
            )
            .values(
                status=BroadcastStatus.CANCELLED.value,
                finished_at=case((col(Broadcast.started_at).is_(None), now), else_=None),
            )
        )
        if _rowcount(result) != 1:
            return False
        await self.session.exec(
            update(BroadcastRecipient)
            .where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
            .where(col(BroadcastRecipient.status) == RecipientStatus.PENDING.value)
            .values(status=RecipientStatus.SKIPPED.value, last_error=ERROR_CANCELLED)
        )
        return True

    async def try_finish(self, broadcast_id: int, *, now: datetime) -> bool:
        """Close a started broadcast with no row left to send; True for the one process that did.

        The winner sends the final report, so it is sent once even with several processes.
        """
        remaining = exists().where(
            and_(
                col(BroadcastRecipient.broadcast_id) == broadcast_id,
                col(BroadcastRecipient.status).in_(_REMAINING),
            )
        )
        result = await self.session.exec(
            update(Broadcast)
            .where(col(Broadcast.id) == broadcast_id)
            .where(col(Broadcast.finished_at).is_(None))
            .where(col(Broadcast.started_at).is_not(None))
            .where(~remaining)
            .values(
                finished_at=now,
                status=case(
                    (
                        col(Broadcast.status) == BroadcastStatus.CANCELLED.value,
                        BroadcastStatus.CANCELLED.value,
                    ),
                    else_=BroadcastStatus.DONE.value,
                ),
            )
        )
        return _rowcount(result) == 1

    async def take_progress_turn(self, broadcast_id: int, *, now: datetime, every: float) -> bool:
        """Elect this process to edit the progress message now (at most once per ``every`` s)."""
        result = await self.session.exec(
            update(Broadcast)
            .where(col(Broadcast.id) == broadcast_id)
            .where(
                or_(
                    col(Broadcast.progress_at).is_(None),
                    col(Broadcast.progress_at) <= now - timedelta(seconds=every),
                )
            )
            .values(progress_at=now)
        )
        return _rowcount(result) == 1

    async def set_progress_message(self, broadcast_id: int, *, message_id: int) -> None:
        """Remember the progress message that later edits replace."""
        await self.session.exec(
            update(Broadcast)
            .where(col(Broadcast.id) == broadcast_id)
            .values(progress_message_id=message_id)
        )

    async def counts(self, broadcast_id: int) -> dict[str, int]:
        """``{status: rows}`` of one broadcast."""
        stmt = (
            select(BroadcastRecipient.status, func.count())
            .where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
            .group_by(col(BroadcastRecipient.status))
        )
        return {status: int(n) for status, n in (await self.session.exec(stmt)).all()}

    async def not_delivered(self, broadcast_id: int) -> list[NotDelivered]:
        """Recipients who did not get the broadcast (failed, blocked, skipped), in row order."""
        stmt = (
            select(
                BroadcastRecipient.user_id,
                BroadcastRecipient.status,
                BroadcastRecipient.last_error,
                BroadcastRecipient.attempts,
            )
            .where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
            .where(col(BroadcastRecipient.status).in_(_NOT_DELIVERED))
            .order_by(col(BroadcastRecipient.id))
        )
        return [NotDelivered(*row) for row in (await self.session.exec(stmt)).all()]

    async def recipients(self, broadcast_id: int) -> Sequence[BroadcastRecipient]:
        """Every recipient row of a broadcast (tests and small reports)."""
        stmt = (
            select(BroadcastRecipient)
            .where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
            .order_by(col(BroadcastRecipient.id))
        )
        return (await self.session.exec(stmt)).all()

    async def users(self, user_ids: Collection[int]) -> Sequence[User]:
        """The user rows of some recipients (language, reachability, reminder choice)."""
        if not user_ids:
            return []
        return (
            await self.session.exec(select(User).where(col(User.id).in_(list(user_ids))))
        ).all()

    # -- recipient rows -----------------------------------------------------------------------------
    async def claim(
        self, *, broadcast_ids: Collection[int], limit: int, worker: str, now: datetime
    ) -> Sequence[BroadcastRecipient]:
        """Atomically take up to ``limit`` pending rows of these broadcasts for ``worker``.

        A claim is the promise to call the Bot API at most once for the row: ``attempts`` grows by
        one, and a row given back unsent (:meth:`release`) gets it back.
        """
        if not broadcast_ids or limit <= 0:
            return []
        candidates = (
            select(BroadcastRecipient.id)
            .where(col(BroadcastRecipient.broadcast_id).in_(list(broadcast_ids)))
            .where(col(BroadcastRecipient.status) == RecipientStatus.PENDING.value)
            .where(
                or_(
                    col(BroadcastRecipient.next_attempt_at).is_(None),
                    col(BroadcastRecipient.next_attempt_at) <= now,
                )
            )
            .order_by(col(BroadcastRecipient.broadcast_id), col(BroadcastRecipient.id))
            .limit(limit)
        )
        if self.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        # A materialised CTE: PostgreSQL may otherwise run a ``LIMIT ... SKIP LOCKED`` subquery
        # once per outer row and claim far more than ``limit`` rows.
        picked = candidates.cte("picked")
        if self.dialect == "postgresql":
            picked = picked.prefix_with("MATERIALIZED")
        stmt = (
            update(BroadcastRecipient)
            .where(col(BroadcastRecipient.id).in_(select(picked.c.id)))
            # Checked again on the row itself: a concurrent claimer may have taken it meanwhile.
            .where(col(BroadcastRecipient.status) == RecipientStatus.PENDING.value)
            .values(
                status=RecipientStatus.SENDING.value,
                claimed_at=now,
                claimed_by=worker,
                attempts=col(BroadcastRecipient.attempts) + 1,
            )
            .returning(BroadcastRecipient)
        )
        rows: Sequence[BroadcastRecipient] = (await self.session.exec(stmt)).scalars().all()
        return sorted(rows, key=lambda r: (r.broadcast_id, r.id or 0))

    async def finish(
        self,
        row_ids: Collection[int],
        *,
        worker: str,
        status: RecipientStatus,
        now: datetime,
        error: str | None = None,
    ) -> None:
        """Record the final status of rows this worker claimed."""
        if not row_ids:
            return
        values: dict[str, Any] = {"status": status.value, "last_error": error}
        if status is RecipientStatus.SENT:
            values["sent_at"] = now
        await self.session.exec(
            update(BroadcastRecipient)
            .where(col(BroadcastRecipient.id).in_(list(row_ids)))
            .where(col(BroadcastRecipient.claimed_by) == worker)
            .values(**values)
        )

    async def retry_later(
        self, row_id: int, *, worker: str, error: str, not_before: datetime
    ) -> None:
        """Give a row back after a transient failure, to be claimed again after ``not_before``."""
        await self.session.exec(
            update(BroadcastRecipient)
            .where(col(BroadcastRecipient.id) == row_id)
            .where(col(BroadcastRecipient.claimed_by) == worker)
            .where(col(BroadcastRecipient.status) == RecipientStatus.SENDING.value)
            .values(
                status=RecipientStatus.PENDING.value,
                last_error=error,
                next_attempt_at=not_before,
                claimed_by=None,
                claimed_at=None,
            )
        )

    async def release(self, row_ids: Collection[int], *, worker: str) -> None:
        """Give back rows this worker claimed and never sent (their attempt is undone).

        Rows of a broadcast cancelled meanwhile are skipped instead of pending again.
        """
        if not row_ids:
            return
        cancelled = exists().where(
            and_(
                col(Broadcast.id) == col(BroadcastRecipient.broadcast_id),
                col(Broadcast.status) == BroadcastStatus.CANCELLED.value,
            )
        )
        await self.session.exec(
            update(BroadcastRecipient)
            .where(col(BroadcastRecipient.id).in_(list(row_ids)))
            .where(col(BroadcastRecipient.claimed_by) == worker)
            .where(col(BroadcastRecipient.status) == RecipientStatus.SENDING.value)
            .values(
                status=case(
                    (cancelled, RecipientStatus.SKIPPED.value),
                    else_=RecipientStatus.PENDING.value,
                ),
                last_error=case((cancelled, ERROR_CANCELLED), else_=None),
                attempts=col(BroadcastRecipient.attempts) - 1,
                claimed_by=None,
                claimed_at=None,
            )
        )

    async def fail_stale_claims(self, *, claimed_before: datetime, worker: str) -> int:
        """Close rows another sender claimed and never finished (it crashed).

        Whether Telegram got such a message is unknown, and nobody may get a broadcast twice, so
        they are marked failed ("interrupted") rather than sent again.
        """
        result = await self.session.exec(
            update(BroadcastRecipient)
            .where(col(BroadcastRecipient.status) == RecipientStatus.SENDING.value)
            .where(col(BroadcastRecipient.claimed_at) < claimed_before)
            .where(
                or_(
                    col(BroadcastRecipient.claimed_by).is_(None),
                    col(BroadcastRecipient.claimed_by) != worker,
                )
            )
            .values(status=RecipientStatus.FAILED.value, last_error=ERROR_INTERRUPTED)
        )
        return _rowcount(result)

    # -- the shared send budget ---------------------------------------------------------------------
    def _insert(self, table: Any) -> Any:
        module = postgresql if self.dialect == "postgresql" else sqlite
        return module.insert(table)

    async def _budget(self) -> BroadcastBudget:
        await self.session.exec(
            self._insert(BroadcastBudget.__table__)  # type: ignore[attr-defined]
            .values(id=BUDGET_ROW, next_slot=0.0, paused_until=0.0, last_reserved=0.0)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        stmt = select(BroadcastBudget).where(col(BroadcastBudget.id) == BUDGET_ROW)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        budget = (await self.session.exec(stmt.execution_options(populate_existing=True))).one()
        return budget

    async def budget_next_slot(self) -> float:
        """The end of the slots reserved so far (epoch seconds; 0 before any broadcast)."""
        stmt = select(BroadcastBudget.next_slot).where(col(BroadcastBudget.id) == BUDGET_ROW)
        found = (await self.session.exec(stmt)).first()
        return float(found or 0.0)

    async def reserve_slots(
        self, *, count: int, interval: float, now: float, worker: str, shared_within: float = 5.0
    ) -> tuple[float, bool]:
        """Reserve ``count`` consecutive send slots ``interval`` seconds apart.

        Every process draws from this one row (locked for the transaction on PostgreSQL), so the
        slots of all processes together keep the overall pace. Times are epoch seconds.

        Returns:
            The first slot, and whether another worker reserved within ``shared_within`` seconds
            (the budget is shared right now).
        """
        budget = await self._budget()
        first = max(budget.next_slot, budget.paused_until, now)
        shared = budget.last_worker not in (None, worker) and (
            now - budget.last_reserved < shared_within
        )
        budget.next_slot = first + count * interval
        budget.last_worker = worker
        budget.last_reserved = now
        self.session.add(budget)
        return first, shared

    async def pause_budget(self, *, until: float) -> None:
        """Nobody sends before ``until`` (epoch seconds): Telegram answered 429."""
        budget = await self._budget()
        if until > budget.paused_until:
            budget.paused_until = until
            self.session.add(budget)
