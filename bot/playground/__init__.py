"""The browser playground: the real bot, a built-in Bot API emulator and a Telegram-like page.

``python -m bot playground`` (or ``make run`` without a token) serves it on 127.0.0.1; see
:mod:`bot.playground.server`.
"""

from bot.playground.server import PERSONAS, Persona, Playground, run

__all__ = ["PERSONAS", "Persona", "Playground", "run"]
