"""Key rotation: re-encrypt every :class:`~storage.crypto.Encrypted` value with the current key.

Runs table by table in batches (one short transaction each), so it can run while the bot serves users.
A sibling column named ``<column>_index`` (a blind index) is recomputed from the plaintext too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import MetaData, Table, Text, type_coerce, update
from sqlmodel import select

from storage.crypto import Encrypted, KeyRing
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
        names = [c.name for c in table.columns if isinstance(c.type, Encrypted)]
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
        last = None
        while True:
            raw_cols = [type_coerce(table.c[name], Text).label(name) for name in columns]
            stmt = select(key_col, *raw_cols).order_by(key_col).limit(batch_size)
            if last is not None:
                stmt = stmt.where(key_col > last)
            async with db.transaction() as repo:
                rows = (await repo.session.exec(stmt)).all()
                for row in rows:
                    changes = _changes(ring, table, columns, row._mapping, report)
                    if changes:
                        await repo.session.exec(
                            update(table).where(key_col == row[0]).values(**changes)
                        )
            if not rows:
                break
            last = rows[-1][0]
            if progress is not None:
                progress(table.name, len(rows))
    return report


def _changes(
    ring: KeyRing, table: Table, columns: list[str], row: object, report: RotationReport
) -> dict[str, object]:
    changes: dict[str, object] = {}
    mapping = dict(row)  # type: ignore[call-overload]
    for name in columns:
        token = mapping[name]
        if token is None:
            continue
        plain = ring.decrypt(token)
        if ring.key_id_of(token) != ring.current_id:
            # Bound through the Encrypted type, so this encrypts with the current key.
            changes[name] = plain
            report.values_reencrypted += 1
        index_name = f"{name}_index"
        if index_name in table.c:
            changes[index_name] = ring.index(plain)
            report.indexes_recomputed += 1
    return changes
