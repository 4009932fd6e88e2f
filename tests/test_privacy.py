"""Data-subject rights through the fake Bot API: /datasaya shows and copies exactly the user's data,
corrections go through the registration flow's own validation, /hapusdata (cancel and confirm)
deletes or anonymises by the rules in privacy.toml, and a facilitator can neither restore nor reopen
what was erased."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.emulator import ChatClient
from storage.models import (
    AuditEntry,
    BroadcastRecipient,
    ClaimCase,
    ClaimHelpRequest,
    Consent,
    ConsentKind,
    Conversation,
    EntryRole,
    LookupFailure,
    PaymentReminder,
    ProcessedUpdate,
    Role,
    RosterEntry,
    Submission,
    SubmissionStatus,
    User,
)
from storage.models.broadcast import Broadcast
from storage.repos.privacy import AUDIT_ERASE, AUDIT_ERASE_SUBMISSION, ErasureOutcome
from tests.support import TEST_KEYRING, BotHarness

NIK_SITI = "6311015708850003"  # woman, born 17-08-1985
NIK_SITI_FIXED = "6311015708850004"  # the same person's NIK with the right serial
NIK_BUDI = "6311011708850002"  # man, born 17-08-1985
NIK_ROSTER = "6311025708900002"  # on the participant list
PHONE_SITI = "6281234567890"
PHONE_BUDI = "6281298765432"
PHONE_HELP = "+6281311112222"
FACILITATOR_ID = 4100


@pytest.fixture
def harness(open_harness: BotHarness) -> BotHarness:
    """Flood control opened wide (see conftest)."""
    return open_harness


# --- helpers (also used by tests/test_retention.py) ------------------------------------------------


async def register(
    chat: ChatClient,
    *,
    nik: str = NIK_SITI,
    name: str = "siti AMINAH",
    phone: str = PHONE_SITI,
    sex_ok: str = "Ya, benar",
    submit: bool = True,
) -> None:
    """Register through the real conversation (a regency-paid candidate); send it when ``submit``."""
    await chat.send("/daftar")
    await chat.press("Setuju")
    await chat.send(nik)
    await chat.send(name)
    await chat.send("17 agt 1985")
    await chat.press(sex_ok)
    await chat.share_contact(phone)
    await chat.press("Juai")
    await chat.press("Galumbang")
    await chat.press("reg:occ:karet")
    await chat.press("reg:inc:under_1m")
    await chat.press("Ya")
    await chat.press("Tidak")
    await chat.press("Tidak")
    await chat.press("reg:pay:apbd")
    assert "Kirim" in " ".join(label for row in chat.buttons() for label in row)
    if submit:
        await chat.press("✅ Kirim")
        assert "BLG-" in chat.last_text


async def rows(harness: BotHarness, model: Any, *where: Any) -> list[Any]:
    """Every row of ``model`` matching ``where``."""
    async with harness.db.transaction() as repo:
        return list((await repo.session.exec(select(model).where(*where))).all())


async def owned(harness: BotHarness, user_id: int) -> list[Submission]:
    return await rows(harness, Submission, col(Submission.owner_user_id) == user_id)


async def set_status(harness: BotHarness, submission_id: int, status: SubmissionStatus) -> None:
    async with harness.db.transaction() as repo:
        sub = await repo.registration.get(submission_id)
        assert sub is not None
        sub.status = status.value
        repo.session.add(sub)


async def add_extras(harness: BotHarness, user_id: int) -> None:
    """Give a user a claim case, a help request, a linked roster row, a reminder, an
    announcement row and a failed lookup (the rest of what the bot can store about someone)."""
    now = harness.clock()
    async with harness.db.transaction() as repo:
        case = await repo.claims.start_case(user_id=user_id, now=now)
        await repo.claims.update_case(case, now=now, membership="active", cause="jkm")
        await repo.claims.add_help_request(
            user_id=user_id,
            case_id=case.id,
            requester_name="Siti",
            claimant="spouse",
            kecamatan_code="63.11.01",
            desa_code="63.11.01.2001",
            phone=PHONE_HELP,
            now=now,
        )
        repo.session.add(
            RosterEntry(
                nik=NIK_ROSTER,
                name="Siti Rahmah",
                kpj="90000000002",
                programmes="jkk,jkm",
                payer="self",
                coverage_start=date(2025, 1, 1),
                paid_until=date(2026, 9, 30),
                telegram_user_id=user_id,
            )
        )
        await repo.session.flush()
        repo.session.add(
            PaymentReminder(
                nik_index=TEST_KEYRING.index(NIK_ROSTER),
                user_id=user_id,
                kind="due_soon",
                dedupe_key="due_soon:2026-09-30:3",
                paid_until=date(2026, 9, 30),
                kind_offset=3,
                nonaktif_from=date(2027, 1, 1),
                relevant_until=date(2026, 10, 1),
                due_at=now - timedelta(days=60),
                status="sent",
            )
        )
        broadcast = Broadcast(
            created_by=900_001,
            status="done",
            audience={"kind": "all"},
            body_html="Halo",
            progress_chat_id=900_001,
            started_at=now,
            finished_at=now,
        )
        repo.session.add(broadcast)
        await repo.session.flush()
        assert broadcast.id is not None
        repo.session.add(
            BroadcastRecipient(broadcast_id=broadcast.id, user_id=user_id, status="sent")
        )
        await repo.coverage.record_lookup_failure(user_id=user_id, at=now)


def files_of(chat: ChatClient) -> tuple[str, dict[str, Any]]:
    """The readable and the JSON copy of the last /datasaya."""
    docs = chat.documents()
    text = next(d for d in reversed(docs) if (d.file_name or "").endswith(".txt"))
    data = next(d for d in reversed(docs) if (d.file_name or "").endswith(".json"))
    return text.data.decode("utf-8"), json.loads(data.data.decode("utf-8"))


def labels(chat: ChatClient) -> list[str]:
    return [label for row in chat.buttons() for label in row]


# --- /datasaya ---------------------------------------------------------------------------------------


async def test_datasaya_shows_and_copies_exactly_the_users_data(harness: BotHarness) -> None:
    siti = harness.chat(2001)
    budi = harness.chat(2002, first_name="Budi")
    await register(siti)
    await register(budi, nik=NIK_BUDI, name="budi santoso", phone=PHONE_BUDI)
    await add_extras(harness, 2001)
    [sub] = await owned(harness, 2001)

    await siti.send("/datasaya")
    summary = next(
        m.text or "" for m in siti.history[::-1] if "Data Anda di bot ini" in (m.text or "")
    )
    assert sub.reference in summary
    assert "************0003" in summary
    assert NIK_SITI not in summary
    assert "Siti Aminah" in summary
    assert "+6281234567890" in summary
    assert "Galumbang" in summary
    assert "Siti Rahmah" in summary  # the linked participant-list row
    assert PHONE_HELP in summary
    assert "Budi" not in summary
    menu = [label for m in siti.history[-3:] for row in m.buttons() for label in row]
    assert any("Perbaiki" in label for label in menu)
    assert any("Hapus data saya" in label for label in menu)

    text, data = files_of(siti)
    assert data["format"] == "jamsostek-bot/personal-data/1"
    assert data["telegram_user_id"] == 2001
    assert data["account"]["language"] == "id"
    [registration] = data["registrations"]
    assert registration["nik"] == NIK_SITI  # the copy is complete
    assert registration["full_name"] == "Siti Aminah"
    assert registration["birth_date"] == "1985-08-17"
    assert registration["reference"] == sub.reference
    assert [c["text_version"] for c in data["consents"]] == ["reg-consent-2026-1"]
    assert data["participant_list"][0]["nik"] == NIK_ROSTER
    assert data["participant_list"][0]["kpj"] == "90000000002"
    assert data["claim_guide"][0]["cause"] == "jkm"
    assert data["claim_help_requests"][0]["phone"] == PHONE_HELP
    assert len(data["payment_reminders"]) == 1
    assert data["announcements"][0]["status"] == "sent"
    assert len(data["failed_lookups"]) == 1
    for copy in (text, json.dumps(data, ensure_ascii=False)):
        assert NIK_SITI in copy
        assert NIK_BUDI not in copy
        assert "Budi" not in copy
        assert "Santoso" not in copy
        assert PHONE_BUDI not in copy
        assert "900001" not in copy  # the admin who sent the announcement is someone else
    assert "NIK: 6311015708850003" in text
    assert "Nama: Siti Aminah" in text
    assert "63.11.01.2006 (Galumbang)" in text
    assert "karet (Petani karet / penyadap karet)" in text

    # Budi sees only his own.
    await budi.send("/datasaya")
    _, theirs = files_of(budi)
    assert [r["nik"] for r in theirs["registrations"]] == [NIK_BUDI]
    assert theirs["participant_list"] == []
    assert theirs["claim_guide"] == []


async def test_datasaya_in_english_and_for_a_new_user(harness: BotHarness) -> None:
    chat = harness.chat(2003, language_code="en")
    await chat.send("/datasaya")
    summary = chat.history[-3].text or ""
    assert "Your data in this bot" in summary
    assert "Correct my registration" not in " ".join(labels(chat))  # nothing to correct
    text, data = files_of(chat)
    assert data["registrations"] == []
    assert "(nothing stored)" in text
    # The main menu leads there too.
    await chat.send("/start")
    await chat.press("My data")
    assert any("Your data in this bot" in (m.text or "") for m in chat.history[-3:])


# --- corrections ---------------------------------------------------------------------------------------


async def test_correcting_a_sent_registration_goes_through_the_same_validation(
    harness: BotHarness,
) -> None:
    chat = harness.chat(2010)
    await register(chat)
    [sub] = await owned(harness, 2010)
    await chat.send("/datasaya")
    await chat.press("✏️ Perbaiki pendaftaran saya")
    assert "kembali menjadi draf" in chat.last_text
    assert labels(chat) == ["Ya, perbaiki", "Tidak"]
    await chat.press("Ya, perbaiki")
    assert "Apa yang mau diubah?" in chat.last_text
    [now_draft] = await owned(harness, 2010)
    assert now_draft.status == SubmissionStatus.DRAFT.value
    assert now_draft.submitted_nik_index is None

    await chat.press("NIK")
    assert "NIK" in chat.last_text
    await chat.send("12345")
    assert any("NIK harus 16 angka" in (m.text or "") for m in chat.history[-2:])
    [unchanged] = await owned(harness, 2010)
    assert unchanged.nik == NIK_SITI  # refused: nothing stored
    await chat.send(NIK_SITI_FIXED)
    assert "Apakah semua sudah benar?" in chat.last_text or "Kirim" in " ".join(labels(chat))
    await chat.press("✅ Kirim")
    [fixed] = await owned(harness, 2010)
    assert fixed.nik == NIK_SITI_FIXED
    assert fixed.submitted_nik_index == TEST_KEYRING.index(NIK_SITI_FIXED)
    assert fixed.status == SubmissionStatus.SUBMITTED.value
    assert fixed.reference == sub.reference  # the same registration, not a new one
    audit = await rows(harness, AuditEntry, col(AuditEntry.action) == "privacy.correct")
    assert [a.target for a in audit] == [f"submission:{sub.reference}"]


async def test_correcting_a_draft_and_a_checked_registration(harness: BotHarness) -> None:
    chat = harness.chat(2011)
    await register(chat, submit=False)
    await chat.send("/batal")
    await chat.press("Simpan draf")
    await chat.send("/datasaya")
    await chat.press("✏️ Perbaiki pendaftaran saya")
    assert "Apa yang mau diubah?" in chat.last_text  # a draft: straight to the change menu
    await chat.press("Nama")
    await chat.send("x")
    [draft] = await owned(harness, 2011)
    assert draft.full_name == "Siti Aminah"
    await chat.send("siti aminah rahmah")
    [draft] = await owned(harness, 2011)
    assert draft.full_name == "Siti Aminah Rahmah"
    await chat.press("✅ Kirim")

    [sub] = await owned(harness, 2011)
    assert sub.id is not None
    await set_status(harness, sub.id, SubmissionStatus.VERIFIED)
    await chat.send("/datasaya")
    await chat.press("✏️ Perbaiki pendaftaran saya")
    assert "tidak bisa diubah lagi" in chat.last_text
    assert "175" in chat.last_text
    [still] = await owned(harness, 2011)
    assert still.status == SubmissionStatus.VERIFIED.value


async def test_correction_refused_when_the_regency_decided_meanwhile(harness: BotHarness) -> None:
    chat = harness.chat(2012)
    await register(chat)
    await chat.send("/datasaya")
    await chat.press("✏️ Perbaiki pendaftaran saya")
    [sub] = await owned(harness, 2012)
    assert sub.id is not None
    await set_status(harness, sub.id, SubmissionStatus.VERIFIED)  # an admin was faster
    await chat.press("Ya, perbaiki")
    assert "tidak bisa diubah lagi" in chat.last_text
    [still] = await owned(harness, 2012)
    assert still.status == SubmissionStatus.VERIFIED.value
    assert still.submitted_nik_index == TEST_KEYRING.index(NIK_SITI)


# --- /hapusdata -----------------------------------------------------------------------------------------


async def test_hapusdata_explains_and_cancel_keeps_everything(harness: BotHarness) -> None:
    chat = harness.chat(2020)
    await register(chat)
    await add_extras(harness, 2020)
    await chat.send("/hapusdata")
    text = chat.last_text
    assert "Hapus data saya" in text
    assert "dihapus" in text
    assert "disimpan" in text
    [sub] = await owned(harness, 2020)
    assert sub.reference in text
    assert "Daftar peserta" in text  # the roster is unlinked, not deleted
    assert labels(chat) == ["🗑 Ya, hapus data saya", "Tidak, simpan data saya"]
    await chat.send("ya")  # typed instead of pressed
    assert "tombol" in chat.history[-2].text
    assert labels(chat) == ["🗑 Ya, hapus data saya", "Tidak, simpan data saya"]
    await chat.press("Tidak, simpan data saya")
    assert "Tidak ada yang dihapus" in chat.last_text
    assert len(await owned(harness, 2020)) == 1
    assert await rows(harness, User, col(User.id) == 2020)
    assert await rows(harness, ClaimCase, col(ClaimCase.user_id) == 2020)
    # /batal in the confirmation changes nothing either.
    await chat.send("/hapusdata")
    await chat.send("/batal")
    assert "Tidak ada yang diubah" in chat.last_text
    assert len(await owned(harness, 2020)) == 1


async def test_an_old_confirm_button_deletes_nothing(harness: BotHarness) -> None:
    chat = harness.chat(2021)
    await register(chat)
    await chat.send("/hapusdata")
    confirm = chat.last
    assert confirm is not None
    await chat.press("Tidak, simpan data saya")
    assert confirm.buttons() == []  # the answered question loses its buttons
    # The "yes" button pressed later (an old copy, or forged data) is refused: nothing happens.
    update = await harness.emu.press(2021, confirm.message_id, "priv:ec:yes", forge=True)
    await harness.emu.wait_delivered(update)
    await harness.settle()
    answer = harness.emu.calls_for("answerCallbackQuery")[-1].params.get("text") or ""
    assert "sudah tidak berlaku" in answer
    assert len(await owned(harness, 2021)) == 1
    assert await rows(harness, User, col(User.id) == 2021)


async def test_hapusdata_confirm_deletes_and_leaves_only_what_must_stay(
    harness: BotHarness,
) -> None:
    siti = harness.chat(2030)
    budi = harness.chat(2031, first_name="Budi")
    await register(siti)
    await register(budi, nik=NIK_BUDI, name="budi santoso", phone=PHONE_BUDI)
    await add_extras(harness, 2030)
    [sub] = await owned(harness, 2030)
    await siti.send("/datasaya")  # leaves reply copies with personal data behind
    await siti.send("/hapusdata")
    await siti.press("🗑 Ya, hapus data saya")
    assert "Data Anda sudah dihapus" in siti.last_text
    assert sub.reference in siti.last_text

    assert await owned(harness, 2030) == []
    assert await rows(harness, Submission, col(Submission.id) == sub.id) == []
    [consent] = await rows(harness, Consent, col(Consent.subject_user_id) == 2030)
    assert consent.withdrawn_at == harness.clock()
    assert consent.submission_id is None  # the proof stays, the data it covered is gone
    [roster] = await rows(
        harness, RosterEntry, col(RosterEntry.nik_index) == TEST_KEYRING.index(NIK_ROSTER)
    )
    assert roster.telegram_user_id is None
    assert roster.name == "Siti Rahmah"
    assert await rows(harness, PaymentReminder, col(PaymentReminder.user_id) == 2030) == []
    assert await rows(harness, ClaimCase, col(ClaimCase.user_id) == 2030) == []
    assert await rows(harness, ClaimHelpRequest, col(ClaimHelpRequest.user_id) == 2030) == []
    assert await rows(harness, BroadcastRecipient, col(BroadcastRecipient.user_id) == 2030) == []
    assert await rows(harness, User, col(User.id) == 2030) == []
    [conv] = await rows(harness, Conversation, col(Conversation.user_id) == 2030)
    assert conv.state is None
    assert conv.data == {}
    copies = await rows(harness, ProcessedUpdate, col(ProcessedUpdate.chat_id) == 2030)
    assert copies
    assert all(
        "Siti" not in json.dumps(u.replies or []) and NIK_SITI not in json.dumps(u.replies or [])
        for u in copies
    )
    # Kept: the failed lookups (they expire in a day; deleting them would lift the limit).
    assert len(await rows(harness, LookupFailure, col(LookupFailure.user_id) == 2030)) == 1
    # The audit log records the request and each registration, without personal values.
    entries = await rows(
        harness, AuditEntry, col(AuditEntry.action).in_([AUDIT_ERASE, AUDIT_ERASE_SUBMISSION])
    )
    assert {e.action for e in entries} == {AUDIT_ERASE, AUDIT_ERASE_SUBMISSION}
    logged = json.dumps([[e.target, e.details] for e in entries])
    for personal in (NIK_SITI, NIK_ROSTER, "Siti", "Aminah", PHONE_SITI, PHONE_HELP, "6281"):
        assert personal not in logged
    summary = next(e for e in entries if e.action == AUDIT_ERASE)
    assert summary.details["deleted"] == 1
    assert summary.details["claim_cases_deleted"] == 1

    # Budi's data is untouched.
    [theirs] = await owned(harness, 2031)
    assert theirs.nik == NIK_BUDI
    assert theirs.phone is not None
    # Siti starts from nothing: /daftar asks for consent again, /datasaya shows nothing.
    await siti.send("/daftar")
    assert "Setuju" in labels(siti)
    await siti.send("/batal")
    await siti.send("/datasaya")
    _, data = files_of(siti)
    assert data["registrations"] == []
    assert data["claim_guide"] == []


async def test_a_registered_record_is_kept_anonymised(harness: BotHarness) -> None:
    chat = harness.chat(2040)
    await register(chat)
    [sub] = await owned(harness, 2040)
    assert sub.id is not None
    await set_status(harness, sub.id, SubmissionStatus.REGISTERED)
    await chat.send("/hapusdata")
    text = chat.last_text
    assert "disimpan" in text
    assert sub.reference in text
    assert "Perbup Balangan No. 5/2024" in text
    assert "tidak menghentikan kepesertaan" in text
    await chat.press("🗑 Ya, hapus data saya")
    assert "Disimpan oleh kabupaten" in chat.last_text

    [kept] = await rows(harness, Submission, col(Submission.id) == sub.id)
    assert kept.status == SubmissionStatus.REGISTERED.value
    assert (kept.nik, kept.full_name, kept.birth_date) == (
        NIK_SITI,
        "Siti Aminah",
        date(1985, 8, 17),
    )
    assert kept.submitted_nik_index == TEST_KEYRING.index(
        NIK_SITI
    )  # the same person cannot be registered twice
    assert kept.phone is None
    assert kept.income_code is None
    assert kept.screening_answers == {}
    assert kept.owner_user_id is None
    assert kept.entered_by_user_id == 0
    [consent] = await rows(harness, Consent, col(Consent.submission_id) == sub.id)
    assert consent.withdrawn_at is not None
    async with harness.db.transaction() as repo:
        mark = await repo.privacy.erasure_of(reference=sub.reference)
    assert mark is not None
    assert mark.outcome is ErasureOutcome.ANONYMISED
    # The account no longer sees it as its own.
    await chat.send("/datasaya")
    _, data = files_of(chat)
    assert data["registrations"] == []


async def facilitator_registration(
    harness: BotHarness, *, owner: int, status: SubmissionStatus
) -> Submission:
    """A registration a facilitator typed in for ``owner`` (who confirmed it on their phone)."""
    now = harness.clock()
    async with harness.db.transaction() as repo:
        await repo.users.set_role(user_id=FACILITATOR_ID, role=Role.FACILITATOR)
        sub = await repo.registration.create_draft(
            entered_by_user_id=FACILITATOR_ID,
            entered_by_role=EntryRole.FACILITATOR,
            owner_user_id=None,
            consent_kind=ConsentKind.ASSISTED,
            consent_version="reg-consent-2026-1",
            now=now,
            new_reference=lambda: f"BLG-FAC{status.value[:3].upper()}",
        )
        await repo.registration.save_answers(
            sub, now=now, nik=NIK_BUDI, full_name="Budi Santoso", phone=PHONE_BUDI
        )
        if status is not SubmissionStatus.DRAFT:
            sub.status = status.value
            sub.submitted_at = now
            sub.rejection_reason = "The data did not match" if status.value == "rejected" else None
            repo.session.add(sub)
        await repo.session.flush()
        assert sub.id is not None
        assert await repo.facilitators.link_owner(submission_id=sub.id, user_id=owner)
        await repo.session.refresh(sub)
        return sub


async def test_facilitator_is_told_and_cannot_restore_or_reopen(harness: BotHarness) -> None:
    resident = harness.chat(2050, first_name="Budi")
    facilitator = harness.chat(FACILITATOR_ID, first_name="Rahmat")
    await facilitator.send("/start")
    sub = await facilitator_registration(harness, owner=2050, status=SubmissionStatus.REJECTED)
    assert sub.id is not None

    await resident.send("/datasaya")
    text, data = files_of(resident)
    assert data["registrations"][0]["nik"] == NIK_BUDI
    assert "entered_by_user_id" not in data["registrations"][0]  # the facilitator's id is theirs
    assert str(FACILITATOR_ID) not in text
    await resident.press("✏️ Perbaiki pendaftaran saya")
    assert "pendamping" in resident.last_text  # typed in by a facilitator: ask them

    await resident.send("/hapusdata")
    await resident.press("🗑 Ya, hapus data saya")
    notice = facilitator.last_text
    assert "data dihapus atas permintaan pemilik" in notice
    assert sub.reference in notice
    assert NIK_BUDI not in notice
    assert "Budi" not in notice
    assert await rows(harness, Submission, col(Submission.id) == sub.id) == []
    async with harness.db.transaction() as repo:
        mark = await repo.privacy.erasure_of(submission_id=sub.id)
        assert mark is not None
        assert mark.reference == sub.reference
        assert mark.outcome is ErasureOutcome.DELETED
        assert await repo.facilitators.resident(sub.id) is None

    # "Correct and send again" on the facilitator's old resident message does nothing.
    anchor = facilitator.last
    assert anchor is not None
    update = await harness.emu.press(
        FACILITATOR_ID, anchor.message_id, f"fw:fix:{sub.id}", forge=True
    )
    await harness.emu.wait_delivered(update)
    await harness.settle()
    assert await rows(harness, Submission, col(Submission.reference) == sub.reference) == []
    async with harness.db.transaction() as repo:
        conv = await repo.conversations.get(FACILITATOR_ID)
    assert conv is None or not str(conv.state or "").startswith("reg.")


async def test_facilitator_draft_of_the_resident_is_gone_mid_conversation(
    harness: BotHarness,
) -> None:
    resident = harness.chat(2051, first_name="Budi")
    facilitator = harness.chat(FACILITATOR_ID, first_name="Rahmat")
    await facilitator.send("/start")
    draft = await facilitator_registration(harness, owner=2051, status=SubmissionStatus.DRAFT)
    async with harness.db.transaction() as repo:
        conv = await repo.conversations.lock(FACILITATOR_ID)
        await repo.conversations.save(
            conv, state="reg.name", data={"mode": "assisted", "sub": draft.id}
        )
    await resident.send("/hapusdata")
    await resident.press("🗑 Ya, hapus data saya")
    assert "data dihapus atas permintaan pemilik" in facilitator.last_text
    await facilitator.send("Budi Santoso")  # the facilitator goes on typing
    assert "tidak terbuka" in facilitator.last_text
    assert await rows(harness, Submission, col(Submission.id) == draft.id) == []


async def test_a_facilitator_keeps_their_account_and_role(harness: BotHarness) -> None:
    chat = harness.chat(FACILITATOR_ID, first_name="Rahmat")
    async with harness.db.transaction() as repo:
        await repo.users.set_role(user_id=FACILITATOR_ID, role=Role.FACILITATOR)
    await chat.send("/hapusdata")
    await chat.press("🗑 Ya, hapus data saya")
    assert "peran" in chat.last_text
    [user] = await rows(harness, User, col(User.id) == FACILITATOR_ID)
    assert user.role == Role.FACILITATOR.value
