"""/cek end to end and the coverage lookup: own data at once, NIK + birth date for anyone else,
every combination of submission and roster state, the failed-lookup limit (also across a restart),
masking, and linking a roster row to an account.

The harness clock starts on 21 November 2026, 10:00 WITA.
"""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from bot.coverage_lookup import (
    LookupLimited,
    LookupNoMatch,
    PersonStatus,
    build_status,
    checked_lookup,
    lookup_person,
    regency_date,
)
from bot.coverage_texts import status_message
from bot.i18n import Catalogs
from bot.roster_import import ImportResult, import_roster
from storage.models.coverage import ImportVia, LookupFailure, RosterEntry
from storage.models.registration import Submission, SubmissionStatus
from tests.support import BotHarness

TODAY = date(2026, 11, 21)
HEADER = "nik,nama,kpj,program,pembayar,mulai,dibayar_sampai,tanggal_lahir"

NIK_APBD = "6311011205850001"  # Ahmad Fauzi, APBD, paid until 31 Dec 2026: active
NIK_LATE = "6311025708900002"  # Siti Rahmah, mandiri, paid until 30 Sep 2026: 2 months late
NIK_LAPSED = "6311030302780003"  # Muhammad Arsyad, mandiri, paid until 31 May 2026: nonaktif
NIK_UNPAID = "6311085012990008"  # Rina Marlina, APBD, nothing paid yet
NIK_FUTURE = "6311046111950004"  # Nor Aini, mandiri, starts 1 Jan 2027, with JHT
NIK_SELF = "6311071507700007"  # Saberan, mandiri, paid until 5 Dec 2026, no birth date column
NIK_UNKNOWN = "6311061203880009"  # nobody

ROWS = {
    NIK_APBD: f"{NIK_APBD},Ahmad Fauzi,90000000001,JKK+JKM,APBD,2024-07-01,2026-12-31,1985-05-12",
    NIK_LATE: f"{NIK_LATE},Siti Rahmah,90000000002,JKK+JKM,mandiri,2024-07-01,2026-09-30,1990-08-17",
    NIK_LAPSED: (
        f"{NIK_LAPSED},Muhammad Arsyad,90000000003,JKK+JKM,mandiri,2024-09-01,2026-05-31,1978-02-03"
    ),
    NIK_UNPAID: f"{NIK_UNPAID},Rina Marlina,,JKK+JKM,APBD,2026-10-01,,1999-12-10",
    NIK_FUTURE: (
        f'{NIK_FUTURE},Nor Aini,90000000004,"JKK, JKM, JHT",mandiri,2027-01-01,2027-01-31,1995-11-21'
    ),
    NIK_SELF: f"{NIK_SELF},Saberan,90000000007,JKK+JKM,mandiri,2024-05-01,2026-12-05,",
}
BIRTH = {
    NIK_APBD: "12-05-1985",
    NIK_LATE: "17-08-1990",
    NIK_LAPSED: "03-02-1978",
    NIK_UNPAID: "10-12-1999",
    NIK_FUTURE: "21-11-1995",
    NIK_SELF: "15-07-1970",
}


async def load_roster(harness: BotHarness, tmp_path: Path, niks: list[str]) -> ImportResult:
    """Import a roster with the given rows (through the real import service)."""
    path = tmp_path / f"roster-{len(list(tmp_path.iterdir()))}.csv"
    path.write_text(HEADER + "\n" + "\n".join(ROWS[n] for n in niks) + "\n", encoding="utf-8")
    return await import_roster(
        harness.db, path, actor_id=None, via=ImportVia.CLI, clock=harness.clock
    )


