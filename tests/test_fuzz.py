"""Fuzz: random input at every state of every conversation, on every database backend.

Every state of the live routing tables is reached by replaying a scripted tour
(``tests/fuzzing.py``; a state no tour reaches fails), then a fresh user there receives a
hypothesis-generated sequence of inputs — text of every kind (unicode, emoji, RTL and zero-width
characters, control characters, 4,000+ characters, HTML and entity tricks, commands), stickers,
photos, locations, voice notes, contacts (own and someone else's), files, real buttons (current and
stale) and forged callback data. After each input :meth:`tests.fuzzing.FuzzWorld.apply` checks that
nothing was logged as an error, that the user got an answer Telegram accepted, and that the stored
conversation and answers are consistent.

Examples are derandomized (hypothesis' fixed seed), so a failure reproduces. The figures land in
``tests/artifacts/reliability-fuzz-<backend>.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from storage.models import ClaimCase, Submission
from tests.conftest import BACKENDS, PG_URL
from tests.fuzzing import (
    NASTY,
    FuzzWorld,
    Input,
    all_states,
    callback_prefixes,
    input_strategy,
    record_problems,
)
from tests.support import BotHarness, reset_postgres

#: The fuzz tests share one bot per backend (a module-scoped fixture, so a module-scoped loop).
shared_loop = pytest.mark.asyncio(loop_scope="module")

STATES = all_states()
#: Random examples per state (FUZZ_EXAMPLES overrides), each 8–20 inputs after reaching the
#: state, plus one explicit example of NASTY inputs.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
INPUTS = st.lists(input_strategy(callback_prefixes()), min_size=8, max_size=20)
ROSTER_ROWS = 1500
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def world(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FuzzWorld]:
    """One bot per backend for the whole module: a fresh database, a roster, the tours run."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("fuzz") / "bot.sqlite3"
        shutil.copy(sqlite_template, path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        assert PG_URL is not None
        # reset_postgres runs its own event loop: not inside this one.
        await asyncio.to_thread(reset_postgres, PG_URL)
        url = PG_URL
    started = time.monotonic()
    # Flood control slows a fast user down on purpose (tests/test_foundation.py covers it).
    async with BotHarness(url, flood_burst=100_000) as harness:
        fuzz_world = FuzzWorld(harness)
        try:
            await fuzz_world.setup(ROSTER_ROWS)
            yield fuzz_world
        finally:
            fuzz_world.close()
    summary = {
        "backend": request.param,
        "seconds": round(time.monotonic() - started, 1),
        "states": len(fuzz_world.states),
        "unreached": fuzz_world.unreached,
        **fuzz_world.stats.as_json(),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"reliability-fuzz-{request.param}.json"
    target.write_text(json.dumps(summary, indent=2, ensure_ascii=False))


@pytest.mark.slow
@shared_loop
async def test_every_state_is_reached(world: FuzzWorld) -> None:
    """The tours reach every state the routing tables know (a new state must join a tour)."""
    assert world.unreached == [], (
        f"no tour reaches {world.unreached}: add the steps that lead there to TOURS in "
        "tests/fuzzing.py"
    )


@pytest.mark.slow
@shared_loop
@pytest.mark.parametrize("state", STATES)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)
@given(inputs=INPUTS)
@example(inputs=list(NASTY))
async def test_random_input_at_every_state(
    world: FuzzWorld, state: str, inputs: list[Input]
) -> None:
    """A fresh user at ``state`` sends random inputs; every invariant holds after each one."""
    world.stats.examples += 1
    persona, chat = await world.reach(state)
    for item in inputs:
        await world.apply(persona, chat, item)


# -- what the fuzz found (fast regression tests) ------------------------------------------------


async def test_a_pasted_page_at_the_kecamatan_question_gets_an_answer(harness: BotHarness) -> None:
    """The reply quoted the whole text back and Telegram refused it (over 4,096 characters)."""
    chat = harness.chat(6201)
    await chat.send("/daftar")
    await chat.press("reg:consent:yes")
    await chat.send("6311015708850003")
    await chat.send("Siti Aminah")
    await chat.send("17-08-1985")
    await chat.press("reg:sex:female")
    await chat.share_contact()
    replies = await chat.send("Panjang sekali " * 273)
    assert any("Panjang sekali" in (m.text or "") and "…" in (m.text or "") for m in replies)
    assert all(c.ok for c in harness.emu.calls_for("sendMessage", chat_id=6201))


async def test_nul_characters_are_stored_as_spaces(harness: BotHarness) -> None:
    """PostgreSQL refuses NUL in text: "Petani\\x00karet" failed the update there."""
    chat = harness.chat(6202)
    await chat.send("/daftar")
    await chat.press("reg:consent:yes")
    await chat.send("6311015708850003")
    await chat.send("Siti\x00Aminah")
    assert "tanggal lahir" in chat.last_text
    async with harness.db.transaction() as repo:
        draft = await repo.registration.own_draft(user_id=6202)
    assert draft is not None
    assert draft.full_name == "Siti Aminah"


def test_the_checks_notice_a_corrupted_conversation() -> None:
    """The invariants the fuzz relies on do flag broken rows (so a green fuzz means something)."""
    draft = Submission(
        id=1,
        reference="BLG-AAAAAA",
        status="draft",
        entered_by_user_id=5,
        nik="1234",
        submitted_nik_index="1234",
        full_name="siti   aminah",
        phone="0812",
        kecamatan_code="63.11.01",
        desa_code="63.11.02.2001",
        occupation_code="astronaut",
    )
    case = ClaimCase(id=3, user_id=6, cause="flu", school_children=1, child_levels=["sd", "smp"])
    problems = "\n".join(
        record_problems(
            "reg.nama",
            {"sub": 2},
            [draft],
            [case],
            known_states=frozenset({"reg.name"}),
            user_id=5,
            today=date(2026, 11, 21),
        )
    )
    for expected in (
        "unknown state 'reg.nama'",
        "without an own draft",
        "status draft with submitted_nik_index set",
        "stored NIK is not a valid NIK",
        "not a tidy valid name",
        "not a valid E.164",
        "not in kecamatan",
        "occupation 'astronaut'",
        "belongs to 6",
        "cause 'flu'",
        "2 levels for 1 children",
    ):
        assert expected in problems
    assert (
        record_problems(
            None, {}, [], [], known_states=frozenset(), user_id=5, today=date(2026, 11, 21)
        )
        == []
    )
