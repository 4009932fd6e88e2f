"""Personal data at rest: after real conversations, nothing a person typed is readable in the
database, every value comes back through the bot, logs hold none of it, and ``rotate-key`` moves
every value to a new key (in batches) without losing one.

The scan reads every column of every table with raw SQL (no decrypting types), so a new table or
column that stores a NIK, name, phone or birth date in clear fails here.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel, select

import storage.models  # noqa: F401 - every table on the metadata
from bot.logs import NOISY_LOGGERS, PAYLOAD_LOGGERS, quiet_libraries
from bot.roster_import import import_roster
from storage.crypto import KeyRing, generate_key
from storage.db import Database
from storage.models import (
    ClaimHelpRequest,
    Conversation,
    Facilitator,
    PaymentReminder,
    RosterEntry,
)
from storage.models.coverage import ImportVia
from tests.support import TEST_DATA_KEY, TEST_KEYRING, BotHarness
from tests.test_facilitator import make_facilitator
from tests.test_registration import NIK_SITI, walk

ROOT = Path(__file__).resolve().parents[1]
NIK_BUDI = "6311011708850002"  # typed into /cek, left waiting for the birth date
KPJ_SITI = "26012345678"
FACILITATOR_NAME = "Rahmat Hidayat"
FACILITATOR_PHONE = "+6285251000003"
HELP_PHONE = "+6281377778888"
#: Every personal value the conversations below store, as a person would type or see it.
SECRETS = {
    "nik": NIK_SITI,
    "nik typed for a lookup": NIK_BUDI,
    "name": "Siti Aminah",
    "phone": "81234567890",
    "birth date": "1985-08-17",
    "kpj": KPJ_SITI,
    "facilitator name": FACILITATOR_NAME,
    "facilitator phone": "85251000003",
    "help request phone": "81377778888",
    "help requester": "Keluarga Aminah",
}


@pytest.fixture
def harness(open_harness: BotHarness) -> BotHarness:
    """Flood control opened wide (see conftest)."""
    return open_harness


async def fill(harness: BotHarness, tmp_path: Path) -> None:
    """Store one of everything personal through the bot's own paths."""
    worker = harness.chat(101)
    await walk(worker)
    await worker.press("✅ Kirim")
    assert "Terkirim!" in worker.last_text

    roster = tmp_path / "roster.csv"
    roster.write_text(
        "nik,nama,kpj,program,pembayar,mulai,dibayar_sampai,tanggal_lahir\n"
        f"{NIK_SITI},Siti Aminah,{KPJ_SITI},JKK+JKM,APBD,2026-01-01,2026-12-31,1985-08-17\n",
        encoding="utf-8",
    )
    result = await import_roster(
        harness.db, roster, actor_id=None, via=ImportVia.CLI, clock=harness.clock
    )
    assert (result.counts.inserted, result.counts.bad) == (1, 0)
    await worker.send("/cek")  # her own data: links the roster row and plans reminders
    assert "Siti Aminah" in worker.transcript()

    other = harness.chat(202)
    await other.send("/cek")
    await other.send(NIK_BUDI)  # the NIK waits in the conversation for the birth date
    assert "tanggal lahirnya" in other.last_text

    await make_facilitator(
        harness, 501, ["63.11.01.2006"], name=FACILITATOR_NAME, phone=FACILITATOR_PHONE
    )
    async with harness.db.transaction() as repo:
        await repo.claims.add_help_request(
            user_id=303,
            case_id=None,
            requester_name="Keluarga Aminah",
            claimant="spouse",
            kecamatan_code="63.11.01",
            desa_code="63.11.01.2006",
            phone=HELP_PHONE,
            now=harness.clock(),
        )


def _shows(text: str, secret: str) -> bool:
    """True when ``text`` holds ``secret`` (digits also when spaced or punctuated)."""
    shown = text.lower()
    if secret.lower() in shown:
        return True
    if not secret.isdigit():
        return False
    return any(
        secret in "".join(c for c in run if c.isdigit()) for run in re.split(r"[^\d .\-+]", shown)
    )


