"""Registration transcripts through the fake Bot API: happy paths, every validation error, the NIK /
birth-date check, back, change from the summary, cancel and resume, duplicate NIK, unexpected
message types at every step, a burst of messages, both languages."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date

import pytest

from bot.domain import wilayah
from bot.emulator import ChatClient
from bot.settings import Settings
from storage.models import Submission
from tests.support import TEST_KEYRING, BotHarness

NIK_SITI = "6311015708850003"  # woman, born 17-08-1985, first issued in Juai
NIK_BUDI = "6311011708850002"  # man, born 17-08-1985
NIK_JAKARTA = "3171015708850003"  # issued in Jakarta
REFERENCE = re.compile(r"BLG-[2-9A-HJKMNP-Z]{6}")

Action = Callable[[ChatClient], Awaitable[object]]


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[BotHarness]:
    """The shared harness, with per-user flood control opened wide: these transcripts send far
    more messages per second than a person can (flood control has its own tests)."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    overrides = {"flood_burst": 100_000} if "flood_burst" in fields else {}
    async with BotHarness(db_url, **overrides) as h:
        yield h


def send(text: str) -> Action:
    return lambda chat: chat.send(text)


def press(label: str) -> Action:
    return lambda chat: chat.press(label)


def share() -> Action:
    return lambda chat: chat.share_contact("6281234567890")


#: The questions in order, each with a valid answer (a regency-paid candidate by default).
STEPS: list[tuple[str, Action]] = [
    ("consent", press("Setuju")),
    ("nik", send(NIK_SITI)),
    ("name", send("siti AMINAH")),
    ("birth_date", send("17 agt 1985")),
    ("sex", press("Ya, benar")),
    ("phone", share()),
    ("kecamatan", press("Juai")),
    ("desa", press("Galumbang")),
    ("occupation", press("reg:occ:karet")),
    ("income", press("reg:inc:under_1m")),
    ("screen_1", press("Ya")),
    ("screen_2", press("Tidak")),
    ("screen_3", press("Tidak")),
    ("payer", press("reg:pay:apbd")),
]
STEP_NAMES = [name for name, _ in STEPS]


async def walk(chat: ChatClient, until: str | None = None, **replace: Action) -> None:
    """/daftar, then answer every question before ``until`` (None: up to the summary)."""
    await chat.send("/daftar")
    for name, action in STEPS:
        if name == until:
            return
        await replace.get(name, action)(chat)


async def state_of(harness: BotHarness, user_id: int) -> str | None:
    async with harness.db.transaction() as repo:
        conv = await repo.conversations.get(user_id)
    return None if conv is None else conv.state


async def draft_of(harness: BotHarness, user_id: int) -> Submission:
    async with harness.db.transaction() as repo:
        sub = await repo.registration.own_draft(user_id=user_id)
    assert sub is not None, "no draft"
    return sub


async def submitted_of(harness: BotHarness, user_id: int) -> Submission:
    async with harness.db.transaction() as repo:
        sub = await repo.registration.own_submitted(user_id=user_id)
    assert sub is not None, "nothing submitted"
    return sub


def labels(chat: ChatClient) -> list[str]:
    return [label for row in chat.buttons() for label in row]


# --- happy paths ------------------------------------------------------------------------------------


