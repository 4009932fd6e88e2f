"""The JKM claim guide end to end: transcripts through the Bot API emulator.

Amounts are checked against FACTS.md §4 (JKM Rp42,000,000 = 20 + 12 + 10 million; JKK death
Rp70,000,000 at the Rp1,000,000 base; scholarship per level, up to Rp87,000,000 per child).
"""

from __future__ import annotations

import re
import zlib
from datetime import date, timedelta

import pytest

from bot.emulator import ChatClient
from bot.emulator.model import StoredMessage
from storage.models.claims import ClaimCase, ClaimCaseStatus
from storage.models.coverage import RosterEntry
from tests.support import ADMIN_ID, BotHarness

DECEASED_NIK = "6311014107850001"  # a woman born 1 July 1985, first registered in Juai
NOT_ACTIVE_TEXT = "tidak membayar JKM"
UNKNOWN_TEXT = "Tidak apa-apa. Klaim dibayar jika petugas"


# --- helpers -------------------------------------------------------------------------------------


def _doc_codes(chat: ChatClient) -> list[str]:
    """Document codes of the checklist on screen (from the tick buttons' data)."""
    return [
        data.removeprefix("klaim:doc:")
        for row in chat.button_data()
        for data in row
        if data and data.startswith("klaim:doc:")
    ]


async def _case(harness: BotHarness, user_id: int) -> ClaimCase:
    async with harness.db.transaction() as repo:
        case = await repo.claims.open_case(user_id=user_id)
    assert case is not None
    return case


async def _to_benefit(
    chat: ChatClient,
    *,
    covered: str = "Ya",
    cause: str = "Sakit atau sebab lain",
    who: str = "Istri / suami",
) -> None:
    """/klaim up to the benefit breakdown (a spouse or child heir: no further heir question)."""
    await chat.send("/klaim")
    await chat.press(covered)
    await chat.press(cause)
    await chat.press(who)


async def _to_checklist(chat: ChatClient, **kwargs: str) -> None:
    await _to_benefit(chat, **kwargs)
    await chat.press("Berikutnya")  # benefit
    await chat.press("Tidak ada")  # no children in school


async def _to_summary(chat: ChatClient, *, nik: str | None = DECEASED_NIK, **kwargs: str) -> None:
    await _to_checklist(chat, **kwargs)
    await chat.press("Berikutnya")  # checklist
    await chat.press("Berikutnya")  # offices
    if nik is None:
        await chat.press("Lewati")
    else:
        await chat.send(nik)


def _said(replies: list[StoredMessage]) -> str:
    """Every text the bot sent or edited in one step."""
    return "\n".join(m.text or "" for m in replies)


def pdf_text(data: bytes) -> str:
    """The text drawn on the pages of an fpdf2 PDF (Helvetica, Flate-compressed streams)."""
    found = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            content = stream
        for literal in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", content, re.S):
            found.append(literal.replace(b"\\(", b"(").replace(b"\\)", b")").decode("latin-1"))
    return " ".join(found)


def pdf_pages(data: bytes) -> int:
    """The page count of the PDF's page tree."""
    match = re.search(rb"/Count (\d+)", data)
    assert match is not None
    return int(match.group(1))


# --- entry ---------------------------------------------------------------------------------------


