"""The command-line entry points behind ``python -m bot``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from bot import logs
from bot.application import build_application
from bot.settings import Settings, SettingsError
from storage.crypto import KeyRing, generate_key
from storage.db import Database
from storage.rotation import RotationReport

KEY_FILE = Path("data") / "data.key"


def keyring(settings: Settings) -> KeyRing:
    """The data keys: ``DATA_KEY`` when set, else a key file under ./data (created on first use)."""
    if settings.data_key:
        return KeyRing.from_text(settings.data_key, settings.data_index_key)
    if not KEY_FILE.exists():
        print(
            f"DATA_KEY is not set: personal data is encrypted with a new key stored in {KEY_FILE}. "
            "In production set DATA_KEY (python -m bot genkey) and keep it safe.",
            file=sys.stderr,
        )
    return KeyRing.load_or_create(KEY_FILE)


def open_database(settings: Settings) -> Database:
    """The database of ``DATABASE_URL`` with the data keys attached."""
    return Database(settings.database_url, keyring=keyring(settings))


NO_TOKEN_HELP = """\
TELEGRAM_BOT_TOKEN is not set, so the bot cannot connect to Telegram.
Get a token in one minute: open Telegram, talk to @BotFather, send /newbot, choose a name and a
username ending in "bot", and copy the token it gives you (it looks like 123456789:AAH...). Then run:
    TELEGRAM_BOT_TOKEN=<your token> make run
"""  # noqa: S105
PLAYGROUND_HINT = """\
Meanwhile the playground runs the real bot on this machine, with no Telegram and no token: chat
with it in a web browser as a worker, a facilitator or an admin.
"""


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="jamsostek-bot")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser(
        "run", help="run the bot (default): polling, or webhook when WEBHOOK_URL is set"
    )
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("genkey", help="print a new random DATA_KEY")
    sub.add_parser(
        "rotate-key", help="re-encrypt personal data with the first key of DATA_KEY (in batches)"
    )
    roster = sub.add_parser(
        "import-roster", help="load a coverage roster (CSV or XLSX) into the database"
    )
    roster.add_argument("file", type=Path, help="the roster file (see README for its headers)")
    sub.add_parser(
        "playground",
        help="try the bot in a web browser on 127.0.0.1, without Telegram (no token needed)",
    )
    args = parser.parse_args(argv)
    # Plain `python -m bot` (what `make run` runs) falls back to the playground without a token;
    # an explicit `run` (the Procfile's) is a deployment and must fail loudly instead.
    command = args.command or "default"
    if command == "genkey":
        print(generate_key())
        return 0

    try:
        settings = Settings.from_env(os.environ, require_token=command == "run")
    except SettingsError as exc:
        if command == "run" and "TELEGRAM_BOT_TOKEN is not set" in str(exc):
            print(NO_TOKEN_HELP, file=sys.stderr, end="")
            return 2
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)

    if command == "default" and not settings.token:
        if settings.webhook_url:
            print(NO_TOKEN_HELP, file=sys.stderr, end="")
            return 2
        print(NO_TOKEN_HELP + "\n" + PLAYGROUND_HINT, file=sys.stderr, flush=True)
        command = "playground"
    if command == "playground":
        from bot.playground import run as run_playground

        return asyncio.run(run_playground(settings))
    if command == "rotate-key":
        report = asyncio.run(_rotate(settings))
        print(
            f"Re-encrypted {report.values_reencrypted} values in {report.tables} tables; "
            f"recomputed {report.indexes_recomputed} blind indexes."
        )
        return 0
    if command == "import-roster":
        return asyncio.run(_import_roster(settings, args.file))
    if command == "migrate":
        asyncio.run(_migrate(settings))
        print("Database is up to date.")
        return 0
    if settings.webhook_url:
        return _run_webhook(settings)
    asyncio.run(_run_polling(settings))
    return 0


async def _rotate(settings: Settings) -> RotationReport:
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401 - every table on the metadata
    from storage.rotation import rotate

    db = open_database(settings)
    try:
        await db.migrate()
        return await rotate(
            db,
            SQLModel.metadata,
            progress=lambda table, n: print(f"{table}: {n} rows", file=sys.stderr),
        )
    finally:
        await db.dispose()


async def _import_roster(settings: Settings, path: Path) -> int:
    from bot.i18n import Catalogs
    from bot.roster_import import import_from_cli

    if not await asyncio.to_thread(path.is_file):
        print(f"No such file: {path}", file=sys.stderr)
        return 2
    db = open_database(settings)
    try:
        await db.migrate()
        translator = Catalogs.load(default=settings.default_language).default
        return await import_from_cli(
            db, path, translator=translator, out=sys.stdout, err=sys.stderr
        )
    finally:
        await db.dispose()


async def _migrate(settings: Settings) -> None:
    db = open_database(settings)
    try:
        await db.migrate()
    finally:
        await db.dispose()


async def _run_polling(settings: Settings) -> None:
    db = open_database(settings)
    await db.migrate()
    botapp = build_application(settings, db, webhook=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await botapp.start(polling=True)
    print("Bot is running (long polling). Press Ctrl+C to stop.", file=sys.stderr)
    try:
        await stop.wait()
    finally:
        await botapp.stop()
        await db.dispose()


def _run_webhook(settings: Settings) -> int:
    async def make() -> web.Application:
        from bot.web import make_web_app

        db = open_database(settings)
        await db.migrate()
        botapp = build_application(settings, db, webhook=True)
        app = make_web_app(botapp)

        async def dispose(_app: web.Application) -> None:
            await db.dispose()

        app.on_cleanup.append(dispose)
        return app

    web.run_app(make(), host=settings.host, port=settings.port, print=None, shutdown_timeout=30)
    return 0
