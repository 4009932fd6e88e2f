"""Kill -9 in the middle of a registration, restart, and carry on at the same question.

The real bot runs as a subprocess (``python -m bot``) against the Bot API emulator in this process
and a SQLite file, exactly as in production but for the URLs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from bot.emulator import BotApiEmulator
from storage.db import Database
from storage.models import Submission
from tests.support import TEST_DATA_KEY, TEST_KEYRING, TEST_TOKEN

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
USER = 4242
TIMEOUT = 30.0


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator(token=TEST_TOKEN)
    await emulator.start()
    emulator.add_user(USER, "Siti", language_code="id")
    yield emulator
    await emulator.stop()


@pytest.fixture
def db_file(sqlite_template: Path, tmp_path: Path) -> Path:
    # The template has every table, including ones whose migration is not written yet;
    # ``python -m bot`` only applies migrations, which are already at head here.
    path = tmp_path / "bot.sqlite3"
    shutil.copy(sqlite_template, path)
    return path


@contextmanager
def bot_process(
    emu: BotApiEmulator, db_file: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "BOT_API_URL": emu.base_url,
        "DATABASE_URL": f"sqlite:///{db_file}",
        "LOG_LEVEL": "WARNING",
        "DATA_KEY": TEST_DATA_KEY,
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=TIMEOUT)


def last_text(emu: BotApiEmulator) -> str:
    messages = emu.bot_messages(USER)
    return (messages[-1].text or "") if messages else ""


async def expect(emu: BotApiEmulator, fragment: str, log: Path) -> None:
    try:
        await emu.wait_for(lambda: fragment in last_text(emu), timeout=TIMEOUT)
    except TimeoutError:
        raise AssertionError(
            f"no bot message with {fragment!r}; last: {last_text(emu)!r}\n"
            f"bot log:\n{log.read_text(errors='replace')[-3000:]}"
        ) from None


async def press(emu: BotApiEmulator, data: str) -> None:
    message = next(m for m in reversed(emu.bot_messages(USER)) if m.has_callback_data(data))
    await emu.press(USER, message.message_id, data)


async def stored(db_file: Path) -> tuple[str | None, Submission | None]:
    db = Database(f"sqlite+aiosqlite:///{db_file}", keyring=TEST_KEYRING)
    try:
        async with db.transaction() as repo:
            conv = await repo.conversations.get(USER)
            draft = await repo.registration.own_draft(user_id=USER)
    finally:
        await db.dispose()
    return (None if conv is None else conv.state), draft


async def test_killed_mid_registration_the_bot_resumes_at_the_same_question(
    emu: BotApiEmulator, db_file: Path, tmp_path: Path
) -> None:
    log = tmp_path / "bot.log"
    with bot_process(emu, db_file, log) as proc:
        await emu.send_text(USER, "/daftar")
        await expect(emu, "Apakah Anda setuju?", log)
        await press(emu, "reg:consent:yes")
        await expect(emu, "Ketik NIK Anda", log)
        await emu.send_text(USER, "6311015708850003")
        await expect(emu, "nama lengkap", log)
        await emu.send_text(USER, "Siti Aminah")
        await expect(emu, "tanggal lahir", log)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)

    state, draft = await stored(db_file)
    assert state == "reg.birth_date"
    assert draft is not None
    assert (draft.nik, draft.full_name, draft.birth_date) == (
        "6311015708850003",
        "Siti Aminah",
        None,
    )

    # The user answers while the bot is down; the answer waits at Telegram.
    await emu.send_text(USER, "17-08-1985")
    with bot_process(emu, db_file, log) as proc:
        await expect(emu, "Menurut NIK, Anda perempuan", log)
        await press(emu, "reg:sex:female")
        await expect(emu, "Nomor HP Anda", log)
        # Killed the instant an answer is sent: it is either committed (its reply is re-sent if
        # it was lost) or redelivered by Telegram after the restart and processed then.
        await emu.send_text(USER, "0812 3456 7890")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)

    with bot_process(emu, db_file, log):
        await expect(emu, "Pilih kecamatan", log)
        state, draft = await stored(db_file)
        assert state == "reg.kecamatan"
        assert draft is not None
        assert (draft.nik, draft.full_name) == ("6311015708850003", "Siti Aminah")
        assert (draft.birth_date, draft.sex, draft.phone) == (
            date(1985, 8, 17),
            "female",
            "+6281234567890",
        )
        await press(emu, "reg:kec:63.11.01")
        await expect(emu, "desa atau kelurahan", log)

    # Every question before the kills was asked once: no update was processed twice. The replies
    # of one update may arrive twice in a row: killed in the milliseconds between sending them and
    # recording that they were sent (or confirming the update to Telegram), the bot sends them
    # again after the restart rather than risk never sending them. Such a repeated group (an
    # update's replies are at most two messages here) is dropped; a re-processed update would
    # answer differently (its text checked against the next question).
    sent = [m.text or "" for m in emu.bot_messages(USER)]
    texts: list[str] = []
    for text in sent:
        if text not in texts[-2:]:
            texts.append(text)
    assert sum("tanggal lahir Anda" in t for t in texts) == 1
    assert sum(t.startswith("Tanggal lahir: ") for t in texts) == 1
    assert sum(t.startswith("Jenis kelamin: ") for t in texts) == 1
