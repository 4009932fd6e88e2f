"""Tables of admin broadcasts: the broadcast itself, one row per recipient, and the send budget.

A broadcast's audience is turned into ``broadcast_recipients`` rows when it starts (unique per
``(broadcast_id, user_id)``), so the sender works through rows, several processes can share them
(``FOR UPDATE SKIP LOCKED``) and a restart resumes where the last one stopped. ``broadcast_budget``
is a single row shared by every bot process: the next free send slot, so all processes together
stay under one overall messages-per-second limit.

Two clocks are used on purpose: ``scheduled_at`` and ``created_at`` are business times (the
application clock tests move); the claim, lease, back-off and progress stamps are real time
(``storage.types.utcnow``), because they pace calls to Telegram.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class BroadcastStatus(StrEnum):
    """Life of a broadcast."""

    SCHEDULED = "scheduled"  # confirmed; starts at scheduled_at ("send now" = scheduled now)
    RUNNING = "running"  # recipients materialised; the sender works through them
    PAUSED = "paused"  # an admin pressed pause; nothing is claimed until resumed
    CANCELLED = "cancelled"  # an admin cancelled; rows not yet sent are skipped
    DONE = "done"  # every row reached a final status


#: Broadcasts the sender still has work for.
ACTIVE_BROADCAST = (
    BroadcastStatus.SCHEDULED,
    BroadcastStatus.RUNNING,
    BroadcastStatus.PAUSED,
)


class RecipientStatus(StrEnum):
    """Life of one recipient row."""

    PENDING = "pending"  # not sent yet (or waiting for a retry after next_attempt_at)
    SENDING = "sending"  # claimed by one sender process (claimed_by) and about to be sent
    SENT = "sent"
    FAILED = "failed"  # not delivered (last_error says why); never retried
    BLOCKED = "blocked"  # 403: the user blocked the bot (also marked unreachable)
    SKIPPED = "skipped"  # not sent on purpose (reminders off, unreachable, cancelled)


#: Statuses a recipient row never leaves.
FINAL_RECIPIENT = (
    RecipientStatus.SENT,
    RecipientStatus.FAILED,
    RecipientStatus.BLOCKED,
    RecipientStatus.SKIPPED,
)


class MediaKind(StrEnum):
    """What the broadcast carries besides its text."""

    TEXT = "text"
    PHOTO = "photo"
    DOCUMENT = "document"


class AudienceKind(StrEnum):
    """Stored codes of the audiences an admin can choose."""

    EVERYONE = "all"
    KECAMATAN = "kec"  # owners of a submission in one kecamatan (code)
    DESA = "desa"  # owners of a submission in one desa (code)
    STATUS = "status"  # owners of a submission in one status (code)
    PEMDA_PAID = "apbd"  # linked roster rows or submissions paid by the regency budget
    SELF_PAYING = "self"  # linked roster rows or submissions paid by the member
    ENDING = "ending"  # linked roster rows whose paid period ends within ``days`` days
    FACILITATORS = "fac"  # users with the facilitator role


class Broadcast(SQLModel, table=True):
    """One message an admin sends to many users."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status_scheduled", "status", "scheduled_at"),)

    id: int | None = Field(default=None, primary_key=True)
    created_by: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: str = Field(default=BroadcastStatus.SCHEDULED.value, sa_type=String(12))
    #: Marked as a reminder: users who turned reminders off are skipped.
    is_reminder: bool = False
    #: ``{"kind": AudienceKind, "code": str | None, "days": int | None}``.
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: The admin's text (or caption) as Telegram HTML, exactly as typed with its formatting.
    body_html: str = Field(default="", sa_column=Column(Text, nullable=False))
    media_kind: str = Field(default=MediaKind.TEXT.value, sa_type=String(12))
    #: Telegram file id of the photo or document (the bot may resend files it has seen).
    media_file_id: str | None = Field(default=None, sa_type=String(255))
    #: Business time at which it starts (now for "send now").
    scheduled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: Send during quiet hours (20:00-08:00 WITA) too; an admin's explicit choice.
    ignore_quiet_hours: bool = False
    #: Real time of the admin's confirmation; the sender waits a moment after it so that the
    #: confirmation reply and the first broadcast messages never share a rate-limit second.
    confirmed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Set once, by the process that sends the final report.
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Recipient rows created at start.
    total: int = 0
    #: Where progress is shown: the admin's chat and the message edited there.
    progress_chat_id: int = Field(sa_type=BigInteger)
    progress_message_id: int | None = None
    #: Real time of the last progress edit; a conditional update on it elects one editor.
    progress_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BroadcastRecipient(SQLModel, table=True):
    """One user who is to receive one broadcast."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "user_id", name="uq_broadcast_recipients_user"),
        # Claiming: pending rows of a broadcast in id order.
        Index("ix_broadcast_recipients_claim", "broadcast_id", "status", "id"),
        # Recovering claims of a crashed process.
        Index("ix_broadcast_recipients_status_claimed", "status", "claimed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(
        sa_column=Column(ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: int = Field(sa_type=BigInteger)
    status: str = Field(default=RecipientStatus.PENDING.value, sa_type=String(12))
    #: Claims so far (a claim is the promise to call the Bot API once).
    attempts: int = 0
    #: Why the row failed, was skipped or is waiting for a retry (a short code).
    last_error: str | None = Field(default=None, sa_type=String(64))
    #: Real time before which a retried row is not claimed again.
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The sender process ("host:pid:random") holding the claim.
    claimed_by: str | None = Field(default=None, sa_type=String(64))
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BroadcastBudget(SQLModel, table=True):
    """The one overall send budget every bot process draws its send slots from (one row)."""

    __tablename__ = "broadcast_budget"

    id: int = Field(default=1, primary_key=True)
    #: Epoch seconds (wall clock) of the next free send slot.
    next_slot: float = 0.0
    #: Epoch seconds until which nobody sends (a 429 ``retry_after`` seen by any process).
    paused_until: float = 0.0
    #: The sender that reserved last, and when (epoch seconds): tells a sender whether it shares
    #: the budget with another process right now.
    last_worker: str | None = Field(default=None, sa_type=String(64))
    last_reserved: float = 0.0
