"""Baseline B: a bare aiogram 3 echo bot with default settings.

Runs under the interpreter that has aiogram (``.venv/bench-aiogram``, see ``bench/requirements.txt``):
aiogram 3 pins an older pydantic than the one the project uses, so it gets its own environment.
"""

from __future__ import annotations

import logging
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def echo(message: Message) -> None:
    """Answer a text message with the same text."""
    if message.text:
        await message.answer(message.text)


def main() -> None:
    """Run the echo bot until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.WARNING)
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["BOT_API_URL"]))
    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"], session=session)
    dispatcher = Dispatcher()
    dispatcher.message.register(echo)
    dispatcher.run_polling(bot)


if __name__ == "__main__":
    main()