async def test_pekerja_rentan_candidate_registers_start_to_finish(harness: BotHarness) -> None:
    chat = harness.chat(101)
    await chat.send("/start")
    await chat.press("Daftar")
    assert "Pendaftaran BPJS Ketenagakerjaan" in chat.last_text
    assert "menghapus" in chat.last_text  # the user's rights are stated
    assert labels(chat) == ["Setuju", "Tidak setuju"]
    async with harness.db.transaction() as repo:
        assert await repo.registration.own_draft(user_id=101) is None  # nothing before consent

    await chat.press("Setuju")
    assert "Langkah 1 dari" in chat.last_text
    assert "NIK" in chat.last_text
    replies = await chat.send("6311 0157 0885 0003")
    assert replies[0].text == "NIK disimpan: ************0003"
    assert "nama lengkap" in chat.last_text
    replies = await chat.send("siti AMINAH")
    assert replies[0].text == "Nama: Siti Aminah"  # capitalisation shown back
    await chat.send("17 agt 1985")
    assert "Menurut NIK, Anda <b>perempuan</b>" not in chat.last_text  # HTML is rendered
    assert "Menurut NIK, Anda perempuan. Benar?" in chat.last_text
    await chat.press("Ya, benar")
    keyboard = chat.reply_keyboard()
    assert keyboard[0][0].request_contact
    await chat.share_contact("6281234567890")
    assert chat.reply_keyboard() == []
    assert "kecamatan" in chat.last_text
    assert len(labels(chat)) == 8 + 1  # eight kecamatan and "Kembali"
    await chat.press("Juai")
    assert "desa atau kelurahan" in chat.last_text
    await chat.send("galombang")  # a spelling variant
    assert "Apa pekerjaan utama Anda?" in chat.last_text
    assert "Lainnya (ketik sendiri)" in labels(chat)
    await chat.press("Petani karet / penyadap karet")
    await chat.press("Di bawah Rp1.000.000")
    self_pay = next(m.text for m in reversed(chat.history) if m.text and "Jika bayar" in m.text)
    assert "Rp8.400" in self_pay  # PP 50/2025 discount in November 2026
    assert "Rp28.400" in self_pay
    assert "Pemkab yang memutuskan" in self_pay
    await chat.press("Ya")
    await chat.press("Tidak")
    await chat.press("Tidak")
    outcome = next(m.text for m in reversed(chat.history) if m.text and "Pekerja Rentan" in m.text)
    assert "mungkin termasuk Pekerja Rentan" in outcome
    assert "Pemkab yang memutuskan" in outcome
    await chat.press("Minta dibayar Pemkab")

    summary = chat.last_text
    assert "Periksa lagi data Anda" in summary
    assert "NIK: ************0003" in summary
    assert NIK_SITI not in summary
    assert "Nama: Siti Aminah" in summary
    assert "Tanggal lahir: 17 Agustus 1985" in summary
    assert "Jenis kelamin: Perempuan" in summary
    assert "Nomor HP: +6281234567890" in summary
    assert "Tempat tinggal: Galumbang, Kec. Juai" in summary
    assert "Pekerjaan: Petani karet / penyadap karet" in summary
    assert "Penghasilan: Di bawah Rp1.000.000" in summary
    assert "Iuran: Rp16.800 per bulan (JKK + JKM), dibayar Pemkab" in summary
    assert labels(chat) == ["✅ Kirim", "✏️ Ubah", "✖️ Batal"]

    await chat.press("✅ Kirim")
    assert "Terkirim!" in chat.last_text
    reference = REFERENCE.search(chat.last_text)
    assert reference is not None
    assert "/daftar" in chat.last_text
    assert await state_of(harness, 101) is None

    sub = await submitted_of(harness, 101)
    assert sub.reference == reference.group(0)
    assert sub.status == "submitted"
    assert (sub.nik, sub.submitted_nik_index) == (NIK_SITI, TEST_KEYRING.index(NIK_SITI))
    assert sub.full_name == "Siti Aminah"
    assert sub.birth_date == date(1985, 8, 17)
    assert sub.sex == "female"
    assert sub.phone == "+6281234567890"
    assert (sub.kecamatan_code, sub.desa_code) == ("63.11.01", "63.11.01.2006")
    assert (sub.occupation_code, sub.occupation_text) == ("karet", None)
    assert (sub.income_code, sub.contribution_base) == ("under_1m", 1_000_000)
    assert sub.screening_answers == {
        "self_employed": True,
        "civil_servant": False,
        "covered_elsewhere": False,
    }
    assert sub.rentan_candidate is True
    assert (sub.payer, sub.with_jht) == ("apbd", False)
    # Regency-paid workers get no PP 50/2025 discount.
    assert (sub.contribution_total, sub.contribution_discount) == (16_800, None)
    assert sub.contribution_estimate is False
    assert sub.tariff_date == date(2026, 11, 21)
    assert (sub.warn_date_mismatch, sub.warn_sex_mismatch, sub.warn_nik_outside) == (False,) * 3
    assert (sub.owner_user_id, sub.entered_by_user_id, sub.entered_by_role) == (101, 101, "self")
    assert sub.submitted_at is not None
    async with harness.db.transaction() as repo:
        consents = await repo.registration.consents_for(sub.id or 0)
    assert [(c.kind, c.text_version, c.subject_user_id) for c in consents] == [
        ("self", "reg-consent-2026-1", 101)
    ]

    # Coming back: the status and the reference, not a new registration.
    await chat.send("/daftar")
    assert f"Anda sudah mendaftar: nomor {sub.reference}" in chat.last_text
    assert "menunggu diperiksa Pemkab" in chat.last_text


