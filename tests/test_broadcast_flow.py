"""The ``/siaran`` conversation as an admin goes through it, and everyone else being refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot import broadcast_sender
from storage.models import Role
from tests.support import ADMIN_ID, BotHarness
from tests.test_broadcast import seed_audiences
from tests.test_broadcast_sending import (
    SEND,
    compose,
    counts,
    delivered,
    fast_tuning,
    forge_press,
    seed_users,
    wait_finished,
)

REFUSED = "tidak tersedia untuk Anda"
#: Buttons of a step are first refused as "no longer active" outside that step.
STALE = "sudah tidak berlaku"


@pytest.fixture
async def harness(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotHarness]:
    """The bot with a fast sender (overrides the shared fixture)."""
    monkeypatch.setattr(broadcast_sender, "DEFAULT_TUNING", fast_tuning())
    # No flood control: the refusal test presses every button quickly.
    async with BotHarness(db_url, broadcast_rate=300.0, flood_burst=10_000) as h:
        yield h


async def test_compose_choose_places_and_preview(harness: BotHarness) -> None:
    await seed_audiences(harness.db)  # submissions in Juai (3 owners, one blocked the bot)
    admin = harness.admin()
    await admin.send("/siaran")
    assert "<b>" not in admin.last_text
    assert admin.last_text.startswith("Siaran baru")
    await admin.send("Posyandu buka jam 8 & gratis.")
    assert admin.last_text.startswith("Apakah ini pengingat?")
    await admin.press("📢 Pengumuman")
    assert admin.last_text == "Siapa yang menerima?"
    await admin.press("Satu kecamatan")
    assert admin.last_text == "Kecamatan mana?"
    replies = await admin.press("Juai")
    preview, summary = replies[-2], replies[-1]
    assert preview.text == "📢 Pengumuman\n\nPosyandu buka jam 8 & gratis."
    assert preview.raw_text == "📢 <b>Pengumuman</b>\n\nPosyandu buka jam 8 &amp; gratis."
    assert "Kepada: Kecamatan Juai" in (summary.text or "")
    assert "Penerima: 2" in (summary.text or "")
    assert "1 orang pernah memblokir bot dan dilewati." in (summary.text or "")
    assert summary.buttons()[0] == ["✅ Kirim sekarang", "🕘 Jadwalkan"]
    # Another group: a desa on the second page of the list.
    await admin.press("👥 Ganti penerima")
    await admin.press("Satu desa")
    assert admin.last_text == "Desanya di kecamatan mana?"
    await admin.press("Juai")
    assert admin.last_text == "Desa mana di Kecamatan Juai?"
    await admin.press("Berikutnya ›")
    await admin.press("Sirap")
    assert "Kepada: Desa Sirap (Kecamatan Juai)" in admin.last_text
    assert "Tidak ada yang bisa menerima di kelompok ini." in admin.last_text
    assert "✅ Kirim sekarang" not in str(admin.buttons())
    await admin.press("👥 Ganti penerima")
    await admin.press("Satu desa")
    await admin.press("Juai")
    await admin.press("Muara Ninian")
    assert "Penerima: 1" in admin.last_text


async def test_status_payer_facilitator_and_days_audiences(harness: BotHarness) -> None:
    await seed_audiences(harness.db)
    admin = harness.admin()
    await admin.send("/siaran")
    await admin.send("Lengkapi pendaftaran Anda.")
    await admin.press("🔔 Pengingat")
    await admin.press("Menurut status pendaftaran")
    assert admin.last_text == "Orang yang status pendaftarannya:"
    await admin.press("Mulai mengisi, belum dikirim")
    assert "Kepada: Status pendaftaran: Mulai mengisi, belum dikirim" in admin.last_text
    assert "Jenis: Pengingat" in admin.last_text
    assert "Penerima: 1" in admin.last_text
    for label, expected in (
        ("Dibayar Pemkab (APBD)", "Penerima: 2"),
        ("Membayar sendiri", "Penerima: 3"),  # one of the four turned reminders off
        ("Hanya pendamping desa", "Penerima: 1"),
    ):
        await admin.press("👥 Ganti penerima")
        await admin.press(label)
        assert expected in admin.last_text, label
    assert "Penerima: 3" not in admin.last_text
    await admin.press("👥 Ganti penerima")
    await admin.press("Perlindungan segera berakhir")
    assert admin.last_text.startswith("Perlindungan (masa iuran) berakhir dalam berapa hari?")
    assert ["7 hari", "14 hari"] in admin.buttons()
    replies = await admin.send("besok")
    assert replies[0].text == "Ketik jumlah hari, misalnya 30."
    await admin.send("14")
    # Users 4 and 7 end within 14 days; 7 turned reminders off.
    assert "Kepada: Perlindungan berakhir dalam 14 hari" in admin.last_text
    assert "Penerima: 1" in admin.last_text
    assert "1 orang mematikan pengingat dan dilewati." in admin.last_text


async def test_wrong_input_is_answered_and_old_buttons_refused(harness: BotHarness) -> None:
    admin = harness.admin()
    await admin.send("/siaran")
    for act in (admin.send_sticker(), admin.send_location(), admin.send_voice()):
        replies = await act
        texts = [m.text for m in replies]
        assert "Silakan kirim teks, foto, atau berkas." in texts
        assert admin.last_text.startswith("Siaran baru")
    replies = await admin.send("x" * 4000)
    assert any(
        "Terlalu panjang: 4000 huruf. Paling banyak 3996." in (m.text or "") for m in replies
    )
    await admin.send("Pesan pendek.")
    kind_question = admin.last
    assert kind_question is not None
    replies = await admin.send("pengumuman")
    assert replies[0].text == "Silakan pilih salah satu tombol."
    assert admin.buttons()[0] == ["📢 Pengumuman"]
    await admin.press("📢 Pengumuman")
    # The first kind question's button is no longer active.
    answer = await forge_press(harness, admin, "bc:kind:rem")
    assert "sudah tidak berlaku" in answer
    assert admin.last_text == "Siapa yang menerima?"
    await admin.press("✖ Berhenti")
    assert admin.last_text == "Siaran dibuang. Tidak ada yang dikirim."
    await admin.send("/siaran")
    await admin.send("Lagi.")
    await admin.send("/batal")
    assert admin.last_text == "Siaran dibuang. Tidak ada yang dikirim."
    async with harness.db.transaction() as repo:
        assert await repo.broadcasts.get(1) is None
    # A menu button can start it too.
    assert "Siaran baru" in await forge_press(harness, admin, "bc:new")


async def test_schedule_in_wita_then_send_at_that_time(harness: BotHarness) -> None:
    ids = await seed_users(harness, range(1_100_001, 1_100_004))
    admin = harness.admin()
    await compose(admin, "Vaksinasi hari Minggu.")
    await admin.press("🕘 Jadwalkan")
    assert "misalnya 22-11-2026 09:00" in admin.last_text
    for typed, error in (
        (
            "besok pagi",
            "Maaf, tidak terbaca. Ketik tanggal dan jam seperti ini: 22-11-2026 09:00.",
        ),
        ("20-11-2026 09:00", "Waktu itu sudah lewat. Pilih waktu yang akan datang."),
        (
            "22-11-2026 21:30",
            "Itu jam istirahat (20.00–08.00 WITA). Pilih jam antara 08.00 dan 20.00.",
        ),
    ):
        replies = await admin.send(typed)
        assert replies[0].text == error
        assert (replies[-1].text or "").startswith("Kapan dikirim?")
    await admin.send("22-11-2026 09:00")
    assert admin.last_text == "🕘 Siaran #1 dijadwalkan pada 22 November 2026 09.00 WITA."
    await wait_a_moment()
    assert not delivered(harness, ids)
    harness.clock.advance(hours=23)  # 22 November 09:00 WITA
    await wait_finished(harness)
    assert set(delivered(harness, ids).values()) == {1}
    # A scheduled broadcast can be cancelled from its confirmation.
    await compose(admin, "Rapat dibatalkan.")
    await admin.press("🕘 Jadwalkan")
    await admin.send("23-11-2026 10:00")
    await admin.press("✖ Batalkan siaran")
    await admin.press("Ya, batalkan")
    assert admin.last_text == "Siaran #2 dibatalkan."
    harness.clock.advance(days=2)
    await wait_a_moment()
    assert set(delivered(harness, ids).values()) == {1}
    assert await counts(harness, 2) == {}
    async with harness.db.transaction() as repo:
        second = await repo.broadcasts.get(2)
    assert second is not None
    assert (second.status, second.started_at) == ("cancelled", None)


async def wait_a_moment() -> None:
    """Long enough for the (fast) sender to have acted if it were going to."""
    await asyncio.sleep(0.6)


async def test_a_document_goes_out_as_a_document(harness: BotHarness) -> None:
    ids = await seed_users(harness, range(1_200_001, 1_200_003))
    admin = harness.admin()
    await admin.send("/siaran")
    await admin.send_document(
        "jadwal.pdf", b"%PDF-1.4 jadwal", "application/pdf", caption="Jadwal"
    )
    await admin.press("📢 Pengumuman")
    replies = await admin.press("Semua orang")
    assert replies[-2].file is not None
    assert replies[-2].file.file_name == "jadwal.pdf"
    assert replies[-2].text == "📢 Pengumuman\n\nJadwal"
    await admin.press(SEND)
    await wait_finished(harness)
    for uid in ids:
        (message,) = harness.emu.bot_messages(uid)
        assert message.file is not None
        assert message.file.file_name == "jadwal.pdf"
        assert message.text == "📢 Pengumuman\n\nJadwal"


@pytest.mark.parametrize("role", [Role.WORKER, Role.FACILITATOR])
async def test_everyone_but_admins_is_refused_every_command_and_button(
    harness: BotHarness, role: Role
) -> None:
    routes = harness.botapp.services.routes
    mine = {p: r for p, r in routes.callbacks.items() if p.startswith("bc:")}
    assert mine
    assert all(r.roles == frozenset({"admin"}) for r in mine.values())
    uid = 1_300_001
    await seed_users(harness, [uid], role=role)
    chat = harness.chat(uid)
    for command in ("/siaran", "/broadcast"):
        await chat.send(command)
        assert REFUSED in chat.last_text
    await chat.send("/start")
    for prefix in sorted(mine):
        for data in (prefix, f"{prefix}:1", f"{prefix}:all"):
            answer = await forge_press(harness, chat, data)
            step_button = mine[prefix].states is not None
            assert (STALE if step_button else REFUSED) in answer, data
    # A real broadcast's buttons too.
    admin = harness.admin()
    await compose(admin)
    await admin.press(SEND)
    await wait_finished(harness)
    answer = await forge_press(harness, chat, "bc:pause:1")
    assert REFUSED in answer


async def test_an_admin_demoted_mid_way_cannot_finish(harness: BotHarness) -> None:
    admin = harness.admin()
    await admin.send("/siaran")
    async with harness.db.transaction() as repo:
        await repo.users.set_role(user_id=ADMIN_ID, role=Role.WORKER)
    await admin.send("Pesan terakhir.")
    assert REFUSED in admin.last_text
    async with harness.db.transaction() as repo:
        conversation = await repo.conversations.get(ADMIN_ID)
    assert conversation is not None
    assert conversation.state is None


async def test_audit_log_records_the_broadcast(harness: BotHarness) -> None:
    await seed_users(harness, [1_400_001])
    admin = harness.admin()
    await compose(admin)
    await admin.press(SEND)
    await wait_finished(harness)
    async with harness.db.transaction() as repo:
        (entry,) = [e for e in await repo.audit.latest() if e.action == "broadcast.create"]
    assert entry.actor_id == ADMIN_ID
    assert entry.target == "broadcast:1"
    assert entry.details["audience"] == {"kind": "all", "code": None, "days": None}
    assert entry.details["scheduled_at"] == harness.clock.now.isoformat()
