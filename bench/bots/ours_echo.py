"""Our echo path: the stack ``build_application`` uses, with a trivial handler instead of ours.

The same python-telegram-bot ``Application`` as the real bot — our transport chosen by
``BOT_TRANSPORT`` (aiohttp by default, ``httpx`` for python-telegram-bot's stock client), a
separate connection for long polling, and :class:`~bot.processor.PerChatUpdateProcessor` — but no
database or catalogs, so it isolates what the framework and the transport cost per update.
"""

from __future__ import annotations

import logging
import os

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.application import make_request
from bot.processor import PerChatUpdateProcessor
from bot.settings import Settings


async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message with the same text."""
    message = update.message
    if message is not None and message.text:
        await message.reply_text(message.text)


def main() -> None:
    """Run the echo bot until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env(os.environ)
    pool = max(8, settings.concurrent_updates)
    application = (
        Application.builder()
        .token(settings.token)
        .base_url(f"{settings.api_url}/bot")
        .base_file_url(f"{settings.api_url}/file/bot")
        .request(make_request(settings, pool=pool, read_timeout=10.0))
        .get_updates_request(make_request(settings, pool=1, read_timeout=None))
        .concurrent_updates(PerChatUpdateProcessor(settings.concurrent_updates))
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
