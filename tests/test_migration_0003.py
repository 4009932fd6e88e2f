"""Migration 0003 encrypts the personal data already in a database and keeps every link intact.

A database is built at revision 0002, filled with plaintext rows through Core inserts on its
reflected tables (no model, no encryption), then migrated to the head with a key ring.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage.crypto import CryptoError, KeyRing, birth_date_token, generate_key
from storage.db import Database
from storage.models import (
    ClaimHelpRequest,
    Consent,
    ConsentLink,
    Conversation,
    Facilitator,
    FacilitatorDesa,
    PaymentReminder,
    ProcessedUpdate,
    RosterEntry,
    Submission,
)
from tests.conftest import PG_URL
from tests.support import empty_database

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)

SUBMITTED = {
    "nik": "6308011203900001",
    "full_name": "Siti Rahmawati",
    "birth_date": date(1990, 3, 12),
    "phone": "081234567801",
    "kpj": "99887766554",
}
DRAFT = {
    "nik": "6308015507850002",
    "full_name": "Budi Santoso",
    "birth_date": date(1985, 7, 15),
    "phone": "081234567802",
    "kpj": None,
}
ROSTER = {
    "nik": "6308020101800003",
    "name": "Ahmad Fauzi",
    "kpj": "11223344556",
    "birth_date": date(1980, 1, 1),
}
ROSTER_BARE = {"nik": "6301034404770004", "name": "Nur Aini", "kpj": None, "birth_date": None}
FACILITATOR = {"full_name": "Rina Kartika", "phone": "081234567805"}
HELP = {"requester_name": "Yusuf Hidayat", "phone": "081234567806"}
CONVERSATION = {"nik": "6308019912990007", "step": 3, "nama": "Dewi Lestari"}
REPLIES = [{"text": "NIK 6308011203900001 atas nama Siti Rahmawati", "chat_id": 501}]

#: Nothing of these may be readable in the raw tables after the migration.
SECRETS = [
    SUBMITTED["nik"],
    SUBMITTED["full_name"],
    SUBMITTED["phone"],
    SUBMITTED["kpj"],
    "1990-03-12",
    DRAFT["nik"],
    DRAFT["full_name"],
    DRAFT["phone"],
    "1985-07-15",
    ROSTER["nik"],
    ROSTER["name"],
    ROSTER["kpj"],
    "1980-01-01",
    ROSTER_BARE["nik"],
    ROSTER_BARE["name"],
    FACILITATOR["full_name"],
    FACILITATOR["phone"],
    HELP["requester_name"],
    HELP["phone"],
    CONVERSATION["nik"],
    CONVERSATION["nama"],
]
TABLES = [
    "submissions",
    "roster_entries",
    "payment_reminders",
    "facilitators",
    "claim_help_requests",
    "conversations",
    "processed_updates",
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own."""
    if request.param == "postgresql" and PG_URL is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    async with empty_database(request.param, tmp_path, "mig3") as database:
        yield database


