"""Several instances on one PostgreSQL: one user's updates alternate between two processes and are
still applied in order, each exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.emulator import ChatClient
from tests.conftest import PG_URL
from tests.multi import Cluster
from tests.support import reset_postgres

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PG_URL is None, reason="needs PostgreSQL (TEST_DATABASE_URL)"),
]


@pytest.fixture
def pg_url() -> str:
    assert PG_URL is not None
    reset_postgres(PG_URL)
    return PG_URL


async def test_alternating_processes_keep_one_users_order(pg_url: str, tmp_path: Path) -> None:
    async with Cluster(pg_url, tmp_path) as cluster:
        chat = ChatClient(cluster.emu, 8801, quiet=0.3)
        await chat.send("/start")
        await chat.send("/bahasa")
        await chat.press("English")
        await chat.send("/start")
        assert chat.last_text.startswith("Hello!"), chat.transcript()
        await chat.send("/bahasa")
        await chat.press("Bahasa Indonesia")
        await chat.send("/start")
        assert chat.last_text.startswith("Halo!"), chat.transcript()
        assert set(cluster.balancer.served) == {0, 1}, "both processes must have served the user"
        greetings = [m for m in cluster.emu.bot_messages(8801) if "Halo!" in (m.text or "")]
        assert len(greetings) == 2, chat.transcript()
        assert "Traceback" not in cluster.logs()
