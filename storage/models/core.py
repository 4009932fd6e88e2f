"""Tables every feature relies on: users, conversation state, processed updates, audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String
from sqlmodel import Field, SQLModel

from storage.crypto import EncryptedJSON
from storage.types import UTCDateTime, utcnow


class Role(StrEnum):
    """What a Telegram user may do; admins are bootstrapped from ``ADMIN_IDS``."""

    WORKER = "worker"
    FACILITATOR = "facilitator"
    ADMIN = "admin"


class User(SQLModel, table=True):
    """A Telegram user who has talked to the bot (private chat id == user id)."""

    __tablename__ = "users"

    id: int = Field(sa_type=BigInteger, primary_key=True)
    language: str = Field(default="id", max_length=8)
    role: str = Field(default=Role.WORKER.value, sa_type=String(16))
    reminders_enabled: bool = True
    unreachable: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Conversation(SQLModel, table=True):
    """Where a user is in a conversation, and the scratch answers of that step.

    Written in the same transaction as the answer it follows, so a crash never loses a step.
    ``version`` increases on every write (optimistic check for several instances).
    """

    __tablename__ = "conversations"

    user_id: int = Field(sa_type=BigInteger, primary_key=True)
    state: str | None = Field(default=None, max_length=64)
    #: Encrypted: scratch answers may hold a NIK typed for a lookup.
    data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False)
    )
    version: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProcessedUpdate(SQLModel, table=True):
    """An update already handled, so a redelivered update is not processed twice.

    ``replies`` keeps what the bot answered until it is confirmed sent; a redelivery of an update whose
    replies were never sent (crash between commit and send) sends them then.
    """

    __tablename__ = "processed_updates"
    __table_args__ = (Index("ix_processed_updates_processed_at", "processed_at"),)

    update_id: int = Field(sa_type=BigInteger, primary_key=True)
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: Encrypted: replies quote the person's own data back to them.
    replies: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(EncryptedJSON))
    sent: bool = False


class AuditEntry(SQLModel, table=True):
    """One privileged action: who did what to which record, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=128)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
