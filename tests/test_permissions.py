"""The permission matrix: every command and every button × every role.

Built from the live routing tables, so a feature added later is covered without editing this file.
A refused user gets the polite refusal (or "button no longer active"), never the feature; an allowed
user is never refused and never meets an internal error, even with forged callback data.
"""

from __future__ import annotations

import pytest

from storage.models import Role
from tests.support import BotHarness

ROLES = (Role.WORKER, Role.FACILITATOR, Role.ADMIN)
REFUSED = ("tidak tersedia untuk Anda", "sudah tidak berlaku")
ERROR = "ada kesalahan di sistem kami"


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
async def test_every_button_against_every_role_with_forged_data(harness: BotHarness) -> None:
    routes = harness.botapp.services.routes
    failures: list[str] = []
    for index, role in enumerate(ROLES):
        chat = await _as(harness, role, 7200 + index)
        await chat.send("/start")
        anchor = chat.last
        assert anchor is not None
        for prefix, route in sorted(routes.callbacks.items()):
            for data in (prefix, f"{prefix}:999999", f"{prefix}:x:y"):
                if len(data) > 64:
                    continue
                update = await harness.emu.press(chat.user_id, anchor.message_id, data, forge=True)
                await harness.emu.wait_delivered(update)
                await harness.settle()
                answer = harness.emu.calls_for("answerCallbackQuery")[-1].params.get("text") or ""
                texts = answer + " ".join(m.text or "" for m in chat.history[-3:])
                refused = any(r in answer for r in REFUSED)
                if route.roles is not None and not _allowed(role, route.roles) and not refused:
                    failures.append(f"{data} as {role}: not refused")
                if ERROR in texts:
                    failures.append(f"{data} as {role}: internal error")
            await chat.send("/batal")
    assert failures == []
