"""``build_application``: the one factory production, the playground and the tests all use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, TypeHandler
from telegram.request import BaseRequest, HTTPXRequest

import handlers
from bot.delivery import Delivery
from bot.dispatch import Dispatcher
from bot.i18n import Catalogs
from bot.poller import Poller
from bot.processor import PerChatUpdateProcessor
from bot.router import Routes, ServiceLoop
from bot.services import Services
from bot.settings import Settings
from bot.transport import AiohttpRequest
from storage.db import Database
from storage.models import Role
from storage.types import utcnow

log = logging.getLogger(__name__)

LOOP_STOP_SECONDS = 10.0
#: How long one getUpdates waits at Telegram for something new.
POLL_TIMEOUT_SECONDS = 30
LOOP_RESTART_SECONDS = 5.0

AnyApplication = Application


@dataclass(slots=True)
class BotApp:
    """A built application together with the services and dispatcher behind it."""

    application: AnyApplication
    services: Services
    dispatcher: Dispatcher
    loops: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    #: Long polling (None in webhook mode and before ``start(polling=True)``).
    poller: Poller | None = None

    async def start(self, *, polling: bool = False) -> None:
        """Initialise and start the application (and long polling when ``polling``)."""
        app = self.application
        await app.initialize()
        await _post_init(app, self.services)
        await app.start()
        self.stopping.clear()
        for loop in self.services.routes.services:
            name = getattr(loop, "__qualname__", "service")
            self.loops.append(asyncio.create_task(self._run_loop(loop), name=name))
        if polling:
            # Our poller, not PTB's Updater: it confirms an update only once processed.
            poller = Poller(app.bot, app.update_queue, timeout=POLL_TIMEOUT_SECONDS)
            processor = app.update_processor
            # Without the processor's signal nothing would ever be confirmed to Telegram.
            if not isinstance(processor, PerChatUpdateProcessor):
                raise TypeError("long polling needs build_application's PerChatUpdateProcessor")
            processor.on_done = poller.done
            await poller.start()
            self.poller = poller

    async def stop(self) -> None:
        """Stop gracefully: stop fetching, finish in-flight updates and jobs, confirm replies."""
        app = self.application
        if self.poller is not None:
            await self.poller.stop()
        self.stopping.set()
        if self.loops:
            _done, pending = await asyncio.wait(self.loops, timeout=LOOP_STOP_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self.loops, return_exceptions=True)
            self.loops.clear()
        if app.running:
            await app.stop()
        await self.dispatcher.drain()
        await self.services.require_delivery().stop()
        if self.poller is not None:
            await self.poller.confirm()
            self.poller = None
        await app.shutdown()

    async def _run_loop(self, loop: ServiceLoop) -> None:
        # A background loop that crashes is restarted after a pause: reminders and broadcasts must
        # keep going; the error is logged each time.
        while not self.stopping.is_set():
            try:
                await loop(self.services, self.stopping)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background service %s failed; restarting", loop)
                try:
                    await asyncio.wait_for(self.stopping.wait(), LOOP_RESTART_SECONDS)
                except TimeoutError:
                    continue

    async def wait_idle(self) -> None:
        """Return once every delivered update has been processed and answered (tests use this)."""
        queue = self.application.update_queue
        while True:
            await self.dispatcher.wait_idle()
            if queue.empty() and self.application.update_processor.current_concurrent_updates == 0:
                await self.dispatcher.wait_idle()
                return
            await _yield()


async def _yield() -> None:
    await asyncio.sleep(0.001)


def make_request(settings: Settings, *, pool: int, read_timeout: float | None) -> BaseRequest:
    """The HTTP transport chosen by ``BOT_TRANSPORT``."""
    if settings.transport == "httpx":
        return HTTPXRequest(connection_pool_size=pool, read_timeout=read_timeout)
    return AiohttpRequest(connection_pool_size=pool, read_timeout=read_timeout)


def build_application(
    settings: Settings,
    db: Database,
    *,
    catalogs: Catalogs | None = None,
    clock: Callable[[], datetime] = utcnow,
    webhook: bool | None = None,
) -> BotApp:
    """Build the python-telegram-bot ``Application`` wired to our dispatcher, database and catalogs.

    Args:
        settings: the configuration read once at start-up.
        db: the database (migrated by the caller).
        catalogs: compiled translations (loaded from ``locales/`` when omitted).
        clock: the source of "now" (tests move it).
        webhook: webhook mode (no long-polling connection); defaults to ``settings.webhook_url``.
    """
    services = Services(
        settings=settings,
        db=db,
        catalogs=catalogs or Catalogs.load(default=settings.default_language),
        routes=Routes.merge(handlers.routers()),
        clock=clock,
    )
    dispatcher = Dispatcher(services)
    use_webhook = bool(settings.webhook_url) if webhook is None else webhook
    pool = max(8, settings.concurrent_updates)
    builder: ApplicationBuilder = (
        Application.builder()
        .token(settings.token)
        .base_url(f"{settings.api_url}/bot")
        .base_file_url(f"{settings.api_url}/file/bot")
        .request(make_request(settings, pool=pool, read_timeout=10.0))
        .concurrent_updates(PerChatUpdateProcessor(settings.concurrent_updates))
    )
    # Never PTB's Updater: long polling is bot.poller.Poller (see BotApp.start).
    builder = builder.updater(None)
    if not use_webhook:
        # getUpdates long-polls: give it its own connection so replies never wait behind it.
        builder = builder.get_updates_request(make_request(settings, pool=1, read_timeout=None))
    application = builder.build()
    application.add_handler(TypeHandler(Update, dispatcher.handle))
    services.bot = application.bot
    services.delivery = Delivery(application.bot, db)
    application.add_error_handler(_log_error)
    return BotApp(application, services, dispatcher)


async def _log_error(update: object, context: object) -> None:
    error = getattr(context, "error", None)
    log.error("unhandled error: %s", type(error).__name__, exc_info=error)


async def _post_init(app: AnyApplication, services: Services) -> None:
    await services.require_delivery().start()
    if services.settings.admin_ids:
        # Several instances may start at once and insert the same admin row: the loser retries.
        for attempt in range(3):
            try:
                async with services.db.transaction() as repo:
                    for admin_id in sorted(services.settings.admin_ids):
                        await repo.users.set_role(user_id=admin_id, role=Role.ADMIN)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
    await register_commands(app, services)


async def register_commands(app: AnyApplication, services: Services) -> None:
    """Publish the command menu in every language (``setMyCommands``); never fatal."""
    commands = sorted(
        (c for c in services.routes.commands.values() if c.description),
        key=lambda c: (c.order, c.name),
    )
    default_language = services.settings.default_language
    try:
        for language in services.catalogs.languages:
            t = services.catalogs.get(language)
            menu = [BotCommand(c.name, t(c.description or "")) for c in commands]
            await app.bot.set_my_commands(menu, language_code=language)
            if language == default_language:
                await app.bot.set_my_commands(menu)
    except TelegramError as exc:
        log.warning("could not register the command menu: %s", exc)
