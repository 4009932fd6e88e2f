"""The roster, its imports, lookup failures, and payment reminders.

Batch writes use the dialect's own ``INSERT ... ON CONFLICT`` (SQLite and PostgreSQL both have
it), so an import batch of a thousand rows is one statement, not a thousand round trips.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from storage.crypto import derived_values
from storage.models.core import User
from storage.models.coverage import (
    ImportStatus,
    LookupFailure,
    PaymentReminder,
    ReminderStatus,
    RosterEntry,
    RosterImport,
)
from storage.models.registration import Submission
from storage.repos.base import Repository

#: The roster columns a file provides, in the order of :meth:`CoverageRepository.existing_entries`
#: tuples. The Telegram link and the bookkeeping columns are never written by an import.
ROSTER_DATA_COLUMNS = (
    "name",
    "kpj",
    "programmes",
    "payer",
    "coverage_start",
    "paid_until",
    "birth_date",
)
RosterValues = tuple[Any, ...]
#: Reminder rows per INSERT (each has 12 columns).
PLANNED_ROWS_PER_STATEMENT = 500


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class _DialectRepository(Repository):
    def _insert(self, table: Any) -> Any:
        """An INSERT with ``on_conflict_do_*`` for this session's dialect."""
        module = postgresql if self.dialect == "postgresql" else sqlite
        return module.insert(table)