async def raw_hits(db: Database) -> list[str]:
    """``table.column: secret`` for every cell that shows a personal value in clear."""
    hits: list[str] = []
    async with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            result = await conn.execute(text(f'SELECT * FROM "{table.name}"'))
            names = list(result.keys())
            for row in result.all():
                for name, cell in zip(names, row, strict=True):
                    for label, secret in SECRETS.items():
                        if _shows(str(cell), secret):
                            hits.append(f"{table.name}.{name}: {label}")
    return hits


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything at DEBUG, as an operator who sets ``LOG_LEVEL=DEBUG`` gets it (with the
    library levels ``bot.logs.configure`` sets), captured before any scrubbing filter."""
    names = (*PAYLOAD_LOGGERS, *NOISY_LOGGERS)
    saved = {name: logging.getLogger(name).level for name in names}
    caplog.set_level(logging.DEBUG)  # the root logger, as LOG_LEVEL=DEBUG sets it
    quiet_libraries()
    yield caplog
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


async def test_nothing_personal_is_stored_in_clear(
    harness: BotHarness, tmp_path: Path, debug_logging: pytest.LogCaptureFixture
) -> None:
    await fill(harness, tmp_path)

    assert await raw_hits(harness.db) == []
    # The same rows read back through the models: every value is there.
    async with harness.db.transaction() as repo:
        sub = await repo.registration.submitted_with_nik(NIK_SITI)
        entry = await repo.coverage.get_entry(NIK_SITI)
        session = repo.session
        conversation = await session.get(Conversation, 202)
        facilitator = await session.get(Facilitator, 501)
        help_request = (await session.exec(select(ClaimHelpRequest))).one()
        reminders = (await session.exec(select(PaymentReminder))).all()
    async with harness.db.engine.connect() as conn:
        raw_nik = (await conn.execute(text("SELECT nik FROM submissions"))).scalar_one()
    assert sub is not None
    assert entry is not None
    assert conversation is not None
    assert (sub.nik, sub.full_name, sub.phone) == (NIK_SITI, "Siti Aminah", "+6281234567890")
    assert sub.birth_date == date(1985, 8, 17)
    assert (entry.nik, entry.name, entry.kpj) == (NIK_SITI, "Siti Aminah", KPJ_SITI)
    assert (entry.birth_date, entry.telegram_user_id, entry.nik_region) == (
        date(1985, 8, 17),
        101,
        "631101",
    )
    assert sub.nik_index == entry.nik_index == TEST_KEYRING.index(NIK_SITI)
    assert sub.submitted_nik_index == sub.nik_index
    assert sub.birth_index == entry.birth_index
    assert conversation.data.get("nik") == NIK_BUDI
    assert facilitator is not None
    assert (facilitator.full_name, facilitator.phone) == (FACILITATOR_NAME, FACILITATOR_PHONE)
    assert (help_request.requester_name, help_request.phone) == ("Keluarga Aminah", HELP_PHONE)
    assert reminders
    assert {r.nik_index for r in reminders} == {entry.nik_index}
    assert str(raw_nik).startswith(f"v1.{TEST_KEYRING.current_id}.")

    # Logs: no NIK, phone or name at any level, whoever wrote the line.
    leaks = [
        f"{record.name}: {label}"
        for record in debug_logging.records
        for label, secret in SECRETS.items()
        if _shows(record.getMessage(), secret)
    ]
    assert leaks == []
    assert any(r.name.startswith("bot.") for r in debug_logging.records)  # the scan saw the bot


async def test_sqlite_file_holds_no_plaintext(sqlite_url: str, tmp_path: Path) -> None:
    """The bytes on disk (database and write-ahead log) hold no NIK, name or phone."""
    db_file = Path(sqlite_url.split("///", 1)[1])
    async with BotHarness(sqlite_url, flood_burst=100_000) as harness:
        await fill(harness, tmp_path)
    blob = b"".join(p.read_bytes() for p in db_file.parent.glob(f"{db_file.name}*"))
    assert len(blob) > 10_000
    for secret in (NIK_SITI, NIK_BUDI, "Siti Aminah", "81234567890", FACILITATOR_NAME):
        assert secret.encode() not in blob, secret


async def test_rotate_key_reencrypts_everything_in_batches(
    harness: BotHarness, tmp_path: Path, db_url: str
) -> None:
    await fill(harness, tmp_path)
    await harness.stop_bot()
    new_key = generate_key()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        # The new key first; the old one stays readable until the rotation is done.
        "DATA_KEY": f"{new_key},{TEST_DATA_KEY}",
    }
    for name in ("BOT_TOKEN", "DATA_INDEX_KEY"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "rotate-key"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Re-encrypted" in done.stdout
    assert "submissions:" in done.stderr  # progress, table by table

    # Only the new key is needed now (the index key is unchanged: derived from the oldest key,
    # so it is given explicitly once the old data key is gone).
    old_index = KeyRing.from_text(TEST_DATA_KEY).index_key
    only_new = KeyRing(KeyRing.from_text(new_key).keys, old_index)
    db = Database(db_url, keyring=only_new)
    try:
        async with db.engine.connect() as conn:
            tokens = (
                await conn.execute(text("SELECT nik, full_name, phone FROM submissions"))
            ).all()
        assert tokens
        assert all(
            only_new.key_id_of(t) == only_new.current_id for row in tokens for t in row if t
        )
        async with db.transaction() as repo:
            sub = await repo.registration.submitted_with_nik(NIK_SITI)
            entry = await repo.coverage.get_entry(NIK_SITI)
            conversation = await repo.session.get(Conversation, 202)
            roster = (await repo.session.exec(select(RosterEntry))).all()
        assert sub is not None
        assert sub.full_name == "Siti Aminah"
        assert entry is not None
        assert entry.kpj == KPJ_SITI
        assert conversation is not None
        assert conversation.data.get("nik") == NIK_BUDI
        assert len(roster) == 1
        assert await raw_hits(db) == []
    finally:
        await db.dispose()
