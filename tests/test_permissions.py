"""The permission matrix: every command and every button × every role.

Built from the live routing tables, so a feature added later is covered without editing this file.
A refused user gets the polite refusal (or "button no longer active"), never the feature; an allowed
user is never refused and never meets an internal error, even with forged callback data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.models import Role
from tests.support import BotHarness

ROLES = (Role.WORKER, Role.FACILITATOR, Role.ADMIN)
REFUSED = ("tidak tersedia untuk Anda", "sudah tidak berlaku")
ERROR = "ada kesalahan di sistem kami"


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[BotHarness]:
    """The bot with flood control opened up: this test is one user pressing hundreds of buttons."""
    async with BotHarness(db_url, flood_burst=100_000) as h:
        yield h


def _allowed(role: Role, roles: frozenset[str] | None) -> bool:
    if roles is None:
        return True
    return role.value in roles or (role == Role.ADMIN and Role.FACILITATOR.value in roles)


async def _as(harness: BotHarness, role: Role, user_id: int):  # type: ignore[no-untyped-def]
    async with harness.db.transaction() as repo:
        await repo.users.set_role(user_id=user_id, role=role)
    return harness.chat(user_id)


@pytest.mark.slow
async def test_every_command_against_every_role(harness: BotHarness) -> None:
    routes = harness.botapp.services.routes
    privileged = {n: c for n, c in routes.commands.items() if c.route.roles is not None}
    failures: list[str] = []
    for index, role in enumerate(ROLES):
        chat = await _as(harness, role, 7100 + index)
        for name, command in sorted(privileged.items()):
            replies = await chat.send(f"/{name}")
            texts = " ".join(m.text or "" for m in replies)
            refused = any(r in texts for r in REFUSED)
            if refused == _allowed(role, command.route.roles):
                failures.append(f"/{name} as {role}: refused={refused}")
            if ERROR in texts:
                failures.append(f"/{name} as {role}: internal error")
            await chat.send("/batal")
    assert failures == []


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
async def test_every_button_against_every_role_with_forged_data(
    harness: BotHarness, role: Role
) -> None:
    routes = harness.botapp.services.routes
    chat = await _as(harness, role, 7200 + ROLES.index(role))
    await chat.send("/start")
    anchor = chat.last
    assert anchor is not None
    # Press every button prefix with forged data (a bare prefix and an id that belongs to nobody);
    # one user's updates are processed in order, so all presses go out at once and are checked after.
    pressed: list[tuple[str, str, frozenset[str] | None]] = []
    for prefix, route in sorted(routes.callbacks.items()):
        for data in (prefix, f"{prefix}:999999"):
            if len(data) <= 64:
                update = await harness.emu.press(chat.user_id, anchor.message_id, data, forge=True)
                pressed.append((str(update.payload["id"]), data, route.roles))
    await harness.emu.wait_for(lambda: harness.emu.enqueued_count > 0)
    await harness.settle()
    answers = {
        str(call.params.get("callback_query_id")): str(call.params.get("text") or "")
        for call in harness.emu.calls_for("answerCallbackQuery")
    }
    failures = [
        f"{data} as {role}: not refused"
        for query_id, data, roles in pressed
        if roles is not None
        and not _allowed(role, roles)
        and not any(r in answers.get(query_id, "") for r in REFUSED)
    ]
    failures += [
        f"{data}: never answered" for query_id, data, _ in pressed if query_id not in answers
    ]
    errors = [m.text for m in harness.emu.bot_messages(chat.user_id) if ERROR in (m.text or "")]
    assert failures == []
    assert errors == []
