"""Key rotation: re-encrypt every encrypted value with the current key; recompute blind indexes.

Runs table by table in batches (one short transaction each), so it can run while the bot serves
users. Values are decrypted with whichever key of the ring wrote them and written back sealed with
the first key. The derived columns (blind indexes, see :func:`storage.crypto.derived_values`) are
recomputed from the plaintext by the same function the bot writes them with: they change only when
the index key changed (``DATA_INDEX_KEY``, or the last key of ``DATA_KEY`` it is derived from);
``payment_reminders`` follow their roster row through ``ON UPDATE CASCADE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, Table, Text, type_coerce, update
from sqlmodel import select

from storage.crypto import (
    DERIVED_INFO,
    KeyRing,
    Sealed,
    derived_sources,
    derived_values,
)
from storage.db import Database


@dataclass(slots=True)
class RotationReport:
    """What a rotation did."""

    tables: int = 0
    values_reencrypted: int = 0
    indexes_recomputed: int = 0


def encrypted_columns(metadata: MetaData) -> dict[Table, list[str]]:
    """Every table with encrypted columns, and the names of those columns."""
    found: dict[Table, list[str]] = {}
    for table in metadata.sorted_tables:
        names = [c.name for c in table.columns if isinstance(c.type, Sealed)]
        if names:
            found[table] = names
    return found


async def rotate(
    db: Database,
    metadata: MetaData,
    *,
    batch_size: int = 500,
    progress: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Re-encrypt values not encrypted with the ring's current key; recompute blind indexes."""
    ring = db.keyring
    if ring is None:
        raise RuntimeError("the database has no key ring")
    report = RotationReport()
    for table, columns in encrypted_columns(metadata).items():
        report.tables += 1
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            raise RuntimeError(f"{table.name}: rotation needs a single-column primary key")
        key_col = pk[0]
        # The derived columns as stored, and the plain columns they derive from (a status...).
        derived = [c for c in table.columns if c.info.keys() & DERIVED_INFO]
        plain_sources = [table.c[n] for n in derived_sources(table) if n not in columns]
        extra = list({c.name: c for c in (*derived, *plain_sources)}.values())
        last = None
        while True:
            # Read the stored text as it is (ciphertext), not through the decrypting types.
            raw_cols = [type_coerce(table.c[name], Text).label(name) for name in columns]
            stmt = select(key_col, *raw_cols, *extra).order_by(key_col).limit(batch_size)
            if last is not None:
                stmt = stmt.where(key_col > last)
            async with db.transaction() as repo:
                rows = (await repo.session.exec(stmt)).all()
                for row in rows:
                    changes = _changes(ring, table, columns, row._mapping, report)
                    if changes:
                        await repo.session.exec(
                            update(table).where(key_col == row[0]).values(changes)
                        )
            if not rows:
                break
            # The cursor is the primary key as it was read: a recomputed key sorts anywhere, and
            # a row met again has nothing left to change.
            last = rows[-1][0]
            if progress is not None:
                progress(table.name, len(rows))
    return report


def _changes(
    ring: KeyRing, table: Table, columns: list[str], row: Any, report: RotationReport
) -> dict[Any, Any]:
    changes: dict[Any, Any] = {}
    stored = dict(row)
    values = dict(stored)  # plain columns as they are; encrypted ones decrypted below
    for name in columns:
        token = stored[name]
        if token is None:
            continue
        text = ring.decrypt(token)
        sealed = table.c[name].type
        assert isinstance(sealed, Sealed)
        values[name] = sealed.load(text)  # the Python value (a date for EncryptedDate)
        if ring.key_id_of(token) != ring.current_id:
            # Bound as plain text: the new token is already the stored form.
            changes[name] = type_coerce(ring.encrypt(text), Text)
            report.values_reencrypted += 1
    for name, value in derived_values(ring, table, values).items():
        if stored[name] != value:
            changes[name] = value
            report.indexes_recomputed += 1
    return changes
