"""The playground's JSON API and page, driven with aiohttp's test client against the real bot.

The playground runs the real application (polling the emulator mounted on the playground's own
server) on a SQLite file in ``tmp_path``; these tests act as the page does.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.domain.phones import Phone, parse_phone
from bot.playground import PERSONAS, Playground
from bot.playground.server import STATIC_DIR
from bot.settings import Settings

WORKER = PERSONAS[0]
ADMIN = next(p for p in PERSONAS if p.admin)
State = dict[str, Any]


@pytest.fixture
async def playground(tmp_path: Path) -> AsyncIterator[tuple[Playground, TestClient]]:
    pg = Playground(
        Settings.from_env({}, require_token=False), database_path=tmp_path / "pg.sqlite3"
    )
    server = TestServer(pg.app, host="127.0.0.1")
    async with TestClient(server) as client:
        await pg.start(str(server.make_url("")))
        try:
            yield pg, client
        finally:
            await pg.stop()


async def get_state(
    client: TestClient,
    persona: str = "worker",
    *,
    since: int = -1,
    epoch: int = 0,
    wait: float = 0,
) -> State:
    resp = await client.get(
        "/api/state", params={"persona": persona, "since": since, "epoch": epoch, "wait": wait}
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def until(
    client: TestClient, predicate: Callable[[State], Any], persona: str = "worker", timeout=10.0
) -> State:
    """Long-poll like the page until ``predicate(state)`` holds."""
    deadline = time.monotonic() + timeout
    state = await get_state(client, persona)
    while not predicate(state):
        assert time.monotonic() < deadline, f"condition not met; last state: {state['chat']}"
        state = await get_state(
            client, persona, since=state["change_seq"], epoch=state["epoch"], wait=1
        )
    return state


async def act(client: TestClient, action: str, persona: str = "worker", **body: Any) -> State:
    resp = await client.post(f"/api/chat/{persona}/{action}", json=body)
    data = await resp.json()
    assert resp.status == 200, data
    return data


def bot_messages(state: State) -> list[State]:
    return [m for m in state["chat"]["messages"] if not m["outgoing"]]


def last_bot(state: State) -> State:
    return bot_messages(state)[-1]


def callback_data(message: State) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


def answered_after(seq: int) -> Callable[[State], bool]:
    """The bot has sent or edited a message after change ``seq`` and gone quiet on it."""
    return lambda s: any(m["seq"] > seq for m in bot_messages(s))


async def send_and_wait(client: TestClient, text: str, persona: str = "worker") -> State:
    before = (await get_state(client, persona))["change_seq"]
    await act(client, "send", persona, text=text)
    return await until(client, answered_after(before), persona)


# --------------------------------------------------------------------------- page


async def test_page_and_its_files_are_served_without_anything_from_elsewhere(playground):
    _, client = playground
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    policy = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    html = await resp.text()
    assert '<script src="/static/app.js"' in html
    assert '<link rel="stylesheet" href="/static/app.css">' in html
    for name in ("app.js", "app.css"):
        asset = await client.get(f"/static/{name}")
        assert asset.status == 200
        assert asset.headers["Cache-Control"] == "no-cache"
    # Works offline: no CDN, no web fonts, no address outside this server.
    for path in STATIC_DIR.iterdir():
        text = path.read_text()
        assert not re.findall(r"https?://[\w.-]+", text), path.name
        assert "@import" not in text
        assert "@font-face" not in text
        assert "url(" not in text
    links = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert links
    assert all(link.startswith(("/static/", "data:")) for link in links), links


async def test_bot_html_is_never_sent_to_the_page_as_markup(playground):
    """The page gets plain text plus entities: the safe subset it renders with DOM nodes."""
    _, client = playground
    state = await send_and_wait(client, "/bantuan")
    message = last_bot(state)
    assert "<b>" not in message["text"]
    assert any(e["type"] == "bold" for e in message["entities"])
    js = (STATIC_DIR / "app.js").read_text()
    assert "innerHTML" not in js
    assert "insertAdjacentHTML" not in js


# --------------------------------------------------------------------------- personas


async def test_personas_have_fixed_ids_valid_phones_and_the_admin_is_an_admin(playground):
    pg, client = playground
    state = await get_state(client)
    assert [p["label"] for p in state["personas"]] == [
        "Pekerja (Siti)",
        "Pekerja 2 (Budi)",
        "Fasilitator (Rahmat)",
        "Admin (Dinas)",
    ]
    assert len({p["user_id"] for p in state["personas"]}) == 4
    assert state["persona"] == "worker"
    assert state["running"] is True
    assert ADMIN.user_id in pg.settings.admin_ids
    assert WORKER.user_id not in pg.settings.admin_ids
    assert pg.settings.api_url == "https://api.telegram.org"  # the bot gets the local URL
    assert pg.botapp is not None
    assert pg.botapp.services.settings.api_url == pg.api_url
    assert pg.api_url.startswith("http://127.0.0.1:")
    for persona in PERSONAS:
        assert isinstance(parse_phone(persona.phone), Phone), persona
        assert pg.emu.users[persona.user_id].language_code == "id"


async def test_each_persona_keeps_its_own_chat(playground):
    _, client = playground
    await send_and_wait(client, "/start", "worker")
    admin = await send_and_wait(client, "/start", "admin")
    worker = await get_state(client, "worker")
    assert [m["text"] for m in worker["chat"]["messages"] if m["outgoing"]] == ["/start"]
    assert [m["text"] for m in admin["chat"]["messages"] if m["outgoing"]] == ["/start"]
    assert admin["chat"]["chat_id"] == ADMIN.user_id
    latest = {p["key"]: p["last_seq"] for p in admin["personas"]}
    assert latest["worker"] > 0
    assert latest["admin"] > latest["worker"]
    assert latest["worker2"] == 0


# --------------------------------------------------------------------------- chatting


async def test_start_shows_the_menu_buttons_and_the_command_menu(playground):
    _, client = playground
    state = await send_and_wait(client, "/start")
    greeting = last_bot(state)
    assert greeting["text"].startswith("Halo!")
    assert {"help", "lang"} <= set(callback_data(greeting))
    commands = dict(state["chat"]["commands"])
    assert "start" in commands
    assert "bantuan" in commands
    user = state["chat"]["messages"][0]
    assert user["outgoing"] is True
    assert user["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


async def test_pressing_a_button_edits_the_message_in_place_and_returns_the_answer(playground):
    _, client = playground
    state = await send_and_wait(client, "/bahasa")
    question = last_bot(state)
    assert question["text"] == "Pilih bahasa:"
    assert "lang:en" in callback_data(question)
    before = state["change_seq"]
    resp = await client.post(
        "/api/chat/worker/press", json={"message_id": question["message_id"], "data": "lang:en"}
    )
    assert resp.status == 200
    pressed = await resp.json()
    assert pressed["answer"] is not None  # the bot answered the callback query
    state = await until(
        client,
        lambda s: any(
            m["message_id"] == question["message_id"] and m["seq"] > before
            for m in s["chat"]["messages"]
        ),
    )
    edited = next(
        m for m in state["chat"]["messages"] if m["message_id"] == question["message_id"]
    )
    assert edited["text"] == "Language set to English."
    assert "edit_date" in edited
    assert "reply_markup" not in edited
    state = await until(client, lambda s: last_bot(s)["message_id"] > question["message_id"])
    assert callback_data(last_bot(state))  # the menu again, in English
    assert "Help" in str(last_bot(state)["reply_markup"])


async def test_a_button_that_is_not_there_is_refused(playground):
    _, client = playground
    state = await send_and_wait(client, "/start")
    message = last_bot(state)
    resp = await client.post(
        "/api/chat/worker/press", json={"message_id": message["message_id"], "data": "nope"}
    )
    assert resp.status == 409
    resp = await client.post("/api/chat/worker/press", json={"message_id": "x", "data": "help"})
    assert resp.status == 400


async def test_share_my_number_sends_the_personas_own_contact(playground):
    _, client = playground
    before = (await get_state(client))["change_seq"]
    await act(client, "contact")
    state = await until(client, answered_after(before))
    contact = next(m for m in state["chat"]["messages"] if m["kind"] == "contact")
    assert contact["outgoing"] is True
    assert contact["contact"]["phone_number"] == WORKER.phone
    assert contact["contact"]["user_id"] == WORKER.user_id
    assert last_bot(state)["text"]  # never silence


@pytest.mark.parametrize(
    ("action", "kind"),
    [("photo", "photo"), ("sticker", "sticker"), ("location", "location"), ("voice", "voice")],
)
async def test_unexpected_inputs_reach_the_bot_and_get_an_answer(playground, action, kind):
    _, client = playground
    before = (await get_state(client))["change_seq"]
    await act(client, action, emoji="🙏") if action == "sticker" else await act(client, action)
    state = await until(client, answered_after(before))
    sent = state["chat"]["messages"][0]
    assert sent["kind"] == kind
    assert sent["outgoing"] is True
    if kind == "sticker":
        assert sent["file"]["emoji"] == "🙏"
    if kind == "location":
        assert sent["location"]["latitude"] == pytest.approx(-2.3293)
    assert last_bot(state)["text"]


async def test_uploaded_document_reaches_the_bot_and_can_be_downloaded(playground):
    _, client = playground
    form = aiohttp.FormData(quote_fields=False)  # as browsers send it
    form.add_field("file", b"nik,nama\n", filename="daftar warga.csv", content_type="text/csv")
    before = (await get_state(client))["change_seq"]
    resp = await client.post("/api/chat/worker/document", data=form)
    assert resp.status == 200, await resp.text()
    state = await until(client, answered_after(before))
    document = state["chat"]["messages"][0]
    assert document["kind"] == "document"
    assert document["file"]["name"] == "daftar warga.csv"
    assert document["document"]["file_name"] == "daftar warga.csv"
    resp = await client.get(f"/files/{document['file']['file_id']}", params={"download": "1"})
    assert resp.status == 200
    assert await resp.read() == b"nik,nama\n"
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''daftar%20warga.csv"
    )
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == "sandbox"
    resp = await client.post("/api/chat/worker/document", json={})
    assert resp.status == 400


async def test_photos_are_shown_inline_and_unknown_files_are_404(playground):
    _, client = playground
    await act(client, "photo")
    state = await until(client, lambda s: s["chat"]["messages"])
    photo = state["chat"]["messages"][0]
    assert photo["file"]["width"] == 160
    resp = await client.get(f"/files/{photo['file']['file_id']}")
    assert resp.status == 200
    assert (await resp.read()).startswith(b"\x89PNG")
    assert "Content-Disposition" not in resp.headers
    assert (await client.get("/files/nope")).status == 404


async def test_bad_requests_are_answered_with_a_reason(playground):
    _, client = playground
    for body, status in (({"text": "   "}, 400), ({"text": 5}, 400), ({"text": "x" * 4097}, 400)):
        resp = await client.post("/api/chat/worker/send", json=body)
        assert resp.status == status
        assert (await resp.json())["error"]
    assert (await client.post("/api/chat/nobody/send", json={"text": "hi"})).status == 404
    assert (await client.post("/api/chat/worker/dance", json={})).status == 404
    resp = await client.post(
        "/api/chat/worker/send", data="{", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await client.get("/api/state", params={"since": "x"})).status == 400
    assert (await client.get("/api/state", params={"persona": "nobody"})).status == 404


async def test_other_sites_and_host_names_are_refused(playground):
    _, client = playground
    resp = await client.post("/api/reset", json={}, headers={"Origin": "http://evil.example"})
    assert resp.status == 403
    resp = await client.post(
        "/api/chat/worker/send", json={"text": "hi"}, headers={"Origin": "null"}
    )
    assert resp.status == 403
    resp = await client.get("/api/state", headers={"Host": "evil.example:8080"})
    assert resp.status == 403
    own = f"http://{client.server.host}:{client.server.port}"
    resp = await client.post("/api/chat/worker/send", json={"text": "hi"}, headers={"Origin": own})
    assert resp.status == 200


# --------------------------------------------------------------------------- long poll and reset


async def test_state_long_poll_waits_for_a_change(playground):
    _, client = playground
    state = await get_state(client)
    started = time.monotonic()
    same = await get_state(client, since=state["change_seq"], epoch=state["epoch"], wait=0.3)
    assert time.monotonic() - started >= 0.25
    assert same["change_seq"] == state["change_seq"]

    waiting = asyncio.create_task(
        get_state(client, since=state["change_seq"], epoch=state["epoch"], wait=20)
    )
    await asyncio.sleep(0.1)
    assert not waiting.done()
    started = time.monotonic()
    await act(client, "send", text="halo")
    changed = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 3
    assert changed["change_seq"] > state["change_seq"]
    # A page still showing an old epoch (before a reset) gets an answer at once.
    started = time.monotonic()
    await get_state(client, since=changed["change_seq"], epoch=changed["epoch"] - 1, wait=20)
    assert time.monotonic() - started < 1


async def test_reset_empties_the_database_and_every_chat_and_the_bot_works_again(playground):
    pg, client = playground
    await send_and_wait(client, "/start")
    await send_and_wait(client, "/start", "admin")
    assert pg.db is not None
    async with pg.db.transaction() as repo:
        assert await repo.users.get(WORKER.user_id) is not None
    old_db = pg.db
    resp = await client.post("/api/reset", json={})
    assert resp.status == 200
    assert (await resp.json())["epoch"] == 2
    state = await get_state(client)
    assert state["epoch"] == 2
    assert state["chat"]["messages"] == []
    assert (await get_state(client, "admin"))["chat"]["messages"] == []
    assert pg.db is not None
    assert pg.db is not old_db
    assert pg.database_path.exists()
    async with pg.db.transaction() as repo:
        assert await repo.users.get(WORKER.user_id) is None
        admin = await repo.users.get(ADMIN.user_id)  # ADMIN_IDS applied again at start
        assert admin is not None
        assert admin.role == "admin"
    state = await send_and_wait(client, "/start")
    assert last_bot(state)["text"].startswith("Halo!")
    assert state["chat"]["messages"][0]["message_id"] == pg.emu.first_message_id
    assert dict(state["chat"]["commands"])["start"]


async def test_a_restarted_playground_keeps_its_database_and_never_reuses_ids(tmp_path: Path):
    """The bot skips an update id it has already processed: a new run must use new ids."""
    settings = Settings.from_env({}, require_token=False)
    first_ids: list[tuple[int, int]] = []  # (update id, message id) of each run's first message
    for run in range(2):
        pg = Playground(settings, database_path=tmp_path / "pg.sqlite3")
        server = TestServer(pg.app, host="127.0.0.1")
        async with TestClient(server) as client:
            await pg.start(str(server.make_url("")))
            try:
                sent = await act(client, "send", text="/bahasa" if run == 0 else "/start")
                state = await until(client, bot_messages)
                if run == 0:
                    question = last_bot(state)["message_id"]
                    await act(client, "press", message_id=question, data="lang:en")
                    await until(client, lambda s: len(bot_messages(s)) >= 2)
                else:  # the language chosen in the first run was kept
                    assert last_bot(state)["text"].startswith("Hello!")
                first_ids.append((sent["update_id"], state["chat"]["messages"][0]["message_id"]))
            finally:
                await pg.stop()
    (update_1, message_1), (update_2, message_2) = first_ids
    assert update_2 > update_1 + 1
    assert message_2 > message_1 + 2


async def test_a_database_from_another_version_is_replaced(tmp_path: Path):
    path = tmp_path / "pg.sqlite3"
    path.write_bytes(b"this is not a database")
    pg = Playground(Settings.from_env({}, require_token=False), database_path=path)
    server = TestServer(pg.app, host="127.0.0.1")
    async with TestClient(server) as client:
        await pg.start(str(server.make_url("")))
        try:
            state = await send_and_wait(client, "/start")
            assert last_bot(state)["text"].startswith("Halo!")
        finally:
            await pg.stop()


# --------------------------------------------------------------------------- command line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(LOG_LEVEL="WARNING", **extra)
    return env


@pytest.mark.slow
async def test_plain_python_m_bot_without_a_token_serves_the_playground(tmp_path: Path):
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=_env(PLAYGROUND_PORT=str(port)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.decode().strip() == f"Playground: http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.status == 200
            async with session.post(
                f"http://127.0.0.1:{port}/api/chat/worker/send", json={"text": "/start"}
            ) as resp:
                assert resp.status == 200
            url = f"http://127.0.0.1:{port}/api/state"
            for _ in range(100):
                async with session.get(url) as resp:
                    state = await resp.json()
                if any(not m["outgoing"] for m in state["chat"]["messages"]):
                    break
                await asyncio.sleep(0.1)
            assert last_bot(state)["text"].startswith("Halo!")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "@BotFather" in err.decode()
    assert (tmp_path / "data" / "playground.sqlite3").exists()


@pytest.mark.slow
async def test_explicit_run_without_a_token_still_explains_and_stops(tmp_path: Path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "@BotFather" in err.decode()
    assert b"Playground" not in out