async def test_menu_entry_and_command(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    labels = [label for row in chat.buttons() for label in row]
    assert "Klaim JKM" in labels
    assert dict(chat.menu())["klaim"] == "Panduan klaim JKM untuk keluarga"
    assert "bantuanklaim" not in dict(chat.menu())  # the admin command stays out of the menu
    await chat.press("Klaim JKM")
    assert "Apakah almarhum/almarhumah terdaftar dan aktif?" in chat.last_text


async def test_opens_with_condolence_and_what_jkm_is(harness: BotHarness) -> None:
    chat = harness.chat()
    replies = await chat.send("/klaim")
    first, question = replies[0].text or "", replies[-1].text or ""
    assert first.startswith("Kami turut berduka cita")
    assert "Jaminan Kematian" in first
    assert "Rp42.000.000" in first
    assert "/batal" in first
    assert "tidak menunggak lebih dari 3 bulan" in question
    assert chat.buttons() == [
        ["Ya"],
        ["Tidak"],
        ["Tidak tahu"],
        ["Cek dengan NIK dan tanggal lahir"],
        ["Kembali"],
    ]


async def test_english_speaker_gets_english(harness: BotHarness) -> None:
    chat = harness.chat(2001, language_code="en")
    replies = await chat.send("/claim")
    assert (replies[0].text or "").startswith("We are deeply sorry for your loss")
    assert "Rp42,000,000" in (replies[0].text or "")
    await chat.press("Yes")
    assert "How did the deceased die?" in chat.last_text


# --- step 2: membership --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "stored", "says", "benefit_note", "summary_status"),
    [
        ("Ya", "active", None, "Dibayar sekaligus", "aktif"),
        ("Tidak", "nonaktif", NOT_ACTIVE_TEXT, "hanya dibayar jika", "tidak terdaftar"),
        ("Tidak tahu", "unknown", UNKNOWN_TEXT, "dibayar jika petugas", "belum diketahui"),
    ],
)
async def test_membership_answers(
    harness: BotHarness,
    answer: str,
    stored: str,
    says: str | None,
    benefit_note: str,
    summary_status: str,
) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    replies = await chat.press(answer)
    texts = " ".join(m.text or "" for m in replies)
    if says is None:
        assert NOT_ACTIVE_TEXT not in texts
        assert UNKNOWN_TEXT not in texts
    else:
        assert says in texts
    assert "Apa penyebab meninggalnya?" in chat.last_text
    await chat.press("Sakit atau sebab lain")
    await chat.press("Anak")
    assert "Rp42.000.000" in chat.last_text
    assert benefit_note in chat.last_text
    case = await _case(harness, chat.user_id)
    assert case.membership == stored
    assert not case.membership_checked
    await chat.press("Berikutnya")
    await chat.press("Tidak ada")
    await chat.press("Berikutnya")
    await chat.press("Berikutnya")
    await chat.press("Lewati")
    assert f"Kepesertaan pada hari meninggal: {summary_status}" in chat.history[-2].text


# --- step 3: cause -------------------------------------------------------------------------------