async def test_self_payer_with_jht_and_an_estimated_contribution(harness: BotHarness) -> None:
    chat = harness.chat(102)
    await walk(
        chat,
        until="screen_1",
        occupation=press("reg:occ:ojek"),
        income=press("reg:inc:3m_5m"),
    )
    estimate = next(m.text for m in reversed(chat.history) if m.text and "Jika bayar" in m.text)
    assert "sekitar <b>" not in estimate
    assert "sekitar Rp23.400" in estimate  # (1% of Rp4.000.000 + Rp6.800) halved: transport
    assert "perkiraan" in estimate
    await chat.press("Ya")
    await chat.press("Tidak")
    await chat.press("Tidak")
    # Income is not low: the "irregular income" question decides.
    assert "penghasilan Anda sering berubah-ubah" in chat.last_text
    await chat.press("Tidak")
    outcome = next(m.text for m in reversed(chat.history) if m.text and "Dari jawaban" in m.text)
    assert "tidak termasuk" in outcome
    assert "tabungan hari tua (JHT)" in chat.last_text
    await chat.press("Ya, tambah JHT")
    summary = chat.last_text
    assert "Iuran: sekitar Rp103.400 per bulan (JKK + JKM + JHT), dibayar sendiri" in summary
    await chat.press("✅ Kirim")
    sub = await submitted_of(harness, 102)
    assert (sub.payer, sub.with_jht, sub.rentan_candidate) == ("self", True, False)
    assert sub.contribution_total == 103_400  # JHT Rp80.000 is not discounted
    assert sub.contribution_estimate is True
    assert sub.contribution_discount == "pp50_2025_transport"
    assert sub.screening_answers["irregular_income"] is False


async def test_a_ruled_out_worker_is_asked_no_more_screening_questions(
    harness: BotHarness,
) -> None:
    chat = harness.chat(103)
    await walk(chat, until="screen_2")
    await chat.press("Ya")  # civil servant
    assert "tabungan hari tua (JHT)" in chat.last_text
    assert "Rp8.400" in chat.last_text
    await chat.press("Tidak, JKK + JKM saja")
    assert "Iuran: Rp8.400 per bulan (JKK + JKM), dibayar sendiri" in chat.last_text


async def test_a_candidate_may_choose_to_pay_themselves(harness: BotHarness) -> None:
    chat = harness.chat(104)
    await walk(chat, until="payer")
    await chat.press("reg:pay:self")
    assert "tabungan hari tua (JHT)" in chat.last_text
    await chat.press("Tidak, JKK + JKM saja")
    await chat.press("✅ Kirim")
    sub = await submitted_of(harness, 104)
    assert (sub.payer, sub.contribution_total) == ("self", 8_400)


async def test_english_user_registers_in_english(harness: BotHarness) -> None:
    chat = harness.chat(105, language_code="en")
    await chat.send("/daftar")
    assert "Do you agree?" in chat.last_text
    await chat.press("I agree")
    assert "Step 1 of" in chat.last_text
    await chat.send("12345")
    assert chat.history[-2].text == "A NIK must have 16 digits; you typed 5."
    await chat.send(NIK_SITI)
    await chat.send("Siti Aminah")
    await chat.send("17/8/85")
    assert any("Date of birth: August 17, 1985" in (m.text or "") for m in chat.history)
    await chat.press("Yes, that is right")
    await chat.send("0812-3456-7890")
    await chat.press("Juai")
    await chat.press("Galumbang")
    await chat.press("reg:occ:karet")
    await chat.press("reg:inc:under_1m")
    assert any("Rp8,400" in (m.text or "") for m in chat.history)
    await chat.press("Yes")
    await chat.press("Yes")  # a civil servant
    await chat.press("No, JKK + JKM only")
    assert "Please check your data" in chat.last_text
    assert "Contribution: Rp8,400 per month (JKK + JKM), paid by you" in chat.last_text
    await chat.press("✅ Send")
    assert "Your registration number is" in chat.last_text


