"""Bulk rows for the status-check scenario: roster entries and submitted registrations.

Rows go in through SQLAlchemy Core ``executemany`` in large batches (one compiled statement, no ORM
objects), with the model's column types applied, so encrypted columns are encrypted exactly as the
bot writes them. Every generated NIK is valid and distinct: the roster uses Kec. Juai's code and
the submissions Kec. Paringin's, so the two sets never collide.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, insert, text

from storage.crypto import KeyRing, derived_values
from storage.db import Database

ROSTER_REGION = "631101"
SUBMISSION_REGION = "631102"
BATCH = 5_000
#: 28 days × 12 months × 40 years of birth dates, then a serial: a million distinct NIKs and more.
_DATES = 28 * 12 * 40
SEEDED_AT = datetime(2026, 11, 1, tzinfo=UTC)


def birth_date(index: int) -> date:
    """The birth date encoded in the ``index``-th generated NIK."""
    day = 1 + index % 28
    month = 1 + (index // 28) % 12
    year = 1960 + (index // (28 * 12)) % 40
    return date(year, month, day)


def nik(region: str, index: int) -> str:
    """The ``index``-th generated NIK of ``region`` (a man, born :func:`birth_date`)."""
    born = birth_date(index)
    serial = 1 + index // _DATES
    return f"{region}{born.day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def roster_row(index: int) -> dict[str, Any]:
    """One roster entry: a regency-paid JKK + JKM participant, paid until the end of 2026."""
    return {
        "nik": nik(ROSTER_REGION, index),
        "name": f"Peserta Uji {index}",
        "kpj": f"{26_000_000_000 + index}",
        "programmes": "jkk,jkm",
        "payer": "apbd",
        "coverage_start": date(2026, 1, 1),
        "paid_until": date(2026, 12, 31),
        "birth_date": birth_date(index),
        "updated_at": SEEDED_AT,
    }


def submission_row(index: int) -> dict[str, Any]:
    """One submitted registration of a worker who is not on the roster."""
    number = nik(SUBMISSION_REGION, index)
    user_id = 2_000_000_000 + index
    return {
        "reference": f"SEED-{index:09d}",
        "status": "submitted",
        "owner_user_id": user_id,
        "entered_by_user_id": user_id,
        "entered_by_role": "self",
        "nik": number,
        "full_name": f"Pendaftar Uji {index}",
        "birth_date": birth_date(index),
        "sex": "male",
        "phone": f"+62812{index:08d}",
        "kecamatan_code": "63.11.02",
        "desa_code": "63.11.02.2001",
        "occupation_code": "karet",
        "income_code": "under_1m",
        "screening_answers": {},
        "payer": "apbd",
        "created_at": SEEDED_AT,
        "updated_at": SEEDED_AT,
        "submitted_at": SEEDED_AT,
    }


def with_indexes(ring: KeyRing | None, table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Add the blind indexes (and the roster's ``nik_region``) the bot's writers compute.

    Core inserts bypass the ORM hooks that keep them, as the bot's own bulk roster upsert does.
    """
    if ring is None:
        return row
    return {**row, **derived_values(ring, table, row)}


def _checked(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Fail clearly when the model and the generator no longer agree."""
    columns = {c.name: c for c in table.columns}
    unknown = row.keys() - columns.keys()
    if unknown:
        raise ValueError(f"seed: {table.name} has no column {', '.join(sorted(unknown))}")
    missing = [
        name
        for name, c in columns.items()
        if name not in row
        and not c.nullable
        and c.default is None
        and c.server_default is None
        and not (c.primary_key and c.autoincrement in (True, "auto"))
    ]
    if missing:
        raise ValueError(f"seed: no value for {table.name}.{', '.join(missing)}")
    return row


async def insert_rows(
    db: Database,
    table: Table,
    make: Callable[[int], dict[str, Any]],
    start: int,
    stop: int,
) -> float:
    """Insert ``make(i)`` for ``start <= i < stop`` in batches; returns the seconds it took."""
    began = time.perf_counter()
    if start >= stop:
        return 0.0
    ring = db.keyring
    _checked(table, with_indexes(ring, table, make(start)))

    def batches() -> Iterator[list[dict[str, Any]]]:
        for first in range(start, stop, BATCH):
            yield [
                with_indexes(ring, table, make(i)) for i in range(first, min(first + BATCH, stop))
            ]

    statement = insert(table)
    for rows in batches():
        async with db.engine.begin() as conn:
            await conn.execute(statement, rows)
    return time.perf_counter() - began


async def analyze(db: Database) -> None:
    """On PostgreSQL, refresh the planner's statistics as autovacuum would after a bulk load.

    SQLite gathers statistics only when told to (``ANALYZE`` / ``PRAGMA optimize``), so its
    database is left as the bot leaves it. (With ``ANALYZE``, SQLite's statistics say that the
    all-NULL ``roster_entries.telegram_user_id`` index matches every row, and ``/cek`` scans the
    whole roster: 350 ms at 100,000 rows.)
    """
    if db.is_sqlite:
        return
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