async def add_submission(
    harness: BotHarness,
    *,
    user_id: int,
    nik: str,
    birth_date: date,
    status: SubmissionStatus,
    reason: str | None = None,
) -> None:
    """A submission as the registration feature stores it."""
    async with harness.db.transaction() as repo:
        repo.session.add(
            Submission(
                reference=f"R{nik[-6:]}",
                status=status.value,
                owner_user_id=user_id,
                entered_by_user_id=user_id,
                nik=nik,
                full_name="Budi Santoso",
                birth_date=birth_date,
                payer="self",
                with_jht=False,
                contribution_base=1_000_000,
                submitted_at=datetime(2026, 11, 10, 2, 0, tzinfo=UTC),
                rejection_reason=reason,
            )
        )


def _all_digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _assert_masked(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
        assert secret not in _all_digits(text)


async def _lookup(chat, nik: str, birth: str) -> None:
    await chat.send("/cek")
    await chat.send(nik)
    await chat.send(birth)


# --- transcripts ------------------------------------------------------------------------------------


async def test_cek_by_nik_and_birth_date_answers_everything(
    harness: BotHarness, tmp_path: Path
) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE])
    chat = harness.chat(1001)
    await chat.send("/cek")
    assert "NIK <b>dan</b> tanggal lahir" not in chat.last_text  # HTML is rendered, not shown
    assert "Ketik NIK (16 angka di KTP)" in chat.last_text
    await chat.send(NIK_LATE)
    assert "tanggal lahirnya" in chat.last_text
    replies = await chat.send("17-08-1990")
    status = replies[0].text or ""
    assert "Siti Rahmah" in status
    assert "✅ Terdaftar di BPJS Ketenagakerjaan." in status
    assert "AKTIF, tapi iuran terlambat (2 bulan belum dibayar)" in status
    assert "Iuran sudah dibayar sampai: 30 September 2026" in status
    assert "Masih terlindungi sampai: 31 Desember 2026" in status
    assert "JKK (kecelakaan kerja), JKM (kematian)" in status
    assert "peserta sendiri (mandiri)" in status
    # The 50% PP 50/2025 discount of 2026 applies to self-payers outside transport.
    assert "Iuran: Rp8.400 sebulan (JKK Rp5.000 + JKM Rp3.400)" in status
    assert "sebelum 1 Januari 2027" in status
    assert "Tidak ada denda" in status
    assert "Kantor PTSP" in status
    assert "Data per 21 November 2026" in status
    assert "JMO" in status
    assert "175" in status
    assert "NIK: ************0002" in status
    assert "No. KPJ: *******0002" in status
    _assert_masked(status, NIK_LATE, "90000000002")
    assert "Apakah ini data Anda sendiri?" in chat.last_text
    assert chat.buttons() == [["Ya, ini saya"], ["Bukan, orang lain"]]


@pytest.mark.parametrize(
    ("nik", "expected"),
    [
        (
            NIK_APBD,
            [
                "Status: AKTIF, terlindungi.",
                "Dibayar Pemkab sampai: 31 Desember 2026",
                "Pemkab Balangan (APBD)",
                "Anda tidak perlu bayar",
                "Iuran: Rp16.800 sebulan, dibayar Pemkab",
            ],
        ),
        (
            NIK_LAPSED,
            [
                "NONAKTIF sejak 1 September 2026",
                "tidak ditanggung",
                "Bayar iuran lagi supaya terlindungi lagi",
            ],
        ),
        (
            NIK_UNPAID,
            [
                "belum terlindungi</b>".replace("</b>", ""),
                "belum ada iuran yang tercatat",
                "No. KPJ: belum ada",
                "belum diperpanjang",
            ],
        ),
        (
            NIK_FUTURE,
            [
                "perlindungan mulai 1 Januari 2027",
                "JHT (tabungan hari tua)",
                "Rp36.800 sebulan (JKK Rp10.000 + JKM Rp6.800 + JHT Rp20.000)",
                "Sekarang tidak perlu apa-apa",
            ],
        ),
        (
            NIK_SELF,
            [
                "Status: AKTIF, terlindungi.",
                "Iuran sudah dibayar sampai: 5 Desember 2026",
                "paling lambat 5 Desember 2026",
                "Kalau tidak bayar lagi, perlindungan berlaku sampai 5 Maret 2027; mulai "
                "6 Maret 2027 kepesertaan NONAKTIF.",
            ],
        ),
    ],
)
async def test_cek_answer_for_each_roster_state(
    harness: BotHarness, tmp_path: Path, nik: str, expected: list[str]
) -> None:
    await load_roster(harness, tmp_path, list(ROWS))
    chat = harness.chat(1002)
    await chat.send("/cek")
    await chat.send(nik)
    replies = await chat.send(BIRTH[nik])
    status = replies[0].text or ""
    for phrase in expected:
        assert phrase in status, status
    _assert_masked(status, nik)


