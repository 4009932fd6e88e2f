"""Personal data rules: what ``/hapusdata`` deletes or keeps, and the copy ``/datasaya`` sends.

The rules are data (``bot/data/privacy.toml``, with the law and a confidence mark beside each):
which registration statuses the regency keeps as its record, which columns are cleared on them,
the retention periods, and a description of every kind of data the bot stores. This module turns
them into an :class:`~storage.repos.privacy.ErasurePlan` for the repository, previews an erasure
for one person, and builds the copy of a person's data as JSON (machine-readable, every stored
column) and as a plain-text file a person can read on a phone.

Nothing here talks to the database or Telegram; the text file takes a translator because it is
read by the person (labels come from the gettext catalogs, values are printed as stored).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlmodel import SQLModel

import storage.models  # noqa: F401 - every table on the metadata (for TECHNICAL_FIELDS)
from bot.domain import wilayah
from bot.domain.facts import load_toml
from bot.domain.income import income_range
from bot.domain.occupations import occupation
from bot.i18n import N_
from storage.crypto import DERIVED_INFO
from storage.models.registration import Submission, SubmissionStatus
from storage.repos.privacy import ErasureOutcome, ErasurePlan, PersonalRecords

if TYPE_CHECKING:
    from bot.i18n import Translator

DATA_FILE = "privacy.toml"
#: Names the JSON copy's format; bump it when the layout changes.
EXPORT_FORMAT = "jamsostek-bot/personal-data/1"

#: Columns holding *another* person's Telegram id (a facilitator, an admin): shown in a person's
#: copy only when the id is the person's own.
OTHER_PEOPLE_FIELDS = frozenset(
    {"entered_by_user_id", "given_by_user_id", "handled_by", "revoked_by", "actor_id", "used_by"}
)
#: Bookkeeping of the bot's own processes, not about the person; and the derived columns (blind
#: indexes are keyed hashes of values the copy already shows), as the tables declare them.
TECHNICAL_FIELDS = frozenset({"claimed_by", "version"}) | frozenset(
    column.name
    for table in SQLModel.metadata.tables.values()
    for column in table.columns
    if column.info.keys() & DERIVED_INFO
)
#: The empty value written to a cleared column that cannot hold NULL.
_EMPTY_VALUES: Mapping[str, Any] = {"screening_answers": {}}


class Disposition(StrEnum):
    """What ``/hapusdata`` does to one kind of data (``on_erasure`` in the data file)."""

    DELETE = "delete"
    ANONYMISE = "anonymise"
    UNLINK = "unlink"
    WITHDRAW = "withdraw"
    KEEP = "keep"


class CategoryCode(StrEnum):
    """The kinds of data described in ``privacy.toml``."""

    ACCOUNT = "account"
    REGISTRATION = "registration"
    CONSENT = "consent"
    ROSTER = "roster"
    REMINDERS = "reminders"
    CLAIMS = "claims"
    BROADCASTS = "broadcasts"
    LOOKUPS = "lookups"
    AUDIT = "audit"
    FACILITATOR = "facilitator"


@dataclass(frozen=True, slots=True)
class Category:
    """One kind of stored data and what an erasure does to it.

    Attributes:
        code: Which kind.
        label: English msgid naming it for the person.
        on_erasure: What ``/hapusdata`` does to it.
        reason_text: English msgid saying why (or that it goes).
        basis: The law relied on when it is kept, if any.
        mark: Confidence mark of ``basis``.
    """

    code: CategoryCode
    label: str
    on_erasure: Disposition
    reason_text: str
    basis: str | None = None
    mark: str | None = None


@dataclass(frozen=True, slots=True)
class ErasureRules:
    """What ``/hapusdata`` does to registrations, and the facts quoted while explaining it.

    Attributes:
        delete_statuses: Registration statuses deleted outright.
        keep_statuses: Statuses kept (anonymised) as the regency's record.
        cleared_fields: Columns emptied on a kept registration.
        erased_account_id: Written instead of the person's own Telegram id on a kept row.
        kept_label: English msgid listing what a kept registration still holds.
        kept_reason_text: English msgid: why it is kept.
        kept_until_text: English msgid: for how long.
        deadline_hours: The legal limit for stopping processing after a withdrawal.
        bpjs_phone: BPJS Ketenagakerjaan's contact centre.
    """

    delete_statuses: frozenset[str]
    keep_statuses: frozenset[str]
    cleared_fields: tuple[str, ...]
    erased_account_id: int
    kept_label: str
    kept_reason_text: str
    kept_until_text: str
    deadline_hours: int
    bpjs_phone: str


@dataclass(frozen=True, slots=True)
class RetentionRules:
    """How the daily retention job works (the draft period itself is a setting).

    Attributes:
        batch_size: Rows deleted per transaction.
        processed_update_days: Days reply copies of processed updates are kept.
    """

    batch_size: int
    processed_update_days: int


@cache
def categories() -> tuple[Category, ...]:
    """Every kind of stored data, in the order the data file lists them."""
    return tuple(
        Category(
            code=CategoryCode(item["code"]),
            label=item["label"],
            on_erasure=Disposition(item["on_erasure"]),
            reason_text=item["reason_text"],
            basis=item.get("basis"),
            mark=item.get("mark"),
        )
        for item in load_toml(DATA_FILE)["category"]
    )


def category(code: CategoryCode) -> Category:
    """The description of one kind of data."""
    return next(c for c in categories() if c.code is code)


@cache
def erasure_rules() -> ErasureRules:
    """The erasure rules of ``privacy.toml``, checked against the submission table.

    Raises:
        ValueError: a status is listed twice or not at all, or a cleared column does not exist.
    """
    document = load_toml(DATA_FILE)
    section = document["erasure"]
    delete = frozenset(section["delete_statuses"])
    keep = frozenset(section["keep_statuses"])
    statuses = {s.value for s in SubmissionStatus}
    if delete & keep or (delete | keep) != statuses:
        raise ValueError("privacy.toml must list every submission status exactly once")
    cleared = tuple(section["cleared_fields"])
    unknown = set(cleared) - set(Submission.model_fields)
    if unknown:
        raise ValueError(f"privacy.toml clears unknown submission columns: {sorted(unknown)}")
    return ErasureRules(
        delete_statuses=delete,
        keep_statuses=keep,
        cleared_fields=cleared,
        erased_account_id=int(section["erased_account_id"]),
        kept_label=section["kept_label"],
        kept_reason_text=section["kept_reason_text"],
        kept_until_text=section["kept_until_text"],
        deadline_hours=int(document["law"]["erasure_deadline_hours"]),
        bpjs_phone=str(document["contact"]["bpjs_phone"]),
    )


@cache
def retention_rules() -> RetentionRules:
    """The retention job's batch size and the reply-copy period."""
    section = load_toml(DATA_FILE)["retention"]
    return RetentionRules(
        batch_size=int(section["batch_size"]),
        processed_update_days=int(section["processed_update_days"]),
    )