class CoverageRepository(_DialectRepository):
    """Roster entries and imports, and the failed lookups behind the rate limit."""

    # -- imports ------------------------------------------------------------------------------------
    async def start_import(
        self, *, actor_id: int | None, via: str, file_name: str, now: datetime
    ) -> RosterImport:
        """Record a new running import (its id is set on return)."""
        record = RosterImport(actor_id=actor_id, via=via, file_name=file_name, started_at=now)
        self.session.add(record)
        await self.session.flush()
        return record

    async def finish_import(
        self,
        *,
        import_id: int,
        status: ImportStatus,
        now: datetime,
        counts: Mapping[str, int],
        error: str | None = None,
    ) -> None:
        """Store the outcome and counts (``rows_read``, ``inserted``, ...) of an import."""
        await self.session.exec(
            update(RosterImport)
            .where(col(RosterImport.id) == import_id)
            .values(status=status.value, finished_at=now, error=error, **counts)
        )

    async def get_import(self, import_id: int) -> RosterImport | None:
        """One import record."""
        return await self.session.get(RosterImport, import_id)

    async def latest_import(self) -> RosterImport | None:
        """The most recent completed import: how fresh the roster is."""
        stmt = (
            select(RosterImport)
            .where(col(RosterImport.status) == ImportStatus.DONE.value)
            .order_by(col(RosterImport.finished_at).desc())
            .limit(1)
        )
        return (await self.session.exec(stmt)).first()

    # -- entries --------------------------------------------------------------------------------------
    async def existing_entries(self, niks: Collection[str]) -> dict[str, RosterValues]:
        """The stored values (:data:`ROSTER_DATA_COLUMNS`) of those ``niks`` already on the roster.

        Keyed by NIK; found by blind index and decrypted.
        """
        if not niks:
            return {}
        by_index = {self.nik_index(nik): nik for nik in niks}
        columns = [getattr(RosterEntry, name) for name in ROSTER_DATA_COLUMNS]
        stmt = select(col(RosterEntry.nik_index), *columns).where(
            col(RosterEntry.nik_index).in_(list(by_index))
        )
        rows = (await self.session.exec(stmt)).all()
        return {by_index[row[0]]: tuple(row[1:]) for row in rows}

    async def upsert_entries(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert or update roster rows by NIK in one statement.

        Each mapping holds ``nik``, the :data:`ROSTER_DATA_COLUMNS`, ``import_id`` and
        ``updated_at``; a row's Telegram link is kept. NIKs must be unique within ``rows``
        (PostgreSQL refuses to update one row twice in a statement). The blind indexes and
        ``nik_region`` are added here; the personal columns are encrypted as they are bound.
        """
        if not rows:
            return
        table = sa_inspect(RosterEntry).local_table
        ring = self._ring()
        # In key order: the primary key is a hash, and B-tree inserts in order touch fewer pages.
        params = sorted(
            ({**row, **derived_values(ring, table, row)} for row in rows),
            key=lambda row: row["nik_index"],
        )
        # One statement compiled once and run as an executemany: a VALUES list of a thousand rows
        # would be compiled anew for every batch, which costs more than the write itself.
        stmt = self._insert(table)
        keep = {*ROSTER_DATA_COLUMNS, "birth_index", "import_id", "updated_at"}
        stmt = stmt.on_conflict_do_update(
            index_elements=["nik_index"], set_={name: stmt.excluded[name] for name in keep}
        )
        await self.session.exec(stmt, params=params)

    async def get_entry(self, nik: str) -> RosterEntry | None:
        """The roster row of ``nik``, or None."""
        return await self.session.get(RosterEntry, self.nik_index(nik))

    async def get_entry_by_index(self, nik_index: str) -> RosterEntry | None:
        """The roster row whose NIK has this blind index (a reminder's ``nik_index``), or None."""
        return await self.session.get(RosterEntry, nik_index)

    async def entries_linked_to(self, user_id: int) -> Sequence[RosterEntry]:
        """Roster rows linked to this Telegram account."""
        stmt = (
            select(RosterEntry)
            .where(col(RosterEntry.telegram_user_id) == user_id)
            .order_by(col(RosterEntry.nik_index))
        )
        return (await self.session.exec(stmt)).all()

    async def link_entry(self, *, nik: str, user_id: int, now: datetime) -> bool:
        """Link ``nik`` to ``user_id`` unless another account holds it; True when linked.

        A user holds one link at a time: linking another row releases the previous one.
        """
        index = self.nik_index(nik)
        result = await self.session.exec(
            update(RosterEntry)
            .where(col(RosterEntry.nik_index) == index)
            .where(
                or_(
                    col(RosterEntry.telegram_user_id).is_(None),
                    col(RosterEntry.telegram_user_id) == user_id,
                )
            )
            .values(telegram_user_id=user_id, updated_at=now)
        )
        if _rowcount(result) == 0:
            return False
        await self.session.exec(
            update(RosterEntry)
            .where(col(RosterEntry.telegram_user_id) == user_id)
            .where(col(RosterEntry.nik_index) != index)
            .values(telegram_user_id=None, updated_at=now)
        )
        return True

    async def link_from_submissions(self) -> int:
        """Link unlinked roster rows to the account that registered that NIK themselves.

        A user who already holds a link keeps it. Returns how many rows were linked.
        """
        other = aliased(RosterEntry)
        owner = (
            select(Submission.owner_user_id)
            .where(col(Submission.submitted_nik_index) == col(RosterEntry.nik_index))
            .limit(1)
            .scalar_subquery()
        )
        owner_has_link = exists().where(
            col(other.telegram_user_id) == col(Submission.owner_user_id)
        )
        registered_here = exists().where(
            col(Submission.submitted_nik_index) == col(RosterEntry.nik_index),
            col(Submission.owner_user_id).is_not(None),
            ~owner_has_link,
        )
        result = await self.session.exec(
            update(RosterEntry)
            .where(col(RosterEntry.telegram_user_id).is_(None))
            .where(registered_here)
            .values(telegram_user_id=owner)
        )
        return _rowcount(result)

    async def linked_entries_page(self, *, after: str | None, limit: int) -> Sequence[RosterEntry]:
        """Linked roster rows in blind-index order, ``limit`` at a time after index ``after``."""
        stmt = select(RosterEntry).where(col(RosterEntry.telegram_user_id).is_not(None))
        if after is not None:
            stmt = stmt.where(col(RosterEntry.nik_index) > after)
        stmt = stmt.order_by(col(RosterEntry.nik_index)).limit(limit)
        return (await self.session.exec(stmt)).all()

    async def count_entries(self) -> int:
        """How many participants are on the roster."""
        return int((await self.session.exec(select(func.count()).select_from(RosterEntry))).one())

    # -- lookup failures ----------------------------------------------------------------------------
    async def record_lookup_failure(self, *, user_id: int, at: datetime) -> None:
        """Count one NIK + birth-date lookup that matched nobody."""
        self.session.add(LookupFailure(user_id=user_id, at=at))
        await self.session.flush()

    async def lookup_failures_since(self, *, user_id: int, since: datetime) -> list[datetime]:
        """When the user's failed lookups after ``since`` happened, oldest first."""
        stmt = (
            select(LookupFailure.at)
            .where(col(LookupFailure.user_id) == user_id)
            .where(col(LookupFailure.at) > since)
            .order_by(col(LookupFailure.at))
        )
        return list((await self.session.exec(stmt)).all())

    async def prune_lookup_failures(self, *, before: datetime) -> int:
        """Forget failures older than ``before`` (they no longer count)."""
        result = await self.session.exec(
            delete(LookupFailure).where(col(LookupFailure.at) < before)
        )
        return _rowcount(result)


class ReminderRepository(_DialectRepository):
    """Planned payment reminders and the users' opt-out."""

    async def add_planned(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store planned reminders, skipping any ``(nik_index, dedupe_key)`` already stored.

        Returns:
            How many were new.
        """
        added = 0
        # A multi-row VALUES (so the count of new rows is exact), kept under the drivers'
        # limit of 32,767 bound parameters per statement.
        for start in range(0, len(rows), PLANNED_ROWS_PER_STATEMENT):
            chunk = list(rows[start : start + PLANNED_ROWS_PER_STATEMENT])
            stmt = self._insert(PaymentReminder).values(chunk)
            stmt = stmt.on_conflict_do_nothing(index_elements=["nik_index", "dedupe_key"])
            added += _rowcount(await self.session.exec(stmt))
        return added

    async def cancel_outdated(self, *, now: datetime) -> int:
        """Cancel pending reminders whose roster row moved on.

        A payment that moves ``paid_until``, a removed Telegram link or a link to another account
        makes the reminders planned for the old period pointless.
        """
        still_valid = exists().where(
            and_(
                col(RosterEntry.nik_index) == col(PaymentReminder.nik_index),
                col(RosterEntry.paid_until) == col(PaymentReminder.paid_until),
                col(RosterEntry.telegram_user_id) == col(PaymentReminder.user_id),
            )
        )
        result = await self.session.exec(
            update(PaymentReminder)
            .where(col(PaymentReminder.status) == ReminderStatus.PENDING.value)
            .where(~still_valid)
            .values(status=ReminderStatus.CANCELLED.value, error="changed", finished_at=now)
        )
        return _rowcount(result)

    async def claim_due(self, *, now: datetime, limit: int) -> Sequence[PaymentReminder]:
        """Atomically take up to ``limit`` due pending reminders for this process to send.

        The candidates are locked first (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two bot
        processes never take the same row; SQLite runs one write transaction at a time), then
        switched to ``sending`` with ``UPDATE ... RETURNING``. Two statements rather than
        ``UPDATE ... WHERE id IN (SELECT ... LIMIT n)``, which PostgreSQL may evaluate more than
        once and so claim more than ``limit`` rows.
        """
        due = (
            select(PaymentReminder.id)
            .where(col(PaymentReminder.status) == ReminderStatus.PENDING.value)
            .where(col(PaymentReminder.due_at) <= now)
            .order_by(col(PaymentReminder.due_at), col(PaymentReminder.id))
            .limit(limit)
        )
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list((await self.session.exec(due)).all())
        if not ids:
            return []
        stmt = (
            update(PaymentReminder)
            .where(col(PaymentReminder.id).in_(ids))
            .where(col(PaymentReminder.status) == ReminderStatus.PENDING.value)
            .values(status=ReminderStatus.SENDING.value, claimed_at=now)
            .returning(PaymentReminder)
        )
        rows: Sequence[PaymentReminder] = (await self.session.exec(stmt)).scalars().all()
        return sorted(rows, key=lambda r: (r.due_at, r.id or 0))

    async def finish(
        self, *, reminder_id: int, status: ReminderStatus, now: datetime, error: str | None = None
    ) -> None:
        """Record what became of a claimed reminder."""
        await self.session.exec(
            update(PaymentReminder)
            .where(col(PaymentReminder.id) == reminder_id)
            .values(status=status.value, error=error, finished_at=now)
        )

    async def release(self, reminder_ids: Collection[int]) -> None:
        """Give claimed but unsent reminders back (the sender is stopping)."""
        if reminder_ids:
            await self.session.exec(
                update(PaymentReminder)
                .where(col(PaymentReminder.id).in_(list(reminder_ids)))
                .where(col(PaymentReminder.status) == ReminderStatus.SENDING.value)
                .values(status=ReminderStatus.PENDING.value, claimed_at=None)
            )

    async def fail_stale_claims(self, *, claimed_before: datetime, now: datetime) -> int:
        """Close reminders a crashed sender claimed and never finished.

        Whether Telegram got such a message is unknown, and a reminder must never arrive twice,
        so they are marked failed ("interrupted") rather than sent again.
        """
        result = await self.session.exec(
            update(PaymentReminder)
            .where(col(PaymentReminder.status) == ReminderStatus.SENDING.value)
            .where(col(PaymentReminder.claimed_at) < claimed_before)
            .values(status=ReminderStatus.FAILED.value, error="interrupted", finished_at=now)
        )
        return _rowcount(result)

    async def next_pending(self, user_id: int) -> PaymentReminder | None:
        """The user's next pending reminder, if any."""
        stmt = (
            select(PaymentReminder)
            .where(col(PaymentReminder.user_id) == user_id)
            .where(col(PaymentReminder.status) == ReminderStatus.PENDING.value)
            .order_by(col(PaymentReminder.due_at))
            .limit(1)
        )
        return (await self.session.exec(stmt)).first()

    async def for_nik(self, nik: str) -> Sequence[PaymentReminder]:
        """Every reminder row of one participant, oldest first (admin views and tests)."""
        stmt = (
            select(PaymentReminder)
            .where(col(PaymentReminder.nik_index) == self.nik_index(nik))
            .order_by(col(PaymentReminder.due_at), col(PaymentReminder.id))
        )
        return (await self.session.exec(stmt)).all()

    async def set_reminders_enabled(self, *, user_id: int, enabled: bool) -> None:
        """Turn the user's payment reminders on or off."""
        await self.session.exec(
            update(User).where(col(User.id) == user_id).values(reminders_enabled=enabled)
        )
