"""The path of one update: dedupe, load the user and their step, route, commit, then reply.

python-telegram-bot delivers every update to :meth:`Dispatcher.handle` (one ``TypeHandler``). In one
short transaction the dispatcher:

1. loads (or creates) the user and locks their conversation row;
2. routes: a button press to its callback route (refused if the user's role or step no longer allows
   it), a command to its command route, any other message to the handler of the user's current step,
   a file to a document route, anything else to the fallback;
3. asks the question of the new step, answers the button press if the handler did not;
4. stores the new step, the scratch answers, and the update id with the queued replies, and commits.

An update processed before (Telegram redelivers on timeouts) fails step 4 on its already recorded
id: everything it did is rolled back, and its stored replies are re-sent only if they were never
confirmed sent. Only after the commit are the replies sent (:mod:`bot.delivery`) and background
jobs started.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from telegram import Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.ext import CallbackContext

from bot.context import BackgroundJob, Ctx, Reply
from bot.flood import FloodControl
from bot.i18n import N_
from bot.router import Route
from storage.models import Role

if TYPE_CHECKING:
    from telegram import Bot

    from bot.services import Services

log = logging.getLogger(__name__)

OUTAGE_RETRY_DELAYS = (0.2, 1.0)
MSG_OUTAGE = N_("Sorry, there is a disruption right now. Please try again in a moment.")
MSG_ERROR = N_("Sorry, something went wrong on our side. Please try again, or type /batal.")
MSG_STALE = N_("This button is no longer active.")
MSG_NOT_ALLOWED = N_("Sorry, this menu is not available to you.")
MSG_SLOW_DOWN = N_(
    "You are sending messages very fast, so I will answer a little more slowly. "
    "Please wait for each reply."
)


class DatabaseOutageError(RuntimeError):
    """The database did not answer; the update was not processed."""


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the database is unreachable rather than a bug."""
    if isinstance(exc, OperationalError | OSError | TimeoutError | ConnectionError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def command_of(message: Message) -> tuple[str, str] | None:
    """``("daftar", "args")`` for ``/daftar@bot args``, or None when the text is no command."""
    text = message.text or ""
    entities = message.entities or ()
    if not text.startswith("/") or not any(
        e.type == MessageEntityType.BOT_COMMAND and e.offset == 0 for e in entities
    ):
        return None
    head, _, rest = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    return name, rest.strip()


def _typed_strings(update: Update) -> Iterator[str | None]:
    """Every string of an update that a user typed (or named) and the bot may store."""
    user = update.effective_user
    if user is not None:
        yield from (user.first_name, user.last_name, user.username)
    message = update.message
    if message is not None:
        yield from (message.text, message.caption)
        if message.contact is not None:
            contact = message.contact
            yield from (contact.first_name, contact.last_name, contact.phone_number)
        if message.document is not None:
            yield message.document.file_name
    if update.callback_query is not None:
        yield update.callback_query.data


def _replace_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", " ")
    if isinstance(value, dict):
        return {key: _replace_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_nul(item) for item in value]
    return value


def without_nul(update: Update, bot: Bot | None) -> Update:
    """``update`` with every NUL character replaced by a space.

    PostgreSQL refuses NUL in text ("invalid byte sequence"), so a NUL typed into a name, a
    reason or a file name would fail the update on PostgreSQL only. A space keeps the UTF-16
    offsets of message entities (bold, links) valid. Updates without NUL are returned as they are.
    """
    if not any(s and "\x00" in s for s in _typed_strings(update)):
        return update
    return Update.de_json(_replace_nul(update.to_dict()), bot)


class Dispatcher:
    """Routes updates; one per application."""

    __slots__ = ("_delivering", "_flood", "_idle", "_in_flight", "_jobs", "handled", "services")

    def __init__(self, services: Services) -> None:
        self.services = services
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._jobs: set[asyncio.Task[None]] = set()
        self._delivering: set[int] = set()
        settings = services.settings
        self._flood = FloodControl(settings.flood_burst, settings.flood_window_seconds)
        #: How many updates have been fully handled (tests wait on it).
        self.handled = 0

    # -- PTB entry point ------------------------------------------------------------------------
    async def handle(self, update: object, _context: CallbackContext[Any, Any, Any, Any]) -> None:
        """PTB callback: process one update."""
        try:
            if isinstance(update, Update):
                await self.process(update)
        finally:
            self.handled += 1

    async def process(self, update: Update) -> None:
        """Process one update end to end (transaction, then replies, then jobs)."""
        user = update.effective_user
        chat = update.effective_chat
        if user is None or chat is None or chat.type != ChatType.PRIVATE or user.is_bot:
            return
        update = without_nul(update, self.services.bot)
        self._in_flight += 1
        self._idle.clear()
        try:
            wait, warn = self._flood.take(chat.id, update.update_id)
            if warn:
                t = self.services.catalogs.get(self._initial_language(user.language_code))
                await self.services.require_delivery().send(
                    Reply("sendMessage", chat.id, text=t(MSG_SLOW_DOWN))
                )
            if wait:
                await asyncio.sleep(wait)
            await self._process(update, chat.id, user.language_code)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0 and not self._jobs:
                self._idle.set()

    async def _process(self, update: Update, chat_id: int, tg_language: str | None) -> None:
        services = self.services
        try:
            replies, jobs = await self._transact_with_retry(update, chat_id, tg_language)
        except DatabaseOutageError:
            t = services.catalogs.get(self._initial_language(tg_language))
            await self._send_fallback(update, chat_id, t(MSG_OUTAGE))
            return
        except Exception:
            log.exception("update %s failed", update.update_id)
            t = services.catalogs.get(self._initial_language(tg_language))
            await self._send_fallback(update, chat_id, t(MSG_ERROR))
            return
        if update.update_id in self._delivering:
            return  # the first copy of this update is being answered right now
        self._delivering.add(update.update_id)
        try:
            delivery = services.require_delivery()
            blocked = await delivery.send_all(replies)
            if replies:
                delivery.confirm(update.update_id)
            if blocked:
                await self._mark_unreachable(blocked)
        finally:
            self._delivering.discard(update.update_id)
        for job in jobs:
            self._spawn(job)

    async def _transact_with_retry(
        self, update: Update, chat_id: int, tg_language: str | None
    ) -> tuple[list[Reply], list[BackgroundJob]]:
        for attempt, delay in enumerate((*OUTAGE_RETRY_DELAYS, None)):
            try:
                return await self._transact(update, chat_id, tg_language)
            except IntegrityError:
                # The update id is already recorded: a redelivery of an update processed before,
                # or one another process recorded first. Its effects were rolled back here;
                # answer with its stored replies if they never went out.
                replies = await self._stored_replies(update.update_id)
                if replies is not None:
                    return replies, []
                raise
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning(
                    "database unavailable for update %s (attempt %d): %s",
                    update.update_id,
                    attempt + 1,
                    type(exc).__name__,
                )
                if delay is None:
                    raise DatabaseOutageError from exc
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _stored_replies(self, update_id: int) -> list[Reply] | None:
        """Replies of an already processed update still to send (None: it was never processed)."""
        async with self.services.db.transaction() as repo:
            seen = await repo.updates.get(update_id)
        if seen is None:
            return None
        if seen.sent or not seen.replies or self.services.require_delivery().answered(update_id):
            return []
        return [Reply.from_json(dict(r)) for r in seen.replies]

    async def _transact(
        self, update: Update, chat_id: int, tg_language: str | None
    ) -> tuple[list[Reply], list[BackgroundJob]]:
        services = self.services
        # No lookup of processed_updates first: recording the update id at commit fails with an
        # IntegrityError for a repeated update, which _transact_with_retry turns into its stored
        # replies. Repeats are rare; the saved query is one of the few each update costs.
        async with services.db.transaction() as repo:
            user = await repo.users.touch(
                user_id=chat_id, language=self._initial_language(tg_language)
            )
            conv = await repo.conversations.lock(chat_id)
            ctx = Ctx(
                update=update,
                services=services,
                repo=repo,
                user=user,
                t=services.catalogs.get(user.language),
                state=conv.state,
                data=copy.deepcopy(conv.data),
                chat_id=chat_id,
            )
            await self._route(ctx)
            await self._ask(ctx)
            if ctx.query is not None and not ctx.answered_callback:
                ctx.toast()
            if ctx.state != conv.state or ctx.data != conv.data:
                await repo.conversations.save(conv, state=ctx.state, data=ctx.data)
            stored = [r.to_json() for r in ctx.replies if r.replayable]
            await repo.updates.record(
                update_id=update.update_id, chat_id=chat_id, replies=stored or None
            )
        return ctx.replies, ctx.jobs

    # -- routing --------------------------------------------------------------------------------
    async def _route(self, ctx: Ctx) -> None:
        routes = self.services.routes
        update = ctx.update
        if update.callback_query is not None:
            await self._route_button(ctx)
            return
        message = update.message
        if message is None:
            return  # edited messages, reactions...: nothing to answer
        command = command_of(message)
        if command is not None:
            name, args = command
            ctx.args = args
            if name == "start" and args:
                found = routes.find_start_payload(args)
                if found is not None:
                    route, rest = found
                    ctx.args = rest
                    await self._call(ctx, route)
                    return
            known = routes.commands.get(name)
            if known is not None:
                await self._call(ctx, known.route)
                return
        elif ctx.state is not None and ctx.state in routes.steps:
            await routes.steps[ctx.state].handler(ctx)
            return
        elif message.document is not None:
            for route in routes.documents:
                if self._allowed(ctx, route):
                    await route.handler(ctx)
                    return
        if routes.fallback is not None:
            await routes.fallback(ctx)

    async def _route_button(self, ctx: Ctx) -> None:
        routes = self.services.routes
        route = routes.find_callback(ctx.callback_data or "")
        if route is None or (route.states is not None and ctx.state not in route.states):
            ctx.toast(ctx.t(MSG_STALE))
            if ctx.state is not None:
                ctx.ask_next = True  # show the question the user is really at
            return
        await self._call(ctx, route)

    async def _call(self, ctx: Ctx, route: Route) -> None:
        if not self._allowed(ctx, route):
            if ctx.query is not None:
                ctx.toast(ctx.t(MSG_NOT_ALLOWED), alert=True)
            else:
                ctx.say(ctx.t(MSG_NOT_ALLOWED))
            return
        await route.handler(ctx)

    @staticmethod
    def _allowed(ctx: Ctx, route: Route) -> bool:
        if route.roles is None:
            return True
        # Admins may do everything a facilitator may.
        role = ctx.user.role
        return role in route.roles or (
            role == Role.ADMIN and Role.FACILITATOR.value in route.roles
        )

    async def _ask(self, ctx: Ctx) -> None:
        # A prompt may itself move on (e.g. skip a question that does not apply): follow a few hops.
        for _ in range(5):
            if not ctx.ask_next or ctx.state is None:
                return
            ctx.ask_next = False
            prompt = self.services.routes.prompts.get(ctx.state)
            if prompt is None:
                return
            await prompt(ctx)

    # -- helpers --------------------------------------------------------------------------------
    def _initial_language(self, tg_language: str | None) -> str:
        if tg_language and tg_language.lower().startswith("en"):
            return "en"
        return self.services.settings.default_language

    async def _send_fallback(self, update: Update, chat_id: int, text: str) -> None:
        delivery = self.services.require_delivery()
        query = update.callback_query
        if query is not None:
            await delivery.send(Reply("answerCallbackQuery", chat_id, callback_query_id=query.id))
        await delivery.send(Reply("sendMessage", chat_id, text=text))

    async def _mark_unreachable(self, chat_ids: set[int]) -> None:
        try:
            async with self.services.db.transaction() as repo:
                for chat_id in chat_ids:
                    await repo.users.mark_unreachable(user_id=chat_id)
        except Exception:
            log.warning("could not mark %d chats unreachable", len(chat_ids), exc_info=True)

    def _spawn(self, job: BackgroundJob) -> None:
        task = asyncio.create_task(self._run_job(job))
        self._jobs.add(task)
        self._idle.clear()

        def done(t: asyncio.Task[None]) -> None:
            self._jobs.discard(t)
            if self._in_flight == 0 and not self._jobs:
                self._idle.set()

        task.add_done_callback(done)

    async def _run_job(self, job: BackgroundJob) -> None:
        try:
            await job(self.services)
        except Exception:
            log.exception("background job %s failed", getattr(job, "__name__", job))

    async def wait_idle(self) -> None:
        """Return once no update is being processed and no background job runs."""
        while not (self._in_flight == 0 and not self._jobs):
            await self._idle.wait()

    async def drain(self) -> None:
        """Wait for background jobs at shutdown."""
        if self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)
