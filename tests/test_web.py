"""The webhook server: secret check, malformed bodies, health and readiness, processing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.application import build_application
from bot.emulator import BotApiEmulator
from bot.settings import Settings
from bot.web import make_web_app
from storage.db import Database
from tests.support import TEST_KEYRING, TEST_TOKEN

SECRET = "s3cret_token-1"


@pytest.fixture
async def web(db_url: str) -> AsyncIterator[tuple[TestClient, BotApiEmulator, Database]]:
    async with BotApiEmulator(token=TEST_TOKEN) as emu:
        emu.add_user(4242, "Siti")
        settings = Settings(
            token=TEST_TOKEN,
            api_url=emu.base_url,
            database_url=db_url,
            webhook_url="https://127.0.0.1:9/telegram/hook",
            webhook_secret=SECRET,
        )
        db = Database(db_url, keyring=TEST_KEYRING)
        app = make_web_app(build_application(settings, db, webhook=True))
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            yield client, emu, db
        finally:
            await client.close()
            await db.dispose()


def _update(update_id: int, text: str = "/start", user_id: int = 4242) -> dict[str, object]:
    user = {"id": user_id, "is_bot": False, "first_name": "Siti", "language_code": "id"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_760_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "Siti"},
            "from": user,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def test_webhook_is_registered_with_the_secret(web) -> None:  # type: ignore[no-untyped-def]
    _client, emu, _db = web
    calls = emu.calls_for("setWebhook")
    assert calls
    assert calls[-1].params["url"] == "https://127.0.0.1:9/telegram/hook"
    assert calls[-1].params["secret_token"] == SECRET


@pytest.mark.parametrize("header", [None, "wrong", SECRET + "x"])
async def test_wrong_or_missing_secret_is_403(web, header: str | None) -> None:  # type: ignore[no-untyped-def]
    client, emu, _db = web
    headers = {"X-Telegram-Bot-Api-Secret-Token": header} if header else {}
    resp = await client.post("/telegram/hook", json=_update(1), headers=headers)
    assert resp.status == 403
    assert emu.calls_for("sendMessage") == []


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"no_update_id": 1}'])
async def test_malformed_body_is_400(web, body: bytes) -> None:  # type: ignore[no-untyped-def]
    client, _emu, _db = web
    resp = await client.post(
        "/telegram/hook", data=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert resp.status == 400


async def test_oversized_body_is_413(web) -> None:  # type: ignore[no-untyped-def]
    client, _emu, _db = web
    resp = await client.post(
        "/telegram/hook",
        data=b"x" * (2 * 1024 * 1024),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert resp.status == 413


async def test_right_secret_processes_the_update_before_answering(web) -> None:  # type: ignore[no-untyped-def]
    client, emu, db = web
    resp = await client.post(
        "/telegram/hook", json=_update(7), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert resp.status == 200
    sent = emu.calls_for("sendMessage", chat_id=4242)
    assert len(sent) == 1
    assert "Halo!" in str(sent[0].params["text"])
    async with db.transaction() as repo:
        assert await repo.updates.get(7) is not None
    # Telegram redelivering the same update changes nothing.
    resp = await client.post(
        "/telegram/hook", json=_update(7), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert resp.status == 200
    assert len(emu.calls_for("sendMessage", chat_id=4242)) == 1


async def test_health_and_readiness(web) -> None:  # type: ignore[no-untyped-def]
    client, _emu, _db = web
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.text() == "ready"
