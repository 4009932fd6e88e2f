"""The webhook server: Telegram POSTs updates here; ``/healthz`` and ``/readyz`` for the platform.

An update is answered with 200 only after it has been processed and committed, so a crash mid-way makes
Telegram deliver it again (and the processed-updates table makes the second delivery harmless).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update

from bot.application import BotApp

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
#: Telegram's updates are small; anything larger is not from Telegram.
MAX_BODY_BYTES = 1024 * 1024
BOTAPP_KEY = web.AppKey("botapp", BotApp)


def webhook_path(webhook_url: str | None) -> str:
    """The path of the public webhook URL (``/telegram`` when it has none)."""
    path = urlsplit(webhook_url or "").path.rstrip("/")
    return path or "/telegram"


async def receive_update(request: web.Request) -> web.Response:
    """Check the secret, decode the update, process it, answer 200."""
    botapp = request.app[BOTAPP_KEY]
    secret = botapp.services.settings.webhook_secret or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return web.Response(status=403, text="forbidden")
    try:
        body = await request.read()
        payload = json.loads(body)
        if not isinstance(payload, dict) or "update_id" not in payload:
            raise ValueError("not an update")
        update = Update.de_json(payload, botapp.application.bot)
    except web.HTTPRequestEntityTooLarge:
        raise
    except Exception:
        return web.Response(status=400, text="malformed update")
    app = botapp.application
    await app.update_processor.process_update(update, app.process_update(update))
    return web.Response(text="ok")


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers."""
    botapp = request.app[BOTAPP_KEY]
    if await botapp.services.db.ping():
        return web.Response(text="ready")
    return web.Response(status=503, text="database unavailable")


def make_web_app(botapp: BotApp, *, register_webhook: bool = True) -> web.Application:
    """The aiohttp application serving the webhook and health endpoints.

    Its cleanup context starts the bot (and registers the webhook with Telegram, with the secret) and
    stops it gracefully when the server shuts down (SIGTERM): in-flight updates finish first.
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[BOTAPP_KEY] = botapp
    settings = botapp.services.settings
    app.router.add_post(webhook_path(settings.webhook_url), receive_update)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await botapp.start()
        if register_webhook and settings.webhook_url:
            await botapp.application.bot.set_webhook(
                url=settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        yield
        await botapp.stop()

    app.cleanup_ctx.append(lifecycle)
    return app
