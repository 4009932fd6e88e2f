"""Long polling that confirms an update to Telegram only after the bot has processed it.

Telegram forgets an update once ``getUpdates`` is called with an ``offset`` above its id.
python-telegram-bot's ``Updater`` moves the offset past a batch as soon as the batch is *queued*, so a
process killed while updates wait in its queue never sees them again: the person's answer is lost
and nobody is told. This poller confirms only what is done:

* every fetched update is "in flight" until the update processor has finished it — the dispatcher
  has committed its transaction, replies included (:meth:`Poller.done`);
* the next ``getUpdates`` uses ``offset = min(in flight)`` (or one past the newest update seen), so
  an update is confirmed only when it and every older one are processed;
* between fetches it waits for the in-flight updates to finish (at most ``hold_seconds``), and a
  batch fetched again while an older update is still in flight is not queued twice.

After ``kill -9`` the next process receives every unconfirmed update again; those already processed
are recognised by the dispatcher (``processed_updates``) and only their stored, unsent replies go
out. Webhook mode needs none of this: Telegram redelivers an update until the POST is answered, and
the webhook answers after processing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, TelegramError

log = logging.getLogger(__name__)

#: Longest wait between two fetches while updates are still being processed.
HOLD_SECONDS = 1.0
#: Backoff after a failed ``getUpdates`` (doubles up to the maximum).
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0


class Poller:
    """Fetch updates into the application's queue; confirm them only once processed."""

    __slots__ = (
        "_allowed",
        "_bot",
        "_drained",
        "_hold",
        "_in_flight",
        "_next",
        "_queue",
        "_stopping",
        "_task",
        "_timeout",
    )

    def __init__(
        self,
        bot: Bot,
        queue: asyncio.Queue[object],
        *,
        timeout: int = 30,
        hold_seconds: float = HOLD_SECONDS,
        allowed_updates: Sequence[str] = Update.ALL_TYPES,
    ) -> None:
        self._bot = bot
        self._queue = queue
        self._timeout = timeout
        self._hold = hold_seconds
        self._allowed = list(allowed_updates)
        self._in_flight: set[int] = set()
        #: One past the newest update queued (None before the first one).
        self._next: int | None = None
        self._drained = asyncio.Event()
        self._drained.set()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def offset(self) -> int | None:
        """The ``getUpdates`` offset that confirms exactly the processed updates."""
        if self._in_flight:
            return min(self._in_flight)
        return self._next

    def done(self, update: object) -> None:
        """The update processor finished ``update`` (committed, or failed for good)."""
        if isinstance(update, Update):
            self._in_flight.discard(update.update_id)
            if not self._in_flight:
                self._drained.set()

    async def start(self) -> None:
        """Remove any webhook (Telegram refuses ``getUpdates`` while one is set) and start."""
        await self._bot.delete_webhook(drop_pending_updates=False)
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="poller")

    async def stop(self) -> None:
        """Stop fetching. Updates already queued are processed by the application as usual."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()  # a long poll in progress: its updates stay unconfirmed
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def confirm(self) -> None:
        """Tell Telegram what was processed (on a graceful stop, after the queue is drained)."""
        offset = self.offset
        if offset is None:
            return
        try:
            await self._bot.get_updates(offset=offset, timeout=0, limit=1)
        except TelegramError as exc:
            # Harmless: the next start receives them again and recognises them as processed.
            log.warning("could not confirm processed updates to Telegram: %s", exc)

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while not self._stopping.is_set():
            if self._in_flight:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained.wait(), self._hold)
            try:
                updates = await self._bot.get_updates(
                    offset=self.offset,
                    # While older updates are still in flight, Telegram would return them at once:
                    # ask without waiting, and come back after the next hold.
                    timeout=0 if self._in_flight else self._timeout,
                    allowed_updates=self._allowed,
                )
            except InvalidToken:
                log.critical("Telegram refused the bot token; polling stops")
                raise
            except TelegramError as exc:
                if isinstance(exc, Conflict):
                    log.error("getUpdates conflict (another instance polling?): %s", exc)
                else:
                    log.warning("getUpdates failed, retrying in %.0f s: %s", delay, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            delay = RETRY_FIRST_SECONDS
            for update in updates:
                if self._next is not None and update.update_id < self._next:
                    continue  # queued before; fetched again because an older one is in flight
                self._in_flight.add(update.update_id)
                self._drained.clear()
                self._next = update.update_id + 1
                await self._queue.put(update)