async def test_switching_language_mid_flow_repeats_the_question(harness: BotHarness) -> None:
    chat = harness.chat(106)
    await walk(chat, until="birth_date")
    await chat.send("/bahasa")
    await chat.press("English")
    assert "Type your date of birth" in chat.last_text
    await chat.send("17-08-1985")
    assert "According to your NIK you are female" in chat.last_text


async def test_age_limits_come_from_the_settings(db_url: str) -> None:
    async with BotHarness(db_url, min_age=18, max_age=60) as harness:
        chat = harness.chat(107)
        await walk(chat, until="birth_date")
        answer = await reply_to(chat, "17-08-2010")
        assert "usia 18 tahun ke atas; menurut tanggal ini usianya 16 tahun" in answer
        answer = await reply_to(chat, "17-08-1960")
        assert "usia paling tua 60 tahun" in answer


# --- validation errors at each step --------------------------------------------------------------


async def reply_to(chat: ChatClient, text: str) -> str:
    """Send ``text`` and return the first message the bot answered with."""
    replies = await chat.send(text)
    assert replies, f"no answer to {text!r}"
    return replies[0].text or ""


NIK_ERRORS = [
    ("12345", "NIK harus 16 angka, Anda mengetik 5."),
    ("6311 0157 0885 000", "NIK harus 16 angka, Anda mengetik 15."),
    ("63110157O8850003", "NIK hanya berisi angka. Hapus huruf atau tanda ini: O"),
    ("1111111111111111", "semua angkanya sama"),
    ("9911015708850003", "tidak bisa diawali 99"),
    ("6311013508850003", "Angka ke-7 dan ke-8"),
    ("6311011713850003", "Angka ke-9 dan ke-10"),
    ("6311013102850003", "Tanggal lahir di NIK ini (310285) tidak ada"),
    ("6311011708850000", "tidak mungkin 0000"),
]


async def test_nik_errors_each_get_their_own_explanation(harness: BotHarness) -> None:
    chat = harness.chat(110)
    await walk(chat, until="nik")
    for typed, expected in NIK_ERRORS:
        answer = await reply_to(chat, typed)
        assert expected in answer, typed
        assert "Ketik NIK Anda" in chat.last_text, typed  # the same question again
        assert await state_of(harness, 110) == "reg.nik"
    assert (await draft_of(harness, 110)).nik is None


async def test_errors_at_every_typed_step_repeat_the_question(harness: BotHarness) -> None:
    chat = harness.chat(111)
    await walk(chat, until="name")
    for typed, expected in [
        ("Siti123", "hapus yang ini: 123"),
        ("...", "Silakan ketik nama dengan huruf."),
        ("A", "Nama terlalu pendek: paling sedikit 2 huruf."),
        ("A" * 101, "Nama terlalu panjang: paling banyak 100 huruf."),
    ]:
        assert expected in await reply_to(chat, typed)
        assert "nama lengkap" in chat.last_text
    await chat.send("Siti Aminah")

    for typed, expected in [
        ("kemarin", "Tanggal itu tidak bisa saya baca."),
        ("31-02-1985", "Tanggal itu tidak ada."),
        ("17-08-2030", "Tanggal itu belum terjadi."),
        ("17-08-2015", "usia 15 tahun ke atas; menurut tanggal ini usianya 11 tahun"),
        ("17-08-1950", "usia paling tua 65 tahun; menurut tanggal ini usianya 76 tahun"),
    ]:
        assert expected in await reply_to(chat, typed)
        assert "tanggal lahir" in chat.last_text
    await chat.send("17-08-1985")
    await chat.press("Ya, benar")

    for typed, expected in [
        ("abc", "Nomor HP hanya berisi angka"),
        ("+1 202 555 0100", "Masukkan nomor HP Indonesia"),
        ("021 555 1234", "Itu bukan nomor HP."),
        ("0812", "Nomor itu terlalu pendek."),
        ("0812345678901234", "Nomor itu terlalu panjang."),
    ]:
        assert expected in await reply_to(chat, typed)
        assert "Nomor HP</b>" not in chat.last_text
        assert "Nomor HP Anda" in chat.last_text
        assert chat.reply_keyboard()[0][0].request_contact
    await chat.send("+62 812 3456 7890")
    assert (await draft_of(harness, 111)).phone == "+6281234567890"

    assert "tidak ada di Balangan" in await reply_to(chat, "Banjarmasin")
    await chat.send("parin")
    assert chat.last_text == "Apakah maksud Anda salah satu ini?"
    assert labels(chat) == ["Paringin", "Paringin Selatan", "« Kembali"]
    await chat.press("Paringin")
    assert "“zzzz” tidak ditemukan" in await reply_to(chat, "zzzz")
    await chat.send("Lokbatung")
    assert (await draft_of(harness, 111)).desa_code == "63.11.06.2014"

    await chat.press("reg:occ:lainnya")
    for typed, expected in [
        ("1234", "Tuliskan pekerjaan dengan huruf."),
        ("ab", "paling sedikit 3 huruf"),
        ("a" * 61, "paling banyak 60 huruf"),
    ]:
        assert expected in await reply_to(chat, typed)
    await chat.send("penjahit   baju")
    assert (await draft_of(harness, 111)).occupation_text == "penjahit baju"
    assert await state_of(harness, 111) == "reg.income"


