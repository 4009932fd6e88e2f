"""Retention: drafts abandoned for DRAFT_RETENTION_DAYS are deleted (consent kept, withdrawn), newer
drafts and every sent registration stay; batches; two processes at once; the daily loop; pruning of
reply copies kept against redelivered updates."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot import retention
from bot.settings import Settings
from storage.models import (
    AuditEntry,
    Consent,
    ConsentKind,
    EntryRole,
    ProcessedUpdate,
    Submission,
    SubmissionStatus,
)
from storage.repos.privacy import AUDIT_RETENTION
from storage.types import utcnow
from tests.support import BotHarness
from tests.test_privacy import NIK_BUDI, owned, register, rows

#: Flood control opened wide: transcripts type faster than people.
WIDE_OPEN = (
    {"flood_burst": 100_000}
    if "flood_burst" in {f.name for f in dataclasses.fields(Settings)}
    else {}
)


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[BotHarness]:
    """The shared harness with flood control opened wide."""
    async with BotHarness(db_url, **WIDE_OPEN) as h:
        yield h


async def start_draft(harness: BotHarness, user_id: int) -> Submission:
    """A draft through the real conversation: consent, NIK, name."""
    chat = harness.chat(user_id)
    await chat.send("/daftar")
    await chat.press("Setuju")
    await chat.send(NIK_BUDI)
    await chat.send("budi santoso")
    [draft] = await owned(harness, user_id)
    assert draft.status == SubmissionStatus.DRAFT.value
    return draft


async def add_drafts(harness: BotHarness, count: int, *, first_user: int) -> None:
    """``count`` drafts stored directly (what the conversation stores, without the typing)."""
    now = harness.clock()
    async with harness.db.transaction() as repo:
        for i in range(count):
            await repo.registration.create_draft(
                entered_by_user_id=first_user + i,
                entered_by_role=EntryRole.SELF,
                owner_user_id=first_user + i,
                consent_kind=ConsentKind.SELF,
                consent_version="reg-consent-2026-1",
                now=now,
                new_reference=lambda i=i: f"BLG-T{i:05d}",
            )


async def test_old_drafts_go_newer_drafts_and_sent_registrations_stay(
    harness: BotHarness,
) -> None:
    services = harness.botapp.services
    assert harness.settings.draft_retention_days == 30
    old = await start_draft(harness, 3001)
    await register(harness.chat(3002))  # sent on day 0
    harness.clock.advance(days=20)
    newer = await start_draft(harness, 3003)

    harness.clock.advance(days=10, minutes=1)  # the old draft is 30 days and a minute old
    report = await retention.run_retention(services)
    assert report.drafts_deleted == 1
    assert await rows(harness, Submission, col(Submission.id) == old.id) == []
    [consent] = await rows(harness, Consent, col(Consent.subject_user_id) == 3001)
    assert consent.submission_id is None
    assert consent.withdrawn_at == harness.clock()
    assert [s.id for s in await owned(harness, 3003)] == [newer.id]
    [sent] = await owned(harness, 3002)
    assert sent.status == SubmissionStatus.SUBMITTED.value
    [entry] = await rows(harness, AuditEntry, col(AuditEntry.action) == AUDIT_RETENTION)
    assert entry.details == {"drafts": 1, "days": 30}

    # The owner of the deleted draft is told it is gone, and can start again.
    chat = harness.chat(3001)
    await chat.send("17-08-1985")
    assert "tidak terbuka" in chat.last_text

    # A second pass the same day finds nothing; the newer draft goes once it is 30 days old too.
    assert (await retention.run_retention(services)).drafts_deleted == 0
    harness.clock.advance(days=20)
    assert (await retention.run_retention(services)).drafts_deleted == 1
    assert await owned(harness, 3003) == []
    # A sent registration is never touched, however old.
    harness.clock.advance(days=400)
    await retention.run_retention(services)
    assert len(await owned(harness, 3002)) == 1


async def test_an_answer_keeps_a_draft_alive(harness: BotHarness) -> None:
    await start_draft(harness, 3010)
    harness.clock.advance(days=29)
    chat = harness.chat(3010)
    await chat.send("17 agt 1985")  # the next answer, a day before the limit
    harness.clock.advance(days=2)
    assert (await retention.run_retention(harness.botapp.services)).drafts_deleted == 0
    [draft] = await owned(harness, 3010)
    assert draft.birth_date is not None


async def test_the_period_is_a_setting(db_url: str) -> None:
    async with BotHarness(db_url, draft_retention_days=5, **WIDE_OPEN) as harness:
        await start_draft(harness, 3020)
        harness.clock.advance(days=4)
        assert (await retention.run_retention(harness.botapp.services)).drafts_deleted == 0
        harness.clock.advance(days=1, seconds=1)
        assert (await retention.run_retention(harness.botapp.services)).drafts_deleted == 1


async def test_batches_and_two_processes_at_once(harness: BotHarness) -> None:
    await add_drafts(harness, 23, first_user=3100)
    harness.clock.advance(days=31)
    now = harness.clock()
    # Two bot processes run the job at the same moment, in small batches.
    first, second = await asyncio.gather(
        retention.delete_old_drafts(harness.db, now=now, days=30, batch_size=4),
        retention.delete_old_drafts(harness.db, now=now, days=30, batch_size=4),
    )
    assert first + second == 23
    drafts = await rows(
        harness, Submission, col(Submission.status) == SubmissionStatus.DRAFT.value
    )
    assert drafts == []
    consents = await rows(harness, Consent, col(Consent.subject_user_id) >= 3100)
    assert len(consents) == 23
    assert all(c.withdrawn_at is not None and c.submission_id is None for c in consents)


async def test_reply_copies_are_pruned_after_two_days(harness: BotHarness) -> None:
    real_now = utcnow()
    async with harness.db.transaction() as repo:
        for update_id, age in ((990_001, timedelta(days=3)), (990_002, timedelta(hours=5))):
            repo.session.add(
                ProcessedUpdate(
                    update_id=update_id,
                    chat_id=3200,
                    processed_at=real_now - age,
                    replies=[{"method": "sendMessage", "chat_id": 3200, "text": "Siti"}],
                )
            )
    report = await retention.run_retention(harness.botapp.services)
    assert report.updates_pruned >= 1
    async with harness.db.transaction() as repo:
        left = (
            await repo.session.exec(
                select(ProcessedUpdate.update_id).where(col(ProcessedUpdate.chat_id) == 3200)
            )
        ).all()
    assert list(left) == [990_002]


async def test_the_daily_loop_runs_the_job(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "POLL_SECONDS", 0.02)
    async with BotHarness(db_url, **WIDE_OPEN) as harness:
        draft = await start_draft(harness, 3300)
        harness.clock.advance(days=31)  # a new regency day: the loop runs the job once
        for _ in range(250):
            if not await rows(harness, Submission, col(Submission.id) == draft.id):
                break
            await asyncio.sleep(0.02)
        assert await rows(harness, Submission, col(Submission.id) == draft.id) == []