def erasure_plan(*, keep_account: bool) -> ErasurePlan:
    """The repository's instructions for one ``/hapusdata``.

    Args:
        keep_account: Keep the ``users`` row (true for facilitators and admins, whose role is
            stored there and ends only when an admin ends it).
    """
    rules = erasure_rules()
    return ErasurePlan(
        keep_statuses=rules.keep_statuses,
        cleared={name: _EMPTY_VALUES.get(name) for name in rules.cleared_fields},
        erased_account_id=rules.erased_account_id,
        keep_account=keep_account,
    )


def outcome_for(status: str) -> ErasureOutcome:
    """What ``/hapusdata`` does to a registration in ``status``."""
    if status in erasure_rules().keep_statuses:
        return ErasureOutcome.ANONYMISED
    return ErasureOutcome.DELETED


# --- preview -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErasurePreview:
    """What ``/hapusdata`` would do for one person, to explain it before they confirm.

    Attributes:
        deleted: References of registrations that would be deleted.
        kept: References (and statuses) of registrations the regency keeps, anonymised.
        categories: The kinds of data this person has, in the data file's order.
    """

    deleted: tuple[str, ...]
    kept: tuple[tuple[str, SubmissionStatus], ...]
    categories: tuple[Category, ...]


def _present(records: PersonalRecords, keep_account: bool) -> set[CategoryCode]:
    present = {CategoryCode.AUDIT}  # the erasure itself is recorded
    checks = {
        CategoryCode.ACCOUNT: records.user is not None and not keep_account,
        # Registrations the regency keeps are explained one by one instead.
        CategoryCode.REGISTRATION: any(
            outcome_for(s.status) is ErasureOutcome.DELETED for s in records.submissions
        ),
        CategoryCode.CONSENT: bool(records.consents),
        CategoryCode.ROSTER: bool(records.roster),
        CategoryCode.REMINDERS: bool(records.reminders),
        CategoryCode.CLAIMS: bool(records.claim_cases or records.help_requests),
        CategoryCode.BROADCASTS: bool(records.broadcasts),
        CategoryCode.LOOKUPS: bool(records.lookup_failures),
        CategoryCode.FACILITATOR: records.facilitator is not None,
    }
    present.update(code for code, found in checks.items() if found)
    return present