async def test_desa_typed_in_another_kecamatan_is_offered(harness: BotHarness) -> None:
    chat = harness.chat(112)
    await walk(chat, until="desa")
    await chat.send("lok batung")  # chosen kecamatan is Juai; Lok Batung is in Paringin
    assert "Lok Batung (Kec. Paringin)" in labels(chat)
    await chat.press("Lok Batung (Kec. Paringin)")
    sub = await draft_of(harness, 112)
    assert (sub.kecamatan_code, sub.desa_code) == ("63.11.06", "63.11.06.2014")


async def test_desa_list_is_paged(harness: BotHarness) -> None:
    chat = harness.chat(113)
    await walk(chat, until="kecamatan")
    await chat.press("Lampihong")  # 27 desa: two pages
    first_page = labels(chat)
    assert "Berikutnya ›" in first_page
    message_id = chat.last.message_id if chat.last else 0
    await chat.press("Berikutnya ›")
    assert chat.last is not None
    assert chat.last.message_id == message_id  # the same message, edited
    second_page = labels(chat)
    assert "‹ Sebelumnya" in second_page
    assert not set(first_page) & set(second_page) - {"« Kembali"}
    desa = second_page[0]
    await chat.press(desa)
    sub = await draft_of(harness, 113)
    lampihong = wilayah.find_kecamatan("Lampihong")[0].item
    assert sub.kecamatan_code == lampihong.code
    assert sub.desa_code in {d.code for d in wilayah.desa_list(lampihong.code)}


# --- warnings: NIK / birth date / sex / place of issue -------------------------------------------


async def test_birth_date_that_differs_from_the_nik_is_confirmed_not_refused(
    harness: BotHarness,
) -> None:
    chat = harness.chat(120)
    await walk(chat, until="sex", birth_date=send("18-08-1985"))
    assert "Menurut NIK, Anda lahir 17 Agustus 1985, tetapi Anda mengetik 18 Agustus 1985" in (
        chat.last_text
    )
    await chat.press("Ketik ulang tanggal lahir")
    assert "tanggal lahir" in chat.last_text
    await chat.send("18-08-1985")
    assert "Mana yang benar?" in chat.last_text
    await chat.press("18 Agustus 1985 yang benar")
    assert "Menurut NIK, Anda perempuan" in chat.last_text
    sub = await draft_of(harness, 120)
    assert sub.birth_date == date(1985, 8, 18)
    assert sub.warn_date_mismatch is True

    # Correcting the NIK from the check instead: a NIK that agrees clears the warning.
    chat2 = harness.chat(121)
    await walk(chat2, until="sex", birth_date=send("17-08-1986"))
    await chat2.press("Perbaiki NIK")
    await chat2.send("6311015708860003")
    assert "Menurut NIK, Anda perempuan" in chat2.last_text
    sub2 = await draft_of(harness, 121)
    assert (sub2.nik, sub2.warn_date_mismatch) == ("6311015708860003", False)


async def test_sex_other_than_the_nik_is_kept_with_a_warning(harness: BotHarness) -> None:
    chat = harness.chat(122)
    await walk(chat, until="phone", sex=press("Bukan, saya laki-laki"))
    assert any("bukan nomor Kartu Keluarga" in (m.text or "") for m in chat.history)
    await walk_rest(chat, after="sex")
    assert "Jenis kelamin berbeda dengan NIK." in chat.last_text
    sub = await draft_of(harness, 122)
    assert (sub.sex, sub.warn_sex_mismatch) == ("male", True)


