"""Tables of the coverage feature: the participant roster, its imports, payment reminders and the
failed NIK + birth-date lookups behind the lookup rate limit.

The roster is keyed by the NIK's blind index (the NIK itself, the name, KPJ and birth date are
stored encrypted, see ``storage.crypto``): an import upserts each row by that index, so loading the
same file twice changes nothing. ``nik_region`` keeps the NIK's first six digits (the kecamatan that
issued it, not a personal datum) for statistics of participants the bot has no submission for.
Reminders are rows with a unique ``(nik_index, dedupe_key)``, so planning the same period again never
creates a second copy and a key once sent is never sent again.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.crypto import (
    INDEX_LENGTH,
    PREFIX_INFO,
    Encrypted,
    EncryptedDate,
    birth_date_token,
    blind_index_field,
    maintain_derived_columns,
)
from storage.types import UTCDateTime, utcnow

#: Digits of a NIK naming the kecamatan that issued it (province, regency, kecamatan).
NIK_REGION_LENGTH = 6


class ImportStatus(StrEnum):
    """Where a roster import is."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportVia(StrEnum):
    """How a roster file reached the bot."""

    CHAT = "chat"  # an admin sent it as a document
    CLI = "cli"  # python -m bot import-roster FILE


class ReminderStatus(StrEnum):
    """Life of a payment reminder row."""

    PENDING = "pending"  # planned, waiting for its time
    SENDING = "sending"  # claimed by one sender process
    SENT = "sent"
    FAILED = "failed"  # not delivered (blocked bot, interrupted send); never retried
    SKIPPED = "skipped"  # not sent on purpose (reminders off, user unreachable)
    EXPIRED = "expired"  # its time passed while nothing could send it; pointless now
    CANCELLED = "cancelled"  # the period changed (a payment moved paid_until) or unlinked


class RosterImport(SQLModel, table=True):
    """One load of a roster file: who, when, which file, and what it did."""

    __tablename__ = "roster_imports"
    __table_args__ = (Index("ix_roster_imports_status_finished", "status", "finished_at"),)

    id: int | None = Field(default=None, primary_key=True)
    #: The admin's Telegram id; None for the command line.
    actor_id: int | None = Field(default=None, sa_type=BigInteger)
    via: str = Field(default=ImportVia.CHAT.value, sa_type=String(8))
    file_name: str = Field(sa_type=String(255))
    status: str = Field(default=ImportStatus.RUNNING.value, sa_type=String(8))
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: int = 0
    #: Why the import failed as a whole (a header problem or file format code), else None.
    error: str | None = Field(default=None, sa_type=String(64))


class RosterEntry(SQLModel, table=True):
    """One participant as the regency / BPJS roster lists them."""

    __tablename__ = "roster_entries"

    #: Blind index of ``nik`` (maintained on ORM flush; Core writers set it themselves).
    nik_index: str = blind_index_field("nik", primary_key=True)
    nik: str = Field(sa_type=Encrypted, nullable=False)
    #: The NIK's first six digits: the kecamatan that first issued it.
    nik_region: str = Field(
        sa_type=String(NIK_REGION_LENGTH),
        sa_column_kwargs={"info": {PREFIX_INFO: ("nik", NIK_REGION_LENGTH)}},
    )
    name: str = Field(sa_type=Encrypted, nullable=False)
    kpj: str | None = Field(default=None, sa_type=Encrypted)
    #: Programme codes (``bot.domain.roster.Programme``), sorted and comma-separated: "jkk,jkm".
    programmes: str = Field(sa_type=String(32))
    #: ``bot.domain.coverage.Payer`` value.
    payer: str = Field(sa_type=String(8))
    coverage_start: date
    #: Last day covered by iuran; None when no payment is recorded.
    paid_until: date | None = None
    birth_date: date | None = Field(default=None, sa_type=EncryptedDate)
    #: Blind index of ``birth_date`` (duplicate checks).
    birth_index: str | None = blind_index_field("birth_date", to_text=birth_date_token)
    #: The Telegram account this participant is linked to (they confirmed it is them).
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    #: The import that last inserted or changed this row.
    import_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("roster_imports.id"), nullable=True)
    )
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


maintain_derived_columns(RosterEntry)


class PaymentReminder(SQLModel, table=True):
    """One planned payment reminder for a linked participant."""

    __tablename__ = "payment_reminders"
    __table_args__ = (
        UniqueConstraint("nik_index", "dedupe_key", name="uq_payment_reminders_nik_key"),
        Index("ix_payment_reminders_status_due", "status", "due_at"),
        Index("ix_payment_reminders_user_status", "user_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: The participant (their roster row's ``nik_index``).
    nik_index: str = Field(
        sa_column=Column(
            String(INDEX_LENGTH),
            # ON UPDATE: a rotation of the blind-index key rewrites the roster's keys.
            ForeignKey("roster_entries.nik_index", ondelete="CASCADE", onupdate="CASCADE"),
            nullable=False,
        )
    )
    #: The linked Telegram account when it was planned; checked again before sending.
    user_id: int = Field(sa_type=BigInteger)
    #: ``bot.domain.reminders.ReminderKind`` value.
    kind: str = Field(sa_type=String(16))
    #: ``PlannedReminder.dedupe_key``: kind, paid_until and offset.
    dedupe_key: str = Field(sa_type=String(64))
    paid_until: date
    #: Days before / after paid_until, or the unpaid month number (see ReminderKind).
    kind_offset: int
    nonaktif_from: date
    #: Exclusive: from this local day on, the reminder is dropped instead of sent.
    relevant_until: date
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=ReminderStatus.PENDING.value, sa_type=String(12))
    #: Why it failed or was skipped ("blocked", "opted_out", "interrupted"...).
    error: str | None = Field(default=None, sa_type=String(32))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LookupFailure(SQLModel, table=True):
    """A NIK + birth-date lookup that matched nobody (counted for the hourly limit)."""

    __tablename__ = "lookup_failures"
    __table_args__ = (
        Index("ix_lookup_failures_user_at", "user_id", "at"),
        Index("ix_lookup_failures_at", "at"),  # pruning
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_type=BigInteger)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
