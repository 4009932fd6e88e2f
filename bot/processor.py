"""Per-chat ordering of concurrently processed updates.

With plain ``concurrent_updates`` python-telegram-bot runs a fast user's second message alongside the
first, so it can be checked against the old step and answered out of order. This processor keeps a FIFO
lock per chat: different users are served concurrently, one user's updates strictly in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def chat_key(update: object) -> int | None:
    """The chat an update belongs to (None for updates without one)."""
    if isinstance(update, Update):
        chat = update.effective_chat
        if chat is not None:
            return chat.id
        user = update.effective_user
        if user is not None:
            return user.id
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, sequential within a chat."""

    __slots__ = ("_chat_locks", "_waiters", "on_done")

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._chat_locks: dict[int, asyncio.Lock] = {}
        self._waiters: dict[int, int] = {}
        #: Called with each update once processed (the poller confirms it to Telegram then).
        self.on_done: Callable[[object], None] | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update in its chat's order, then report it done."""
        try:
            await self._in_chat_order(update, coroutine)
        finally:
            if self.on_done is not None:
                self.on_done(update)

    async def _in_chat_order(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the chat's earlier updates (FIFO lock), then run this one.

        The base class hands out concurrency slots in arrival order and calls this method right
        after, without yielding, so the lock's waiters queue up in arrival order too.
        """
        key = chat_key(update)
        if key is None:
            await coroutine
            return
        lock = self._chat_locks.get(key)
        if lock is None:
            lock = self._chat_locks[key] = asyncio.Lock()
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            remaining = self._waiters[key] - 1
            if remaining:
                self._waiters[key] = remaining
            else:  # nobody else queued for this chat: free the lock's memory
                del self._waiters[key]
                del self._chat_locks[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