async def test_wrong_birth_date_and_unknown_nik_look_the_same(
    harness: BotHarness, tmp_path: Path
) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE])
    chat = harness.chat(1003)
    await _lookup(chat, NIK_LATE, "18-08-1990")
    wrong_date = chat.last_text
    assert "Tidak ada peserta dengan NIK dan tanggal lahir ini" in wrong_date
    assert "Siti" not in wrong_date
    await _lookup(chat, NIK_UNKNOWN, "12-03-1988")
    unknown = chat.last_text
    # Same words; only the count of attempts left differs.
    assert wrong_date.replace("4 kali", "N kali") == unknown.replace("3 kali", "N kali")
    # The NIK's own date does not open a roster row that records another birth date.
    await _lookup(chat, NIK_LATE, "17-08-1990")
    assert "Siti Rahmah" in "".join(m.text or "" for m in chat.history[-3:])


async def test_roster_without_birth_date_matches_the_date_in_the_nik(
    harness: BotHarness, tmp_path: Path
) -> None:
    await load_roster(harness, tmp_path, [NIK_SELF])
    chat = harness.chat(1004)
    await _lookup(chat, NIK_SELF, "15 Juli 1970")
    assert any("Saberan" in (m.text or "") for m in chat.history)


async def test_five_failures_make_the_user_wait_even_after_a_restart(
    harness: BotHarness, tmp_path: Path
) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE])
    chat = harness.chat(1005)
    for left in (4, 3, 2, 1):
        await _lookup(chat, NIK_LATE, "01-01-1990")
        assert f"{left} kali lagi" in chat.last_text
    await _lookup(chat, NIK_LATE, "01-01-1990")
    assert "terlalu sering salah" in chat.last_text
    assert "setelah jam 11.00 WITA" in chat.last_text
    # Even the right answer is not looked up now: the NIK is not even asked.
    await chat.send("/cek")
    assert "setelah jam 11.00 WITA" in chat.last_text
    async with harness.db.transaction() as repo:
        stored = (await repo.session.exec(select(func.count()).select_from(LookupFailure))).one()
    assert stored == 5

    await harness.stop_bot()
    await harness.start_bot()
    await chat.send("/cek")
    assert "terlalu sering salah" in chat.last_text

    harness.clock.advance(minutes=61)
    await _lookup(chat, NIK_LATE, "17-08-1990")
    assert any("Siti Rahmah" in (m.text or "") for m in chat.history[-3:])


async def test_limit_is_per_user_and_from_settings(harness: BotHarness, tmp_path: Path) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE])
    limit = harness.settings.lookup_failures_per_hour
    now = harness.clock()
    async with harness.db.transaction() as repo:
        for minute in range(limit):
            outcome = await checked_lookup(
                repo,
                user_id=7,
                nik=NIK_UNKNOWN,
                birth_date=date(1988, 3, 12),
                now=now + timedelta(minutes=minute),
                limit=limit,
            )
            assert isinstance(outcome, LookupNoMatch)
        assert outcome.attempts_left == 0
        # The oldest failure leaves the hour first.
        assert outcome.blocked_until == now + timedelta(hours=1)
        limited = await checked_lookup(
            repo,
            user_id=7,
            nik=NIK_LATE,
            birth_date=date(1990, 8, 17),
            now=now + timedelta(minutes=30),
            limit=limit,
        )
        assert isinstance(limited, LookupLimited)
        other_user = await checked_lookup(
            repo,
            user_id=8,
            nik=NIK_LATE,
            birth_date=date(1990, 8, 17),
            now=now + timedelta(minutes=30),
            limit=limit,
        )
        assert isinstance(other_user, PersonStatus)
        later = await checked_lookup(
            repo,
            user_id=7,
            nik=NIK_LATE,
            birth_date=date(1990, 8, 17),
            now=now + timedelta(hours=1, minutes=1),
            limit=limit,
        )
        assert isinstance(later, PersonStatus)


