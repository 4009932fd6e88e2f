"""Retention: registration drafts nobody finished are deleted after ``DRAFT_RETENTION_DAYS``.

UU PDP No. 27/2022 asks that personal data be deleted when it is no longer needed (FACTS.md §8). A
draft holds a NIK, a name and a phone number but was never sent to the regency; one left untouched
for ``Settings.draft_retention_days`` days (default 30) is deleted, its consent record kept and
marked withdrawn, exactly as when the person deletes it. Sent registrations are never touched
here. Copies of the bot's replies kept against redelivered updates are pruned too (they may echo
what a person typed); the periods and the batch size are in ``bot/data/privacy.toml``.

:func:`retention_loop` runs the job once per regency (WITA) day in every bot process; the work is
split into short transactions of ``batch_size`` rows, and on PostgreSQL rows another process holds
are skipped, so several processes never delete the same draft twice or wait on each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.coverage_lookup import regency_date
from bot.privacy import retention_rules
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.services import Services
    from storage.db import Database

log = logging.getLogger(__name__)

#: Seconds between two checks of whether a new regency day has begun.
POLL_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one retention pass deleted."""

    drafts_deleted: int
    updates_pruned: int


async def delete_old_drafts(db: Database, *, now: datetime, days: int, batch_size: int) -> int:
    """Delete drafts last changed more than ``days`` days before ``now``, in batches.

    Returns:
        How many drafts were deleted.
    """
    before = now - timedelta(days=days)
    total = 0
    while True:
        async with db.transaction() as repo:
            ids = await repo.privacy.expired_draft_ids(before=before, limit=batch_size)
            deleted = await repo.privacy.delete_drafts(ids, before=before, now=now)
        total += deleted
        if len(ids) < batch_size:
            break
    if total:
        async with db.transaction() as repo:
            await repo.privacy.record_retention(drafts=total, days=days, now=now)
    return total


async def prune_processed_updates(
    db: Database, *, now: datetime, days: int, batch_size: int
) -> int:
    """Delete processed-update rows (and their reply copies) older than ``days`` days."""
    before = now - timedelta(days=days)
    total = 0
    while True:
        async with db.transaction() as repo:
            pruned = await repo.privacy.prune_processed_updates(before=before, limit=batch_size)
        total += pruned
        if pruned < batch_size:
            return total


async def run_retention(services: Services) -> RetentionReport:
    """One retention pass with the running application's settings and clock."""
    rules = retention_rules()
    now = services.clock()
    drafts = await delete_old_drafts(
        services.db,
        now=now,
        days=int(services.settings.draft_retention_days),
        batch_size=rules.batch_size,
    )
    # ``processed_at`` is stamped with the real clock (it guards against Telegram's redeliveries),
    # so its age is measured on the real clock, not on the business clock tests move.
    updates = await prune_processed_updates(
        services.db, now=utcnow(), days=rules.processed_update_days, batch_size=rules.batch_size
    )
    if drafts or updates:
        log.info("retention: %d drafts deleted, %d processed updates pruned", drafts, updates)
    return RetentionReport(drafts_deleted=drafts, updates_pruned=updates)


def poll_seconds(settings: object) -> float:
    """The loop's pause between checks (a ``retention_poll_seconds`` setting wins if present)."""
    return float(getattr(settings, "retention_poll_seconds", POLL_SECONDS))


async def retention_loop(services: Services, stopping: asyncio.Event) -> None:
    """Background service: run :func:`run_retention` once per regency day.

    The first pass comes one poll interval after start, so a restarting bot answers its users
    before it deletes anything.
    """
    done_for: date | None = None
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), poll_seconds(services.settings))
        if stopping.is_set():
            return
        today = regency_date(services.clock())
        if done_for != today:
            await run_retention(services)
            done_for = today
