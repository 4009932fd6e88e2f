"""The pure rules of bot/privacy.py: the data file is complete and consistent, the erasure plan and
preview follow it, and the copy holds every stored value of the person and nobody else's id."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.facts import load_toml
from bot.i18n import Catalogs, Translator
from bot.privacy import (
    EXPORT_FORMAT,
    OTHER_PEOPLE_FIELDS,
    CategoryCode,
    Disposition,
    categories,
    erasure_plan,
    erasure_preview,
    erasure_rules,
    export_data,
    export_json,
    export_text,
    outcome_for,
    retention_rules,
    row_data,
)
from bot.reminder_sender import LOOKUP_FAILURE_RETENTION
from bot.settings import Settings
from storage.models import (
    AuditEntry,
    ClaimHelpRequest,
    Consent,
    EntryRole,
    Submission,
    SubmissionStatus,
    User,
)
from storage.repos.privacy import ErasureOutcome, PersonalRecords

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
WITA = ZoneInfo("Asia/Makassar")
USER = 5001
FACILITATOR = 5002


@cache
def indonesian() -> Translator:
    return Catalogs.load(default="id").get("id")


def records(*submissions: Submission, **extra: object) -> PersonalRecords:
    fields: dict[str, object] = {
        "user_id": USER,
        "user": User(id=USER, language="id", created_at=NOW, last_seen_at=NOW),
        "conversation": None,
        "submissions": submissions,
        "consents": (),
        "roster": (),
        "reminders": (),
        "claim_cases": (),
        "help_requests": (),
        "broadcasts": (),
        "lookup_failures": (),
        "facilitator": None,
        "facilitator_desa": (),
        "history": (),
    }
    fields.update(extra)
    return PersonalRecords(**fields)  # type: ignore[arg-type]


def submission(status: SubmissionStatus, **values: object) -> Submission:
    return Submission(
        id=values.pop("id", 1),
        reference=values.pop("reference", "BLG-ABCDEF"),
        status=status.value,
        owner_user_id=USER,
        entered_by_user_id=values.pop("entered_by_user_id", USER),
        entered_by_role=values.pop("entered_by_role", EntryRole.SELF.value),
        nik="6311015708850003",
        full_name="Siti Aminah",
        birth_date=date(1985, 8, 17),
        phone="+6281234567890",
        desa_code="63.11.01.2006",
        kecamatan_code="63.11.01",
        created_at=NOW,
        updated_at=NOW,
        **values,
    )


# --- the data file ------------------------------------------------------------------------------------


def test_every_status_is_either_deleted_or_kept() -> None:
    rules = erasure_rules()
    assert rules.delete_statuses | rules.keep_statuses == {s.value for s in SubmissionStatus}
    assert not rules.delete_statuses & rules.keep_statuses
    assert rules.keep_statuses == {"verified", "registered"}
    assert rules.deadline_hours == 72  # 3×24 hours, UU PDP (FACTS.md §8)
    assert rules.bpjs_phone == "175"


def test_the_law_and_its_confidence_are_written_beside_the_rules() -> None:
    document = load_toml("privacy.toml")
    assert document["law"]["name"] == "UU PDP No. 27/2022"
    assert document["law"]["mark"] == "C2"
    assert document["law"]["articles_mark"] == "U"  # article numbers are our own reading
    assert document["erasure"]["kept_mark"] in {"C2", "C1", "U"}
    assert "Perbup Balangan No. 5/2024" in document["erasure"]["kept_basis"]


def test_categories_cover_every_kind_of_data() -> None:
    found = {c.code for c in categories()}
    assert found == set(CategoryCode)
    for item in categories():
        assert item.label
        assert item.reason_text
        if item.on_erasure in (Disposition.KEEP, Disposition.WITHDRAW) and item.code not in (
            CategoryCode.FACILITATOR,
        ):
            assert item.basis, f"{item.code}: a kept kind of data needs its legal basis"
            assert item.mark in {"C2", "C1", "U"}


def test_retention_rules() -> None:
    rules = retention_rules()
    assert rules.batch_size > 0
    assert rules.processed_update_days >= 1  # Telegram redelivers for up to 24 hours


def test_the_documented_periods_are_the_ones_in_force() -> None:
    """privacy.toml describes two periods that live elsewhere; they must not drift apart."""
    section = load_toml("privacy.toml")["retention"]
    assert section["draft_days"] == Settings(token="x").draft_retention_days
    assert timedelta(days=section["lookup_failure_days"]) == LOOKUP_FAILURE_RETENTION


# --- plan and preview -----------------------------------------------------------------------------------


def test_the_plan_clears_the_listed_columns() -> None:
    plan = erasure_plan(keep_account=False)
    assert plan.keep_statuses == {"verified", "registered"}
    assert plan.cleared["phone"] is None
    assert plan.cleared["owner_user_id"] is None
    assert plan.cleared["screening_answers"] == {}  # the column cannot hold NULL
    assert "nik" not in plan.cleared
    assert "full_name" not in plan.cleared
    assert plan.erased_account_id == 0
    assert erasure_plan(keep_account=True).keep_account


def test_outcome_per_status() -> None:
    assert outcome_for("draft") is ErasureOutcome.DELETED
    assert outcome_for("submitted") is ErasureOutcome.DELETED
    assert outcome_for("rejected") is ErasureOutcome.DELETED
    assert outcome_for("verified") is ErasureOutcome.ANONYMISED
    assert outcome_for("registered") is ErasureOutcome.ANONYMISED


def test_preview_lists_what_goes_and_what_stays() -> None:
    person = records(
        submission(SubmissionStatus.SUBMITTED, id=1, reference="BLG-AAAAAA"),
        submission(SubmissionStatus.REGISTERED, id=2, reference="BLG-BBBBBB"),
        help_requests=(ClaimHelpRequest(user_id=USER, kecamatan_code="x", desa_code="y"),),
    )
    preview = erasure_preview(person, keep_account=False)
    assert preview.deleted == ("BLG-AAAAAA",)
    assert preview.kept == (("BLG-BBBBBB", SubmissionStatus.REGISTERED),)
    codes = [c.code for c in preview.categories]
    assert CategoryCode.ACCOUNT in codes
    assert CategoryCode.CLAIMS in codes
    assert CategoryCode.AUDIT in codes
    assert CategoryCode.ROSTER not in codes  # nothing linked
    facilitator = erasure_preview(person, keep_account=True)
    assert CategoryCode.ACCOUNT not in [c.code for c in facilitator.categories]


# --- the copy ----------------------------------------------------------------------------------------------


def test_other_peoples_ids_are_left_out() -> None:
    assisted = submission(
        SubmissionStatus.SUBMITTED,
        entered_by_user_id=FACILITATOR,
        entered_by_role=EntryRole.FACILITATOR.value,
    )
    data = row_data(assisted, user_id=USER)
    assert "entered_by_user_id" not in data
    assert data["entered_by_role"] == "facilitator"
    assert data["birth_date"] == "1985-08-17"
    own = row_data(submission(SubmissionStatus.DRAFT), user_id=USER)
    assert own["entered_by_user_id"] == USER
    consent = Consent(given_by_user_id=FACILITATOR, subject_user_id=USER, text_version="v")
    assert "given_by_user_id" not in row_data(consent, user_id=USER)
    entry = AuditEntry(actor_id=900_001, action="review.view", target="submission:BLG-ABCDEF")
    assert "actor_id" not in row_data(entry, user_id=USER)
    assert {"entered_by_user_id", "actor_id", "handled_by"} <= OTHER_PEOPLE_FIELDS


def test_export_holds_every_section() -> None:
    person = records(submission(SubmissionStatus.SUBMITTED), lookup_failures=(NOW,))
    data = export_data(person, now=NOW)
    assert data["format"] == EXPORT_FORMAT
    assert data["telegram_user_id"] == USER
    assert data["registrations"][0]["nik"] == "6311015708850003"
    assert data["failed_lookups"] == [NOW.isoformat()]
    assert data["facilitator"] is None
    assert json.loads(export_json(person, now=NOW)) == data
    text = export_text(person, indonesian(), now=NOW, zone=WITA).decode("utf-8")
    assert "NIK: 6311015708850003" in text
    assert "Tanggal lahir: 17 Agustus 1985" in text
    assert "63.11.01.2006 (Galumbang)" in text
    assert "21 November 2026 10.00 WITA" in text
    assert "== Pendaftaran ==" in text


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(min_size=1, max_size=80).filter(lambda s: s.strip()),
    phone=st.text(alphabet="+0123456789 -", min_size=1, max_size=20),
)
def test_any_stored_text_comes_back_exactly(name: str, phone: str) -> None:
    """Whatever a person typed (quotes, HTML, emoji, control characters) is copied verbatim: the
    JSON gives it back unchanged and the text file prints it without HTML escaping."""
    person = records(submission(SubmissionStatus.DRAFT, occupation_text=name), lookup_failures=())
    person.submissions[0].full_name = name
    person.submissions[0].phone = phone
    data = json.loads(export_json(person, now=NOW))
    assert data["registrations"][0]["full_name"] == name
    assert data["registrations"][0]["phone"] == phone
    text = export_text(person, indonesian(), now=NOW, zone=WITA).decode("utf-8")
    assert name in text