async def test_link_own_row_then_cek_shows_it_at_once(harness: BotHarness, tmp_path: Path) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE, NIK_APBD])
    chat = harness.chat(1006)
    await chat.send("/start")
    labels = [row[0] for row in chat.buttons()]
    assert "Cek kepesertaan" in labels
    await chat.press("Cek kepesertaan")
    await chat.send(NIK_LATE)
    await chat.send("17-08-1990")
    await chat.press("Ya, ini saya")
    assert "sudah tersambung ke akun Anda" in chat.last_text
    async with harness.db.transaction() as repo:
        entry = await repo.coverage.get_entry(NIK_LATE)
        assert entry is not None
        assert entry.telegram_user_id == 1006
        planned = await repo.reminders.for_nik(NIK_LATE)
    assert [r.kind for r in planned] == ["unpaid_month", "unpaid_month"]

    replies = await chat.send("/cek")
    assert "AKTIF, tapi iuran terlambat" in (replies[0].text or "")
    assert "Cek orang lain" in [row[0] for row in chat.buttons()]
    # Checking someone else still needs the birth date.
    await chat.press("Cek orang lain")
    await chat.send(NIK_APBD)
    await chat.send("12-05-1985")
    await chat.press("Bukan, orang lain")
    assert "tidak ada yang disambungkan" in chat.history[-2].text
    async with harness.db.transaction() as repo:
        other = await repo.coverage.get_entry(NIK_APBD)
    assert other is not None
    assert other.telegram_user_id is None


async def test_a_row_linked_to_someone_else_cannot_be_taken(
    harness: BotHarness, tmp_path: Path
) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE])
    first, second = harness.chat(1007), harness.chat(1008)
    await _lookup(second, NIK_LATE, "17-08-1990")
    await _lookup(first, NIK_LATE, "17-08-1990")
    await first.press("Ya, ini saya")
    await second.press("Ya, ini saya")
    assert "sudah tersambung ke akun Telegram lain" in second.last_text
    # A later lookup by the second account does not offer the link any more.
    await _lookup(second, NIK_LATE, "17-08-1990")
    assert "Apakah ini data Anda sendiri?" not in second.last_text
    assert "Ada lagi?" in second.last_text


async def test_bad_input_at_each_step_gets_the_question_again(
    harness: BotHarness, tmp_path: Path
) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE])
    chat = harness.chat(1009)
    await chat.send("/cek")
    replies = await chat.send("6311 0257 0890")
    assert "NIK harus 16 angka, Anda mengetik 12." in (replies[0].text or "")
    assert "Ketik NIK" in chat.last_text
    await chat.send_sticker()
    assert "Ketik NIK" in chat.last_text
    await chat.send("63110257O89OOOO2")
    assert "Ini bukan angka: O" in chat.history[-2].text
    await chat.send(NIK_LATE)
    await chat.send_photo()
    assert "tanggal lahirnya" in chat.last_text
    await chat.send("31-02-1990")
    assert "Tanggal itu tidak ada" in chat.history[-2].text
    await chat.send("kemarin")
    assert "tidak terbaca" in chat.history[-2].text
    await chat.send("17-08-1990")
    await chat.send("iya")
    assert "Silakan tekan salah satu tombol." in chat.history[-2].text
    assert "Apakah ini data Anda sendiri?" in chat.last_text
    await chat.send("/batal")
    assert "Dibatalkan." in chat.last_text
    # The old "Ya, ini saya" button no longer works.
    await chat.press("Ya, ini saya")
    assert chat.last_answer is not None
    assert chat.last_answer.text == "Tombol ini sudah tidak berlaku."
    async with harness.db.transaction() as repo:
        entry = await repo.coverage.get_entry(NIK_LATE)
    assert entry is not None
    assert entry.telegram_user_id is None


