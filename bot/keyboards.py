"""Keyboard builders. Button labels are translated text; ``callback_data`` is a stable ASCII code."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

MAX_CALLBACK_BYTES = 64


def check_callback_data(data: str) -> str:
    """Return ``data`` if Telegram will accept it as callback data (ASCII, at most 64 bytes)."""
    if not data.isascii() or not 1 <= len(data) <= MAX_CALLBACK_BYTES:
        raise ValueError(f"callback_data must be 1-64 ASCII bytes: {data!r}")
    return data


def button(label: str, data: str) -> InlineKeyboardButton:
    """One inline button that sends ``data`` back when pressed."""
    return InlineKeyboardButton(text=label, callback_data=check_callback_data(data))


def url_button(label: str, url: str) -> InlineKeyboardButton:
    """One inline button that opens ``url``."""
    return InlineKeyboardButton(text=label, url=url)


def inline(rows: Iterable[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    """An inline keyboard from rows of buttons (empty rows are dropped)."""
    return InlineKeyboardMarkup([list(row) for row in rows if row])


def column(buttons: Iterable[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    """An inline keyboard with one button per row (easiest to hit on a small phone)."""
    return InlineKeyboardMarkup([[b] for b in buttons])


def grid(
    buttons: Sequence[InlineKeyboardButton], width: int = 2
) -> list[list[InlineKeyboardButton]]:
    """Split buttons into rows of ``width``."""
    return [list(buttons[i : i + width]) for i in range(0, len(buttons), width)]


def contact_request(label: str, *, other: Sequence[str] = ()) -> ReplyKeyboardMarkup:
    """A reply keyboard whose first button shares the user's phone number."""
    rows = [[KeyboardButton(text=label, request_contact=True)]]
    rows.extend([KeyboardButton(text=text)] for text in other)
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)


def remove() -> ReplyKeyboardRemove:
    """Hide a reply keyboard."""
    return ReplyKeyboardRemove()
