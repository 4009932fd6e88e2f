"""The long-lived objects of one running bot, handed to handlers and background jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.i18n import Catalogs
from bot.router import Routes
from bot.settings import Settings
from storage.db import Database
from storage.types import utcnow

if TYPE_CHECKING:
    from telegram import Bot

    from bot.delivery import Delivery


@dataclass(slots=True)
class Services:
    """Settings, database, catalogs, routes and clock; one instance per application."""

    settings: Settings
    db: Database
    catalogs: Catalogs
    routes: Routes
    clock: Callable[[], datetime] = utcnow
    bot: Bot | None = None
    delivery: Delivery | None = field(default=None, repr=False)

    def require_bot(self) -> Bot:
        """The Bot (available once the application is built)."""
        if self.bot is None:
            raise RuntimeError("the bot is not attached yet")
        return self.bot

    def require_delivery(self) -> Delivery:
        """The reply sender (available once the application is built)."""
        if self.delivery is None:
            raise RuntimeError("the delivery is not attached yet")
        return self.delivery