async def test_cancel_button_leaves_the_lookup(harness: BotHarness) -> None:
    chat = harness.chat(1010)
    await chat.send("/cek")
    await chat.press("Batal")
    assert "pilih menu di bawah" in chat.last_text
    await chat.send(NIK_LATE)
    assert "tidak mengerti" in chat.last_text


@pytest.mark.parametrize(
    ("status", "phrases"),
    [
        (
            SubmissionStatus.SUBMITTED,
            ["Belum terdaftar", "dikirim pada 10 November 2026", "sedang diperiksa Pemkab"],
        ),
        (SubmissionStatus.VERIFIED, ["Belum terdaftar", "sudah diperiksa Pemkab"]),
        (
            SubmissionStatus.REJECTED,
            ["Belum terdaftar", "tidak diterima", "Alasan: KTP buram", "/daftar"],
        ),
        (
            SubmissionStatus.REGISTERED,
            ["✅ Terdaftar", "sudah selesai", "Sumber: pendaftaran yang diterima bot ini."],
        ),
    ],
)
async def test_own_submission_is_shown_at_once(
    harness: BotHarness, status: SubmissionStatus, phrases: list[str]
) -> None:
    await add_submission(
        harness,
        user_id=1011,
        nik=NIK_UNKNOWN,
        birth_date=date(1988, 3, 12),
        status=status,
        reason="KTP buram" if status is SubmissionStatus.REJECTED else None,
    )
    chat = harness.chat(1011)
    replies = await chat.send("/cek")
    text = replies[0].text or ""
    for phrase in phrases:
        assert phrase in text, text
    _assert_masked(text, NIK_UNKNOWN)
    assert "Cek orang lain" in [row[0] for row in chat.buttons()]


async def test_own_registration_on_the_roster_is_linked_and_shown(
    harness: BotHarness, tmp_path: Path
) -> None:
    await add_submission(
        harness,
        user_id=1012,
        nik=NIK_LATE,
        birth_date=date(1990, 8, 17),
        status=SubmissionStatus.REGISTERED,
    )
    await load_roster(harness, tmp_path, [NIK_LATE])
    async with harness.db.transaction() as repo:
        entry = await repo.coverage.get_entry(NIK_LATE)
    assert entry is not None
    assert entry.telegram_user_id == 1012  # linked by the import
    chat = harness.chat(1012)
    replies = await chat.send("/cek")
    text = replies[0].text or ""
    assert "AKTIF, tapi iuran terlambat" in text
    # The income declared at registration is used, so no "for an income of" note.
    assert "Jumlah ini untuk penghasilan" not in text
    assert "Data per 21 November 2026" in text


async def test_registration_made_later_is_linked_on_cek(
    harness: BotHarness, tmp_path: Path
) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE])
    await add_submission(
        harness,
        user_id=1013,
        nik=NIK_LATE,
        birth_date=date(1990, 8, 17),
        status=SubmissionStatus.REGISTERED,
    )
    chat = harness.chat(1013)
    await chat.send("/cek")
    async with harness.db.transaction() as repo:
        entry = await repo.coverage.get_entry(NIK_LATE)
        assert entry is not None
        assert entry.telegram_user_id == 1013
        assert await repo.reminders.for_nik(NIK_LATE)