async def test_nik_from_outside_balangan_is_accepted_with_a_note(harness: BotHarness) -> None:
    chat = harness.chat(123)
    await walk(chat, until="name", nik=send(NIK_JAKARTA))
    assert any("terbit di luar Balangan" in (m.text or "") for m in chat.history)
    await walk_rest(chat, after="nik")
    assert "NIK pertama kali terbit di luar Balangan." in chat.last_text
    assert (await draft_of(harness, 123)).warn_nik_outside is True


async def walk_rest(chat: ChatClient, *, after: str) -> None:
    """Answer every question after ``after`` up to the summary."""
    for _name, action in STEPS[STEP_NAMES.index(after) + 1 :]:
        await action(chat)


# --- back, change from the summary, cancel and resume --------------------------------------------


async def test_back_goes_one_question_back_and_returns_where_the_user_was(
    harness: BotHarness,
) -> None:
    chat = harness.chat(130)
    await walk(chat, until="kecamatan")
    await chat.press("« Kembali")
    assert "Nomor HP</b>" not in chat.last_text
    assert "Nomor HP Anda" in chat.last_text
    await chat.send("Kembali")  # the reply keyboard's "Kembali"
    assert "Menurut NIK, Anda perempuan" in chat.last_text
    await chat.press("« Kembali")
    assert "tanggal lahir" in chat.last_text
    await chat.send("18-08-1985")  # a new answer, then straight back to where the user was
    await chat.press("18 Agustus 1985 yang benar")
    assert "Pilih <b>kecamatan" not in chat.last_text
    assert "Pilih kecamatan" in chat.last_text
    sub = await draft_of(harness, 130)
    assert sub.birth_date == date(1985, 8, 18)
    assert (sub.full_name, sub.phone) == ("Siti Aminah", "+6281234567890")

    # The first question has no "Kembali"; typing it there just repeats the question.
    await chat.press("Juai")
    await chat.press("Galumbang")
    await chat.press("« Kembali")
    assert "desa atau kelurahan" in chat.last_text
    await chat.press("« Kembali")
    assert "Pilih kecamatan" in chat.last_text


async def test_back_inside_the_screening_questions(harness: BotHarness) -> None:
    chat = harness.chat(131)
    await walk(chat, until="screen_3")
    assert "BPJS Ketenagakerjaan" in chat.last_text  # the third question
    await chat.press("« Kembali")
    assert "PNS" in chat.last_text  # the second question again
    await chat.press("Ya")  # now a civil servant: ruled out, no third question
    assert "tabungan hari tua (JHT)" in chat.last_text
    await chat.press("« Kembali")
    assert "PNS" in chat.last_text


async def test_stale_back_button_is_refused_politely(harness: BotHarness) -> None:
    chat = harness.chat(132)
    await walk(chat, until="birth_date")
    old_name_message = next(
        m for m in reversed(chat.history) if m.from_bot and "nama lengkap" in (m.text or "")
    )
    await chat.press("« Kembali", message_id=old_name_message.message_id)
    assert chat.last_answer is not None
    assert chat.last_answer.text == "Tombol ini sudah tidak berlaku."
    assert "tanggal lahir" in chat.last_text
    assert await state_of(harness, 132) == "reg.birth_date"


