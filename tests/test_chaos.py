"""Chaos: kill -9 the bot at random moments while 20 people register at once.

The real bot runs as a subprocess (``python -m bot run``, long polling) against the Bot API emulator
in this process. Twenty :class:`tests.chaos.Registrant` s register concurrently, each answering what
the bot last asked and sending the same answer again when no reply comes within a few seconds. The
bot is killed with SIGKILL at random moments (fixed seed) and restarted. After every kill, every
answer whose next question a person had already seen must be in the database; at the end every
person has finished, with every answer stored exactly as given, one submission per NIK and
distinct reference numbers. It runs in long-polling and in webhook mode; the figures land in
``tests/artifacts/reliability-chaos-<backend>-<mode>.json``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.emulator import BotApiEmulator
from storage.db import Database
from storage.models import ProcessedUpdate, Submission
from tests.chaos import BotProcess, Registrant
from tests.support import TEST_KEYRING, TEST_TOKEN

pytestmark = pytest.mark.slow

SEED = 20_261_121
PEOPLE = 20
KILLS = 6
FIRST_USER = 8_001
DEADLINE_SECONDS = 180.0
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    """The fake Telegram, in this process."""
    emulator = BotApiEmulator(token=TEST_TOKEN)
    await emulator.start()
    yield emulator
    await emulator.stop()


def process_url(db_url: str) -> str:
    """The DATABASE_URL a bot process is given for the test database."""
    return db_url.replace("sqlite+aiosqlite://", "sqlite://").replace(
        "postgresql+asyncpg://", "postgresql://"
    )


async def submissions_of(db: Database, people: list[Registrant]) -> dict[int, list[Submission]]:
    """Every submission of every person, by Telegram id."""
    ids = [p.user_id for p in people]
    async with db.transaction() as repo:
        rows = (
            await repo.session.exec(
                select(Submission).where(col(Submission.owner_user_id).in_(ids))
            )
        ).all()
    found: dict[int, list[Submission]] = {uid: [] for uid in ids}
    for row in rows:
        assert row.owner_user_id is not None
        found[row.owner_user_id].append(row)
    return found


async def check_acknowledged(db: Database, people: list[Registrant], emu: BotApiEmulator) -> int:
    """Every answer a person saw acknowledged is stored; returns how many were checked."""
    stored = await submissions_of(db, people)
    checked = 0
    for person in people:
        rows = stored[person.user_id]
        if not person.acknowledged:
            continue
        assert len(rows) == 1, (person.user_id, rows)
        for name, value in person.acknowledged.items():
            actual = getattr(rows[0], name)
            assert actual == value, (
                f"{person.user_id}: {name} is {actual!r}, not {value!r}\n"
                f"{transcript(emu, person.user_id, last=40)}"
            )
            checked += 1
    return checked


def thinking(seed: int) -> Callable[[], float]:
    """A person's pause before each answer (reading, typing), from their own seeded generator."""
    generator = random.Random(seed)
    return lambda: generator.uniform(0.2, 0.9)


def transcript(emu: BotApiEmulator, user_id: int, last: int = 14) -> str:
    """The end of a person's chat, for failure messages."""
    lines = [f"--- {user_id} ---"]
    for message in emu.messages(user_id)[-last:]:
        who = "bot" if message.from_bot else "user"
        text = (message.text or f"[{message.kind.value}]").replace("\n", " | ")[:160]
        lines.append(f"{who} #{message.message_id}: {text} {message.button_data()}")
    return "\n".join(lines)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_kill_9_while_twenty_people_register(
    emu: BotApiEmulator, db_url: str, tmp_path: Path, mode: str
) -> None:
    rng = random.Random(SEED)
    people = [
        Registrant(emu, FIRST_USER + i, serial=100 + i, think=thinking(SEED + i))
        for i in range(PEOPLE)
    ]
    for person in people:
        emu.add_user(person.user_id, f"Warga {person.serial}", language_code="id")
    bot = BotProcess(emu, process_url(db_url), tmp_path / "bot.log", webhook=mode == "webhook")
    db = Database(db_url, keyring=TEST_KEYRING)
    started = time.monotonic()
    deadline = started + DEADLINE_SECONDS
    checked = 0
    await bot.start()
    # People arrive over the first seconds, so that every kill finds some of them mid-way.
    runs = [
        asyncio.create_task(person.run(deadline, start_after=rng.uniform(0.0, 8.0)))
        for person in people
    ]
    mid_way: list[int] = []
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.3, 2.5))  # a random moment of normal service
            await bot.kill()
            mid_way.append(sum(1 for p in people if p.actions and p.reference is None))
            # The process is gone: what it acknowledged must be on disk.
            checked += await check_acknowledged(db, people, emu)
            await db.dispose()
            await asyncio.sleep(rng.uniform(0.0, 1.0))  # people keep typing meanwhile
            await bot.start()
        await asyncio.wait_for(
            asyncio.gather(*runs), timeout=max(1.0, deadline - time.monotonic())
        )
    except (AssertionError, TimeoutError) as exc:
        for run in runs:
            run.cancel()
        stuck = [p for p in people if p.reference is None]
        transcripts = "\n".join(transcript(emu, p.user_id) for p in stuck[:2])
        raise AssertionError(
            f"chaos run failed: {exc!r}; {len(stuck)} unfinished\n{transcripts}\n"
            f"bot log:\n{bot.tail()}"
        ) from exc
    finally:
        await bot.stop()
    seconds = time.monotonic() - started
    checked_after_kills = checked

    unfinished = [p.user_id for p in people if p.reference is None]
    assert not unfinished, f"{unfinished} never finished\n{bot.tail()}"
    stored = await submissions_of(db, people)
    update_ids = [uid for p in people for uid in p.update_ids]
    async with db.transaction() as repo:
        processed = (
            await repo.session.exec(
                select(func.count())
                .select_from(ProcessedUpdate)
                .where(col(ProcessedUpdate.update_id).in_(update_ids))
            )
        ).one()
    await db.dispose()
    references = set()
    for person in people:
        rows = stored[person.user_id]
        assert len(rows) == 1, (person.user_id, rows)  # no duplicate, no stray draft
        row = rows[0]
        assert row.status == "submitted"
        assert row.submitted_nik_index == TEST_KEYRING.index(person.nik)
        assert row.reference == person.reference
        for name, value in person.expected().items():
            assert getattr(row, name) == value, (person.user_id, name)
        references.add(row.reference)
    assert len(references) == PEOPLE
    # No update was lost: every one a person sent was processed, in polling mode too (the poller
    # confirms an update to Telegram only once processed, so a killed process gets it again).
    assert processed == len(update_ids), f"{len(update_ids) - processed} updates never processed"
    checked += sum(len(p.expected()) for p in people)

    figures = {
        "backend": db.engine.dialect.name,
        "mode": mode,
        "people": PEOPLE,
        "kills": bot.kills,
        "starts": bot.starts,
        "updates_sent": len(update_ids),
        "updates_processed": processed,
        "people_mid_registration_at_each_kill": mid_way,
        "updates_never_processed_sent_again_by_the_person": len(update_ids) - processed,
        "resends_after_no_reply": sum(p.resends for p in people),
        "answers_checked_after_kills": checked_after_kills,
        "answers_checked": checked,
        "answers_lost": 0,
        "duplicate_submissions": 0,
        "seconds": round(seconds, 1),
        "seed": SEED,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"reliability-chaos-{figures['backend']}-{mode}.json"
    target.write_text(json.dumps(figures, indent=2))
