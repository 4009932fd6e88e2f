"""Tables of the village-facilitator feature.

* ``facilitators`` and ``facilitator_desa``: who is (or was) a facilitator, and for which desa.
  The user's role (``users.role``) says what they may do *now*; these rows say who they are,
  which desa they serve, who invited them and when access ended.
* ``facilitator_invitations``: single-use deep links an admin creates for one or more desa.
* ``consent_links``: single-use deep links a resident opens on their own phone to confirm the
  assisted consent a facilitator recorded for them.
* ``attribution_codes`` and ``submission_attributions``: poster/QR deep links of a facilitator or
  a desa, and which self-registrations came through them.

Desa targets are not a table: they are data (``bot/data/targets.csv``) shared with the admin
statistics, so one file holds every target.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from storage.crypto import Encrypted
from storage.types import UTCDateTime, utcnow


class LinkState(StrEnum):
    """Whether a single-use link can still be used."""

    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"


class AttributionKind(StrEnum):
    """Whom a poster link credits."""

    FACILITATOR = "facilitator"
    DESA = "desa"


class Facilitator(SQLModel, table=True):
    """A village facilitator (kept after revocation, so their registrations keep a name)."""

    __tablename__ = "facilitators"

    user_id: int = Field(sa_type=BigInteger, primary_key=True)
    full_name: str = Field(sa_type=Encrypted, nullable=False)
    #: E.164 mobile number the facilitator confirmed when accepting the invitation.
    phone: str = Field(sa_type=Encrypted, nullable=False)
    #: The invitation they accepted last.
    invitation_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("facilitator_invitations.id"), nullable=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: int | None = Field(default=None, sa_type=BigInteger)

    @property
    def active(self) -> bool:
        """True while access has not been revoked."""
        return self.revoked_at is None

    def __repr__(self) -> str:
        # Never the name or phone: a row may end up in a log line.
        return f"Facilitator(user_id={self.user_id}, active={self.active})"

    __str__ = __repr__


class FacilitatorDesa(SQLModel, table=True):
    """One desa a facilitator serves (a facilitator may serve several)."""

    __tablename__ = "facilitator_desa"

    user_id: int = Field(
        sa_column=Column(
            BigInteger,
            ForeignKey("facilitators.user_id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    desa_code: str = Field(sa_type=String(20), primary_key=True, index=True)


class FacilitatorInvitation(SQLModel, table=True):
    """An admin's single-use invitation to become the facilitator of some desa."""

    __tablename__ = "facilitator_invitations"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(48), unique=True, nullable=False))
    desa_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_by: int | None = Field(default=None, sa_type=BigInteger)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: int | None = Field(default=None, sa_type=BigInteger)

    def state(self, now: datetime) -> LinkState:
        """Whether the invitation can be accepted at ``now`` (revoked, then used, then expired)."""
        if self.revoked_at is not None:
            return LinkState.REVOKED
        if self.used_at is not None:
            return LinkState.USED
        if now >= self.expires_at:
            return LinkState.EXPIRED
        return LinkState.VALID


class ConsentLink(SQLModel, table=True):
    """A link a resident opens on their own phone to confirm an assisted consent."""

    __tablename__ = "consent_links"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(48), unique=True, nullable=False))
    submission_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("submissions.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    #: The assisted consent record the resident's answer upgrades.
    consent_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("consents.id", ondelete="SET NULL"), nullable=True),
    )
    created_by: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The resident's Telegram id.
    used_by: int | None = Field(default=None, sa_type=BigInteger)
    #: The resident's answer (None until used).
    agreed: bool | None = None

    def state(self, now: datetime) -> LinkState:
        """Whether the link can still be used at ``now``."""
        if self.used_at is not None:
            return LinkState.USED
        if now >= self.expires_at:
            return LinkState.EXPIRED
        return LinkState.VALID


class AttributionCode(SQLModel, table=True):
    """A poster/QR deep link (``?start=ref_<code>``) crediting a facilitator or a desa."""

    __tablename__ = "attribution_codes"
    __table_args__ = (
        Index("ix_attribution_codes_facilitator", "facilitator_user_id"),
        Index("ix_attribution_codes_desa", "desa_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(16), unique=True, nullable=False))
    kind: str = Field(sa_type=String(16))
    facilitator_user_id: int | None = Field(default=None, sa_type=BigInteger)
    desa_code: str | None = Field(default=None, sa_type=String(20))
    created_by: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SubmissionAttribution(SQLModel, table=True):
    """A self-registration that started from a poster link (one credit per submission)."""

    __tablename__ = "submission_attributions"

    submission_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
        )
    )
    code_id: int = Field(
        sa_column=Column(Integer, ForeignKey("attribution_codes.id"), nullable=False, index=True)
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
