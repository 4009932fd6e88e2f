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


async def _register(chat: ChatClient, index: int) -> None:
    """A whole registration, step by step (the same script as the benchmark)."""
    from bench.load import Action
    from bench.scenarios.registration import script

    for step in script(index):
        if step.action is Action.TEXT:
            await chat.send(step.value)
        elif step.action is Action.PRESS:
            await chat.press(step.value)
        else:
            await chat.share_contact(step.value)
        if step.expect is not None:
            found = (
                step.expect in chat.last_text
                or any(step.expect in label for row in chat.buttons() for label in row)
                or any(step.expect in (d or "") for row in chat.button_data() for d in row)
            )
            assert found, f"expected {step.expect!r}\n{chat.transcript()}"


async def test_whole_registration_and_a_broadcast_across_two_processes(
    pg_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import text

    from storage.db import Database
    from tests.support import ADMIN_ID, TEST_KEYRING

    async with Cluster(pg_url, tmp_path) as cluster:
        users = [ChatClient(cluster.emu, 8900 + i, quiet=0.3) for i in range(3)]
        for index, chat in enumerate(users):
            await _register(chat, index)
            assert "Terkirim!" in chat.last_text, chat.transcript()
        served = cluster.balancer.served
        assert set(served) == {0, 1}

        admin = ChatClient(cluster.emu, ADMIN_ID, quiet=0.3)
        await admin.send("/siaran")
        await admin.send("Rapat warga besok pagi.")
        await admin.press("bc:kind:ann")
        await admin.press("bc:aud:all")
        assert "Penerima:" in admin.last_text, admin.transcript()
        if "bc:quiet" in [d for row in admin.button_data() for d in row]:
            await admin.press("bc:quiet")  # the test must not depend on the hour
        await admin.press("✅ Kirim sekarang")
        await cluster.emu.wait_for(
            lambda: all(
                any("Rapat warga" in (m.text or "") for m in cluster.emu.bot_messages(c.user_id))
                for c in users
            ),
            timeout=60,
        )

        db = Database(pg_url, keyring=TEST_KEYRING)
        try:
            async with db.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text("SELECT status, count(*) FROM submissions GROUP BY status")
                    )
                ).all()
                claimed = (
                    await conn.execute(
                        text("SELECT count(DISTINCT claimed_by) FROM broadcast_recipients")
                    )
                ).scalar()
        finally:
            await db.dispose()
        assert dict(rows) == {"submitted": 3}
        for c in users:
            copies = [
                m for m in cluster.emu.bot_messages(c.user_id) if "Rapat warga" in (m.text or "")
            ]
            assert len(copies) == 1, c.transcript()
        assert claimed is not None
        assert claimed >= 1
        assert "Traceback" not in cluster.logs()
