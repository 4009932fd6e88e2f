"""Logging set-up, done once by the command line."""

from __future__ import annotations

import logging


def configure(level: str) -> None:
    """Log to stderr at ``level``; keep HTTP client chatter (which would show the token) quiet."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for noisy in ("httpx", "httpcore", "aiohttp.access", "telegram.ext.Updater"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