async def _fill_0002(url: str) -> dict[str, int]:
    """Migrate to 0002 and insert plaintext rows; the ids of the submissions."""
    db = Database(url)
    try:
        await db.migrate("0002")
        sqlite = db.is_sqlite
        now = NOW.replace(tzinfo=None) if sqlite else NOW
        async with db.engine.begin() as conn:
            meta = sa.MetaData()
            await conn.run_sync(meta.reflect)
            t = meta.tables

            async def insert(table: str, *rows: dict[str, Any]) -> None:
                for row in rows:  # one by one: the rows do not all set the same columns
                    await conn.execute(t[table].insert(), row)

            submission: dict[str, Any] = {
                "entered_by_user_id": 501,
                "entered_by_role": "self",
                "screening_answers": {"works": True},
                "warn_date_mismatch": False,
                "warn_sex_mismatch": False,
                "warn_nik_outside": False,
                "created_at": now,
                "updated_at": now,
                "desa_code": "6308011001",
            }
            await insert(
                "submissions",
                {
                    **submission,
                    **SUBMITTED,
                    "id": 1,
                    "reference": "REF-SUBMITTED",
                    "status": "submitted",
                    "owner_user_id": 501,
                    "submitted_nik": SUBMITTED["nik"],
                    "submitted_at": now,
                },
                {
                    **submission,
                    **DRAFT,
                    "id": 2,
                    "reference": "REF-DRAFT",
                    "status": "draft",
                    "owner_user_id": 502,
                    "submitted_nik": None,
                },
            )
            consent = {"given_by_user_id": 501, "kind": "self", "text_version": "v1"}
            await insert(
                "consents",
                {**consent, "id": 11, "submission_id": 1, "given_at": now},
                {**consent, "id": 12, "submission_id": 2, "given_at": now},
            )
            await insert(
                "consent_links",
                {
                    "id": 21,
                    "code": "link-code",
                    "submission_id": 2,
                    "consent_id": 12,
                    "created_by": 503,
                    "created_at": now,
                    "expires_at": now,
                },
            )
            roster = {"programmes": "jkk,jkm", "payer": "apbd", "updated_at": now}
            await insert(
                "roster_entries",
                {
                    **roster,
                    **ROSTER,
                    "coverage_start": date(2025, 2, 1),
                    "paid_until": date(2026, 11, 30),
                    "telegram_user_id": 504,
                },
                {**roster, **ROSTER_BARE, "coverage_start": date(2025, 3, 1)},
            )
            await insert(
                "payment_reminders",
                {
                    "id": 31,
                    "nik": ROSTER["nik"],
                    "user_id": 504,
                    "kind": "before_due",
                    "dedupe_key": "before_due:2026-11-30:7",
                    "paid_until": date(2026, 11, 30),
                    "kind_offset": 7,
                    "nonaktif_from": date(2027, 1, 1),
                    "relevant_until": date(2026, 12, 1),
                    "due_at": now,
                    "status": "pending",
                    "created_at": now,
                },
            )
            await insert(
                "facilitators",
                {**FACILITATOR, "user_id": 503, "created_at": now, "updated_at": now},
            )
            await insert("facilitator_desa", {"user_id": 503, "desa_code": "6308011001"})
            await insert(
                "claim_help_requests",
                {
                    **HELP,
                    "id": 41,
                    "user_id": 505,
                    "kecamatan_code": "630801",
                    "desa_code": "6308011001",
                    "created_at": now,
                },
            )
            await insert(
                "conversations",
                {
                    "user_id": 501,
                    "state": "reg.name",
                    "data": CONVERSATION,
                    "version": 4,
                    "updated_at": now,
                },
            )
            await insert(
                "processed_updates",
                {
                    "update_id": 9001,
                    "chat_id": 501,
                    "processed_at": now,
                    "replies": REPLIES,
                    "sent": False,
                },
                {
                    "update_id": 9002,
                    "chat_id": 501,
                    "processed_at": now,
                    "replies": None,
                    "sent": True,
                },
            )
    finally:
        await db.dispose()
    return {"submitted": 1, "draft": 2}


