"""Village facilitators end to end through the fake Bot API: invitations (valid, reused, expired,
revoked), admin management, registering residents (two interleaved drafts, consent confirmed by the
resident's own phone, duplicate NIK across facilitators, desa outside the scope), /wargaku (paging,
filters, scope, correcting a rejected registration, progress, help requests, poster credits) and a
worker refused every facilitator command and button."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from bot.domain import wilayah
from bot.emulator import ChatClient
from bot.registration_flow import new_reference
from handlers import facilitator as facilitator_handlers
from storage.models import (
    AuditEntry,
    ConsentKind,
    ConsentLink,
    EntryRole,
    FacilitatorInvitation,
    Role,
    RosterEntry,
    Submission,
    SubmissionAttribution,
    SubmissionStatus,
)
from tests.support import ADMIN_ID, TEST_KEYRING, BotHarness

JUAI = "63.11.01"
GALUMBANG = next(d.code for d in wilayah.desa_list(JUAI) if d.name == "Galumbang")
BATA = next(d.code for d in wilayah.desa_list(JUAI) if d.name == "Bata")
HALONG = "63.11.02"
OTHER_DESA = wilayah.desa_list(HALONG)[0].code

FAC_A, FAC_B, WORKER, RESIDENT = 7001, 7002, 7101, 7301
NIK_SITI = "6311015708850003"  # woman, born 17-08-1985
NIK_BUDI = "6311011708850002"  # man, born 17-08-1985
NIK_ANI = "6311015203900001"  # woman, born 12-03-1990
REFUSED = "tidak tersedia untuk Anda"
STALE = "sudah tidak berlaku"

Action = Callable[[ChatClient], Awaitable[object]]


@pytest.fixture
def harness(open_harness: BotHarness) -> BotHarness:
    """Flood control opened wide (see conftest)."""
    return open_harness


def text_at(chat: ChatClient, index: int) -> str:
    """The text of one message of the chat (``-1``: the newest, of either side)."""
    return chat.history[index].text or ""


def send(text: str) -> Action:
    return lambda chat: chat.send(text)


def press(label: str) -> Action:
    return lambda chat: chat.press(label)


def assisted_steps(
    nik: str, name: str, born: str, phone: str, desa: str
) -> list[tuple[str, Action]]:
    """The questions of /daftarkan in order, each with a valid answer."""
    return [
        ("consent", press("Warga setuju")),
        ("nik", send(nik)),
        ("name", send(name)),
        ("birth_date", send(born)),
        ("sex", press("Ya, benar")),
        ("phone", send(phone)),
        ("kecamatan", press("Juai")),
        ("desa", press(desa)),
        ("occupation", press("reg:occ:karet")),
        ("income", press("reg:inc:under_1m")),
        ("screen_1", press("Ya")),
        ("screen_2", press("Tidak")),
        ("screen_3", press("Tidak")),
        ("payer", press("reg:pay:apbd")),
    ]


async def answer(
    chat: ChatClient, steps: list[tuple[str, Action]], *, until: str | None = None
) -> None:
    """Answer the steps in order, stopping before ``until`` (None: up to the summary)."""
    for name, action in steps:
        if name == until:
            return
        await action(chat)


SITI = assisted_steps(NIK_SITI, "siti aminah", "17-08-1985", "0812 3456 7001", "Galumbang")
BUDI = assisted_steps(NIK_BUDI, "budi santoso", "17-08-1985", "0812 3456 7002", "Galumbang")


async def make_facilitator(
    harness: BotHarness,
    user_id: int,
    desa: list[str],
    *,
    name: str = "Rahmat Hidayat",
    phone: str = "+6285251000003",
) -> None:
    """A facilitator set up directly (the invitation flow has its own tests)."""
    async with harness.db.transaction() as repo:
        await repo.facilitators.enrol(
            user_id=user_id, full_name=name, phone=phone, invitation_id=None, now=harness.clock()
        )
        await repo.facilitators.set_desa(user_id=user_id, desa_codes=desa, now=harness.clock())
        await repo.users.set_role(user_id=user_id, role=Role.FACILITATOR)


async def invite(harness: BotHarness, *desa: str) -> str:
    """An admin invites a facilitator for desa of Juai; returns the deep-link payload."""
    admin = harness.admin()
    await admin.send("/fasilitator")
    await admin.press("➕ Undang fasilitator")
    await admin.press("Juai")
    for name in desa:
        await admin.press(name)
    await admin.press("✅ Buat undangan")
    found = re.search(r"start=(inv_[A-Za-z0-9_-]+)", admin.last_text)
    assert found is not None, admin.transcript()
    return found.group(1)


async def accept(chat: ChatClient, payload: str, phone: str = "0852 5100 0003") -> None:
    await chat.send(f"/start {payload}")
    await chat.send("rahmat hidayat")
    await chat.send(phone)
    await chat.press("Ya, benar")


async def state_of(harness: BotHarness, user_id: int) -> str | None:
    async with harness.db.transaction() as repo:
        conv = await repo.conversations.get(user_id)
    return None if conv is None else conv.state


async def submissions_by(harness: BotHarness, user_id: int) -> list[Submission]:
    async with harness.db.transaction() as repo:
        rows = await repo.session.exec(
            select(Submission)
            .where(col(Submission.entered_by_user_id) == user_id)
            .order_by(col(Submission.id))
        )
        return list(rows.all())


async def audit_actions(harness: BotHarness, actor_id: int) -> list[str]:
    async with harness.db.transaction() as repo:
        rows = await repo.session.exec(
            select(AuditEntry.action)
            .where(col(AuditEntry.actor_id) == actor_id)
            .order_by(col(AuditEntry.id))
        )
        return list(rows.all())


async def forge(harness: BotHarness, chat: ChatClient, data: str) -> str:
    """Press a button that is not on screen (forged callback data); the toast and new texts."""
    start = harness.emu.change_seq
    anchor = chat.last
    assert anchor is not None
    update = await harness.emu.press(chat.user_id, anchor.message_id, data, forge=True)
    await harness.emu.wait_delivered(update)
    await harness.settle()
    toast = harness.emu.calls_for("answerCallbackQuery")[-1].params.get("text") or ""
    return toast + " " + " ".join(m.text or "" for m in chat.changed_since(start))


async def seed(
    harness: BotHarness,
    *,
    entered_by: int,
    nik: str,
    name: str,
    desa: str,
    status: SubmissionStatus = SubmissionStatus.SUBMITTED,
    reason: str | None = None,
    minutes: int = 0,
    self_registered: bool = False,
) -> Submission:
    """A sent submission written directly (paging and filters need many)."""
    now = harness.clock() + timedelta(minutes=minutes)
    async with harness.db.transaction() as repo:
        sub = await repo.registration.create_draft(
            entered_by_user_id=entered_by,
            entered_by_role=EntryRole.SELF if self_registered else EntryRole.FACILITATOR,
            owner_user_id=entered_by if self_registered else None,
            consent_kind=ConsentKind.SELF if self_registered else ConsentKind.ASSISTED,
            consent_version="v-test",
            now=now,
            new_reference=new_reference,
        )
        await repo.registration.save_answers(
            sub,
            now=now,
            nik=nik,
            full_name=name,
            phone="+6281234567" + nik[-3:],
            kecamatan_code=desa.rsplit(".", 1)[0],
            desa_code=desa,
        )
        assert await repo.registration.submit(sub, now=now) is None
        sub.status = status.value
        sub.rejection_reason = reason
        repo.session.add(sub)
    return sub


def nik(number: int) -> str:
    """A distinct NIK-shaped number (direct seeding does not validate it)."""
    return f"631101570885{number:04d}"


# --- invitations ---------------------------------------------------------------------------------


async def test_valid_invitation_makes_a_facilitator_of_its_desa(harness: BotHarness) -> None:
    payload = await invite(harness, "Galumbang", "Bata")
    admin = harness.admin()
    assert "Undangan #1 untuk: Bata (Juai), Galumbang (Juai)" in text_at(admin, -2)
    assert "Berlaku sampai 28 November 2026" in text_at(admin, -2)

    chat = harness.chat(FAC_A, first_name="Rahmat")
    await chat.send(f"/start {payload}")
    assert "diundang menjadi <b>fasilitator desa</b>" not in chat.last_text  # HTML rendered
    assert "Bata (Juai), Galumbang (Juai)" in text_at(chat, -2)
    assert "nama lengkap" in chat.last_text
    await chat.send_sticker()
    assert "nama lengkap" in chat.last_text  # re-asked
    await chat.send("rahmat hidayat")
    assert chat.reply_keyboard()[0][0].request_contact
    await chat.share_contact("6285251000003")
    assert "Nama: Rahmat Hidayat" in chat.last_text
    assert "Nomor HP: +6285251000003" in chat.last_text
    await chat.press("Ya, benar")
    assert "Sekarang Anda fasilitator desa untuk: Bata (Juai), Galumbang (Juai)" in chat.last_text
    assert "Daftarkan warga" in [label for row in chat.buttons() for label in row]
    assert "Rahmat Hidayat menerima undangan #1" in admin.last_text

    async with harness.db.transaction() as repo:
        user = await repo.users.get(FAC_A)
        row = await repo.facilitators.get(FAC_A)
        desa = await repo.facilitators.desa_codes(FAC_A)
        invitation = await repo.facilitators.invitation_by_code(payload.removeprefix("inv_"))
    assert user is not None
    assert user.role == Role.FACILITATOR.value
    assert row is not None
    assert (row.full_name, row.phone) == ("Rahmat Hidayat", "+6285251000003")
    assert desa == sorted([BATA, GALUMBANG])
    assert invitation is not None
    assert invitation.used_by == FAC_A
    assert await audit_actions(harness, ADMIN_ID) == ["facilitator.invite"]
    assert await audit_actions(harness, FAC_A) == ["facilitator.join"]


async def test_an_invitation_works_once(harness: BotHarness) -> None:
    payload = await invite(harness, "Galumbang")
    await accept(harness.chat(FAC_A), payload)
    other = harness.chat(FAC_B)
    await other.send(f"/start {payload}")
    assert "Undangan ini sudah dipakai" in other.last_text
    assert await state_of(harness, FAC_B) is None
    async with harness.db.transaction() as repo:
        assert (await repo.users.get(FAC_B)).role == Role.WORKER.value  # type: ignore[union-attr]


async def test_two_people_confirming_one_invitation_only_one_wins(harness: BotHarness) -> None:
    payload = await invite(harness, "Galumbang")
    first, second = harness.chat(FAC_A), harness.chat(FAC_B)
    for chat in (first, second):
        await chat.send(f"/start {payload}")
        await chat.send("rahmat hidayat")
        await chat.send("0852 5100 0003")
    await first.press("Ya, benar")
    await second.press("Ya, benar")
    assert "Sekarang Anda fasilitator desa" in text_at(first, -1)
    assert "Undangan ini sudah dipakai" in second.last_text


async def test_an_expired_invitation_is_refused(harness: BotHarness) -> None:
    payload = await invite(harness, "Galumbang")
    harness.clock.advance(days=7, minutes=1)
    chat = harness.chat(FAC_A)
    await chat.send(f"/start {payload}")
    assert "Undangan ini sudah kedaluwarsa pada 28 November 2026" in chat.last_text


async def test_an_invitation_expiring_while_typing_is_refused_at_confirmation(
    harness: BotHarness,
) -> None:
    payload = await invite(harness, "Galumbang")
    harness.clock.advance(days=6, hours=23)
    chat = harness.chat(FAC_A)
    await chat.send(f"/start {payload}")
    await chat.send("rahmat hidayat")
    await chat.send("0852 5100 0003")
    harness.clock.advance(hours=2)
    await chat.press("Ya, benar")
    assert "sudah kedaluwarsa" in chat.last_text
    async with harness.db.transaction() as repo:
        assert await repo.facilitators.get(FAC_A) is None


async def test_a_revoked_invitation_is_refused(harness: BotHarness) -> None:
    payload = await invite(harness, "Galumbang")
    admin = harness.admin()
    await admin.send("/fasilitator")
    await admin.press("✉️ Undangan yang berlaku")
    assert "#1 · Galumbang (Juai) · sampai 28 November 2026" in admin.last_text
    await admin.press("Batalkan #1")
    assert "Tidak ada undangan yang masih berlaku" in admin.last_text
    chat = harness.chat(FAC_A)
    await chat.send(f"/start {payload}")
    assert "Undangan ini sudah dibatalkan oleh admin" in chat.last_text
    await chat.send("/start inv_nonsense")
    assert "Link undangan ini tidak sah" in chat.last_text
    assert await audit_actions(harness, ADMIN_ID) == [
        "facilitator.invite",
        "facilitator.invitation_revoke",
    ]


async def test_admin_lists_changes_desa_and_ends_access(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    await seed(harness, entered_by=FAC_A, nik=nik(1), name="Siti Aminah", desa=GALUMBANG)
    facilitator = harness.chat(FAC_A)
    await facilitator.send("/wargaku")
    old_home = facilitator.last
    assert old_home is not None

    admin = harness.admin()
    await admin.send("/fasilitator")
    await admin.press("👥 Daftar fasilitator")
    assert "1. Rahmat Hidayat · +62852****0003 · 1 desa · 1 warga" in admin.last_text
    await admin.press("Rahmat Hidayat")
    assert "Telepon: +6285251000003" in admin.last_text
    await admin.press("✏️ Ubah desa")
    assert "Dipilih: Galumbang (Juai)" in admin.last_text
    assert "Juai (1)" in [label for row in admin.buttons() for label in row]
    await admin.press("Juai (1)")
    await admin.press("Bata")
    await admin.press("✅ Galumbang")  # chosen desa are ticked; pressing removes one
    await admin.press("✅ Simpan")
    assert "Disimpan. Rahmat Hidayat sekarang melayani: Bata (Juai)." in admin.last_text
    assert "Sekarang Anda melayani: Bata (Juai)" in facilitator.last_text

    await admin.send("/fasilitator")
    await admin.press("👥 Daftar fasilitator")
    await admin.press("Rahmat Hidayat")
    await admin.press("⛔ Cabut akses")
    await admin.press("Ya, cabut akses")
    assert "Akses Rahmat Hidayat sudah dicabut" in admin.last_text
    assert "Akses Anda sebagai fasilitator desa sudah dicabut" in facilitator.last_text
    async with harness.db.transaction() as repo:
        assert (await repo.users.get(FAC_A)).role == Role.WORKER.value  # type: ignore[union-attr]
        assert await repo.facilitators.desa_codes(FAC_A) == []
    assert await audit_actions(harness, ADMIN_ID) == [
        "facilitator.desa_change",
        "facilitator.revoke",
    ]
    # The buttons of an old /wargaku message no longer work, nor the command.
    await facilitator.press("📋 Warga yang saya daftarkan", message_id=old_home.message_id)
    assert REFUSED in (facilitator.last_answer.text or "")  # type: ignore[union-attr]
    await facilitator.send("/wargaku")
    assert REFUSED in facilitator.last_text


async def test_a_revoked_facilitator_cannot_continue_a_draft(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    chat = harness.chat(FAC_A)
    await chat.send("/daftarkan")
    await answer(chat, SITI, until="sex")
    async with harness.db.transaction() as repo:
        await repo.facilitators.revoke(user_id=FAC_A, by=ADMIN_ID, now=harness.clock())
        await repo.users.set_role(user_id=FAC_A, role=Role.WORKER)
    await chat.press("Ya, benar")  # the sex question's button, pressed after the revocation
    assert REFUSED in (chat.last_answer.text or "")  # type: ignore[union-attr]
    assert await state_of(harness, FAC_A) is None
    sub = (await submissions_by(harness, FAC_A))[0]
    assert sub.sex is None  # nothing was written


# --- registering residents -----------------------------------------------------------------------


async def test_facilitator_registers_two_residents_interleaved(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    chat = harness.chat(FAC_A)
    await chat.send("/daftarkan")
    assert "Bacakan ini kepada warga" in chat.last_text
    assert [label for row in chat.buttons() for label in row] == [
        "Warga setuju",
        "Warga tidak setuju",
    ]
    await answer(chat, SITI, until="birth_date")
    assert "Ketik <b>tanggal lahir warga</b>" not in chat.last_text
    assert "Ketik tanggal lahir warga" in chat.last_text

    await chat.send("/daftarkan")  # Siti's draft is kept; start Budi
    assert "Pendaftaran yang belum selesai (1)" in chat.last_text
    await chat.press("➕ Warga baru")
    await answer(chat, BUDI, until="phone")
    assert "nomor HP warga" in chat.last_text
    # No "send my number" button: the facilitator's number is not the resident's.
    assert chat.reply_keyboard() == []

    await chat.send("/daftarkan")
    labels = [label for row in chat.buttons() for label in row]
    assert labels == [
        "Lanjutkan: Budi Santoso — langkah 5/10",
        "Lanjutkan: Siti Aminah — langkah 3/10",
        "➕ Warga baru",
    ]
    await chat.press("Lanjutkan: Siti Aminah — langkah 3/10")
    assert "tanggal lahir warga" in chat.last_text
    await answer(chat, SITI[3:])
    assert "Periksa lagi data warga" in chat.last_text
    assert "dibayar Pemkab jika warga diterima" in chat.last_text
    await chat.press("✅ Kirim")
    assert "Nomor pendaftaran warga" in chat.last_text

    await chat.send("/daftarkan")
    await chat.press("Lanjutkan: Budi Santoso — langkah 5/10")
    await chat.send("0852 5100 0003")  # the facilitator's own number is refused
    assert "Itu nomor HP Anda sendiri" in text_at(chat, -2)
    await answer(chat, BUDI[5:])
    await chat.press("✅ Kirim")

    subs = await submissions_by(harness, FAC_A)
    assert [(s.full_name, s.status) for s in subs] == [
        ("Siti Aminah", SubmissionStatus.SUBMITTED.value),
        ("Budi Santoso", SubmissionStatus.SUBMITTED.value),
    ]
    assert all(s.entered_by_role == EntryRole.FACILITATOR.value for s in subs)
    assert all(s.owner_user_id is None for s in subs)
    assert [s.phone for s in subs] == ["+6281234567001", "+6281234567002"]
    async with harness.db.transaction() as repo:
        for sub in subs:
            assert sub.id is not None
            consents = await repo.registration.consents_for(sub.id)
            assert [(c.kind, c.given_by_user_id, c.given_at) for c in consents] == [
                (ConsentKind.ASSISTED.value, FAC_A, harness.clock())
            ]
    actions = await audit_actions(harness, FAC_A)
    assert actions.count("facilitator.read_drafts") == 3


async def test_resident_confirms_consent_by_link_on_their_phone(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    chat = harness.chat(FAC_A)
    await chat.send("/daftarkan")
    await answer(chat, SITI)
    await chat.press("✅ Kirim")
    await chat.press("Link untuk HP warga")
    found = re.search(r"start=(setuju_[A-Za-z0-9_-]+)", chat.last_text)
    assert found is not None
    assert "buka link ini di HP Anda sendiri" in chat.last_text

    await chat.send(f"/start {found.group(1)}")  # the facilitator cannot confirm for the resident
    assert "bukan HP Anda" in chat.last_text

    resident = harness.chat(RESIDENT, first_name="Siti")
    await resident.send(f"/start {found.group(1)}")
    assert "Fasilitator desa Rahmat Hidayat sedang mendaftarkan Anda" in resident.last_text
    assert "Nama: Siti Aminah" in resident.last_text
    assert "NIK: ************0003" in resident.last_text
    assert NIK_SITI not in resident.last_text
    await resident.send("ya")
    assert "Silakan jawab dengan salah satu tombol" in text_at(resident, -2)
    await resident.press("Setuju")
    assert "Persetujuan Anda sudah dicatat" in resident.last_text
    assert "Siti Aminah (NIK ************0003) sudah mengonfirmasi" in chat.last_text

    sub = (await submissions_by(harness, FAC_A))[0]
    assert sub.owner_user_id == RESIDENT
    async with harness.db.transaction() as repo:
        assert sub.id is not None
        consents = await repo.registration.consents_for(sub.id)
        links = (await repo.session.exec(select(ConsentLink))).all()
    assert [(c.kind, c.given_by_user_id, c.subject_user_id) for c in consents] == [
        (ConsentKind.ASSISTED.value, FAC_A, RESIDENT)
    ]
    assert [(link.used_by, link.agreed) for link in links] == [(RESIDENT, True)]
    assert "consent.confirmed" in await audit_actions(harness, RESIDENT)

    await resident.send("/daftar")  # the registration is now theirs to follow
    assert f"nomor <b>{sub.reference}</b>" not in resident.last_text
    assert f"nomor {sub.reference}" in resident.last_text
    await resident.send(f"/start {found.group(1)}")
    assert "Link ini sudah dipakai" in resident.last_text


async def test_resident_declining_on_their_phone_deletes_the_draft(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    chat = harness.chat(FAC_A)
    await chat.send("/daftarkan")
    await answer(chat, SITI, until="birth_date")
    await chat.press("Link untuk HP warga")
    payload = re.search(r"start=(setuju_[A-Za-z0-9_-]+)", chat.last_text).group(1)  # type: ignore[union-attr]
    resident = harness.chat(RESIDENT)
    await resident.send(f"/start {payload}")
    await resident.press("Tidak setuju")
    assert "Pendaftaran dihentikan dan datanya dihapus" in resident.last_text
    assert "tidak setuju lewat HP-nya sendiri. Draf sudah dihapus" in chat.last_text
    assert await submissions_by(harness, FAC_A) == []
    async with harness.db.transaction() as repo:
        consents = await repo.registration.consents_given_by(FAC_A)
    assert [c.withdrawn_at is not None for c in consents] == [True]  # the record stays
    await chat.send("17-08-1985")  # the facilitator's open question is gone with the draft
    assert "Pendaftaran ini sudah tidak terbuka" in chat.last_text


async def test_an_expired_consent_link_is_refused(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    chat = harness.chat(FAC_A)
    await chat.send("/daftarkan")
    await answer(chat, SITI, until="nik")
    await chat.press("Link untuk HP warga")
    payload = re.search(r"start=(setuju_[A-Za-z0-9_-]+)", chat.last_text).group(1)  # type: ignore[union-attr]
    harness.clock.advance(days=8)
    resident = harness.chat(RESIDENT)
    await resident.send(f"/start {payload}")
    assert "Link ini sudah kedaluwarsa" in resident.last_text


async def test_duplicate_nik_across_facilitators_shows_only_the_status(
    harness: BotHarness,
) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    await make_facilitator(harness, FAC_B, [GALUMBANG], name="Nur Aisyah", phone="+6285251000009")
    first, second = harness.chat(FAC_A), harness.chat(FAC_B)
    # B starts the same resident before A sends: drafts may repeat a NIK.
    await second.send("/daftarkan")
    await answer(second, SITI[:2])
    await first.send("/daftarkan")
    await answer(first, SITI)
    await first.press("✅ Kirim")
    reference = (await submissions_by(harness, FAC_A))[0].reference

    await answer(second, SITI[2:])
    await second.press("✅ Kirim")  # the database refuses the second submit of the NIK
    refusal = text_at(second, -2)
    assert "NIK ini sudah didaftarkan (status: terkirim, menunggu diperiksa Pemkab)" in refusal
    assert reference not in refusal
    assert "Siti" not in refusal
    assert "NIK warga" in second.last_text  # asked for the NIK again

    await second.send("/daftarkan")
    await second.press("➕ Warga baru")
    await answer(second, SITI[:2])
    assert "NIK ini sudah didaftarkan" in text_at(second, -2)
    assert reference not in text_at(second, -2)

    await first.send("/daftarkan")
    await answer(first, SITI[:2])
    assert f"Anda sudah mendaftarkan warga ini: nomor {reference}" in text_at(first, -2)


async def test_desa_outside_the_facilitators_desa_is_refused(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    chat = harness.chat(FAC_A)
    await chat.send("/daftarkan")
    await answer(chat, SITI, until="desa")
    await chat.press("Bata")
    refusal = text_at(chat, -2)
    assert "Bata bukan desa Anda (Galumbang)" in refusal
    assert "hanya bisa mendaftarkan warga yang tinggal di desa Anda" in refusal
    assert await state_of(harness, FAC_A) == "reg.desa"
    await chat.send("bata")
    assert "Bata bukan desa Anda" in text_at(chat, -2)
    sub = (await submissions_by(harness, FAC_A))[0]
    assert sub.desa_code is None
    await chat.press("Galumbang")
    assert "pekerjaan utama" in chat.last_text


async def test_desa_scope_changed_before_sending_asks_the_desa_again(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG, BATA])
    chat = harness.chat(FAC_A)
    await chat.send("/daftarkan")
    await answer(chat, SITI)
    async with harness.db.transaction() as repo:
        await repo.facilitators.set_desa(user_id=FAC_A, desa_codes=[BATA], now=harness.clock())
    await chat.press("✅ Kirim")
    assert "Galumbang bukan desa Anda (Bata)" in " ".join(m.text or "" for m in chat.history[-3:])
    assert await state_of(harness, FAC_A) == "reg.desa"
    await chat.press("Bata")
    assert "Periksa lagi data warga" in chat.last_text
    await chat.press("✅ Kirim")
    assert (await submissions_by(harness, FAC_A))[0].desa_code == BATA


async def test_desa_outside_scope_only_warns_when_configured(db_url: str) -> None:
    async with BotHarness(db_url, facilitator_desa_policy="warn", flood_burst=100_000) as harness:
        await make_facilitator(harness, FAC_A, [GALUMBANG])
        chat = harness.chat(FAC_A)
        await chat.send("/daftarkan")
        await answer(chat, SITI, until="desa")
        await chat.press("Bata")
        assert any("Pendaftaran tetap disimpan" in (m.text or "") for m in chat.history[-3:])
        assert "pekerjaan utama" in chat.last_text
        assert (await submissions_by(harness, FAC_A))[0].desa_code == BATA
        assert "facilitator.desa_outside" in await audit_actions(harness, FAC_A)


# --- /wargaku ------------------------------------------------------------------------------------


async def seed_residents(harness: BotHarness) -> dict[str, Submission]:
    """Seven residents of FAC_A (newest: number 7), and others around them."""
    statuses = [
        SubmissionStatus.SUBMITTED,
        SubmissionStatus.VERIFIED,
        SubmissionStatus.REJECTED,
        SubmissionStatus.REGISTERED,
        SubmissionStatus.SUBMITTED,
        SubmissionStatus.REGISTERED,
        SubmissionStatus.SUBMITTED,
    ]
    made = {}
    for i, status in enumerate(statuses, start=1):
        made[f"a{i}"] = await seed(
            harness,
            entered_by=FAC_A,
            nik=nik(i),
            name=f"Warga {i}",
            desa=GALUMBANG,
            status=status,
            reason="NIK & KK <beda>"  # typed by an admin: shown escaped once
            if status is SubmissionStatus.REJECTED
            else None,
            minutes=i,
        )
    made["b_same_desa"] = await seed(
        harness,
        entered_by=FAC_B,
        nik=nik(20),
        name="Tetangga Galumbang",
        desa=GALUMBANG,
        minutes=20,
    )
    made["b_other_desa"] = await seed(
        harness, entered_by=FAC_B, nik=nik(21), name="Orang Halong", desa=OTHER_DESA, minutes=21
    )
    made["self"] = await seed(
        harness,
        entered_by=WORKER,
        nik=nik(22),
        name="Daftar Sendiri",
        desa=GALUMBANG,
        minutes=22,
        self_registered=True,
    )
    async with harness.db.transaction() as repo:
        repo.session.add(
            RosterEntry(
                nik=nik(6),
                name="Warga 6",
                programmes="jkk,jkm",
                payer="apbd",
                coverage_start=date(2026, 1, 1),
                paid_until=date(2026, 12, 31),
            )
        )
    return made


async def test_wargaku_pages_newest_first_and_filters_by_status(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    await make_facilitator(harness, FAC_B, [OTHER_DESA], name="Nur Aisyah", phone="+6285251000009")
    made = await seed_residents(harness)
    chat = harness.chat(FAC_A)
    await chat.send("/wargaku")
    assert "Didaftarkan oleh Anda: 7 · Belum selesai: 0" in chat.last_text
    await chat.press("📋 Warga yang saya daftarkan")
    text = chat.last_text
    assert "Warga yang saya daftarkan — Semua (7)" in text
    assert [row[0] for row in chat.buttons()[:5]] == [f"{n}. Warga {8 - n}" for n in range(1, 6)]
    assert "************0006" in text
    assert nik(6) not in text
    assert "terlindungi sampai 31 Desember 2026" in text  # Warga 6 is on the roster
    assert "Berikutnya ›" in [label for row in chat.buttons() for label in row]
    await chat.press("Berikutnya ›")
    assert [row[0] for row in chat.buttons()[:2]] == ["6. Warga 2", "7. Warga 1"]
    assert "Sebelumnya" in chat.buttons()[-2][0]

    await chat.press("Tidak diterima")
    assert "Tidak diterima (1)" in chat.last_text
    assert "Warga 3" in chat.last_text
    assert "tidak diterima — NIK & KK <beda>" in chat.last_text
    await chat.press("Terlindungi")
    assert "Terlindungi (1)" in chat.last_text
    assert "Warga 6" in chat.last_text
    await chat.press("Terdaftar")
    assert "Terdaftar (2)" in chat.last_text
    await chat.press("Terkirim")
    assert "Terkirim (3)" in chat.last_text

    await chat.press("fw:home")
    await chat.press("🏘 Warga desa saya")
    text = chat.last_text
    assert "Warga desa saya — Semua (9)" in text
    assert "Orang Halong" not in text
    await chat.press("1. Daftar Sendiri")
    assert "Didaftarkan oleh: warga sendiri" in chat.last_text
    assert "+62812****7022" in chat.last_text  # another's resident: phone masked

    # A forged button for a resident of another facilitator's desa reveals nothing.
    other = made["b_other_desa"]
    reply = await forge(harness, chat, f"fw:r:{other.id}:m:all:0")
    assert STALE in reply
    assert "Orang Halong" not in reply
    reply = await forge(harness, chat, f"fw:fix:{made['b_same_desa'].id}")
    assert STALE in reply
    for data in ("fw:r:2147483648", "fw:r:²", "fw:hd:99999999999"):
        assert STALE in await forge(harness, chat, data)
    await forge(harness, chat, "fw:l:x:²:²")  # nonsense falls back to the first page of all
    assert "Warga yang saya daftarkan — Semua (7)" in chat.last_text

    actions = await audit_actions(harness, FAC_A)
    assert actions.count("facilitator.read_residents") == 8
    assert actions.count("facilitator.read_resident") == 1


async def test_rejected_registration_is_corrected_and_sent_again(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    chat = harness.chat(FAC_A)
    await chat.send("/daftarkan")
    await answer(chat, SITI)
    await chat.press("✅ Kirim")
    sub = (await submissions_by(harness, FAC_A))[0]
    async with harness.db.transaction() as repo:
        assert sub.id is not None
        await repo.admin.decide(
            submission_id=sub.id,
            status=SubmissionStatus.REJECTED,
            reason="The data is incomplete or unclear",
            now=harness.clock(),
        )
    await chat.send("/wargaku")
    await chat.press("📋 Warga yang saya daftarkan")
    await chat.press("Tidak diterima")
    await chat.press("1. Siti Aminah")
    assert "tidak diterima" in chat.last_text
    await chat.press("✏️ Perbaiki dan kirim lagi")
    assert "Alasan tidak diterima" in text_at(chat, -2)
    assert "Periksa lagi data warga" in chat.last_text
    await chat.press("✏️ Ubah")
    await chat.press("Nama")
    await chat.send("siti aminah binti ahmad")
    assert "Siti Aminah Binti Ahmad" in chat.last_text
    await chat.press("✅ Kirim")
    again = (await submissions_by(harness, FAC_A))[0]
    assert (again.id, again.reference) == (sub.id, sub.reference)  # the same row, corrected
    assert again.status == SubmissionStatus.SUBMITTED.value
    assert again.submitted_nik_index == TEST_KEYRING.index(NIK_SITI)
    assert again.rejection_reason is None
    assert "facilitator.correct" in await audit_actions(harness, FAC_A)


async def test_desa_progress_text_bar_and_chart(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        facilitator_handlers, "target_of", lambda code: 4 if code == GALUMBANG else None
    )
    await make_facilitator(harness, FAC_A, [GALUMBANG, BATA])
    await seed_residents(harness)
    chat = harness.chat(FAC_A)
    await chat.send("/wargaku")
    await chat.press("📈 Kemajuan desa")
    text = chat.last_text
    # Galumbang: 8 sent and not refused (the rejected one is not counted), Warga 6 protected.
    assert "Terdaftar: 8 · Terlindungi: 1 · Target: 4" in text
    assert "▓▓░░░░░░░░ 25%" in text
    assert "Target desa ini belum ditetapkan" in text  # Bata
    await chat.press("📊 Lihat grafik")
    photos = chat.photos()
    assert len(photos) == 1
    assert photos[0].data[:8] == b"\x89PNG\r\n\x1a\n"


async def test_help_requests_of_the_desa_can_be_marked_handled(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    async with harness.db.transaction() as repo:
        mine = await repo.claims.add_help_request(
            user_id=WORKER,
            case_id=None,
            requester_name="Ibu Yati",
            claimant="spouse",
            kecamatan_code=JUAI,
            desa_code=GALUMBANG,
            phone="+6281234567890",
            now=harness.clock(),
        )
        elsewhere = await repo.claims.add_help_request(
            user_id=WORKER + 1,
            case_id=None,
            requester_name="Pak Jaya",
            claimant=None,
            kecamatan_code=JUAI,
            desa_code=BATA,
            phone=None,
            now=harness.clock(),
        )
    chat = harness.chat(FAC_A)
    await chat.send("/wargaku")
    assert "Keluarga yang minta bantuan klaim JKM: 1" in chat.last_text
    await chat.press("🆘 Permintaan bantuan (1)")
    assert "Ibu Yati" in chat.last_text
    assert "Pak Jaya" not in chat.last_text
    assert "+62812****7890" in chat.last_text
    await chat.press(f"Kontak #{mine.id}")
    assert "Telepon: +6281234567890" in chat.last_text
    assert STALE in await forge(harness, chat, f"fw:hd:{elsewhere.id}")
    replies = await chat.press(f"Sudah ditangani #{mine.id}")
    assert any("Tidak ada permintaan bantuan keluarga" in (m.text or "") for m in replies)
    async with harness.db.transaction() as repo:
        handled = await repo.claims.get_help_request(request_id=mine.id or 0)
        untouched = await repo.claims.get_help_request(request_id=elsewhere.id or 0)
    assert handled is not None
    assert handled.handled_by == FAC_A
    assert untouched is not None
    assert untouched.handled_at is None
    actions = await audit_actions(harness, FAC_A)
    assert [a for a in actions if a.startswith("claim_help")] == [
        "claim_help.contact",
        "claim_help.handled",
    ]


async def test_poster_link_credits_a_self_registration(harness: BotHarness) -> None:
    await make_facilitator(harness, FAC_A, [GALUMBANG])
    chat = harness.chat(FAC_A)
    await chat.send("/wargaku")
    await chat.press("🔗 Link poster")
    own = re.search(
        r"Link Anda sendiri \(0 pendaftaran\):\n\S+start=(ref_[A-Z0-9]+)", chat.last_text
    )
    assert own is not None, chat.last_text
    assert "Desa Galumbang (Juai) (0 pendaftaran)" in chat.last_text

    worker = harness.chat(WORKER)
    await worker.send(f"/start {own.group(1)}")
    assert "poster fasilitator desa Rahmat Hidayat" in text_at(worker, -2)
    await worker.press("Setuju")
    for action in [
        send(NIK_ANI),
        send("ani lestari"),
        send("12-03-1990"),
        press("Ya, benar"),
        lambda c: c.share_contact("6281234567111"),
        press("Juai"),
        press("Galumbang"),
        press("reg:occ:karet"),
        press("reg:inc:under_1m"),
        press("Ya"),
        press("Tidak"),
        press("Tidak"),
        press("reg:pay:apbd"),
        press("✅ Kirim"),
    ]:
        await action(worker)
    assert "Terkirim!" in worker.last_text
    async with harness.db.transaction() as repo:
        credits = (await repo.session.exec(select(SubmissionAttribution))).all()
    assert len(credits) == 1
    await chat.press("fw:home")
    await chat.press("🔗 Link poster")
    assert "Link Anda sendiri (1 pendaftaran)" in chat.last_text


# --- permissions ----------------------------------------------------------------------------------


async def test_worker_is_refused_every_facilitator_command_and_button(harness: BotHarness) -> None:
    worker = harness.chat(WORKER)
    await worker.send("/start")
    router = facilitator_handlers.router
    for name, command in sorted(router.commands.items()):
        if command.route.roles is None:
            continue
        await worker.send(f"/{name}")
        assert REFUSED in worker.last_text, name
    for prefix, route in sorted(router.callbacks.items()):
        if route.roles is None:
            continue
        for data in (prefix, f"{prefix}:1", f"{prefix}:1:m:all:0"):
            reply = await forge(harness, worker, data)
            # A button of a conversation step is refused as stale before its role is checked.
            assert REFUSED in reply or (route.states is not None and STALE in reply), data
    menu = [label for row in worker.buttons() for label in row]
    assert "Daftarkan warga" not in menu
    assert "Warga saya" not in menu
    async with harness.db.transaction() as repo:
        assert await repo.audit.count() == 0
        invitations = (await repo.session.exec(select(FacilitatorInvitation))).all()
    assert invitations == []
