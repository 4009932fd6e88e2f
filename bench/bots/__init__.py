"""The bots under test, each started as its own process by the harness.

Every bot reads ``TELEGRAM_BOT_TOKEN`` and ``BOT_API_URL`` from the environment, like the real bot
(``python -m bot``, which the harness runs as "ours"). This package imports nothing, so baseline B
can run under the separate interpreter that has aiogram installed.
"""
