"""Registration storage on SQLite (and PostgreSQL when TEST_DATABASE_URL is set): drafts, consent,
the race-safe unique NIK on submit, discarding a draft."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import ConsentKind, EntryRole, Submission, SubmissionStatus
from storage.repos.registration import SubmitConflict
from tests.support import TEST_KEYRING

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
NIK = "6311015708850003"


def references(*values: str) -> Iterator[str]:
    yield from values


async def new_draft(db: Database, user_id: int, reference: str, **answers: object) -> int:
    async with db.transaction() as repo:
        sub = await repo.registration.create_draft(
            entered_by_user_id=user_id,
            entered_by_role=EntryRole.SELF,
            owner_user_id=user_id,
            consent_kind=ConsentKind.SELF,
            consent_version="v-test",
            now=NOW,
            new_reference=lambda: reference,
        )
        if answers:
            await repo.registration.save_answers(sub, now=NOW, **answers)
        assert sub.id is not None
        return sub.id


async def test_a_draft_starts_with_its_consent(db: Database) -> None:
    sub_id = await new_draft(db, 11, "BLG-AAAAAA")
    async with db.transaction() as repo:
        sub = await repo.registration.get(sub_id)
        consents = await repo.registration.consents_for(sub_id)
        own = await repo.registration.own_draft(user_id=11)
    assert sub is not None
    assert sub.status == SubmissionStatus.DRAFT
    assert sub.reference == "BLG-AAAAAA"
    assert (sub.owner_user_id, sub.entered_by_user_id, sub.entered_by_role) == (11, 11, "self")
    assert sub.created_at == NOW
    assert [(c.given_by_user_id, c.subject_user_id, c.kind, c.text_version) for c in consents] == [
        (11, 11, "self", "v-test")
    ]
    assert consents[0].given_at == NOW
    assert consents[0].withdrawn_at is None
    assert own is not None
    assert own.id == sub_id


async def test_a_reference_collision_takes_another_reference(db: Database) -> None:
    await new_draft(db, 11, "BLG-AAAAAA")
    candidates = references("BLG-AAAAAA", "BLG-BBBBBB")
    async with db.transaction() as repo:
        sub = await repo.registration.create_draft(
            entered_by_user_id=12,
            entered_by_role=EntryRole.SELF,
            owner_user_id=12,
            consent_kind=ConsentKind.SELF,
            consent_version="v-test",
            now=NOW,
            new_reference=lambda: next(candidates),
        )
    assert sub.reference == "BLG-BBBBBB"
    async with db.transaction() as repo:
        assert len(await repo.registration.consents_given_by(12)) == 1


async def test_answers_are_checked_and_only_drafts_take_them(db: Database) -> None:
    sub_id = await new_draft(db, 11, "BLG-AAAAAA")
    async with db.transaction() as repo:
        sub = await repo.registration.get(sub_id)
        assert sub is not None
        with pytest.raises(ValueError, match="not answer fields"):
            await repo.registration.save_answers(sub, now=NOW, status="verified")
        await repo.registration.save_answers(sub, now=NOW, nik=NIK, full_name="Siti Aminah")
        assert await repo.registration.submit(sub, now=NOW) is None
        with pytest.raises(ValueError, match="only drafts"):
            await repo.registration.save_answers(sub, now=NOW, full_name="Other")
    async with db.transaction() as repo:
        stored = await repo.registration.get(sub_id)
        submitted = await repo.registration.own_submitted(user_id=11)
        by_nik = await repo.registration.submitted_with_nik(NIK)
    assert stored is not None
    assert (stored.status, stored.submitted_nik_index, stored.submitted_at) == (
        "submitted",
        TEST_KEYRING.index(NIK),
        NOW,
    )
    assert submitted is not None
    assert by_nik is not None
    assert submitted.id == by_nik.id == sub_id


async def test_drafts_may_share_a_nik_but_only_one_is_submitted(db: Database) -> None:
    first = await new_draft(db, 11, "BLG-AAAAAA", nik=NIK)
    second = await new_draft(db, 12, "BLG-BBBBBB", nik=NIK)
    async with db.transaction() as repo:
        sub = await repo.registration.get(first)
        assert sub is not None
        assert await repo.registration.submit(sub, now=NOW) is None
    async with db.transaction() as repo:
        other = await repo.registration.get(second)
        assert other is not None
        conflict = await repo.registration.submit(other, now=NOW)
        assert isinstance(conflict, SubmitConflict)
        assert conflict.existing.id == first
        # The refused submit left the transaction usable and the draft a draft.
        assert other.status == SubmissionStatus.DRAFT
        await repo.registration.save_answers(other, now=NOW, full_name="Still A Draft")
    async with db.transaction() as repo:
        other = await repo.registration.get(second)
    assert other is not None
    assert (other.status, other.submitted_nik_index, other.full_name) == (
        "draft",
        None,
        "Still A Draft",
    )


async def test_two_submits_at_the_same_instant_one_wins(db: Database) -> None:
    ids = [await new_draft(db, 20 + i, f"BLG-{'ABCDEF'[i] * 6}", nik=NIK) for i in range(4)]
    start = asyncio.Event()

    async def submit(sub_id: int) -> bool:
        await start.wait()
        async with db.transaction() as repo:
            sub = await repo.registration.get(sub_id)
            assert sub is not None
            return await repo.registration.submit(sub, now=NOW) is None

    tasks = [asyncio.create_task(submit(i)) for i in ids]
    await asyncio.sleep(0)
    start.set()
    results = await asyncio.gather(*tasks)
    assert sorted(results) == [False, False, False, True]
    async with db.transaction() as repo:
        rows = [await repo.registration.get(i) for i in ids]
    assert sorted(r.status for r in rows if r is not None) == ["draft"] * 3 + ["submitted"]


async def test_the_database_itself_refuses_a_second_submitted_nik(db: Database) -> None:
    async with db.transaction() as repo:
        for i, ref in enumerate(("BLG-AAAAAA", "BLG-BBBBBB")):
            repo.session.add(
                Submission(
                    reference=ref,
                    entered_by_user_id=30 + i,
                    status="submitted",
                    nik=NIK,
                )
            )
        with pytest.raises(IntegrityError):
            await repo.session.flush()
        await repo.session.rollback()


async def test_discarding_a_draft_keeps_the_consent_record_withdrawn(db: Database) -> None:
    sub_id = await new_draft(db, 11, "BLG-AAAAAA", nik=NIK, full_name="Siti Aminah")
    later = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    async with db.transaction() as repo:
        sub = await repo.registration.get(sub_id)
        assert sub is not None
        await repo.registration.discard_draft(sub, now=later)
    async with db.transaction() as repo:
        assert await repo.registration.get(sub_id) is None
        assert await repo.registration.own_draft(user_id=11) is None
        consents = await repo.registration.consents_given_by(11)
    assert [(c.submission_id, c.withdrawn_at, c.text_version) for c in consents] == [
        (None, later, "v-test")
    ]


async def test_draft_for_checks_who_is_typing(db: Database) -> None:
    sub_id = await new_draft(db, 11, "BLG-AAAAAA")
    async with db.transaction() as repo:
        assert (
            await repo.registration.draft_for(submission_id=sub_id, entered_by_user_id=12) is None
        )
        mine = await repo.registration.draft_for(submission_id=sub_id, entered_by_user_id=11)
        assert mine is not None
        assert await repo.registration.draft_for(submission_id=999, entered_by_user_id=11) is None
