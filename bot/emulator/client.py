"""A simulated Telegram user whose tests read like chat transcripts.

Example::

    chat = ChatClient(emu, 1001, settle=app_probe)
    replies = await chat.send("/start")
    assert "Selamat datang" in chat.last_text
    await chat.press("Setuju")
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.emulator.model import (
    CallbackAnswer,
    FileKind,
    JsonDict,
    MessageKind,
    QueuedUpdate,
    StoredFile,
    StoredMessage,
)
from bot.emulator.server import BotApiEmulator

Settle = Callable[[], Awaitable[None]]

DEFAULT_PHONE = "6281234567890"


@dataclass(frozen=True, slots=True)
class ReplyButton:
    """A button of the reply keyboard shown under the input field."""

    text: str
    request_contact: bool = False
    request_location: bool = False

    def __str__(self) -> str:
        """Label, with a marker when the button shares the phone number or location."""
        if self.request_contact:
            return f"{self.text} (contact)"
        if self.request_location:
            return f"{self.text} (location)"
        return self.text


class ChatClient:
    """One simulated user talking to the bot through a :class:`BotApiEmulator`.

    Every action injects an update, waits until the bot received it, then waits until the bot
    is done (the ``settle`` probe when given, otherwise a quiet period without API calls for
    this chat) and returns the bot messages sent or edited in this chat meanwhile.
    """

    def __init__(
        self,
        emu: BotApiEmulator,
        user_id: int,
        *,
        first_name: str = "Siti",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "id",
        settle: Settle | None = None,
        quiet: float = 0.15,
        timeout: float = 10.0,
    ):
        """Attach to ``emu`` as user ``user_id`` (created unless it already exists).

        Args:
            emu: The emulator the bot talks to.
            user_id: Telegram id of the user (and of the private chat).
            first_name: Display name of a new user.
            last_name: Last name of a new user.
            username: Username of a new user.
            language_code: App language of a new user.
            settle: Optional ``async () -> None`` returning once the bot has processed all
                updates delivered so far.
            quiet: Without ``settle``: the silence that means the bot is done.
            timeout: Upper bound for each action, in seconds.
        """
        self.emu = emu
        self.user_id = user_id
        existing = emu.users.get(user_id)
        self.user = existing or emu.add_user(
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self.settle = settle
        self.quiet = quiet
        self.timeout = timeout
        self.last_update: QueuedUpdate | None = None

    # ------------------------------------------------------------------ actions

    async def send(self, text: str) -> list[StoredMessage]:
        """Send a text message (``/start payload`` works like a deep link)."""
        return await self._act(self.emu.send_text(self.user_id, text))

    async def press(self, button: str, *, message_id: int | None = None) -> list[StoredMessage]:
        """Tap an inline button found by label (exact, then case-insensitive) or callback data.

        Args:
            button: The label shown, or the callback data.
            message_id: Look only at this message (default: the most recent bot message whose
                inline keyboard has the button).

        Raises:
            AssertionError: No such button; the message lists the buttons available.
        """
        message, data = self._find_button(button, message_id)
        return await self._act(self.emu.press(self.user_id, message.message_id, data))

    async def share_contact(
        self, phone_number: str = DEFAULT_PHONE, *, own: bool = True
    ) -> list[StoredMessage]:
        """Share a phone number (``own=True``: the share-my-number button)."""
        return await self._act(self.emu.send_contact(self.user_id, phone_number, own=own))

    async def send_photo(
        self, data: bytes | None = None, *, caption: str | None = None
    ) -> list[StoredMessage]:
        """Send a photo (a tiny generated PNG by default)."""
        return await self._act(self.emu.send_photo(self.user_id, data, caption=caption))

    async def send_sticker(self, emoji: str = "👍") -> list[StoredMessage]:
        """Send a sticker."""
        return await self._act(self.emu.send_sticker(self.user_id, emoji))

    async def send_location(
        self, latitude: float = -2.3293, longitude: float = 115.4641
    ) -> list[StoredMessage]:
        """Share a location (default: a point in Kabupaten Balangan)."""
        return await self._act(self.emu.send_location(self.user_id, latitude, longitude))

    async def send_voice(self, duration: int = 3) -> list[StoredMessage]:
        """Send a voice note."""
        return await self._act(self.emu.send_voice(self.user_id, duration))

    async def send_document(
        self,
        name: str,
        data: bytes,
        mime: str = "application/octet-stream",
        *,
        caption: str | None = None,
    ) -> list[StoredMessage]:
        """Send a file."""
        return await self._act(
            self.emu.send_document(self.user_id, name, data, mime, caption=caption)
        )

    async def edit(self, message_id: int, text: str) -> list[StoredMessage]:
        """Edit one of the user's own text messages."""
        return await self._act(self.emu.edit_user_message(self.user_id, message_id, text))

    async def _act(self, inject: Awaitable[QueuedUpdate]) -> list[StoredMessage]:
        start = self.emu.change_seq
        update = await inject
        self.last_update = update
        try:
            await self.emu.wait_delivered(update, self.timeout)
            if self.settle is not None:
                await asyncio.wait_for(self.settle(), self.timeout)
            else:
                await self.emu.wait_idle(
                    self.user_id,
                    quiet=self.quiet,
                    timeout=self.timeout,
                    since=update.delivered_at or 0.0,
                )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.transcript()}") from None
        return self.changed_since(start)

    def changed_since(self, seq: int) -> list[StoredMessage]:
        """Visible bot messages sent or edited after change number ``seq``, in chat order."""
        return [m for m in self.history if m.from_bot and m.seq > seq]

    # ------------------------------------------------------------------ inspection

    @property
    def history(self) -> list[StoredMessage]:
        """All visible messages of the chat, both directions, oldest first."""
        return self.emu.messages(self.user_id)

    @property
    def last(self) -> StoredMessage | None:
        """The most recent visible bot message."""
        for message in reversed(self.history):
            if message.from_bot:
                return message
        return None

    @property
    def last_text(self) -> str:
        """Text (or caption) of the most recent bot message; empty when none."""
        last = self.last
        return "" if last is None or last.text is None else last.text

    @property
    def last_answer(self) -> CallbackAnswer | None:
        """How the bot answered the latest button press (toast/alert text), if it did."""
        update = self.last_update
        if update is None or update.kind.value != "callback_query":
            return None
        pending = self.emu.callbacks.get(str(update.payload["id"]))
        return None if pending is None else pending.answer

    def _keyboard_message(self) -> StoredMessage | None:
        for message in reversed(self.history):
            if message.from_bot and message.inline_keyboard:
                return message
        return None

    def buttons(self) -> list[list[str]]:
        """Labels of the most recent inline keyboard, as rows (empty when none)."""
        message = self._keyboard_message()
        return [] if message is None else message.buttons()

    def button_data(self) -> list[list[str | None]]:
        """Callback data of the most recent inline keyboard, as rows."""
        message = self._keyboard_message()
        return [] if message is None else message.button_data()

    def reply_keyboard(self) -> list[list[ReplyButton]]:
        """The reply keyboard currently shown under the input field (empty when none)."""
        chat = self.emu.chat(self.user_id)
        if chat.reply_keyboard is None or chat.reply_keyboard_hidden:
            return []
        return [
            [
                ReplyButton(
                    str(button.get("text", "")),
                    bool(button.get("request_contact")),
                    bool(button.get("request_location")),
                )
                for button in row
            ]
            for row in chat.reply_keyboard.get("keyboard", [])
        ]

    def reply_labels(self) -> list[list[str]]:
        """Labels of the current reply keyboard, as rows."""
        return [[button.text for button in row] for row in self.reply_keyboard()]

    def documents(self) -> list[StoredFile]:
        """Documents the bot sent to this chat (with their bytes), oldest first."""
        return self._files(FileKind.DOCUMENT)

    def photos(self) -> list[StoredFile]:
        """Photos the bot sent to this chat, oldest first."""
        return self._files(FileKind.PHOTO)

    def _files(self, kind: FileKind) -> list[StoredFile]:
        return [
            m.file
            for m in self.history
            if m.from_bot and m.file is not None and m.file.kind is kind
        ]

    def menu(self) -> list[tuple[str, str]]:
        """The command menu this user sees (scope and language resolved like Telegram)."""
        return self.emu.effective_commands(self.user_id)

    def _find_button(self, button: str, message_id: int | None) -> tuple[StoredMessage, str]:
        if message_id is not None:
            message = self.emu.chat(self.user_id).messages.get(message_id)
            candidates = [] if message is None else [message]
        else:
            candidates = [m for m in reversed(self.history) if m.from_bot and m.inline_keyboard]
        folded = button.casefold()
        matchers: tuple[Callable[[JsonDict], bool], ...] = (
            lambda b: b.get("text") == button,
            lambda b: str(b.get("text", "")).casefold() == folded,
            lambda b: b.get("callback_data") == button,
        )
        for message in candidates:
            flat = [b for row in message.inline_keyboard for b in row]
            for matches in matchers:
                for candidate in flat:
                    if matches(candidate):
                        data = candidate.get("callback_data")
                        if not isinstance(data, str):
                            raise AssertionError(
                                f"button {button!r} on message {message.message_id} has no "
                                f"callback data (it is a {sorted(candidate)} button)"
                            )
                        return message, data
        where = f"message {message_id}" if message_id is not None else "any bot message"
        available = candidates[0].buttons() if candidates else []
        raise AssertionError(
            f"no button {button!r} in {where}; latest inline keyboard: {available}\n"
            f"{self.transcript()}"
        )

    def transcript(self) -> str:
        """A readable dump of the chat for assertion messages."""
        chat = self.emu.chat(self.user_id)
        lines = [f"--- chat {self.user_id} ({self.user.full_name}) ---"]
        for message in chat.messages.values():
            lines.extend(_describe(message, self.user.first_name))
        keyboard = self.reply_keyboard()
        if keyboard:
            rows = " / ".join(" | ".join(str(b) for b in row) for row in keyboard)
            lines.append(f"    reply keyboard: {rows}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        """Short description."""
        return f"ChatClient(user_id={self.user_id}, name={self.user.full_name!r})"


def _describe(message: StoredMessage, user_name: str) -> list[str]:
    who = "bot" if message.from_bot else user_name
    notes = []
    if message.edit_count:
        notes.append(f"edited {message.edit_count}x")
    if message.deleted:
        notes.append("deleted")
    head = f"#{message.message_id} {who}" + (f" ({', '.join(notes)})" if notes else "")
    body = _content(message)
    text_lines = body.splitlines() or [""]
    lines = [f"{head}: {text_lines[0]}"]
    lines.extend(f"    {line}" for line in text_lines[1:])
    for row in message.buttons():
        lines.append("    " + " ".join(f"[{label}]" for label in row))
    if message.reply_keyboard is not None:
        if message.reply_keyboard.get("remove_keyboard"):
            lines.append("    (reply keyboard removed)")
        else:
            labels = [
                str(b.get("text", "")) for row in message.reply_keyboard["keyboard"] for b in row
            ]
            lines.append(f"    (reply keyboard: {' | '.join(labels)})")
    return lines


def _content(message: StoredMessage) -> str:
    text = message.text or ""
    stored = message.file
    extra: dict[str, Any] = message.extra
    if message.kind is MessageKind.CONTACT:
        contact = extra["contact"]
        own = " (own)" if contact.get("user_id") else ""
        return f"[contact {contact['phone_number']}{own}]"
    if message.kind is MessageKind.LOCATION:
        location = extra["location"]
        return f"[location {location['latitude']}, {location['longitude']}]"
    if stored is None:
        return text
    if stored.kind is FileKind.DOCUMENT:
        label = f"[document {stored.file_name or stored.file_id}, {stored.size} bytes]"
    elif stored.kind is FileKind.STICKER:
        label = f"[sticker {stored.emoji or ''}]"
    elif stored.kind is FileKind.VOICE:
        label = f"[voice {stored.duration}s]"
    else:
        label = f"[photo {stored.width}x{stored.height}]"
    return f"{label} {text}".rstrip()