async def test_jkm_benefit_breakdown_matches_facts(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_benefit(chat)
    text = chat.last_text
    assert "Yang diterima ahli waris (JKM)" in text
    for amount in ("Rp20.000.000", "Rp12.000.000", "Rp10.000.000", "Total: Rp42.000.000"):
        assert amount in text
    assert "PP 82/2019" in text
    case = await _case(harness, chat.user_id)
    assert case.cause == "jkm"


async def test_work_accident_explains_jkk_route(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Ya")
    replies = await chat.press("Kecelakaan kerja")
    jkk = replies[-2].text or ""
    assert "klaim lewat JKK" in jkk
    assert "Rp70.000.000" in jkk
    assert "Rp1.000.000" in jkk
    assert "2×24 jam" in jkk
    assert "175" in jkk
    assert "silakan konfirmasi batas waktu" in jkk.lower()  # the 2×24 h duty is [C1]
    await chat.press("Anak")
    text = chat.last_text
    assert "Yang diterima ahli waris (JKK, kecelakaan kerja)" in text
    for amount in ("Rp48.000.000", "Rp10.000.000", "Rp12.000.000", "Total: Rp70.000.000"):
        assert amount in text
    # No minimum contribution period for JKK: the years question is skipped.
    await chat.press("Berikutnya")
    assert "tidak ada syarat lama iuran" in chat.last_text
    await chat.press("1")
    assert "Anak ke-1" in chat.last_text
    await chat.press("klaim:level:0:pt")
    assert "Rp60.000.000" in chat.history[-2].text  # 5 years × Rp12,000,000
    assert "accident_report" in _doc_codes(chat)
    assert "child_birth_certificate" in _doc_codes(chat)


# --- step 4: heirs -------------------------------------------------------------------------------

HEIR_CASES = [
    # label, closer-heir answer, expected verdict text, documents included, excluded
    ("Istri / suami", None, "Sebagai istri / suami", {"marriage_book"}, {"power_of_attorney"}),
    ("Anak", None, "Sebagai anak", set(), {"marriage_book", "power_of_attorney"}),
    ("Ayah / ibu", "Tidak ada", "Sebagai ayah / ibu", set(), {"power_of_attorney"}),
    ("Cucu", "Tidak ada", "Sebagai cucu", set(), {"power_of_attorney"}),
    ("Kakek / nenek", "Tidak ada", "Sebagai kakek / nenek", set(), {"power_of_attorney"}),
    (
        "Saudara kandung",
        "Ya, masih ada",
        "Klaim menjadi hak ahli waris yang lebih dekat",
        {"power_of_attorney", "ektp_proxy"},
        {"marriage_book"},
    ),
    (
        "Mertua",
        "Tidak tahu",
        "Hanya bisa mengajukan jika tidak ada lagi yang hidup dari: istri / suami, anak, "
        "ayah / ibu, cucu, kakek / nenek, saudara kandung",
        set(),
        {"power_of_attorney"},
    ),
    ("Orang yang ditunjuk dalam wasiat", "Tidak ada", "Sebagai orang yang ditunjuk", set(), set()),
]


@pytest.mark.parametrize(("who", "closer", "verdict", "included", "excluded"), HEIR_CASES)
async def test_each_heir_type(
    harness: BotHarness,
    who: str,
    closer: str | None,
    verdict: str,
    included: set[str],
    excluded: set[str],
) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Ya")
    await chat.press("Sakit atau sebab lain")
    replies = await chat.press(who)
    if closer is not None:
        assert "Apakah masih ada yang hidup dari:" in chat.last_text
        assert "istri / suami, anak" in chat.last_text
        replies = await chat.press(closer)
    texts = " ".join(m.text or "" for m in replies)
    assert verdict in texts
    assert "Yang diterima ahli waris (JKM)" in chat.last_text
    await chat.press("Berikutnya")
    await chat.press("Tidak ada")
    codes = set(_doc_codes(chat))
    assert included <= codes
    assert not excluded & codes
    case = await _case(harness, chat.user_id)
    assert case.claimant == case.heir
    assert (
        case.closer_heirs
        == {
            None: None,
            "Tidak ada": "no",
            "Ya, masih ada": "yes",
            "Tidak tahu": "unknown",
        }[closer]
    )


async def test_proxy_files_for_a_spouse(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Ya")
    await chat.press("Sakit atau sebab lain")
    await chat.press("Saya mengurus untuk ahli waris (kuasa)")
    assert "Anda mengurus untuk ahli waris yang mana?" in chat.last_text
    assert ["Saya mengurus untuk ahli waris (kuasa)"] not in chat.buttons()
    replies = await chat.press("Istri / suami")
    assert any(
        "Bisa mengurus untuk ahli waris (istri / suami) dengan surat kuasa" in (m.text or "")
        for m in replies
    )
    case = await _case(harness, chat.user_id)
    assert (case.claimant, case.heir) == ("proxy", "spouse")
    await chat.press("Berikutnya")
    await chat.press("Tidak ada")
    codes = set(_doc_codes(chat))
    assert {"power_of_attorney", "ektp_proxy", "marriage_book"} <= codes
    await chat.press("Berikutnya")
    await chat.press("Berikutnya")
    await chat.press("Lewati")
    assert "Diurus oleh kuasa untuk: istri / suami" in chat.history[-2].text


async def test_proxy_for_a_distant_heir_is_asked_about_closer_heirs(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Tidak tahu")
    await chat.press("Sakit atau sebab lain")
    await chat.press("Saya mengurus untuk ahli waris (kuasa)")
    await chat.press("Saudara kandung")
    assert "Apakah masih ada yang hidup dari:" in chat.last_text
    replies = await chat.press("Tidak ada")
    assert any(
        "Bisa mengurus untuk ahli waris (saudara kandung)" in (m.text or "") for m in replies
    )


# --- step 5: scholarship -------------------------------------------------------------------------


async def test_scholarship_two_children(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_benefit(chat)
    await chat.press("Berikutnya")
    assert "paling banyak 2 anak" in chat.last_text
    assert "di bawah 23 tahun" in chat.last_text
    assert "minimal 3 tahun" in chat.last_text
    assert chat.buttons()[0] == ["Tidak ada", "1", "2 atau lebih"]
    await chat.press("2 atau lebih")
    assert chat.buttons()[:2] == [["Kurang dari 3 tahun"], ["3 tahun atau lebih"]]
    await chat.press("3 tahun atau lebih")
    assert "Anak ke-1" in chat.last_text
    # The per-level amounts (FACTS.md §4).
    for line in (
        "Rp1.500.000 per tahun, paling lama 2 tahun",
        "Rp1.500.000 per tahun, paling lama 6 tahun",
        "Rp2.000.000 per tahun, paling lama 3 tahun",
        "Rp3.000.000 per tahun, paling lama 3 tahun",
        "Rp12.000.000 per tahun, paling lama 5 tahun",
    ):
        assert line in chat.last_text
    await chat.press("klaim:level:0:sd")
    assert "Anak ke-2" in chat.last_text
    replies = await chat.press("klaim:level:1:tk")
    scholarship = replies[-2].text or ""
    assert "Anak ke-1" in scholarship
    assert "Rp9.000.000 di tingkat ini; sampai Rp84.000.000" in scholarship
    assert "Rp3.000.000 di tingkat ini; sampai Rp87.000.000" in scholarship
    assert "Total beasiswa: sampai Rp171.000.000" in scholarship
    codes = _doc_codes(chat)
    assert {"child_birth_certificate", "school_certificate", "child_bank_account"} <= set(codes)
    case = await _case(harness, chat.user_id)
    assert (case.school_children, case.years_paid, case.child_levels) == (
        2,
        "enough",
        ["sd", "tk"],
    )


async def test_scholarship_two_kindergarten_children_reach_174_million(
    harness: BotHarness,
) -> None:
    chat = harness.chat()
    await _to_benefit(chat)
    await chat.press("Berikutnya")
    await chat.press("2 atau lebih")
    await chat.press("3 tahun atau lebih")
    await chat.press("klaim:level:0:tk")
    replies = await chat.press("klaim:level:1:tk")
    assert "Total beasiswa: sampai Rp174.000.000" in (replies[-2].text or "")


async def test_no_scholarship_under_three_years(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_benefit(chat)
    await chat.press("Berikutnya")
    await chat.press("1")
    replies = await chat.press("Kurang dari 3 tahun")
    assert "Tidak ada beasiswa: syaratnya iuran minimal 3 tahun." in _said(replies)
    assert "Dokumen yang dibawa" in chat.last_text  # no school level asked
    assert "child_birth_certificate" not in _doc_codes(chat)


async def test_scholarship_with_unknown_years_is_conditional(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_benefit(chat)
    await chat.press("Berikutnya")
    await chat.press("1")
    await chat.press("Tidak tahu")
    replies = await chat.press("klaim:level:0:smp")
    text = replies[-2].text or ""
    assert "Rp2.000.000 per tahun, sampai Rp6.000.000" in text
    assert "petugas akan memeriksanya" in text
    assert "school_certificate" in _doc_codes(chat)


async def test_without_children_no_scholarship_documents(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_checklist(chat, who="Anak")
    codes = _doc_codes(chat)
    assert codes == [
        "kpj_card",
        "ektp_deceased",
        "ektp_heir",
        "family_card",
        "death_certificate",
        "heir_statement",
        "heir_bank_account",
        "claim_form",
    ]
    text = chat.last_text
    assert "Disdukcapil" in text  # where to get them
    assert "kepala desa" in text  # heir statement letter: village head and camat
    assert "0 dari 8 siap" in text


# --- step 6: documents survive a restart ---------------------------------------------------------


async def test_ticking_documents_survives_a_restart(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_checklist(chat)
    await chat.press("⬜ 1")
    assert chat.last_answer is not None
    assert chat.last_answer.text == "Ditandai: dokumen sudah ada."
    await chat.press("⬜ 3")
    assert "2 dari 9 siap" in chat.last_text
    await harness.stop_bot()
    await harness.start_bot()
    # The same checklist message keeps working after the restart.
    await chat.press("⬜ 2")
    assert "3 dari 9 siap" in chat.last_text
    assert chat.buttons()[0] == ["✅ 1", "✅ 2", "✅ 3", "⬜ 4"]
    await chat.press("✅ 2")
    assert chat.last_answer is not None
    assert chat.last_answer.text == "Tanda dihapus."
    case = await _case(harness, chat.user_id)
    assert case.ticked == ["kpj_card", "ektp_heir"]
    # Leave, restart again, and come back days later: the same list.
    await chat.send("/batal")
    assert "Jawaban dan daftar dokumen Anda tetap tersimpan" in chat.last_text
    await harness.stop_bot()
    harness.clock.advance(days=5)
    await harness.start_bot()
    await chat.send("/klaim")
    assert "Anda mulai panduan klaim pada 21 November 2026" in chat.last_text
    assert "2 dari 9 dokumen" in chat.last_text
    await chat.press("Lanjutkan")
    assert "2 dari 9 siap" in chat.last_text
    assert chat.buttons()[0] == ["✅ 1", "⬜ 2", "✅ 3", "⬜ 4"]


async def test_resume_at_the_first_unanswered_question(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Ya")
    await chat.press("Kecelakaan kerja")
    await chat.send("/batal")
    await chat.send("/klaim")
    await chat.press("Lanjutkan")
    assert "Siapa yang mengajukan klaim?" in chat.last_text


async def test_start_again_closes_the_old_case(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_checklist(chat)
    await chat.press("⬜ 1")
    old = await _case(harness, chat.user_id)
    await chat.send("/klaim")
    replies = await chat.press("Mulai baru")
    assert "Kami turut berduka cita" in _said(replies)
    new = await _case(harness, chat.user_id)
    assert new.id != old.id
    assert new.ticked == []
    async with harness.db.transaction() as repo:
        closed = await repo.claims.get_case(case_id=old.id or 0, user_id=chat.user_id)
    assert closed is not None
    assert closed.status == ClaimCaseStatus.CLOSED


# --- step 7 and 8: offices and summary -----------------------------------------------------------


async def test_offices_say_what_is_confirmed(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_checklist(chat)
    await chat.press("Berikutnya")
    text = chat.last_text
    assert "Kantor Cabang Tabalong-Tanjung" in text
    assert "Kantor PTSP" in text
    assert "Buka: Rabu, Kamis, Jumat" in text
    assert "silakan telepon dulu sebelum datang" in text
    assert "Lapak Asik" in text
    assert "sekitar 3 hari kerja" in text
    assert "www.bpjsketenagakerjaan.go.id" in text
    assert "KPJ" in text
    assert "175" in text
    assert "silakan konfirmasi ke kantor" in text
    assert "Belum diketahui apakah seluruh klaim bisa dilakukan online" in text


async def test_summary_message_and_pdf(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_checklist(chat, who="Istri / suami")
    await chat.press("⬜ 1")
    await chat.press("Berikutnya")
    await chat.press("Berikutnya")
    replies = await chat.send(DECEASED_NIK)
    summary = replies[0].text or ""
    assert "************0001" in summary
    assert DECEASED_NIK not in summary
    assert "Hubungan dengan almarhum/almarhumah: Istri / suami" in summary
    assert "Total: Rp42.000.000" in summary
    assert "Dokumen (1 dari 9 siap)" in summary
    assert "✅ 1." in summary
    assert "⬜ 2." in summary
    assert "Kantor Cabang Tabalong-Tanjung" in summary
    assert len(summary) < 4096
    (document,) = chat.documents()
    assert document.file_name == "klaim-jkm-2026-11-21.pdf"
    data = document.data
    assert data.startswith(b"%PDF-")
    assert pdf_pages(data) in (1, 2)
    text = pdf_text(data)
    assert "************0001" in text
    assert "Rp42.000.000" in text
    assert "Istri / suami" in text
    assert "Disdukcapil" in text  # where to get each document
    assert "Tabalong-Tanjung" in text
    case = await _case(harness, chat.user_id)
    assert case.deceased_nik_masked == "************0001"
    # The family can ask for the PDF again.
    await chat.press("Kirim PDF lagi")
    assert len(chat.documents()) == 2


async def test_summary_without_nik(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_summary(chat, nik=None)
    assert "NIK: tidak diisi" in chat.history[-2].text
    case = await _case(harness, chat.user_id)
    assert case.deceased_nik_masked == ""


async def test_invalid_nik_is_explained_and_asked_again(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_checklist(chat)
    await chat.press("Berikutnya")
    await chat.press("Berikutnya")
    await chat.send("12345")
    assert chat.history[-2].text == "NIK harus 16 angka, Anda mengetik 5."
    assert "Pertanyaan terakhir" in chat.last_text
    await chat.send_sticker()
    assert "NIK itu tidak sah" in chat.history[-2].text
    assert "Pertanyaan terakhir" in chat.last_text


async def test_done_leaves_and_keeps_the_list(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_summary(chat)
    await chat.press("Selesai")
    assert "ketik /klaim kapan saja" in chat.last_text
    async with harness.db.transaction() as repo:
        conv = await repo.conversations.get(chat.user_id)
    assert conv is not None
    assert conv.state is None
    await chat.send("/klaim")
    await chat.press("Lanjutkan")
    assert "Dokumen yang dibawa" in chat.last_text


# --- navigation and unexpected input -------------------------------------------------------------


async def test_back_goes_one_step_and_leaves_at_the_start(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Ya")
    await chat.press("Kembali")
    assert "Apakah almarhum/almarhumah terdaftar dan aktif?" in chat.last_text
    await chat.press("Kembali")
    assert "Panduan dihentikan sementara" in chat.last_text
    async with harness.db.transaction() as repo:
        conv = await repo.conversations.get(chat.user_id)
    assert conv is not None
    assert conv.state is None


async def test_back_through_branches(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_benefit(chat, who="Saudara kandung")  # asks about closer heirs first
    await chat.press("Tidak ada")
    await chat.press("Berikutnya")
    await chat.press("2 atau lebih")
    await chat.press("3 tahun atau lebih")
    await chat.press("klaim:level:0:sd")
    await chat.press("Kembali")  # child 2 → child 1 again
    assert "Anak ke-1" in chat.last_text
    await chat.press("Kembali")
    assert "Sudah berapa lama" in chat.last_text
    await chat.press("Kembali")
    assert "Berapa anak yang masih sekolah?" in chat.last_text
    await chat.press("Kembali")
    assert "Yang diterima ahli waris" in chat.last_text
    await chat.press("Kembali")
    assert "Apakah masih ada yang hidup dari:" in chat.last_text
    await chat.send("kembali")  # typed works too
    assert "Siapa yang mengajukan klaim?" in chat.last_text


async def test_unexpected_input_is_asked_again(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    for send in (
        chat.send("halo"),
        chat.send_sticker(),
        chat.send_photo(),
        chat.send_voice(),
        chat.send_location(),
        chat.share_contact(),
    ):
        replies = await send
        assert replies, "the bot stayed silent"
        assert replies[0].text == "Silakan jawab dengan salah satu tombol di bawah."
        assert "Apakah almarhum/almarhumah terdaftar dan aktif?" in chat.last_text


async def test_an_old_button_is_refused(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    question = chat.last
    assert question is not None
    await chat.press("Ya")
    update = await harness.emu.press(chat.user_id, question.message_id, "klaim:cov:no", forge=True)
    await harness.emu.wait_delivered(update)
    await harness.settle()
    answer = harness.emu.calls_for("answerCallbackQuery")[-1].params.get("text")
    assert answer == "Tombol ini sudah tidak berlaku."
    assert "Apa penyebab meninggalnya?" in chat.last_text
    case = await _case(harness, chat.user_id)
    assert case.membership == "active"


async def test_conversation_survives_a_restart(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Tidak tahu")
    await harness.stop_bot()
    await harness.start_bot()
    await chat.press("Kecelakaan kerja")
    assert "klaim lewat JKK" in chat.history[-2].text


# --- step 9: help requests -----------------------------------------------------------------------


async def test_help_request_with_shared_phone(harness: BotHarness) -> None:
    chat = harness.chat(first_name="Siti", last_name="Aminah")
    await _to_summary(chat)
    await chat.press("Minta bantuan pendamping")
    assert "Anda tinggal di kecamatan mana?" in chat.last_text
    await chat.press("Juai")
    first_page = chat.buttons()
    await chat.press("Berikutnya »")
    assert chat.buttons() != first_page  # the same message shows the next page
    await chat.press("« Sebelumnya")
    await chat.press("klaim:hdesa:63.11.01.2001")
    assert "Bolehkah pendamping menelepon Anda?" in chat.last_text
    assert chat.reply_keyboard()[0][0].request_contact
    replies = await chat.share_contact("6281234567890")
    text = replies[0].text or ""
    assert "Permintaan Anda sudah dicatat (nomor #" in text
    assert "+62812****7890" in text
    assert "6281234567890" not in text
    async with harness.db.transaction() as repo:
        (request,) = await repo.claims.open_help_requests()
    assert request.phone == "+6281234567890"
    assert request.desa_code == "63.11.01.2001"
    assert request.kecamatan_code == "63.11.01"
    assert request.claimant == "spouse"
    assert request.requester_name == "Siti Aminah"
    assert request.handled_at is None
    assert request.created_at == harness.clock.now
    # Asking again while the request is open only reminds them.
    await chat.send("/klaim")
    await chat.press("Lanjutkan")
    await chat.press("Berikutnya")
    await chat.press("Berikutnya")
    await chat.press("Lewati")
    await chat.press("Minta bantuan pendamping")
    assert "Anda sudah meminta bantuan pada 21 November 2026" in chat.last_text


async def test_help_request_without_phone_by_typing_the_desa(harness: BotHarness) -> None:
    chat = harness.chat()
    await _to_summary(chat)
    await chat.press("Minta bantuan pendamping")
    await chat.send("paringin")  # a kecamatan typed
    assert "Kecamatan Paringin" in chat.last_text
    await chat.send_sticker()
    assert "Desa itu tidak ditemukan" in chat.history[-2].text
    await chat.send("lokbatung")  # spelling variant of Lok Batung
    await chat.send_voice()
    assert "Silakan gunakan tombol di bawah" in chat.history[-2].text
    await chat.send("12345")
    assert "Itu bukan nomor HP Indonesia" in chat.history[-2].text
    replies = await chat.send("Tanpa nomor HP")
    assert "lewat chat ini" in (replies[0].text or "")
    async with harness.db.transaction() as repo:
        (request,) = await repo.claims.open_help_requests()
    assert request.phone is None
    assert request.desa_code == "63.11.06.2014"


async def test_admin_lists_and_handles_help_requests(harness: BotHarness) -> None:
    family = harness.chat(first_name="Rahmah")
    await _to_summary(family)
    await family.press("Minta bantuan pendamping")
    await family.press("Juai")
    await family.press("klaim:hdesa:63.11.01.2001")
    await family.share_contact("6281234567890")

    worker = harness.chat(3003)
    await worker.send("/bantuanklaim")
    assert "tidak tersedia untuk Anda" in worker.last_text

    admin = harness.admin()
    await admin.send("/bantuanklaim")
    text = admin.last_text
    assert "(1)" in text
    assert "Rahmah" in text
    assert "+62812****7890" in text
    assert "6281234567890" not in text
    async with harness.db.transaction() as repo:
        (request,) = await repo.claims.open_help_requests()
    await admin.press(f"Kontak #{request.id}")
    assert "+6281234567890" in admin.last_text
    await admin.press(f"Selesai #{request.id}")
    assert admin.last_answer is not None
    assert admin.last_answer.text == "Ditandai sudah ditangani."
    assert any("Tidak ada permintaan bantuan keluarga" in (m.text or "") for m in admin.history)
    async with harness.db.transaction() as repo:
        handled = await repo.claims.get_help_request(request_id=request.id or 0)
        actions = [e.action for e in await repo.audit.latest()]
    assert handled is not None
    assert handled.handled_by == ADMIN_ID
    assert handled.handled_at is not None
    assert {"claim_help.contact", "claim_help.handled"} <= set(actions)


async def test_admin_list_pages(harness: BotHarness) -> None:
    async with harness.db.transaction() as repo:
        for n in range(7):
            await repo.claims.add_help_request(
                user_id=5000 + n,
                case_id=None,
                requester_name=f"Keluarga {n}",
                claimant="child",
                kecamatan_code="63.11.01",
                desa_code="63.11.01.2001",
                phone=None,
                now=harness.clock.now + timedelta(minutes=n),
            )
    admin = harness.admin()
    await admin.send("/bantuanklaim")
    assert "Keluarga 0" in admin.last_text
    assert "Keluarga 5" not in admin.last_text
    await admin.press("Berikutnya »")
    assert "Keluarga 5" in admin.last_text
    assert "Keluarga 0" not in admin.last_text


# --- optional lookup of the deceased (coverage data) ---------------------------------------------


async def _roster(harness: BotHarness, *, paid_until: date) -> None:
    async with harness.db.transaction() as repo:
        repo.session.add(
            RosterEntry(
                nik=DECEASED_NIK,
                name="Almarhumah",
                programmes="jkk,jkm",
                payer="apbd",
                coverage_start=date(2024, 1, 1),
                paid_until=paid_until,
                birth_date=date(1985, 7, 1),
            )
        )


async def test_lookup_finds_an_active_member(harness: BotHarness) -> None:
    await _roster(harness, paid_until=date(2026, 12, 31))
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Cek dengan NIK dan tanggal lahir")
    await chat.send(DECEASED_NIK)
    replies = await chat.send("01-07-1985")
    text = replies[0].text or ""
    assert "************0001 adalah peserta yang terlindungi sampai" in text
    assert DECEASED_NIK not in text
    assert "Apa penyebab meninggalnya?" in chat.last_text
    case = await _case(harness, chat.user_id)
    assert (case.membership, case.membership_checked) == ("active", True)
    assert case.deceased_nik_masked == "************0001"
    async with harness.db.transaction() as repo:
        conv = await repo.conversations.get(chat.user_id)
    assert conv is not None
    assert "lookup_nik" not in conv.data  # the full NIK is not kept
    # The NIK question is skipped later; the summary says where the status came from.
    await chat.press("Sakit atau sebab lain")
    await chat.press("Anak")
    await chat.press("Berikutnya")
    await chat.press("Tidak ada")
    await chat.press("Berikutnya")
    await chat.press("Berikutnya")
    assert "aktif (dari data kepesertaan)" in chat.history[-2].text


async def test_lookup_of_a_lapsed_member_leaves_the_answer_to_the_family(
    harness: BotHarness,
) -> None:
    await _roster(harness, paid_until=date(2026, 1, 31))
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Cek dengan NIK dan tanggal lahir")
    await chat.send(DECEASED_NIK)
    replies = await chat.send("1 Juli 1985")
    assert "terlindungi sampai 30 April 2026" in (replies[0].text or "")
    assert "Apakah almarhum/almarhumah terdaftar dan aktif?" in chat.last_text
    case = await _case(harness, chat.user_id)
    assert case.membership is None
    assert case.deceased_nik_masked == "************0001"


async def test_lookup_without_match_and_its_rate_limit(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    for attempt in range(5):
        await chat.press("Cek dengan NIK dan tanggal lahir")
        await chat.send(DECEASED_NIK)
        replies = await chat.send("02-07-1985")
        text = replies[0].text or ""
        if attempt < 4:
            assert "Tidak ada data untuk NIK dan tanggal lahir itu" in text
        else:
            assert "Terlalu banyak pengecekan" in text
        assert "Apakah almarhum/almarhumah terdaftar dan aktif?" in chat.last_text
    case = await _case(harness, chat.user_id)
    assert case.membership is None
    assert case.deceased_nik_masked is None  # nothing learnt about a NIK that did not match


async def test_lookup_rejects_a_bad_date_and_goes_back(harness: BotHarness) -> None:
    chat = harness.chat()
    await chat.send("/klaim")
    await chat.press("Cek dengan NIK dan tanggal lahir")
    await chat.send_photo()
    assert "NIK itu tidak sah" in chat.history[-2].text
    await chat.send(DECEASED_NIK)
    await chat.send("kemarin")
    assert "Tanggalnya tidak terbaca" in chat.history[-2].text
    await chat.press("Kembali")
    assert "Ketik NIK almarhum" in chat.last_text
    await chat.press("Kembali")
    assert "Apakah almarhum/almarhumah terdaftar dan aktif?" in chat.last_text
