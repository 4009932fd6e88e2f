"""encrypt personal data at rest

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 09:40:34.527866

NIKs, names, phones, KPJ numbers, birth dates and the JSON of conversations / stored replies become
encrypted text (``storage.crypto``); blind indexes (``nik_index``, ``birth_index``,
``submitted_nik_index``) replace the plaintext lookups, and the roster is keyed by ``nik_index``
(payment reminders follow it).

Rows already in the database are converted in place with the key ring attached to the migration
connection's dialect (``Database(url, keyring=...)``). A database holding personal data cannot be
migrated without one; an empty database can.

On SQLite the changed tables are rebuilt (create a copy, drop the original, rename). Dropping a table
with foreign keys on would fire the ON DELETE actions of the rows pointing at it (consents would lose
their submission, facilitator areas would vanish), so ``Database.migrate`` runs migrations with foreign
keys off and this migration refuses to run on a non-empty database otherwise.

The table definitions are spelled out here rather than imported from ``storage.models``: this
revision must keep producing the same schema when the models change later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

import storage.types
from storage.crypto import DIALECT_ATTRIBUTE, CryptoError, KeyRing, birth_date_token

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = sa.String(64)  # a blind index: hex HMAC-SHA256
NIK_REGION_LENGTH = 6
CHUNK = 500

#: Columns that become encrypted text: table -> (column, type in 0002, nullable).
ENCRYPTED_COLUMNS: dict[str, list[tuple[str, sa.types.TypeEngine[Any], bool]]] = {
    "submissions": [
        ("nik", sa.String(16), True),
        ("full_name", sa.String(200), True),
        ("birth_date", sa.Date(), True),
        ("phone", sa.String(20), True),
        ("kpj", sa.String(32), True),
    ],
    "roster_entries": [
        ("nik", sa.String(16), False),
        ("name", sa.String(200), False),
        ("kpj", sa.String(16), True),
        ("birth_date", sa.Date(), True),
    ],
    "claim_help_requests": [
        ("requester_name", sa.String(128), True),
        ("phone", sa.String(20), True),
    ],
    "facilitators": [("full_name", sa.String(200), False), ("phone", sa.String(20), False)],
    "conversations": [("data", sa.JSON(), False)],
    "processed_updates": [("replies", sa.JSON(), True)],
}

NEEDS_KEY = (
    "migration 0003 encrypts the personal data already in this database and needs its key: "
    "set DATA_KEY (python -m bot genkey makes one) and migrate again"
)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    ring = _ring_for(bind)
    if sqlite:
        _require_foreign_keys_off(bind)

    # 1. Loosen: room for the indexes and (PostgreSQL) text columns able to hold ciphertext.
    if not sqlite:
        # The roster's NIKs are about to change under their reminders.
        op.drop_constraint("payment_reminders_nik_fkey", "payment_reminders", type_="foreignkey")
        for table, columns in ENCRYPTED_COLUMNS.items():
            for name, old_type, nullable in columns:
                op.alter_column(
                    table,
                    name,
                    type_=sa.Text(),
                    existing_type=old_type,
                    existing_nullable=nullable,
                    postgresql_using=f"{name}::text",
                )
    for table, name in [
        ("submissions", "nik_index"),
        ("submissions", "submitted_nik_index"),
        ("submissions", "birth_index"),
        ("roster_entries", "nik_index"),
        ("roster_entries", "birth_index"),
        ("payment_reminders", "nik_index"),
    ]:
        op.add_column(table, sa.Column(name, INDEX, nullable=True))
    op.add_column(
        "roster_entries", sa.Column("nik_region", sa.String(NIK_REGION_LENGTH), nullable=True)
    )

    # 2. Encrypt what is there and compute the indexes.
    if ring is not None:
        _convert(bind, ring)

    # 3. Tighten: keys, constraints, indexes (SQLite: rebuild the tables).
    if sqlite:
        _finish_sqlite(bind)
    else:
        _finish_postgresql()


def downgrade() -> None:
    raise NotImplementedError(
        "0003 cannot be undone: restore the backup taken before it (personal data is encrypted)"
    )


# -- checks ----------------------------------------------------------------------------------------


def _count(bind: Connection, table: str, columns: Iterable[str]) -> int:
    where = " OR ".join(f"{c} IS NOT NULL" for c in columns)
    return int(bind.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one())


def _ring_for(bind: Connection) -> KeyRing | None:
    """The key ring of the connection; fails (before changing anything) when data needs one."""
    ring: KeyRing | None = getattr(bind.dialect, DIALECT_ATTRIBUTE, None)
    if ring is not None:
        return ring
    holding = {table: [c for c, _, _ in columns] for table, columns in ENCRYPTED_COLUMNS.items()}
    holding["payment_reminders"] = ["nik"]
    if any(_count(bind, table, columns) for table, columns in holding.items()):
        raise CryptoError(NEEDS_KEY)
    return None


def _require_foreign_keys_off(bind: Connection) -> None:
    if not bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        return
    referenced = ["submissions", "roster_entries", "facilitators", "claim_help_requests"]
    if any(_count(bind, table, ["1"]) for table in referenced):
        raise RuntimeError(
            "migration 0003 rebuilds SQLite tables and must run with foreign keys off "
            "(migrate through storage.db.Database.migrate)"
        )


# -- data ------------------------------------------------------------------------------------------


def _rows(bind: Connection, sql: str) -> list[sa.Row[Any]]:
    return list(bind.execute(sa.text(sql)).all())


def _update(bind: Connection, sql: str, params: list[dict[str, Any]]) -> None:
    for start in range(0, len(params), CHUNK):
        bind.execute(sa.text(sql), params[start : start + CHUNK])


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _convert(bind: Connection, ring: KeyRing) -> None:
    def seal(value: Any) -> str | None:
        return None if value is None else ring.encrypt(str(value))

    def seal_date(value: Any) -> str | None:
        return None if value is None else ring.encrypt(_as_date(value).isoformat())

    def birth_index(value: Any) -> str | None:
        return None if value is None else ring.index(birth_date_token(_as_date(value)))

    def nik_index(value: Any) -> str | None:
        return None if value is None else ring.index(str(value))

    def seal_json(value: Any, *, nullable: bool) -> str | None:
        if value is None:
            return None
        document = json.loads(value) if isinstance(value, str | bytes) else value
        if document is None and nullable:
            return None  # a JSON null: SQL NULL reads back the same through EncryptedJSON
        return ring.encrypt(json.dumps(document, ensure_ascii=False, separators=(",", ":")))

    # Submissions: submitted_nik was set exactly while out of the draft state, and unique.
    _update(
        bind,
        "UPDATE submissions SET nik = :nik, nik_index = :nik_index, "
        "submitted_nik_index = :submitted_nik_index, full_name = :full_name, "
        "birth_date = :birth_date, birth_index = :birth_index, phone = :phone, kpj = :kpj "
        "WHERE id = :id",
        [
            {
                "id": row.id,
                "nik": seal(row.nik),
                "nik_index": nik_index(row.nik),
                "submitted_nik_index": nik_index(row.submitted_nik),
                "full_name": seal(row.full_name),
                "birth_date": seal_date(row.birth_date),
                "birth_index": birth_index(row.birth_date),
                "phone": seal(row.phone),
                "kpj": seal(row.kpj),
            }
            for row in _rows(
                bind,
                "SELECT id, nik, submitted_nik, full_name, birth_date, phone, kpj FROM submissions",
            )
        ],
    )
    # Reminders first: they find their participant by the plaintext NIK.
    _update(
        bind,
        "UPDATE payment_reminders SET nik_index = :nik_index WHERE id = :id",
        [
            {"id": row.id, "nik_index": nik_index(row.nik)}
            for row in _rows(bind, "SELECT id, nik FROM payment_reminders")
        ],
    )
    _update(
        bind,
        "UPDATE roster_entries SET nik = :nik, nik_index = :nik_index, nik_region = :nik_region, "
        "name = :name, kpj = :kpj, birth_date = :birth_date, birth_index = :birth_index "
        "WHERE nik = :plain_nik",
        [
            {
                "plain_nik": row.nik,
                "nik": seal(row.nik),
                "nik_index": nik_index(row.nik),
                "nik_region": str(row.nik)[:NIK_REGION_LENGTH],
                "name": seal(row.name),
                "kpj": seal(row.kpj),
                "birth_date": seal_date(row.birth_date),
                "birth_index": birth_index(row.birth_date),
            }
            for row in _rows(bind, "SELECT nik, name, kpj, birth_date FROM roster_entries")
        ],
    )
    _update(
        bind,
        "UPDATE claim_help_requests SET requester_name = :requester_name, phone = :phone "
        "WHERE id = :id",
        [
            {"id": row.id, "requester_name": seal(row.requester_name), "phone": seal(row.phone)}
            for row in _rows(bind, "SELECT id, requester_name, phone FROM claim_help_requests")
        ],
    )
    _update(
        bind,
        "UPDATE facilitators SET full_name = :full_name, phone = :phone WHERE user_id = :user_id",
        [
            {"user_id": row.user_id, "full_name": seal(row.full_name), "phone": seal(row.phone)}
            for row in _rows(bind, "SELECT user_id, full_name, phone FROM facilitators")
        ],
    )
    _update(
        bind,
        "UPDATE conversations SET data = :data WHERE user_id = :user_id",
        [
            {"user_id": row.user_id, "data": seal_json(row.data, nullable=False)}
            for row in _rows(bind, "SELECT user_id, data FROM conversations")
        ],
    )
    _update(
        bind,
        "UPDATE processed_updates SET replies = :replies WHERE update_id = :update_id",
        [
            {"update_id": row.update_id, "replies": seal_json(row.replies, nullable=True)}
            for row in _rows(
                bind, "SELECT update_id, replies FROM processed_updates WHERE replies IS NOT NULL"
            )
        ],
    )


# -- schema: PostgreSQL ----------------------------------------------------------------------------


def _finish_postgresql() -> None:
    op.drop_constraint("roster_entries_pkey", "roster_entries", type_="primary")
    for name in ("nik_index", "nik_region"):
        op.alter_column("roster_entries", name, nullable=False)
    op.create_primary_key("roster_entries_pkey", "roster_entries", ["nik_index"])
    op.create_index("ix_roster_entries_birth_index", "roster_entries", ["birth_index"])

    op.drop_constraint("uq_payment_reminders_nik_key", "payment_reminders", type_="unique")
    op.alter_column("payment_reminders", "nik_index", nullable=False)
    op.drop_column("payment_reminders", "nik")
    op.create_unique_constraint(
        "uq_payment_reminders_nik_key", "payment_reminders", ["nik_index", "dedupe_key"]
    )
    op.create_foreign_key(
        "payment_reminders_nik_index_fkey",
        "payment_reminders",
        "roster_entries",
        ["nik_index"],
        ["nik_index"],
        ondelete="CASCADE",
        onupdate="CASCADE",
    )

    op.drop_index("ix_submissions_nik", table_name="submissions")
    op.drop_constraint("submissions_submitted_nik_key", "submissions", type_="unique")
    op.drop_column("submissions", "submitted_nik")
    op.create_unique_constraint(
        "submissions_submitted_nik_index_key", "submissions", ["submitted_nik_index"]
    )
    op.create_index("ix_submissions_nik_index", "submissions", ["nik_index"])
    op.create_index("ix_submissions_birth_index", "submissions", ["birth_index"])


# -- schema: SQLite --------------------------------------------------------------------------------


def _finish_sqlite(bind: Connection) -> None:
    for table in ("claim_help_requests", "facilitators", "conversations", "processed_updates"):
        with op.batch_alter_table(table, recreate="always") as batch:
            _text_columns(batch, table)

    with op.batch_alter_table("submissions", recreate="always") as batch:
        _text_columns(batch, "submissions")
        batch.drop_index("ix_submissions_nik")
        # Its unnamed UNIQUE goes with it (a rebuilt table keeps no constraint on a dropped column).
        batch.drop_column("submitted_nik")
        batch.create_unique_constraint(
            "submissions_submitted_nik_index_key", ["submitted_nik_index"]
        )
        batch.create_index("ix_submissions_nik_index", ["nik_index"])
        batch.create_index("ix_submissions_birth_index", ["birth_index"])

    # The primary key moves: rebuild from the complete new definitions.
    with op.batch_alter_table("roster_entries", recreate="always", copy_from=_roster_entries()):
        pass
    with op.batch_alter_table(
        "payment_reminders", recreate="always", copy_from=_payment_reminders()
    ):
        pass

    broken = bind.exec_driver_sql("PRAGMA foreign_key_check(payment_reminders)").all()
    if broken:
        raise RuntimeError(
            f"migration 0003: {len(broken)} payment reminders lost their participant"
        )


def _text_columns(batch: Any, table: str) -> None:
    for name, old_type, nullable in ENCRYPTED_COLUMNS[table]:
        batch.alter_column(
            name, type_=sa.Text(), existing_type=old_type, existing_nullable=nullable
        )


def _roster_entries() -> sa.Table:
    metadata = sa.MetaData()
    sa.Table("roster_imports", metadata, sa.Column("id", sa.Integer(), primary_key=True))
    return sa.Table(
        "roster_entries",
        metadata,
        sa.Column("nik_index", INDEX, nullable=False),
        sa.Column("nik", sa.Text(), nullable=False),
        sa.Column("nik_region", sa.String(NIK_REGION_LENGTH), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kpj", sa.Text(), nullable=True),
        sa.Column("programmes", sa.String(32), nullable=False),
        sa.Column("payer", sa.String(8), nullable=False),
        sa.Column("coverage_start", sa.Date(), nullable=False),
        sa.Column("paid_until", sa.Date(), nullable=True),
        sa.Column("birth_date", sa.Text(), nullable=True),
        sa.Column("birth_index", INDEX, nullable=True),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nik_index", name="roster_entries_pkey"),
        sa.ForeignKeyConstraint(
            ["import_id"], ["roster_imports.id"], name="roster_entries_import_id_fkey"
        ),
        sa.Index("ix_roster_entries_telegram_user_id", "telegram_user_id"),
        sa.Index("ix_roster_entries_birth_index", "birth_index"),
    )


def _payment_reminders() -> sa.Table:
    metadata = sa.MetaData()
    sa.Table("roster_entries", metadata, sa.Column("nik_index", INDEX, primary_key=True))
    return sa.Table(
        "payment_reminders",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nik_index", INDEX, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("paid_until", sa.Date(), nullable=False),
        sa.Column("kind_offset", sa.Integer(), nullable=False),
        sa.Column("nonaktif_from", sa.Date(), nullable=False),
        sa.Column("relevant_until", sa.Date(), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("error", sa.String(32), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="payment_reminders_pkey"),
        sa.ForeignKeyConstraint(
            ["nik_index"],
            ["roster_entries.nik_index"],
            name="payment_reminders_nik_index_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.UniqueConstraint("nik_index", "dedupe_key", name="uq_payment_reminders_nik_key"),
        sa.Index("ix_payment_reminders_status_due", "status", "due_at"),
        sa.Index("ix_payment_reminders_user_status", "user_id", "status"),
    )