async def _raw_rows(db: Database, table: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(sa.text(f"SELECT * FROM {table}"))
        return [dict(row._mapping) for row in result]


async def test_existing_rows_are_encrypted_and_stay_linked(url: str) -> None:
    ids = await _fill_0002(url)
    ring = KeyRing.from_text(generate_key())
    db = Database(url, keyring=ring)
    try:
        await db.migrate()

        # -- at rest: no plaintext anywhere -----------------------------------------------------
        for table in TABLES:
            for row in await _raw_rows(db, table):
                raw = json.dumps(row, default=str)
                leaked = [secret for secret in SECRETS if secret in raw]
                assert leaked == [], f"{table} still holds {leaked}"
        raw_submissions = {r["id"]: r for r in await _raw_rows(db, "submissions")}
        for column in ("nik", "full_name", "birth_date", "phone"):
            assert str(raw_submissions[ids["submitted"]][column]).startswith("v1.")
        assert raw_submissions[ids["draft"]]["kpj"] is None
        replies = {r["update_id"]: r["replies"] for r in await _raw_rows(db, "processed_updates")}
        assert str(replies[9001]).startswith("v1.")
        assert replies[9002] is None

        # -- through the models: the original values and right indexes ----------------------------
        async with db.transaction() as repo:
            session = repo.session
            submitted = await session.get(Submission, ids["submitted"])
            draft = await session.get(Submission, ids["draft"])
            assert submitted is not None
            assert draft is not None
            for sub, expected in ((submitted, SUBMITTED), (draft, DRAFT)):
                for key, value in expected.items():
                    assert getattr(sub, key) == value
                assert sub.nik_index == ring.index(expected["nik"])
                assert sub.birth_index == ring.index(birth_date_token(expected["birth_date"]))
            assert submitted.submitted_nik_index == ring.index(SUBMITTED["nik"])
            assert draft.submitted_nik_index is None
            assert submitted.screening_answers == {"works": True}

            consents = {c.id: c.submission_id for c in (await session.exec(select(Consent))).all()}
            assert consents == {11: ids["submitted"], 12: ids["draft"]}
            links = (await session.exec(select(ConsentLink))).all()
            assert [(link.submission_id, link.consent_id) for link in links] == [(2, 12)]

            entry = await session.get(RosterEntry, ring.index(ROSTER["nik"]))
            bare = await session.get(RosterEntry, ring.index(ROSTER_BARE["nik"]))
            assert entry is not None
            assert bare is not None
            for row, expected in ((entry, ROSTER), (bare, ROSTER_BARE)):
                for key, value in expected.items():
                    assert getattr(row, key) == value
                assert row.nik_region == expected["nik"][:6]
            assert entry.birth_index == ring.index(birth_date_token(ROSTER["birth_date"]))
            assert bare.birth_index is None
            assert entry.telegram_user_id == 504
            assert entry.paid_until == date(2026, 11, 30)

            reminders = (await session.exec(select(PaymentReminder))).all()
            assert [(r.id, r.nik_index, r.dedupe_key) for r in reminders] == [
                (31, entry.nik_index, "before_due:2026-11-30:7")
            ]

            facilitator = await session.get(Facilitator, 503)
            assert facilitator is not None
            assert (facilitator.full_name, facilitator.phone) == (
                FACILITATOR["full_name"],
                FACILITATOR["phone"],
            )
            areas = (await session.exec(select(FacilitatorDesa))).all()
            assert [(a.user_id, a.desa_code) for a in areas] == [(503, "6308011001")]

            help_request = await session.get(ClaimHelpRequest, 41)
            assert help_request is not None
            assert (help_request.requester_name, help_request.phone) == (
                HELP["requester_name"],
                HELP["phone"],
            )

            conversation = await session.get(Conversation, 501)
            assert conversation is not None
            assert conversation.data == CONVERSATION
            assert conversation.version == 4
            update = await session.get(ProcessedUpdate, 9001)
            assert update is not None
            assert update.replies == REPLIES
            empty = await session.get(ProcessedUpdate, 9002)
            assert empty is not None
            assert empty.replies is None

        # -- the unique submitted NIK still holds ---------------------------------------------
        with pytest.raises(IntegrityError):
            async with db.transaction() as repo:
                repo.session.add(
                    Submission(
                        reference="REF-AGAIN",
                        status="submitted",
                        entered_by_user_id=506,
                        nik=SUBMITTED["nik"],
                    )
                )

        # -- the reminder's foreign key works on the new key --------------------------------------
        async with db.transaction() as repo:
            entry = await repo.session.get(RosterEntry, ring.index(ROSTER["nik"]))
            assert entry is not None
            await repo.session.delete(entry)
        async with db.transaction() as repo:
            assert (await repo.session.exec(select(PaymentReminder))).all() == []
    finally:
        await db.dispose()


async def test_personal_data_without_a_key_is_refused(url: str) -> None:
    await _fill_0002(url)
    db = Database(url)
    try:
        with pytest.raises(CryptoError, match="set DATA_KEY") as caught:
            await db.migrate()
        assert "\n" not in str(caught.value)
        async with db.engine.connect() as conn:
            version = (
                await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            ).scalar()
        assert version == "0002"
        assert len(await _raw_rows(db, "submissions")) == 2
    finally:
        await db.dispose()
