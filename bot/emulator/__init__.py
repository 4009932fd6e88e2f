"""Fake Telegram Bot API for tests, benchmarks and the browser playground.

:class:`BotApiEmulator` serves the real Bot API over HTTP on loopback and simulates users;
:class:`ChatClient` drives one simulated user so tests read like chat transcripts.
"""

from bot.emulator.client import ChatClient, ReplyButton
from bot.emulator.limits import FaultInjector, RateLimiter, RateLimits
from bot.emulator.model import (
    CallbackAnswer,
    ChatState,
    FakeUser,
    FileKind,
    MessageKind,
    QueuedUpdate,
    RecordedCall,
    StoredFile,
    StoredMessage,
    UpdateKind,
)
from bot.emulator.server import ApiError, BotApiEmulator, WebhookConfig, tiny_png

__all__ = [
    "ApiError",
    "BotApiEmulator",
    "CallbackAnswer",
    "ChatClient",
    "ChatState",
    "FakeUser",
    "FaultInjector",
    "FileKind",
    "MessageKind",
    "QueuedUpdate",
    "RateLimiter",
    "RateLimits",
    "RecordedCall",
    "ReplyButton",
    "StoredFile",
    "StoredMessage",
    "UpdateKind",
    "WebhookConfig",
    "tiny_png",
]
