"""Seed helpers shared by the admin, export and statistics tests (and a check of the helpers).

Rows are written straight into the tables with bulk ``INSERT`` statements in one transaction, so a
test can start from hundreds of thousands of submissions in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from bot.domain.nik import Nik, parse_nik
from storage.crypto import derived_values
from storage.db import Database
from storage.models import RosterEntry, Submission, SubmissionStatus
from storage.types import utcnow

#: The harness clock starts here (10:00 WITA on 21 November 2026).
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 21)
INSERT_BATCH = 5000


def make_nik(birth: date, *, female: bool = False, serial: int = 1, prefix: str = "631101") -> str:
    """A valid NIK encoding ``birth`` (women: day + 40)."""
    day = birth.day + (40 if female else 0)
    return f"{prefix}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


@dataclass(frozen=True)
class Person:
    """A submission to seed (defaults: a worker of Muara Ninian, Juai, sent an hour ago)."""

    reference: str
    name: str = "Siti Aminah"
    birth: date = date(1985, 8, 17)
    female: bool = True
    serial: int = 1
    status: str = SubmissionStatus.SUBMITTED.value
    owner: int | None = None
    entered_by: int | None = None
    facilitator: bool = False
    kecamatan: str | None = "63.11.01"
    desa: str | None = "63.11.01.2001"
    occupation: str | None = "karet"
    payer: str | None = "apbd"
    submitted_at: datetime = NOW - timedelta(hours=1)
    nik_prefix: str = "631101"
    nik: str | None = None

    def row(self) -> dict[str, Any]:
        """The column values of the submission."""
        nik = self.nik or make_nik(
            self.birth, female=self.female, serial=self.serial, prefix=self.nik_prefix
        )
        draft = self.status == SubmissionStatus.DRAFT.value
        return submission_row(
            reference=self.reference,
            status=self.status,
            nik=nik,
            full_name=self.name,
            birth_date=self.birth,
            sex="female" if self.female else "male",
            owner_user_id=self.owner,
            entered_by_user_id=self.entered_by or self.owner or 1,
            entered_by_role="facilitator" if self.facilitator else "self",
            kecamatan_code=self.kecamatan,
            desa_code=self.desa,
            occupation_code=self.occupation,
            payer=self.payer,
            submitted_at=None if draft else self.submitted_at,
            created_at=self.submitted_at - timedelta(minutes=10),
        )


def submission_row(**values: Any) -> dict[str, Any]:
    """A full ``submissions`` row with plausible defaults for every column not given."""
    now = utcnow()
    row: dict[str, Any] = {
        "status": SubmissionStatus.SUBMITTED.value,
        "owner_user_id": None,
        "entered_by_role": "self",
        "sex": "female",
        "phone": "+6281234567890",
        "occupation_text": None,
        "income_code": None,
        "contribution_base": 1_000_000,
        "screening_answers": {},
        "rentan_candidate": True,
        "payer": "apbd",
        "with_jht": False,
        "contribution_total": 16_800,
        "contribution_estimate": False,
        "contribution_discount": None,
        "tariff_date": None,
        "warn_date_mismatch": False,
        "warn_sex_mismatch": False,
        "warn_nik_outside": False,
        "created_at": now,
        "updated_at": now,
        "submitted_at": now,
        "rejection_reason": None,
    }
    row.update(values)
    return row


def roster_row(
    nik: str,
    *,
    name: str = "Peserta",
    payer: str = "apbd",
    start: date = date(2025, 1, 1),
    paid_until: date | None = date(2026, 12, 31),
    birth: date | None = None,
    kpj: str | None = "12345678901",
) -> dict[str, Any]:
    """A ``roster_entries`` row."""
    return {
        "nik": nik,
        "name": name,
        "kpj": kpj,
        "programmes": "jkk,jkm",
        "payer": payer,
        "coverage_start": start,
        "paid_until": paid_until,
        "birth_date": birth,
        "telegram_user_id": None,
        "import_id": None,
        "updated_at": utcnow(),
    }


async def insert_rows(db: Database, model: Any, rows: Iterable[Mapping[str, Any]]) -> None:
    """Bulk-insert rows into ``model``'s table, ``INSERT_BATCH`` at a time, in one transaction."""
    batch: list[Mapping[str, Any]] = []
    ring = db.keyring
    assert ring is not None, "seeding encrypted tables needs Database(..., keyring=...)"
    async with db.transaction() as repo:
        for row in rows:
            # Core inserts bypass the ORM hooks that keep the blind indexes: add them here.
            batch.append({**row, **derived_values(ring, model.__table__, row)})
            if len(batch) >= INSERT_BATCH:
                await repo.session.exec(insert(model.__table__), params=batch)
                batch = []
        if batch:
            await repo.session.exec(insert(model.__table__), params=batch)


async def seed_people(db: Database, people: Iterable[Person]) -> None:
    """Insert submissions."""
    await insert_rows(db, Submission, (p.row() for p in people))


async def seed_roster(db: Database, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert roster rows."""
    await insert_rows(db, RosterEntry, rows)


def test_make_nik_encodes_the_birth_date_and_sex() -> None:
    nik = parse_nik(make_nik(date(1990, 3, 9), female=True, serial=7), today=TODAY)
    assert isinstance(nik, Nik)
    assert nik.birth_date == date(1990, 3, 9)
    assert nik.sex.value == "female"
    assert nik.is_balangan
