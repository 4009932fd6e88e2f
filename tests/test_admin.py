"""Admin console end to end: role checks on every command and button, admin management, the audit
log, review with notifications in each reader's language, and matching with BPJS."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlmodel import select

from bot.domain.nik import mask_nik
from bot.emulator import ChatClient
from bot.i18n import Catalogs
from bot.review import name_key
from handlers import admin as admin_handlers
from storage.models import Role, Submission, SubmissionStatus
from tests.support import ADMIN_ID, BotHarness
from tests.test_admin_seed import Person, make_nik, roster_row, seed_people, seed_roster

ID = Catalogs.load().get("id")
EN = Catalogs.load().get("en")
NOT_ALLOWED = ID("Sorry, this menu is not available to you.")
STALE = ID("This button is no longer active.")
WORKER, FACILITATOR, OTHER_ADMIN = 5001, 5002, 5003

ADMIN_COMMANDS = ["/admin", "/audit", "/tinjau", "/cocokkan", "/ekspor", "/statistik"]


async def status_of(harness: BotHarness, reference: str) -> str:
    async with harness.db.transaction() as repo:
        statement = select(Submission).where(Submission.reference == reference)
        return (await repo.session.exec(statement)).one().status


async def audit_actions(harness: BotHarness) -> list[tuple[str, str | None]]:
    async with harness.db.transaction() as repo:
        entries = await repo.audit.latest(limit=100)
    return [(e.action, e.target) for e in reversed(entries)]


async def english_admin(harness: BotHarness) -> ChatClient:
    """The ADMIN_IDS admin, speaking English (the row exists from start-up, in Indonesian)."""
    async with harness.db.transaction() as repo:
        await repo.users.set_language(user_id=ADMIN_ID, language="en")
    return harness.admin(language_code="en")


async def set_role(harness: BotHarness, user_id: int, role: Role) -> None:
    async with harness.db.transaction() as repo:
        await repo.users.set_role(user_id=user_id, role=role)


# --- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.WORKER, Role.FACILITATOR])
async def test_every_admin_command_refuses_workers_and_facilitators(
    harness: BotHarness, role: Role
) -> None:
    await seed_people(harness.db, [Person("BLG-AAAAAA")])
    chat = harness.chat(WORKER)
    await chat.send("/start")
    await set_role(harness, WORKER, role)
    for command in ADMIN_COMMANDS:
        await chat.send(command)
        assert chat.last_text == NOT_ALLOWED, command
    await chat.send("/admin tambah 5001")
    assert chat.last_text == NOT_ALLOWED
    async with harness.db.transaction() as repo:
        user = await repo.users.get(WORKER)
        assert user is not None
        assert user.role == role.value
        assert await repo.audit.count() == 0
    assert await status_of(harness, "BLG-AAAAAA") == SubmissionStatus.SUBMITTED


@pytest.mark.parametrize("role", [Role.WORKER, Role.FACILITATOR])
async def test_every_admin_button_refuses_workers_and_facilitators(
    db_url: str, role: Role
) -> None:
    # Many presses in a row: lift the flood control so that its notice does not get in the way.
    async with BotHarness(db_url, flood_burst=1000) as harness:
        await seed_people(harness.db, [Person("BLG-AAAAAA")])
        chat = harness.chat(WORKER)
        await chat.send("/start")
        await set_role(harness, WORKER, role)
        message = chat.last
        assert message is not None
        assert "Admin" not in [label for row in chat.buttons() for label in row]
        callbacks = sorted(admin_handlers.router.callbacks)
        assert len(callbacks) > 20
        for prefix in callbacks:
            before = len(chat.history)
            update = await harness.emu.press(
                chat.user_id, message.message_id, f"{prefix}:1", forge=True
            )
            await harness.emu.wait_delivered(update)
            await harness.settle()
            answer = harness.emu.calls_for("answerCallbackQuery")[-1].params.get("text")
            assert answer in {NOT_ALLOWED, STALE}, prefix
            assert len(chat.history) == before, f"{prefix} sent something\n{chat.transcript()}"
        assert await status_of(harness, "BLG-AAAAAA") == SubmissionStatus.SUBMITTED


async def test_an_admin_demoted_mid_review_cannot_press_verify(harness: BotHarness) -> None:
    await seed_people(harness.db, [Person("BLG-AAAAAA")])
    admin = harness.admin()
    await admin.send("/tinjau")
    assert "BLG-AAAAAA" in admin.last_text
    await set_role(harness, ADMIN_ID, Role.FACILITATOR)
    await admin.press("✅ Verifikasi")
    answer = admin.last_answer
    assert answer is not None
    assert answer.text == NOT_ALLOWED
    assert answer.show_alert
    assert await status_of(harness, "BLG-AAAAAA") == SubmissionStatus.SUBMITTED


async def test_the_admin_menu_is_shown_to_admins_only(harness: BotHarness) -> None:
    admin = harness.admin()
    await admin.send("/start")
    assert "Admin" in [label for row in admin.buttons() for label in row]
    await admin.press("Admin")
    labels = [label for row in admin.buttons() for label in row]
    assert ID("Review registrations") in labels
    assert ID("Statistics") in labels
    await admin.press(ID("Admins"))
    assert ID("• {id} (from ADMIN_IDS)", id=ADMIN_ID) in admin.last_text
    assert "/admin tambah ID" in admin.last_text


# --- admins and the audit log --------------------------------------------------------------------


async def test_add_and_remove_admins_with_the_last_admin_guard(harness: BotHarness) -> None:
    admin = await english_admin(harness)
    other = harness.chat(OTHER_ADMIN, language_code="en")
    await other.send("/id")
    assert str(OTHER_ADMIN) in other.last_text
    await admin.send("/admin hapus 900001")
    assert "last admin" in admin.last_text
    await admin.send("/admin tambah abc")
    assert "/admin tambah" in admin.last_text
    await admin.send(f"/admin tambah {OTHER_ADMIN}")
    assert admin.last_text == f"{OTHER_ADMIN} is now an admin."
    assert "You are now an admin" in other.last_text
    await other.send("/tinjau")
    assert "No more registrations" in other.last_text
    await admin.send(f"/admin tambah {OTHER_ADMIN}")
    assert "already an admin" in admin.last_text
    # The new admin removes the bootstrap admin: allowed (two admins), with the ADMIN_IDS note.
    await other.send(f"/admin hapus {ADMIN_ID}")
    assert f"{ADMIN_ID} is no longer an admin." in other.last_text
    assert "ADMIN_IDS" in other.last_text
    assert "no longer an admin" in admin.last_text
    await admin.send("/audit")
    assert admin.last_text == EN("Sorry, this menu is not available to you.")
    await other.send(f"/admin hapus {OTHER_ADMIN}")
    assert "last admin" in other.last_text
    assert await audit_actions(harness) == [
        ("admin.add", f"user:{OTHER_ADMIN}"),
        ("admin.remove", f"user:{ADMIN_ID}"),
    ]


async def test_audit_log_pages(harness: BotHarness) -> None:
    admin = await english_admin(harness)
    async with harness.db.transaction() as repo:
        for i in range(23):
            await repo.audit.record(actor_id=ADMIN_ID, action="export", target=f"t{i}")
    await admin.send("/audit")
    assert "page 1 of 3" in admin.last_text
    assert "t22" in admin.last_text  # newest first
    assert "Exported data" in admin.last_text
    await admin.press("Older ▶")
    assert "page 2 of 3" in admin.last_text
    assert "t12" in admin.last_text
    assert admin.last is not None
    assert admin.last.edit_count == 1
    await admin.send("/audit 3")
    assert "page 3 of 3" in admin.last_text
    assert "t0" in admin.last_text


# --- review --------------------------------------------------------------------------------------


async def test_review_verify_reject_skip_and_notifications(harness: BotHarness) -> None:
    worker = harness.chat(WORKER, language_code="en")
    facilitator = harness.chat(FACILITATOR)
    resident = harness.chat(5004)
    for chat in (worker, facilitator, resident):
        await chat.send("/start")
    await seed_people(
        harness.db,
        [
            Person("BLG-AAAAAA", name="Budi Santoso", female=False, owner=WORKER, serial=1),
            Person(
                "BLG-BBBBBB",
                name="Hj. Siti Aminah",
                owner=5004,
                entered_by=FACILITATOR,
                facilitator=True,
                serial=2,
                submitted_at=harness.clock.now,
            ),
            Person(
                "BLG-CCCCCC",
                name="Rina",
                serial=3,
                birth=date(1990, 1, 1),
                submitted_at=harness.clock.now + timedelta(minutes=1),
            ),
        ],
    )
    admin = harness.admin()
    await admin.send("/tinjau")
    card = admin.last_text
    assert "BLG-AAAAAA" in card
    assert make_nik(date(1985, 8, 17), serial=1) in card  # NIK in full for the admin
    assert "Budi Santoso" in card
    assert ID("✅ No warnings.") in card
    assert ["✅ Verifikasi", "❌ Tolak"] in admin.buttons()
    await admin.press("✅ Verifikasi")
    assert "Good news" in worker.last_text  # in the worker's language (English)
    assert "BLG-AAAAAA" in worker.last_text
    assert await status_of(harness, "BLG-AAAAAA") == SubmissionStatus.VERIFIED

    # The next one (entered by a facilitator) shows next; rejected with a reason button.
    assert "BLG-BBBBBB" in admin.last_text
    assert "Entered by facilitator" not in admin.last_text  # Indonesian admin
    await admin.press("❌ Tolak")
    reason_label = ID("The NIK does not match the e-KTP")
    await admin.press(reason_label)
    assert await status_of(harness, "BLG-BBBBBB") == SubmissionStatus.REJECTED
    assert reason_label in resident.last_text
    assert "BLG-BBBBBB" in resident.last_text
    assert reason_label in facilitator.last_text
    resident_nik = make_nik(date(1985, 8, 17), female=True, serial=2)
    assert mask_nik(resident_nik) in facilitator.last_text  # masked for the facilitator
    assert resident_nik not in facilitator.last_text

    # The third is skipped; the queue ends and the skipped one is counted.
    assert "BLG-CCCCCC" in admin.last_text
    await admin.press("⏭ Lewati")
    assert ID("No more registrations to review right now.") in admin.last_text
    assert (
        ID.n(
            "{count} skipped registration will show again next time (/tinjau).",
            "{count} skipped registrations will show again next time (/tinjau).",
            1,
        )
        in admin.last_text
    )
    assert await status_of(harness, "BLG-CCCCCC") == SubmissionStatus.SUBMITTED
    assert await audit_actions(harness) == [
        ("review.view", "submission:BLG-AAAAAA"),
        ("review.verify", "submission:BLG-AAAAAA"),
        ("review.view", "submission:BLG-BBBBBB"),
        ("review.reject", "submission:BLG-BBBBBB"),
        ("review.view", "submission:BLG-CCCCCC"),
    ]
    # Next time the skipped one comes back.
    await admin.send("/tinjau")
    assert "BLG-CCCCCC" in admin.last_text


async def test_typed_rejection_reason_and_other_input(harness: BotHarness) -> None:
    worker = harness.chat(WORKER)
    await worker.send("/start")
    await seed_people(harness.db, [Person("BLG-AAAAAA", owner=WORKER)])
    admin = await english_admin(harness)
    await admin.send("/tinjau")
    await admin.send("hello")
    assert "Please use the buttons" in admin.history[-2].text
    assert "BLG-AAAAAA" in admin.last_text  # shown again
    await admin.press("❌ Reject")
    await admin.send_sticker()
    assert "type the reason" in admin.history[-2].text
    await admin.send("x")
    assert "too short" in admin.history[-2].text
    await admin.send("Foto KTP tidak terbaca")
    assert await status_of(harness, "BLG-AAAAAA") == SubmissionStatus.REJECTED
    assert "Foto KTP tidak terbaca" in worker.last_text
    assert "BLG-AAAAAA" in worker.last_text


async def test_review_warnings(harness: BotHarness) -> None:
    birth = date(1985, 8, 17)
    await seed_people(
        harness.db,
        [
            # Birth date differs from the NIK, NIK from Banjarmasin, desa outside the kecamatan.
            Person(
                "BLG-AAAAAA",
                name="M. Yusuf",
                female=False,
                birth=date(1985, 8, 18),
                nik=make_nik(birth, prefix="637101"),
                desa="63.11.02.2001",
                submitted_at=harness.clock.now.replace(hour=0),
            ),
            Person(
                "BLG-BBBBBB",
                name="Muhammad Yusuf",
                female=False,
                birth=date(1985, 8, 18),
                serial=5,
            ),
        ],
    )
    await seed_roster(harness.db, [roster_row(make_nik(birth, prefix="637101"))])
    admin = await english_admin(harness)
    await admin.send("/tinjau")
    card = admin.last_text
    assert "already on the participant roster" in card
    assert "Possible double registration" in card
    assert "BLG-BBBBBB" in card
    assert "birth date differs from the NIK (day)" in card
    assert "issued outside Balangan" in card
    assert "not a village of Balangan" in card
    assert name_key("M. Yusuf") == name_key("MUHAMMAD YUSUF")


async def test_two_admins_deciding_the_same_registration(harness: BotHarness) -> None:
    await seed_people(harness.db, [Person("BLG-AAAAAA")])
    await set_role(harness, OTHER_ADMIN, Role.ADMIN)
    first = await english_admin(harness)
    second = harness.chat(OTHER_ADMIN, language_code="en")
    await first.send("/tinjau")
    await second.send("/tinjau")
    await first.press("✅ Verify")
    await second.press("❌ Tolak")  # the second admin's row was made in Indonesian
    answer = second.last_answer
    assert answer is not None
    assert answer.text == ID("Another admin has already decided this registration.")
    assert ID("No more registrations to review right now.") in second.last_text
    assert await status_of(harness, "BLG-AAAAAA") == SubmissionStatus.VERIFIED


# --- matching ------------------------------------------------------------------------------------


async def test_matching_batch_out_and_results_back(harness: BotHarness) -> None:
    worker = harness.chat(WORKER, language_code="en")
    facilitator = harness.chat(FACILITATOR)
    for chat in (worker, facilitator):
        await chat.send("/start")
    verified = SubmissionStatus.VERIFIED.value
    await seed_people(
        harness.db,
        [
            Person("BLG-AAAAAA", status=verified, owner=WORKER, serial=1),
            Person(
                "BLG-BBBBBB",
                status=verified,
                entered_by=FACILITATOR,
                facilitator=True,
                serial=2,
            ),
            Person("BLG-CCCCCC", status=verified, serial=3),
            Person("BLG-DDDDDD", serial=4),  # not verified: not in the batch
        ],
    )
    admin = await english_admin(harness)
    await admin.send("/cocokkan")
    assert "Verified registrations waiting: 3" in admin.last_text
    await admin.press("Download batch (CSV)")
    documents = admin.documents()
    assert documents
    assert documents[-1].file_name.startswith("pencocokan-")
    text = documents[-1].data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["referensi", "nik", "nama"]
    assert [r[0] for r in rows[1:]] == ["BLG-AAAAAA", "BLG-BBBBBB", "BLG-CCCCCC"]
    header = rows[0]
    result, kpj, reason = header.index("hasil"), header.index("kpj"), header.index("alasan")
    rows[1][result], rows[1][kpj] = "Terdaftar", "9001 2345 678"
    rows[2][result], rows[2][reason] = "tidak valid", "NIK tidak ditemukan"
    rows.append(["BLG-ZZZZZZ", "", "", "", "", "", "", "", "", "", "terdaftar", "123", ""])
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    await admin.press("Send results")
    await admin.send("not a file")
    assert "as a document" in admin.history[-2].text
    await admin.send_document("hasil.csv", buffer.getvalue().encode(), "text/csv")
    report = admin.last_text
    assert "Registered with BPJS: 1" in report
    assert "Invalid: 1" in report
    assert "Without a result yet: 1" in report
    assert "Not applied: 1" in report
    assert "registered without a valid KPJ number" in report
    assert await status_of(harness, "BLG-AAAAAA") == SubmissionStatus.REGISTERED
    assert await status_of(harness, "BLG-BBBBBB") == SubmissionStatus.REJECTED
    assert await status_of(harness, "BLG-CCCCCC") == SubmissionStatus.VERIFIED
    assert "90012345678" in worker.last_text
    assert "NIK tidak ditemukan" in facilitator.last_text
    async with harness.db.transaction() as repo:
        statement = select(Submission).where(Submission.reference == "BLG-AAAAAA")
        assert (await repo.session.exec(statement)).one().kpj == "90012345678"
    actions = [a for a, _t in await audit_actions(harness)]
    assert actions == ["match.export", "match.registered", "match.invalid", "match.import"]

    # The same file again changes nothing and tells nobody twice.
    sent_before = len(harness.emu.calls_for("sendMessage", chat_id=WORKER))
    await admin.send("/cocokkan")
    await admin.press("Send results")
    await admin.send_document("hasil.csv", buffer.getvalue().encode(), "text/csv")
    assert "Already done before: 2" in admin.last_text
    assert len(harness.emu.calls_for("sendMessage", chat_id=WORKER)) == sent_before


async def test_matching_file_without_the_result_column(harness: BotHarness) -> None:
    admin = await english_admin(harness)
    await admin.send("/cocokkan")
    await admin.press("Send results")
    await admin.send_document("x.csv", b"referensi,nik\nBLG-AAAAAA,1\n", "text/csv")
    assert "lacks the columns result" in admin.last_text