async def test_change_one_field_from_the_summary(harness: BotHarness) -> None:
    chat = harness.chat(133)
    await walk(chat)
    await chat.press("✏️ Ubah")
    assert chat.last_text == "Apa yang mau diubah?"
    await chat.press("Nama")
    assert "nama lengkap" in chat.last_text
    await chat.send("Siti Nurhaliza")
    assert "Periksa lagi data Anda" in chat.last_text
    assert "Nama: Siti Nurhaliza" in chat.last_text
    assert "Tempat tinggal: Galumbang, Kec. Juai" in chat.last_text

    # A new kecamatan needs a new desa, then it is back to the summary.
    await chat.press("✏️ Ubah")
    await chat.press("Kecamatan")
    await chat.press("Halong")
    assert "desa atau kelurahan" in chat.last_text
    await chat.send("Mauya")
    assert "Tempat tinggal: Mauya, Kec. Halong" in chat.last_text

    # Going back from a change returns to the summary without changing anything.
    await chat.press("✏️ Ubah")
    await chat.press("Nomor HP")
    await chat.send("Kembali")
    assert "Periksa lagi data Anda" in chat.last_text
    assert "+6281234567890" in chat.last_text

    # The screening questions are asked again as a whole.
    await chat.press("✏️ Ubah")
    await chat.press("Pertanyaan Pekerja Rentan")
    await chat.press("Tidak")  # not self-employed now: ruled out
    assert "tabungan hari tua (JHT)" in chat.last_text
    await chat.press("Tidak, JKK + JKM saja")
    assert "dibayar sendiri" in chat.last_text
    await chat.press("✅ Kirim")
    sub = await submitted_of(harness, 133)
    assert sub.full_name == "Siti Nurhaliza"
    halong = wilayah.find_kecamatan("Halong")[0].item
    assert sub.desa_code == wilayah.find_desa(halong.code, "Mauya")[0].item.code
    assert (sub.payer, sub.rentan_candidate) == ("self", False)


async def test_cancel_save_and_resume_later(harness: BotHarness) -> None:
    chat = harness.chat(134)
    await walk(chat, until="phone")
    await chat.send("/batal")
    assert "Berhenti mendaftar?" in chat.last_text
    await chat.press("Simpan draf")
    assert "Draf disimpan" in chat.last_text
    assert await state_of(harness, 134) is None

    harness.clock.advance(days=3)
    await chat.send("/daftar")
    assert "belum selesai (langkah 5 dari" in chat.last_text
    assert labels(chat) == ["Lanjutkan", "Mulai baru"]
    await chat.press("Lanjutkan")
    assert "Nomor HP Anda" in chat.last_text
    await chat.share_contact("6281234567890")
    assert "Pilih kecamatan" in chat.last_text
    sub = await draft_of(harness, 134)
    assert (sub.full_name, sub.phone) == ("Siti Aminah", "+6281234567890")


async def test_cancel_continue_returns_to_the_same_question(harness: BotHarness) -> None:
    chat = harness.chat(135)
    await walk(chat, until="income")
    await chat.send("/batal")
    await chat.press("Lanjut mendaftar")
    assert "penghasilan Anda per bulan" in chat.last_text


async def test_cancel_and_delete_keeps_only_the_withdrawn_consent(harness: BotHarness) -> None:
    chat = harness.chat(136)
    await walk(chat, until="birth_date")
    await chat.send("/batal")
    await chat.press("Hapus jawaban saya")
    assert "Jawaban Anda sudah dihapus." in chat.last_text
    async with harness.db.transaction() as repo:
        assert await repo.registration.own_draft(user_id=136) is None
        consents = await repo.registration.consents_given_by(136)
    assert len(consents) == 1
    assert consents[0].submission_id is None
    assert consents[0].withdrawn_at is not None
    await chat.send("/daftar")
    assert "Apakah Anda setuju?" in chat.last_text


async def test_start_again_discards_the_old_draft(harness: BotHarness) -> None:
    chat = harness.chat(137)
    await walk(chat, until="birth_date")
    old = await draft_of(harness, 137)
    await chat.send("/daftar")
    await chat.press("Mulai baru")
    assert "Apakah Anda setuju?" in chat.last_text
    await chat.press("Setuju")
    new = await draft_of(harness, 137)
    assert new.reference != old.reference
    assert new.full_name is None
    async with harness.db.transaction() as repo:
        assert [
            c.withdrawn_at is None for c in await repo.registration.consents_given_by(137)
        ] == [
            False,
            True,
        ]


async def test_cancel_from_the_summary_and_refusing_consent(harness: BotHarness) -> None:
    chat = harness.chat(138)
    await walk(chat)
    await chat.press("✖️ Batal")
    assert "Berhenti mendaftar?" in chat.last_text
    await chat.press("Simpan draf")
    await chat.send("/daftar")
    await chat.press("Lanjutkan")
    assert "Periksa lagi data Anda" in chat.last_text

    other = harness.chat(139)
    await other.send("/daftar")
    await other.press("Tidak setuju")
    assert "tidak meminta dan tidak menyimpan data Anda" in other.last_text
    assert await state_of(harness, 139) is None
    async with harness.db.transaction() as repo:
        assert await repo.registration.own_draft(user_id=139) is None
        assert await repo.registration.consents_given_by(139) == []