def erasure_preview(records: PersonalRecords, *, keep_account: bool) -> ErasurePreview:
    """Which registrations would go, which stay, and which kinds of data this person has."""
    deleted: list[str] = []
    kept: list[tuple[str, SubmissionStatus]] = []
    for sub in records.submissions:
        if outcome_for(sub.status) is ErasureOutcome.ANONYMISED:
            kept.append((sub.reference, SubmissionStatus(sub.status)))
        else:
            deleted.append(sub.reference)
    present = _present(records, keep_account)
    return ErasurePreview(
        deleted=tuple(deleted),
        kept=tuple(kept),
        categories=tuple(c for c in categories() if c.code in present),
    )


# --- the copy: JSON ------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _ordered(row: SQLModel) -> dict[str, Any]:
    """The row's columns in the order the table declares them."""
    dumped = row.model_dump()
    return {name: dumped[name] for name in type(row).model_fields if name in dumped}


def row_data(row: SQLModel, *, user_id: int) -> dict[str, Any]:
    """One stored row as JSON-safe data, without other people's ids or process bookkeeping."""
    data: dict[str, Any] = {}
    for name, value in _ordered(row).items():
        if name in TECHNICAL_FIELDS:
            continue
        if name in OTHER_PEOPLE_FIELDS and value is not None and value != user_id:
            continue
        data[name] = _json_value(value)
    return data


def _rows(rows: Iterable[SQLModel], user_id: int) -> list[dict[str, Any]]:
    return [row_data(row, user_id=user_id) for row in rows]


def export_data(records: PersonalRecords, *, now: datetime) -> dict[str, Any]:
    """Everything stored about the person, section by section (the JSON copy's content)."""
    uid = records.user_id
    facilitator = None
    if records.facilitator is not None:
        facilitator = {
            **row_data(records.facilitator, user_id=uid),
            "desa_codes": list(records.facilitator_desa),
        }
    return {
        "format": EXPORT_FORMAT,
        "generated_at": now.isoformat(),
        "telegram_user_id": uid,
        "account": row_data(records.user, user_id=uid) if records.user is not None else None,
        "conversation": (
            row_data(records.conversation, user_id=uid)
            if records.conversation is not None
            else None
        ),
        "registrations": _rows(records.submissions, uid),
        "consents": _rows(records.consents, uid),
        "participant_list": _rows(records.roster, uid),
        "payment_reminders": _rows(records.reminders, uid),
        "claim_guide": _rows(records.claim_cases, uid),
        "claim_help_requests": _rows(records.help_requests, uid),
        "announcements": _rows(records.broadcasts, uid),
        "failed_lookups": [at.isoformat() for at in records.lookup_failures],
        "facilitator": facilitator,
        "history": _rows(records.history, uid),
    }


def export_json(records: PersonalRecords, *, now: datetime) -> bytes:
    """The JSON copy (UTF-8, indented): every stored column of the person's rows."""
    text = json.dumps(export_data(records, now=now), ensure_ascii=False, indent=2)
    return (text + "\n").encode("utf-8")


# --- the copy: readable text ------------------------------------------------------------------------

MSG_TITLE = N_("Your data stored by the BPJS Ketenagakerjaan bot of Kabupaten Balangan")
MSG_MADE_ON = N_("Made on")
MSG_TELEGRAM_ID = N_("Telegram ID")
MSG_NOTHING_STORED = N_("(nothing stored)")
MSG_YES = N_("Yes")
MSG_NO = N_("No")

#: Section headings of the text copy, keyed like :func:`export_data`.
SECTION_LABELS: Mapping[str, str] = {
    "account": N_("Your account"),
    "conversation": N_("Where you are in a conversation"),
    "registrations": N_("Registrations"),
    "consents": N_("Consents"),
    "participant_list": N_("Participant list (regency and BPJS Ketenagakerjaan)"),
    "payment_reminders": N_("Payment reminders"),
    "claim_guide": N_("JKM claim guide"),
    "claim_help_requests": N_("Requests for a facilitator's help"),
    "announcements": N_("Announcements sent to you"),
    "failed_lookups": N_("Wrong NIK or birth-date lookups"),
    "facilitator": N_("Facilitator details"),
    "history": N_("History of your registrations"),
}

