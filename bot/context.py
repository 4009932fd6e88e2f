"""What a handler receives: the update, the user, their conversation step, a transaction, a translator.

Handlers never call the Bot API themselves. They queue replies (:meth:`Ctx.say`, :meth:`Ctx.edit`...),
which the dispatcher sends *after* the transaction holding the user's answer has committed; the queued
replies are stored in that same transaction so that a crash between commit and send loses nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from telegram import (
    CallbackQuery,
    Contact,
    Document,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from bot import keyboards
from bot.i18n import Translator

if TYPE_CHECKING:
    from bot.services import Services
    from storage.models import User
    from storage.repositories import Repositories

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None
BackgroundJob = Callable[["Services"], Awaitable[None]]


@dataclass(slots=True)
class Reply:
    """One Bot API call to make once the transaction has committed."""

    method: str
    chat_id: int
    text: str | None = None
    markup: Markup = None
    message_id: int | None = None
    callback_query_id: str | None = None
    show_alert: bool = False
    file: bytes | None = None
    filename: str | None = None
    #: Set for messages that must not be sent twice if replayed after a crash (e.g. documents).
    replayable: bool = True

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe copy for the processed-updates table (files are not kept)."""
        data: dict[str, Any] = {"method": self.method, "chat_id": self.chat_id}
        for key in ("text", "message_id", "callback_query_id", "show_alert"):
            value = getattr(self, key)
            if value not in (None, False):
                data[key] = value
        if self.markup is not None:
            data["markup"] = {"kind": type(self.markup).__name__, **self.markup.to_dict()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        """Rebuild a stored reply."""
        markup: Markup = None
        raw = data.get("markup")
        if raw:
            kind = raw.pop("kind", "")
            if kind == "InlineKeyboardMarkup":
                markup = InlineKeyboardMarkup.de_json(raw, None)
            elif kind == "ReplyKeyboardMarkup":
                markup = ReplyKeyboardMarkup.de_json(raw, None)
            else:
                markup = ReplyKeyboardRemove.de_json(raw, None)
        return cls(
            method=data["method"],
            chat_id=data["chat_id"],
            text=data.get("text"),
            markup=markup,
            message_id=data.get("message_id"),
            callback_query_id=data.get("callback_query_id"),
            show_alert=data.get("show_alert", False),
        )


@dataclass(slots=True)
class Ctx:
    """The context of one update for one user."""

    update: Update
    services: Services
    repo: Repositories
    user: User
    t: Translator
    state: str | None
    data: dict[str, Any]
    chat_id: int
    #: For deep links and commands: the text after the command (``/start abc`` → ``"abc"``).
    args: str = ""
    replies: list[Reply] = field(default_factory=list)
    jobs: list[BackgroundJob] = field(default_factory=list)
    ask_next: bool = False
    answered_callback: bool = False

    # -- what the user sent ---------------------------------------------------------------------
    @property
    def message(self) -> Message | None:
        """The message the user sent, if this update is a message."""
        return self.update.message

    @property
    def query(self) -> CallbackQuery | None:
        """The button press, if this update is one."""
        return self.update.callback_query

    @property
    def text(self) -> str | None:
        """The text the user typed (None for stickers, photos, button presses...)."""
        message = self.update.message
        return message.text if message is not None else None

    @property
    def callback_data(self) -> str | None:
        """The data of the pressed button."""
        query = self.update.callback_query
        return query.data if query is not None else None

    @property
    def contact(self) -> Contact | None:
        """A shared contact (from the "share my number" button or a forwarded contact)."""
        message = self.update.message
        return message.contact if message is not None else None

    @property
    def document(self) -> Document | None:
        """A file the user sent."""
        message = self.update.message
        return message.document if message is not None else None

    @property
    def user_id(self) -> int:
        """The Telegram id of the user."""
        return self.user.id

    @property
    def role(self) -> str:
        """The user's role at the time of this update."""
        return self.user.role

    @property
    def settings(self) -> Any:
        """The application's settings."""
        return self.services.settings

    def now(self) -> datetime:
        """The current time (UTC, aware); tests can move the clock."""
        return self.services.clock()

    # -- conversation -----------------------------------------------------------------------------
    def goto(self, state: StrEnum | str, *, ask: bool = True) -> None:
        """Move to ``state``; unless ``ask`` is False its question is asked after this handler."""
        self.state = str(state)
        self.ask_next = ask

    def end(self) -> None:
        """Leave the conversation and forget its scratch data."""
        self.state = None
        self.data = {}
        self.ask_next = False

    # -- replies ------------------------------------------------------------------------------------
    def say(self, text: str, markup: Markup = None) -> None:
        """Send a new message to this chat."""
        self.replies.append(Reply("sendMessage", self.chat_id, text=text, markup=markup))

    def send_to(self, chat_id: int, text: str, markup: Markup = None) -> None:
        """Send a message to another user (e.g. tell a worker their submission was verified)."""
        self.replies.append(Reply("sendMessage", chat_id, text=text, markup=markup))

    def edit(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Replace the message whose button was pressed (or send a new one if there is none)."""
        query = self.update.callback_query
        message = query.message if query is not None else None
        if message is None:
            self.say(text, markup)
            return
        self.replies.append(
            Reply(
                "editMessageText",
                self.chat_id,
                text=text,
                markup=markup,
                message_id=message.message_id,
            )
        )

    def clear_buttons(self) -> None:
        """Remove the inline keyboard of the pressed message (so it cannot be pressed again)."""
        query = self.update.callback_query
        message = query.message if query is not None else None
        if message is not None:
            self.replies.append(
                Reply("editMessageReplyMarkup", self.chat_id, message_id=message.message_id)
            )

    def toast(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer the button press (a small notice, or an alert box)."""
        query = self.update.callback_query
        if query is None or self.answered_callback:
            return
        self.answered_callback = True
        self.replies.append(
            Reply(
                "answerCallbackQuery",
                self.chat_id,
                text=text,
                callback_query_id=query.id,
                show_alert=alert,
            )
        )

    def send_document(self, data: bytes, filename: str, caption: str | None = None) -> None:
        """Send a file (an export, a summary PDF...)."""
        self.replies.append(
            Reply(
                "sendDocument",
                self.chat_id,
                text=caption,
                file=data,
                filename=filename,
                replayable=False,
            )
        )

    def send_photo(self, data: bytes, caption: str | None = None) -> None:
        """Send a picture (a chart)."""
        self.replies.append(
            Reply("sendPhoto", self.chat_id, text=caption, file=data, replayable=False)
        )

    def later(self, job: BackgroundJob) -> None:
        """Run ``job(services)`` after this update's transaction has committed (long work)."""
        self.jobs.append(job)

    # -- helpers ------------------------------------------------------------------------------------
    def menu(self) -> InlineKeyboardMarkup:
        """The main menu for this user's role."""
        entries = self.services.routes.menu
        role = self.user.role
        return keyboards.column(
            keyboards.button(self.t(e.label), e.data)
            for e in entries
            if e.roles is None or role in e.roles
        )