async def test_someone_elses_submission_is_found_with_its_birth_date(
    harness: BotHarness,
) -> None:
    await add_submission(
        harness,
        user_id=2001,
        nik=NIK_UNKNOWN,
        birth_date=date(1988, 3, 12),
        status=SubmissionStatus.SUBMITTED,
    )
    chat = harness.chat(1014)
    await _lookup(chat, NIK_UNKNOWN, "12-03-1988")
    assert "sedang diperiksa Pemkab" in chat.history[-2].text
    assert chat.last_text == "Ada lagi?"
    # A draft is nobody's business: the user without data is asked for a NIK.
    await add_submission(
        harness,
        user_id=1015,
        nik=NIK_APBD,
        birth_date=date(1985, 5, 12),
        status=SubmissionStatus.DRAFT,
    )
    other = harness.chat(1015)
    replies = await other.send("/cek")
    assert "belum mengirimnya" in (replies[0].text or "")
    assert "Ketik NIK" in other.last_text


async def test_english(harness: BotHarness, tmp_path: Path) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE])
    chat = harness.chat(1016, language_code="en")
    await _lookup(chat, NIK_LATE, "17-08-1990")
    text = chat.history[-2].text or ""
    assert "ACTIVE, but payment is late</b>" not in text
    # (The English catalog's Plural-Forms header says one form, so "month" stays singular.)
    assert "ACTIVE, but payment is late (2 month" in text
    assert "Rp8,400" in text
    assert "Data as of November 21, 2026" in text


async def test_data_date_comes_from_the_latest_import(harness: BotHarness, tmp_path: Path) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE])
    harness.clock.advance(days=3)
    await load_roster(harness, tmp_path, [NIK_APBD])
    chat = harness.chat(1017)
    await _lookup(chat, NIK_LATE, "17-08-1990")
    assert "Data per 24 November 2026" in chat.history[-2].text


# --- the lookup API (also used by the claim guide) -----------------------------------------------------


async def test_lookup_person(harness: BotHarness, tmp_path: Path) -> None:
    await load_roster(harness, tmp_path, [NIK_LATE, NIK_SELF])
    async with harness.db.transaction() as repo:
        found = await lookup_person(repo, nik=NIK_LATE, birth_date=date(1990, 8, 17), today=TODAY)
        assert found is not None
        assert found.registered
        assert found.masked_nik == "************0002"
        assert found.roster is not None
        assert found.roster.masked_kpj == "*******0002"
        assert found.coverage is not None
        assert found.coverage.state.value == "grace"
        assert found.data_as_of == TODAY
        assert NIK_LATE not in repr(found)
        assert (
            await lookup_person(repo, nik=NIK_LATE, birth_date=date(1990, 8, 18), today=TODAY)
            is None
        )
        assert (
            await lookup_person(repo, nik=NIK_UNKNOWN, birth_date=date(1988, 3, 12), today=TODAY)
            is None
        )
        # No birth date on the roster: the one encoded in the NIK.
        assert (
            await lookup_person(repo, nik=NIK_SELF, birth_date=date(1970, 7, 15), today=TODAY)
            is not None
        )


# --- every combination of submission and roster state (pure rendering) ----------------------------


def _entry(nik: str) -> RosterEntry:
    """The roster row of ``ROWS[nik]`` as the import stores it."""
    (cells,) = csv.reader([ROWS[nik]])
    _, name, kpj, programmes, payer, start, paid, birth = cells
    return RosterEntry(
        nik=nik,
        name=name,
        kpj=kpj or None,
        programmes=",".join(
            sorted(p.strip().lower() for p in programmes.replace("+", ",").split(","))
        ),
        payer={"APBD": "apbd", "mandiri": "self"}[payer],
        coverage_start=date.fromisoformat(start),
        paid_until=date.fromisoformat(paid) if paid else None,
        birth_date=date.fromisoformat(birth) if birth else None,
    )


SUBMISSION_STATES = [None, *(s for s in SubmissionStatus if s is not SubmissionStatus.DRAFT)]
ROSTER_STATES = [None, NIK_APBD, NIK_LATE, NIK_LAPSED, NIK_UNPAID, NIK_FUTURE, NIK_SELF]


