"""Registration submissions (drafts included) and the consent records behind them.

A draft row is created the moment a person consents and every answer is written to it as it is
given, so nothing is lost when the process dies. Drafts may repeat a NIK (someone may start twice,
or two facilitators may sit with the same resident); a submitted one may not: on submit the NIK is
copied into ``submitted_nik``, a nullable column with a UNIQUE constraint, so the database itself
refuses a second non-draft submission for the same NIK even when two arrive at the same instant
(PostgreSQL and SQLite both allow many NULLs in a unique column).

Personal answers (NIK, name, birth date, phone, KPJ) are stored encrypted (``storage.crypto``).
Exact lookups use blind indexes kept in step on every ORM flush: ``nik_index`` (the NIK),
``birth_index`` (the birth date) and ``submitted_nik_index`` (the NIK's index while the submission is
out of the draft state, else NULL) — the unique column above. Code writing with Core ``UPDATE``
statements sets them itself.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String
from sqlmodel import Field, SQLModel

from storage.crypto import (
    INDEX_COPY_INFO,
    INDEX_LENGTH,
    Encrypted,
    EncryptedDate,
    birth_date_token,
    blind_index_field,
    maintain_derived_columns,
)
from storage.types import UTCDateTime, utcnow


class SubmissionStatus(StrEnum):
    """Where a submission is in its life."""

    DRAFT = "draft"
    """Being filled in; not seen by the regency."""
    SUBMITTED = "submitted"
    """Sent; waiting for the regency's verification."""
    VERIFIED = "verified"
    """Checked by the regency; waiting for BPJS Ketenagakerjaan."""
    REJECTED = "rejected"
    """Refused by the regency (``rejection_reason`` says why)."""
    REGISTERED = "registered"
    """Registered with BPJS Ketenagakerjaan."""


class EntryRole(StrEnum):
    """Who typed the answers in."""

    SELF = "self"
    """The person themselves."""
    FACILITATOR = "facilitator"
    """A village facilitator on the person's behalf."""


class ConsentKind(StrEnum):
    """How consent was given."""

    SELF = "self"
    """The person pressed "Setuju" on their own phone."""
    ASSISTED = "assisted"
    """A facilitator read the statement aloud and confirmed the person agreed."""


class Submission(SQLModel, table=True):
    """One registration for JKK + JKM, from the first answer to BPJS registration."""

    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_owner_status", "owner_user_id", "status"),
        Index("ix_submissions_entered_by_status", "entered_by_user_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(sa_column=Column(String(16), unique=True, nullable=False))
    status: str = Field(default=SubmissionStatus.DRAFT.value, sa_type=String(16), index=True)
    #: The Telegram user the submission is about when they registered themselves.
    owner_user_id: int | None = Field(default=None, sa_type=BigInteger)
    entered_by_user_id: int = Field(sa_type=BigInteger)
    entered_by_role: str = Field(default=EntryRole.SELF.value, sa_type=String(16))

    # -- answers (None until given) ----------------------------------------------------------------
    nik: str | None = Field(default=None, sa_type=Encrypted)
    #: Blind index of ``nik`` (maintained on flush).
    nik_index: str | None = blind_index_field("nik")
    #: ``nik_index`` again, set only while the submission is out of the draft state (unique: see
    #: above; maintained on flush).
    submitted_nik_index: str | None = Field(
        default=None,
        sa_column=Column(
            String(INDEX_LENGTH),
            unique=True,
            nullable=True,
            info={INDEX_COPY_INFO: ("nik_index", "status", SubmissionStatus.DRAFT.value)},
        ),
    )
    full_name: str | None = Field(default=None, sa_type=Encrypted)
    birth_date: date | None = Field(default=None, sa_type=EncryptedDate)
    #: Blind index of ``birth_date`` (duplicate checks; maintained on flush).
    birth_index: str | None = blind_index_field("birth_date", to_text=birth_date_token)
    sex: str | None = Field(default=None, sa_type=String(8))
    phone: str | None = Field(default=None, sa_type=Encrypted)
    kecamatan_code: str | None = Field(default=None, sa_type=String(16))
    desa_code: str | None = Field(default=None, sa_type=String(20), index=True)
    occupation_code: str | None = Field(default=None, sa_type=String(32))
    occupation_text: str | None = Field(default=None, sa_type=String(200))
    income_code: str | None = Field(default=None, sa_type=String(32))
    #: Monthly contribution base (rupiah) of the chosen income range.
    contribution_base: int | None = None
    screening_answers: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    #: Outcome of the Pekerja Rentan screen (the regency decides after verification).
    rentan_candidate: bool | None = None
    #: Who the person expects to pay: ``bot.domain.tariffs.Payer`` value ("apbd" or "self").
    payer: str | None = Field(default=None, sa_type=String(16))
    with_jht: bool | None = None

    # -- tariff snapshot, taken on submit -------------------------------------------------------------
    contribution_total: int | None = None
    contribution_estimate: bool | None = None
    #: Code of the discount that applied (e.g. "pp50_2025_other"), None without one.
    contribution_discount: str | None = Field(default=None, sa_type=String(64))
    tariff_date: date | None = None

    # -- warnings for the reviewer ------------------------------------------------------------------
    #: The person confirmed a birth date that differs from the one encoded in the NIK.
    warn_date_mismatch: bool = False
    #: The person said the sex encoded in the NIK is not theirs.
    warn_sex_mismatch: bool = False
    #: The NIK was first issued outside Balangan (allowed: NIKs keep their place of first issue).
    warn_nik_outside: bool = False

    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rejection_reason: str | None = Field(default=None, sa_type=String(500))
    #: BPJS Ketenagakerjaan membership number, from the matching result once registered.
    kpj: str | None = Field(default=None, sa_type=Encrypted)

    @property
    def is_draft(self) -> bool:
        """True while the submission is being filled in."""
        return self.status == SubmissionStatus.DRAFT.value

    def __repr__(self) -> str:
        # Never the NIK, name or phone: a row may end up in a log line or a traceback.
        return f"Submission(id={self.id}, reference={self.reference}, status={self.status})"

    __str__ = __repr__


maintain_derived_columns(Submission)


class Consent(SQLModel, table=True):
    """Consent to process one person's data for one submission (UU PDP No. 27/2022).

    Kept when its draft is discarded (``submission_id`` becomes NULL and ``withdrawn_at`` is set),
    so the record of who agreed to which text, and when, survives the data it covered.
    """

    __tablename__ = "consents"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int | None = Field(
        default=None, foreign_key="submissions.id", ondelete="SET NULL", index=True
    )
    #: Who pressed "Setuju": the person, or the facilitator for assisted consent.
    given_by_user_id: int = Field(sa_type=BigInteger)
    #: The Telegram user the data is about, when known (the person themselves, or a resident
    #: who confirmed on their own phone).
    subject_user_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    kind: str = Field(default=ConsentKind.SELF.value, sa_type=String(16))
    text_version: str = Field(sa_type=String(32))
    given_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
