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
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.conftest import BACKENDS, PG_URL
from tests.fuzzing import (
    NASTY,
    FuzzWorld,
    Input,
    all_states,
    callback_prefixes,
    input_strategy,
)
from tests.support import BotHarness, reset_postgres

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

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
        fuzz = FuzzWorld(harness)
        try:
            await fuzz.setup(ROSTER_ROWS)
            yield fuzz
        finally:
            fuzz.close()
    summary = {
        "backend": request.param,
        "seconds": round(time.monotonic() - started, 1),
        "states": len(fuzz.states),
        "unreached": fuzz.unreached,
        **fuzz.stats.as_json(),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"reliability-fuzz-{request.param}.json"
    target.write_text(json.dumps(summary, indent=2, ensure_ascii=False))


async def test_every_state_is_reached(world: FuzzWorld) -> None:
    """The tours reach every state the routing tables know (a new state must join a tour)."""
    assert world.unreached == [], (
        f"no tour reaches {world.unreached}: add the steps that lead there to TOURS in "
        "tests/fuzzing.py"
    )


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