#: Readable names of the columns a person cares about; other columns show their stored name.
FIELD_LABELS: Mapping[str, str] = {
    "id": N_("Number"),
    "reference": N_("Reference"),
    "status": N_("Status"),
    "nik": N_("NIK"),
    "full_name": N_("Name"),
    "name": N_("Name"),
    "birth_date": N_("Date of birth"),
    "sex": N_("Sex"),
    "phone": N_("Mobile number"),
    "kecamatan_code": N_("Kecamatan"),
    "desa_code": N_("Desa"),
    "occupation_code": N_("Work"),
    "occupation_text": N_("Work (in your words)"),
    "income_code": N_("Income"),
    "payer": N_("Who pays"),
    "with_jht": N_("With JHT"),
    "language": N_("Language"),
    "role": N_("Role"),
    "reminders_enabled": N_("Reminders on"),
    "created_at": N_("Created"),
    "updated_at": N_("Last changed"),
    "submitted_at": N_("Sent"),
    "given_at": N_("Given"),
    "withdrawn_at": N_("Withdrawn"),
    "kpj": N_("KPJ number"),
    "paid_until": N_("Paid until"),
    "coverage_start": N_("Protected since"),
    "rejection_reason": N_("Reason"),
    "at": N_("Time"),
    "action": N_("What happened"),
}


def _text_value(t: Translator, key: str, value: Any, zone: tzinfo) -> str:
    if value is None or value in ("", [], {}):
        return "-"
    if isinstance(value, bool):
        return t.raw(MSG_YES) if value else t.raw(MSG_NO)
    if isinstance(value, datetime):
        return f"{t.datetime(value.astimezone(zone))} WITA"
    if isinstance(value, date):
        return t.date(value)
    if key == "desa_code":
        desa = wilayah.desa_by_code(str(value))
        return f"{value} ({desa.name})" if desa is not None else str(value)
    if key == "kecamatan_code":
        kecamatan = wilayah.kecamatan_by_code(str(value))
        return f"{value} ({kecamatan.name})" if kecamatan is not None else str(value)
    if key == "occupation_code":
        job = occupation(str(value))
        return f"{value} ({t.raw(job.label)})" if job is not None else str(value)
    if key == "income_code":
        income = income_range(str(value))
        return f"{value} ({t.raw(income.label)})" if income is not None else str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(_json_value(value), ensure_ascii=False)
    return str(value)


def _row_lines(
    t: Translator, row: SQLModel | Mapping[str, Any], user_id: int, zone: tzinfo
) -> list[str]:
    raw = _ordered(row) if isinstance(row, SQLModel) else dict(row)
    lines = []
    for key, value in raw.items():
        if key in TECHNICAL_FIELDS or (
            key in OTHER_PEOPLE_FIELDS and value is not None and value != user_id
        ):
            continue
        label = t.raw(FIELD_LABELS[key]) if key in FIELD_LABELS else key
        lines.append(f"  {label}: {_text_value(t, key, value, zone)}")
    return lines


def export_text(records: PersonalRecords, t: Translator, *, now: datetime, zone: tzinfo) -> bytes:
    """The readable copy: every section, every stored value, labels in the person's language.

    Args:
        records: The person's rows.
        t: Translator of the person's language (labels only; values are printed as stored).
        now: When the copy is made.
        zone: Time zone of the times shown (WITA).
    """
    uid = records.user_id
    lines = [
        t.raw(MSG_TITLE),
        f"{t.raw(MSG_MADE_ON)}: {t.datetime(now.astimezone(zone))} WITA",
        f"{t.raw(MSG_TELEGRAM_ID)}: {uid}",
        "",
    ]
    sections: list[tuple[str, Sequence[SQLModel | Mapping[str, Any]]]] = [
        ("account", [records.user] if records.user is not None else []),
        ("registrations", records.submissions),
        ("consents", records.consents),
        ("participant_list", records.roster),
        ("payment_reminders", records.reminders),
        ("claim_guide", records.claim_cases),
        ("claim_help_requests", records.help_requests),
        ("announcements", records.broadcasts),
        ("failed_lookups", [{"at": at} for at in records.lookup_failures]),
        (
            "facilitator",
            []
            if records.facilitator is None
            else [
                {
                    **records.facilitator.model_dump(),
                    "desa_codes": ", ".join(records.facilitator_desa),
                }
            ],
        ),
        ("conversation", [records.conversation] if records.conversation is not None else []),
        ("history", [{"at": e.at, "action": e.action} for e in records.history]),
    ]
    for key, rows in sections:
        lines.append(f"== {t.raw(SECTION_LABELS[key])} ==")
        if not rows:
            lines.append("  " + t.raw(MSG_NOTHING_STORED))
        for index, row in enumerate(rows):
            if index:
                lines.append("  --")
            lines.extend(_row_lines(t, row, uid, zone))
        lines.append("")
    return "\n".join(lines).encode("utf-8")