@pytest.mark.parametrize(
    ("submission_state", "roster_nik"),
    [c for c in itertools.product(SUBMISSION_STATES, ROSTER_STATES) if c != (None, None)],
)
@pytest.mark.parametrize("language", ["id", "en"])
def test_every_combination_of_submission_and_roster(
    submission_state: SubmissionStatus | None, roster_nik: str | None, language: str
) -> None:
    t = Catalogs.load().get(language)
    nik = roster_nik or NIK_UNKNOWN
    entry = _entry(roster_nik) if roster_nik else None
    submission = None
    if submission_state is not None:
        submission = Submission(
            reference="R123456",
            status=submission_state.value,
            owner_user_id=1,
            entered_by_user_id=1,
            nik=nik,
            full_name="Budi Santoso",
            birth_date=date(1988, 3, 12),
            payer="self",
            contribution_base=1_000_000,
            submitted_at=datetime(2026, 11, 10, 2, 0, tzinfo=UTC),
            rejection_reason="KTP buram"
            if submission_state is SubmissionStatus.REJECTED
            else None,
        )
    status = build_status(
        nik=nik, entry=entry, submission=submission, today=TODAY, data_as_of=TODAY
    )
    text = status_message(t, status)
    registered = entry is not None or submission_state is SubmissionStatus.REGISTERED
    assert status.registered is registered
    yes = "Terdaftar di BPJS" if language == "id" else "Registered with BPJS"
    no = "Belum terdaftar" if language == "id" else "Not registered"
    assert (yes in text) is registered
    assert (no in text) is not registered
    official = "JMO" in text and "175" in text
    assert official
    _assert_masked(text, nik)
    if entry is not None:
        assert status.coverage is not None
        assert ("Data per 21 November 2026" in text) or ("Data as of November 21, 2026" in text)
        if entry.kpj:
            _assert_masked(text, entry.kpj)
        assert "👉" in text  # what to do next
    else:
        assert status.coverage is None
        assert ("Sumber: pendaftaran" in text) or ("Source: registrations" in text)
    if submission_state in (SubmissionStatus.SUBMITTED, SubmissionStatus.VERIFIED):
        assert "📝" in text
    if submission_state is SubmissionStatus.REJECTED:
        assert "❌" in text
        assert "KTP buram" in text
    # No msgid left untranslated in Indonesian (no English sentence leaks through).
    if language == "id":
        for english in ("Status: <b>ACTIVE", "Paid until", "Contribution:", "Registration no."):
            assert english not in text


def test_regency_date_is_wita() -> None:
    assert regency_date(datetime(2026, 11, 20, 16, 30, tzinfo=UTC)) == date(2026, 11, 21)
    assert regency_date(datetime(2026, 11, 20, 15, 59, tzinfo=UTC)) == date(2026, 11, 20)


async def test_lookup_failures_are_rows(harness: BotHarness) -> None:
    chat = harness.chat(1018)
    await _lookup(chat, NIK_UNKNOWN, "12-03-1988")
    async with harness.db.transaction() as repo:
        rows = (
            await repo.session.exec(
                select(LookupFailure).where(col(LookupFailure.user_id) == 1018)
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].at == harness.clock()


# --- data the answers rest on ---------------------------------------------------------------------


def test_payment_facts_from_data() -> None:
    from bot.domain.claims import Mark, offices
    from bot.domain.coverage import payment_facts

    facts = payment_facts()
    assert facts.months_ahead == (1, 3, 6, 12)
    assert facts.late_fine is False
    assert facts.places_mark is Mark.U
    known = {office.code for office in offices()}
    assert set(facts.places) <= known
    assert facts.apbd_contact in known


def test_expected_headers_are_accepted_aliases() -> None:
    import io

    from bot.domain.roster import Field, expected_headers, open_roster

    headers = expected_headers()
    assert set(headers) == set(Field)
    assert headers[Field.NIK] == "nik"
    # A file written with exactly these headers is read without header problems.
    line = ",".join(headers[f] for f in Field)
    with open_roster(io.BytesIO(f"{line}\n".encode()), "r.csv", today=TODAY) as reader:
        assert reader.header_problems() == []
