"""The command line as an operator runs it: ``python -m bot migrate`` and webhook mode in a real
subprocess, stopped gracefully with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.emulator import BotApiEmulator
from storage.db import Database
from tests.support import TEST_TOKEN

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(LOG_LEVEL="WARNING", **extra)
    return env


async def test_migrate_command_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "migrate",
        env=_env(DATABASE_URL=url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert b"Database is up to date." in out
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        async with db.transaction() as repo:
            assert await repo.users.get(1) is None  # the table exists
    finally:
        await db.dispose()


async def test_webhook_mode_serves_updates_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    secret = "cli-secret"
    async with BotApiEmulator(token=TEST_TOKEN) as emu:
        emu.add_user(555, "Siti")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            env=_env(
                TELEGRAM_BOT_TOKEN=TEST_TOKEN,
                BOT_API_URL=emu.base_url,
                DATABASE_URL=f"sqlite:///{tmp_path / 'w.sqlite3'}",
                WEBHOOK_URL=f"https://127.0.0.1:{port}/tg",
                WEBHOOK_SECRET=secret,
                HOST="127.0.0.1",
                PORT=str(port),
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await emu.wait_for(lambda: emu.calls_for("setWebhook"), timeout=30)
            update = {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 1_760_000_000,
                    "chat": {"id": 555, "type": "private", "first_name": "Siti"},
                    "from": {"id": 555, "is_bot": False, "first_name": "Siti"},
                    "text": "/start",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                },
            }
            async with aiohttp.ClientSession() as http:
                base = f"http://127.0.0.1:{port}"
                # setWebhook is sent while the server starts; wait until it listens.
                for _ in range(300):
                    try:
                        async with http.get(f"{base}/healthz") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                async with http.get(f"{base}/healthz") as resp:
                    assert resp.status == 200
                async with http.post(f"{base}/tg", json=update) as resp:
                    assert resp.status == 403
                async with http.post(
                    f"{base}/tg",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": secret},
                ) as resp:
                    assert resp.status == 200
            sent = emu.calls_for("sendMessage", chat_id=555)
            assert len(sent) == 1
            assert "Halo!" in str(sent[0].params["text"])
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(proc.communicate(), 40)
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err
