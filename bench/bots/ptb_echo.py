"""Baseline A: a bare python-telegram-bot echo bot with default settings.

``Application.builder().token(...).build()`` and ``run_polling()`` exactly as the library's examples
do: the default HTTPX transport and sequential update processing (``concurrent_updates`` off).
"""

from __future__ import annotations

import logging
import os

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message with the same text."""
    message = update.message
    if message is not None and message.text:
        await message.reply_text(message.text)


def main() -> None:
    """Run the echo bot until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.WARNING)
    api = os.environ["BOT_API_URL"]
    application = (
        Application.builder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
