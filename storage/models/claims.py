"""Tables of the JKM claim guide: a family's claim case (answers and ticked documents) and
requests for a village facilitator's help."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from storage.crypto import Encrypted
from storage.types import UTCDateTime, utcnow


class ClaimCaseStatus(StrEnum):
    """Whether a case is the one ``/klaim`` offers to continue."""

    OPEN = "open"
    CLOSED = "closed"  # replaced by a new case ("start again")


class Membership(StrEnum):
    """Was the deceased an active member on the day of death (as far as the family knows)?"""

    ACTIVE = "active"
    NONAKTIF = "nonaktif"  # not registered, or more unpaid months than the grace period
    UNKNOWN = "unknown"


class YearsPaid(StrEnum):
    """How long iuran was paid, against the scholarship's minimum years."""

    UNDER = "under"  # fewer years than the minimum
    ENOUGH = "enough"  # the minimum or more
    UNKNOWN = "unknown"


class CloserHeirs(StrEnum):
    """Does anyone of a closer heir group than the claimant's still live?"""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


class ClaimCase(SQLModel, table=True):
    """One family's walk through the claim guide; ``None`` answers are not given yet.

    Only the masked NIK of the deceased is kept (it is printed on the summary); an empty string
    means the family chose not to give it. Codes are the values of the enums above and of
    :mod:`bot.domain.claims` (``DeathCause``, ``ClaimantType``, ``SchoolLevel``).
    """

    __tablename__ = "claim_cases"
    __table_args__ = (Index("ix_claim_cases_user_status", "user_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_type=BigInteger)
    status: str = Field(default=ClaimCaseStatus.OPEN.value, sa_type=String(16))
    membership: str | None = Field(default=None, sa_type=String(16))
    #: True when ``membership`` came from the coverage data rather than the family's answer.
    membership_checked: bool = False
    deceased_nik_masked: str | None = Field(default=None, sa_type=String(20))
    cause: str | None = Field(default=None, sa_type=String(8))
    #: Who is talking to the bot (``proxy`` when filing for someone else).
    claimant: str | None = Field(default=None, sa_type=String(16))
    #: The heir the claim is for: the claimant themself, or whom a proxy represents.
    heir: str | None = Field(default=None, sa_type=String(16))
    closer_heirs: str | None = Field(default=None, sa_type=String(8))
    school_children: int | None = None
    years_paid: str | None = Field(default=None, sa_type=String(8))
    child_levels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Codes of the documents the family has already collected.
    ticked: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ClaimHelpRequest(SQLModel, table=True):
    """A family asked for a village facilitator ("pendamping") to help with the claim.

    Facilitators of ``desa_code`` see it (facilitator feature); until then admins list it with
    ``/bantuanklaim``. ``phone`` is set only when the family shared it.
    """

    __tablename__ = "claim_help_requests"
    __table_args__ = (Index("ix_claim_help_requests_desa_open", "desa_code", "handled_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_type=BigInteger, index=True)
    case_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("claim_cases.id"), nullable=True)
    )
    #: The Telegram display name of the requester (what a facilitator asks for on the phone).
    requester_name: str | None = Field(default=None, sa_type=Encrypted)
    #: The requester's relationship to the deceased (a ``ClaimantType`` code).
    claimant: str | None = Field(default=None, sa_type=String(16))
    kecamatan_code: str = Field(sa_type=String(16))
    desa_code: str = Field(sa_type=String(20))
    phone: str | None = Field(default=None, sa_type=Encrypted)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    handled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    handled_by: int | None = Field(default=None, sa_type=BigInteger)