# --- duplicate NIK ---------------------------------------------------------------------------------


async def test_a_submitted_nik_is_not_registered_twice(harness: BotHarness) -> None:
    first = harness.chat(140)
    await walk(first)
    await first.press("✅ Kirim")
    reference = (await submitted_of(harness, 140)).reference

    second = harness.chat(141)
    await walk(second, until="nik")
    answer = await reply_to(second, "6311-0157-0885-0003")
    assert "NIK ini sudah didaftarkan (status: terkirim, menunggu diperiksa Pemkab)" in answer
    assert reference not in answer
    assert "Siti" not in answer
    assert "Ketik NIK Anda" in second.last_text
    assert (await draft_of(harness, 141)).nik is None


async def test_the_database_decides_when_two_drafts_race_to_submit(harness: BotHarness) -> None:
    a, b = harness.chat(142), harness.chat(143)
    await walk(a)
    await walk(b)  # both typed the same NIK before either submitted
    await a.press("✅ Kirim")
    replies = await b.press("✅ Kirim")
    assert any("NIK ini sudah didaftarkan" in (m.text or "") for m in replies)
    assert "Ketik NIK Anda" in b.last_text
    assert (await draft_of(harness, 143)).status == "draft"
    await b.send(NIK_BUDI)
    # A man's NIK: the sex is confirmed again, then straight back to the summary.
    assert "Menurut NIK, Anda laki-laki" in b.last_text
    await b.press("Ya, benar")
    assert "Periksa lagi data Anda" in b.last_text
    await b.press("✅ Kirim")
    assert (await submitted_of(harness, 143)).nik == NIK_BUDI


# --- anything unexpected, at every step ------------------------------------------------------------


async def test_unexpected_messages_at_every_step_get_the_question_again(
    harness: BotHarness,
) -> None:
    chat = harness.chat(150)
    await chat.send("/daftar")
    for name, action in [*STEPS, ("summary", press("✏️ Ubah")), ("edit", press("Nama"))]:
        state = await state_of(harness, 150)
        question = chat.last_text
        for unexpected in (
            chat.send_sticker,
            chat.send_photo,
            chat.send_voice,
            chat.send_location,
        ):
            replies = await unexpected()
            assert replies, f"silence at {name} after {unexpected.__name__}"
            assert await state_of(harness, 150) == state, name
            assert chat.last_text == question, name
        if name not in {"nik", "name", "birth_date", "phone", "kecamatan", "desa"}:
            replies = await chat.send("halo")
            assert replies[0].text == "Silakan jawab dengan salah satu tombol di bawah.", name
            assert chat.last_text == question, name
        await action(chat)
    assert "nama lengkap" in chat.last_text


# --- a burst of messages ---------------------------------------------------------------------------


async def test_a_burst_of_answers_is_handled_in_order(harness: BotHarness) -> None:
    chat = harness.chat(160)
    await walk(chat, until="nik")
    for text in (NIK_SITI, "Siti Aminah", "17-08-1985"):
        await harness.emu.send_text(160, text)
    await harness.settle()
    bot_texts = [m.text or "" for m in chat.history if m.from_bot]
    acknowledgements = [t for t in bot_texts if t.startswith(("NIK disimpan", "Nama:", "Tanggal"))]
    assert acknowledgements == [
        "NIK disimpan: ************0003",
        "Nama: Siti Aminah",
        "Tanggal lahir: 17 Agustus 1985",
    ]
    assert "Menurut NIK, Anda perempuan" in chat.last_text
    sub = await draft_of(harness, 160)
    assert (sub.nik, sub.full_name, sub.birth_date) == (NIK_SITI, "Siti Aminah", date(1985, 8, 17))
    assert await state_of(harness, 160) == "reg.sex"


async def test_menu_entry_and_command_are_registered(harness: BotHarness) -> None:
    chat = harness.chat(170)
    await chat.send("/start")
    assert labels(chat)[0] == "Daftar"
    commands = dict(harness.emu.commands(language_code="id"))
    assert commands["daftar"] == "Daftar perlindungan JKK dan JKM"
    assert dict(harness.emu.commands(language_code="en"))["daftar"] == (
        "Register for JKK and JKM protection"
    )
