"""State model of the Bot API emulator: users, chats, messages, files, updates and calls.

Also holds the text-formatting parsers (HTML, MarkdownV2, legacy Markdown) that turn what the
bot sent into the plain text and entities a Telegram client would show; they follow tdlib's
parsers closely so that the emulator rejects the same malformed markup as Telegram does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JsonDict = dict[str, Any]


class FileKind(StrEnum):
    """Kind of a stored file, which decides how it appears inside a Message object."""

    DOCUMENT = "document"
    PHOTO = "photo"
    STICKER = "sticker"
    VOICE = "voice"


class MessageKind(StrEnum):
    """What a message carries."""

    TEXT = "text"
    DOCUMENT = "document"
    PHOTO = "photo"
    STICKER = "sticker"
    VOICE = "voice"
    CONTACT = "contact"
    LOCATION = "location"


class UpdateKind(StrEnum):
    """Update types the emulator produces (names as in ``allowed_updates``)."""

    MESSAGE = "message"
    EDITED_MESSAGE = "edited_message"
    CALLBACK_QUERY = "callback_query"


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A Telegram user (or the bot itself when ``is_bot``)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "id"
    is_bot: bool = False

    @property
    def full_name(self) -> str:
        """First and last name joined like Telegram clients show them."""
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    def to_api(self) -> JsonDict:
        """Return the Bot API ``User`` object."""
        data: JsonDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data

    def private_chat_api(self) -> JsonDict:
        """Return the Bot API ``Chat`` object of the private chat with this user."""
        data: JsonDict = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part received in a multipart request (recorded in call params instead of bytes)."""

    filename: str | None
    mime_type: str | None
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Number of bytes uploaded."""
        return len(self.data)


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file known to the emulator: sent by a user or uploaded by the bot."""

    file_id: str
    file_unique_id: str
    kind: FileKind
    data: bytes = field(repr=False)
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    duration: int = 0
    emoji: str | None = None

    @property
    def size(self) -> int:
        """File size in bytes."""
        return len(self.data)

    def file_api(self) -> JsonDict:
        """Return the Bot API ``File`` object (answer of getFile)."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }

    def message_api(self) -> Any:
        """Return the object this file contributes to a Message (under the key ``kind``)."""
        base: JsonDict = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.kind is FileKind.PHOTO:
            return [{**base, "width": self.width, "height": self.height}]
        if self.kind is FileKind.DOCUMENT:
            if self.file_name:
                base["file_name"] = self.file_name
            if self.mime_type:
                base["mime_type"] = self.mime_type
            return base
        if self.kind is FileKind.VOICE:
            return {**base, "duration": self.duration, "mime_type": self.mime_type or "audio/ogg"}
        return {
            **base,
            "type": "regular",
            "width": self.width,
            "height": self.height,
            "is_animated": False,
            "is_video": False,
            "emoji": self.emoji or "",
        }


@dataclass(frozen=True, slots=True)
class MessageVersion:
    """A former content of an edited message."""

    text: str | None
    entities: tuple[JsonDict, ...]
    reply_markup: JsonDict | None
    changed_at: float


@dataclass(slots=True)
class StoredMessage:
    """One message of a chat, in either direction, with its current content and edit history.

    ``text`` is what the user sees (markup already parsed away); ``raw_text`` is what the bot
    sent. For media messages ``text`` holds the caption.
    """

    message_id: int
    chat_id: int
    sender: FakeUser
    chat_api: JsonDict = field(repr=False)
    date: int
    kind: MessageKind
    text: str | None = None
    raw_text: str | None = None
    parse_mode: str | None = None
    entities: tuple[JsonDict, ...] = ()
    reply_markup: JsonDict | None = None
    reply_keyboard: JsonDict | None = None
    file: StoredFile | None = None
    extra: JsonDict = field(default_factory=dict)
    history: list[MessageVersion] = field(default_factory=list)
    edit_date: int | None = None
    deleted: bool = False
    seq: int = 0

    @property
    def from_bot(self) -> bool:
        """Whether the bot sent this message."""
        return self.sender.is_bot

    @property
    def edit_count(self) -> int:
        """How many times the message was edited."""
        return len(self.history)

    @property
    def inline_keyboard(self) -> list[list[JsonDict]]:
        """Rows of inline keyboard buttons attached to the message (empty when none)."""
        if self.reply_markup is None:
            return []
        rows: list[list[JsonDict]] = self.reply_markup.get("inline_keyboard", [])
        return rows

    def buttons(self) -> list[list[str]]:
        """Labels of the inline keyboard, as rows."""
        return [[str(b.get("text", "")) for b in row] for row in self.inline_keyboard]

    def button_data(self) -> list[list[str | None]]:
        """Callback data of the inline keyboard, as rows (``None`` for URL buttons etc.)."""
        return [[b.get("callback_data") for b in row] for row in self.inline_keyboard]

    def has_callback_data(self, data: str) -> bool:
        """Whether one of the inline buttons carries ``data``."""
        return any(b.get("callback_data") == data for row in self.inline_keyboard for b in row)

    def to_api(self) -> JsonDict:
        """Return the Bot API ``Message`` object for the current content."""
        data: JsonDict = {
            "message_id": self.message_id,
            "from": self.sender.to_api(),
            "chat": self.chat_api,
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.file is not None:
            data[self.file.kind.value] = self.file.message_api()
            if self.text:
                data["caption"] = self.text
                if self.entities:
                    data["caption_entities"] = list(self.entities)
        elif self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = list(self.entities)
        if self.extra:
            data.update(self.extra)
        # Telegram echoes only inline keyboards; reply keyboards live on the client side.
        if self.reply_markup is not None:
            data["reply_markup"] = self.reply_markup
        return data


@dataclass(slots=True)
class ChatState:
    """A private chat between the bot and one user."""

    chat_id: int
    user: FakeUser
    chat_api: JsonDict
    chat_instance: str
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: JsonDict | None = None
    reply_keyboard_hidden: bool = False
    blocked: bool = False
    last_activity: float = 0.0
    inflight: int = 0
    last_action: str | None = None
    menu_button: JsonDict | None = None

    def allocate_message_id(self) -> int:
        """Reserve the next message id (ids are shared by both directions, like Telegram)."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def visible_messages(self) -> list[StoredMessage]:
        """Messages not deleted, oldest first."""
        return [m for m in self.messages.values() if not m.deleted]


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One Bot API request the emulator answered."""

    method: str
    params: JsonDict
    status: int
    response: JsonDict
    time: float
    chat_id: int | None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.status == 200

    @property
    def result(self) -> Any:
        """The ``result`` member of a successful answer."""
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        """The error description of a failed call."""
        value = self.response.get("description")
        return None if value is None else str(value)


@dataclass(slots=True)
class QueuedUpdate:
    """An update produced by a simulated user, with its delivery state."""

    update_id: int
    kind: UpdateKind
    payload: JsonDict
    chat_id: int
    created_at: float
    delivered_at: float | None = None
    confirmed_at: float | None = None
    dropped: bool = False
    in_flight: bool = False
    attempts: int = 0
    retry_at: float = 0.0

    @property
    def delivered(self) -> bool:
        """Returned by getUpdates or accepted (2xx) by the webhook."""
        return self.delivered_at is not None

    @property
    def confirmed(self) -> bool:
        """Acknowledged: offset moved past it, or accepted by the webhook."""
        return self.confirmed_at is not None

    def to_api(self) -> JsonDict:
        """Return the Bot API ``Update`` object."""
        return {"update_id": self.update_id, self.kind.value: self.payload}


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """How the bot answered a callback query."""

    callback_query_id: str
    chat_id: int
    text: str | None
    show_alert: bool
    url: str | None


@dataclass(slots=True)
class PendingCallback:
    """A callback query waiting for answerCallbackQuery."""

    callback_query_id: str
    chat_id: int
    message_id: int
    data: str
    answer: CallbackAnswer | None = None


# --------------------------------------------------------------------------- formatting


class EntityParseError(ValueError):
    """Malformed markup; the message becomes ``Bad Request: can't parse entities: ...``."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


_HTML_SPECIAL = re.compile(r"[<&]")
_HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


def _decode_html_entity(text: str, start: int) -> tuple[str, int] | None:
    """Decode ``&...;`` at ``start``; ``None`` when it is not an entity (a literal '&')."""
    end = text.find(";", start + 1, start + 12)
    if end < 0:
        return None
    name = text[start + 1 : end]
    if name.startswith("#"):
        digits = name[1:]
        try:
            code = int(digits[1:], 16) if digits[:1] in ("x", "X") else int(digits, 10)
        except ValueError:
            return None
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), end + 1
    value = _HTML_NAMED_ENTITIES.get(name)
    return None if value is None else (value, end + 1)


def _sorted_entities(entities: list[JsonDict]) -> tuple[JsonDict, ...]:
    return tuple(sorted(entities, key=lambda e: (e["offset"], -e["length"])))


def trim_formatted(text: str, entities: tuple[JsonDict, ...]) -> tuple[str, tuple[JsonDict, ...]]:
    """Strip leading and trailing whitespace like Telegram does, keeping entities aligned.

    Args:
        text: Plain text after markup parsing.
        entities: Its entities.

    Returns:
        The trimmed text and the entities clipped to it (empty ones dropped).
    """
    stripped = text.strip()
    if len(stripped) == len(text):
        return text, entities
    if not entities:
        return stripped, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    clipped: list[JsonDict] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            clipped.append({**entity, "offset": start, "length": end - start})
    return stripped, tuple(clipped)


def parse_html(text: str) -> tuple[str, tuple[JsonDict, ...]]:
    """Parse Telegram-flavoured HTML into plain text and entities.

    Args:
        text: The text as sent with ``parse_mode=HTML``.

    Returns:
        The plain text and its entities (UTF-16 offsets).

    Raises:
        EntityParseError: On an unsupported, unclosed or mismatched tag, like Telegram.
    """
    out: list[str] = []
    u16 = 0
    stack: list[tuple[str, dict[str, str], int, int]] = []
    entities: list[JsonDict] = []
    n = len(text)
    i = 0
    while i < n:
        match = _HTML_SPECIAL.search(text, i)
        j = n if match is None else match.start()
        if j > i:
            chunk = text[i:j]
            out.append(chunk)
            u16 += utf16_len(chunk)
        if j >= n:
            break
        if text[j] == "&":
            decoded = _decode_html_entity(text, j)
            value, i = ("&", j + 1) if decoded is None else decoded
            out.append(value)
            u16 += utf16_len(value)
            continue
        if j + 1 < n and text[j + 1] == "/":
            i = _html_end_tag(text, j, stack, entities, u16)
        else:
            i = _html_start_tag(text, j, stack, u16)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), _sorted_entities(entities)


def _skip_spaces(text: str, k: int) -> int:
    n = len(text)
    while k < n and text[k].isspace():
        k += 1
    return k


def _html_start_tag(
    text: str, j: int, stack: list[tuple[str, dict[str, str], int, int]], u16: int
) -> int:
    n = len(text)
    k = j + 1
    while k < n and not text[k].isspace() and text[k] != ">":
        k += 1
    if k >= n:
        raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, j)}")
    tag = text[j + 1 : k].lower()
    if tag not in _HTML_TAG_TYPES:
        raise EntityParseError(
            f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, j)}'
        )
    attrs: dict[str, str] = {}
    while True:
        k = _skip_spaces(text, k)
        if k >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, j)}")
        if text[k] == ">":
            break
        name_start = k
        while k < n and not text[k].isspace() and text[k] not in "=>":
            k += 1
        attr = text[name_start:k].lower()
        if not attr:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(text, j)}'
            )
        k = _skip_spaces(text, k)
        if tag == "blockquote" and attr == "expandable" and (k >= n or text[k] != "="):
            attrs[attr] = ""
            continue
        if k >= n or text[k] != "=":
            raise EntityParseError(
                "Expected equal sign in declaration of an attribute of the tag "
                f'"{tag}" at byte offset {_byte_offset(text, j)}'
            )
        k = _skip_spaces(text, k + 1)
        if k >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, j)}")
        if text[k] in "'\"":
            quote = text[k]
            end = text.find(quote, k + 1)
            if end < 0:
                raise EntityParseError(
                    f"Unclosed start tag at byte offset {_byte_offset(text, j)}"
                )
            value = _decode_attribute(text[k + 1 : end])
            k = end + 1
        else:
            value_start = k
            while k < n and (text[k].isalnum() or text[k] in ".-_:"):
                k += 1
            value = text[value_start:k]
        attrs[attr] = value
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise EntityParseError(
            f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, j)}'
        )
    stack.append((tag, attrs, u16, j))
    return k + 1


def _decode_attribute(value: str) -> str:
    """Decode HTML entities inside an attribute value."""
    parts: list[str] = []
    i = 0
    while i < len(value):
        amp = value.find("&", i)
        if amp < 0:
            parts.append(value[i:])
            break
        parts.append(value[i:amp])
        decoded = _decode_html_entity(value, amp)
        if decoded is None:
            parts.append("&")
            i = amp + 1
        else:
            parts.append(decoded[0])
            i = decoded[1]
    return "".join(parts)


def _html_end_tag(
    text: str,
    j: int,
    stack: list[tuple[str, dict[str, str], int, int]],
    entities: list[JsonDict],
    u16: int,
) -> int:
    n = len(text)
    if not stack:
        raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(text, j)}")
    k = j + 2
    while k < n and not text[k].isspace() and text[k] != ">":
        k += 1
    name = text[j + 2 : k].lower()
    k = _skip_spaces(text, k)
    if k >= n or text[k] != ">":
        raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(text, j)}")
    tag, attrs, start, _ = stack.pop()
    if name and name != tag:
        raise EntityParseError(
            f'Unmatched end tag at byte offset {_byte_offset(text, j)}, expected "</{tag}>", '
            f'found "</{name}>"'
        )
    length = u16 - start
    if length > 0:
        entity = _html_entity(tag, attrs, start, length, entities)
        if entity is not None:
            entities.append(entity)
    return k + 1


def _html_entity(
    tag: str, attrs: dict[str, str], offset: int, length: int, entities: list[JsonDict]
) -> JsonDict | None:
    kind = _HTML_TAG_TYPES[tag]
    entity: JsonDict = {"type": kind, "offset": offset, "length": length}
    if kind == "text_link":
        href = attrs.get("href", "")
        if not href:
            return None
        entity["url"] = href
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    elif kind == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif kind == "code" and attrs.get("class", "").startswith("language-"):
        entity["language"] = attrs["class"].removeprefix("language-")
    elif kind == "pre":
        # <pre><code class="language-x">..</code></pre> becomes one pre entity with a language.
        for index, inner in enumerate(entities):
            if (
                inner["type"] == "code"
                and inner["offset"] == offset
                and inner["length"] == length
                and "language" in inner
            ):
                entity["language"] = inner["language"]
                del entities[index]
                break
    return entity


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_CLOSERS = {
    "bold": "*",
    "italic": "_",
    "underline": "__",
    "strikethrough": "~",
    "spoiler": "||",
    "code": "`",
    "pre": "```",
    "text_link": "]",
    "custom_emoji": "]",
}
_TDLIB_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


@dataclass(slots=True)
class _MdEntity:
    kind: str
    offset: int
    byte_index: int
    argument: str = ""


def _md_reserved(c: str) -> EntityParseError:
    return EntityParseError(
        f"Character '{c}' is reserved and must be escaped with the preceding '\\'"
    )


def parse_markdown_v2(text: str) -> tuple[str, tuple[JsonDict, ...]]:
    """Parse MarkdownV2 into plain text and entities, with tdlib's error messages.

    Args:
        text: The text as sent with ``parse_mode=MarkdownV2``.

    Returns:
        The plain text and its entities.

    Raises:
        EntityParseError: On an unescaped reserved character or an unclosed entity.
    """
    out: list[str] = []
    u16 = 0
    stack: list[_MdEntity] = []
    entities: list[JsonDict] = []
    quote_start: int | None = None
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "\\" and nxt and 0 < ord(nxt) <= 126:
            out.append(nxt)
            u16 += 1
            i += 2
            continue
        in_code = bool(stack) and stack[-1].kind in ("code", "pre")
        at_line_start = i == 0 or text[i - 1] == "\n"
        if c == ">" and at_line_start and not stack:
            # A quoted line: '>' is markup, the quote spans consecutive quoted lines.
            if quote_start is None:
                quote_start = u16
            i += 1
            continue
        if c not in _MDV2_RESERVED or (in_code and c != "`"):
            out.append(c)
            u16 += utf16_len(c)
            if c == "\n" and quote_start is not None and not text.startswith(">", i + 1):
                entities.append(
                    {"type": "blockquote", "offset": quote_start, "length": u16 - 1 - quote_start}
                )
                quote_start = None
            i += 1
            continue
        if stack and _md_closes(stack[-1].kind, text, i):
            i = _md_close(text, i, stack.pop(), entities, u16)
            continue
        i = _md_open(text, i, stack, u16)
    if stack:
        top = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_TDLIB_TYPE_NAMES[top.kind]} entity at byte offset "
            f"{_byte_offset(text, top.byte_index)}"
        )
    if quote_start is not None and u16 > quote_start:
        entities.append({"type": "blockquote", "offset": quote_start, "length": u16 - quote_start})
    return "".join(out), _sorted_entities([e for e in entities if e["length"] > 0])


def _md_closes(kind: str, text: str, i: int) -> bool:
    c = text[i]
    if kind == "italic":
        return c == "_" and not text.startswith("__", i)
    return text.startswith(_MDV2_CLOSERS[kind], i)


def _md_open(text: str, i: int, stack: list[_MdEntity], u16: int) -> int:
    c = text[i]
    start = i
    argument = ""
    if c == "_":
        kind = "underline" if text.startswith("__", i) else "italic"
        i += 2 if kind == "underline" else 1
    elif c == "*":
        kind, i = "bold", i + 1
    elif c == "~":
        kind, i = "strikethrough", i + 1
    elif c == "|" and text.startswith("||", i):
        kind, i = "spoiler", i + 2
    elif c == "[":
        kind, i = "text_link", i + 1
    elif c == "!" and text.startswith("![", i):
        kind, i = "custom_emoji", i + 2
    elif c == "`" and text.startswith("```", i):
        kind = "pre"
        i += 3
        lang_end = i
        while lang_end < len(text) and not text[lang_end].isspace() and text[lang_end] != "`":
            lang_end += 1
        if lang_end != i and lang_end < len(text) and text[lang_end] != "`":
            argument = text[i:lang_end]
            i = lang_end
        if text.startswith(("\r\n", "\n\r"), i):
            i += 2
        elif text.startswith(("\n", "\r"), i):
            i += 1
    elif c == "`":
        kind, i = "code", i + 1
    else:
        raise _md_reserved(c)
    stack.append(_MdEntity(kind, u16, start, argument))
    return i


def _md_close(text: str, i: int, top: _MdEntity, entities: list[JsonDict], u16: int) -> int:
    entity: JsonDict = {"type": top.kind, "offset": top.offset, "length": u16 - top.offset}
    i += len(_MDV2_CLOSERS[top.kind])
    if top.kind == "pre" and top.argument:
        entity["language"] = top.argument
    elif top.kind in ("text_link", "custom_emoji"):
        if not text.startswith("(", i):
            if top.kind == "custom_emoji":
                raise EntityParseError(
                    f"Custom emoji entity must contain a tg://emoji URL at byte offset "
                    f"{_byte_offset(text, i)}"
                )
            return i
        url_start = i + 1
        url: list[str] = []
        i += 1
        while i < len(text) and text[i] != ")":
            if text[i] == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) <= 126:
                url.append(text[i + 1])
                i += 2
                continue
            url.append(text[i])
            i += 1
        if i >= len(text):
            raise EntityParseError(
                f"Can't find end of a URL at byte offset {_byte_offset(text, url_start)}"
            )
        i += 1
        target = "".join(url)
        if top.kind == "text_link":
            entity["url"] = target
        else:
            entity["custom_emoji_id"] = target.partition("id=")[2]
    entities.append(entity)
    return i


_MD_LEGACY_KINDS = {"*": "bold", "_": "italic", "`": "code", "[": "text_link"}


def parse_markdown(text: str) -> tuple[str, tuple[JsonDict, ...]]:
    """Parse legacy Markdown (``parse_mode=Markdown``) into plain text and entities.

    Args:
        text: The text as sent.

    Returns:
        The plain text and its entities.

    Raises:
        EntityParseError: When an entity is not closed.
    """
    out: list[str] = []
    u16 = 0
    entities: list[JsonDict] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            u16 += 1
            i += 2
            continue
        if c not in _MD_LEGACY_KINDS:
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        begin = i
        kind = _MD_LEGACY_KINDS[c]
        end_char = "]" if c == "[" else c
        i += 1
        if text.startswith("``", i) and c == "`":
            kind = "pre"
            i += 2
            close = text.find("```", i)
        else:
            close = text.find(end_char, i)
        if close < 0:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        inner = text[i:close]
        offset = u16
        out.append(inner)
        u16 += utf16_len(inner)
        i = close + (3 if kind == "pre" else 1)
        entity: JsonDict = {"type": kind, "offset": offset, "length": u16 - offset}
        if kind == "text_link":
            if not text.startswith("(", i):
                continue
            url_end = text.find(")", i)
            if url_end < 0:
                continue
            entity["url"] = text[i + 1 : url_end]
            i = url_end + 1
        if entity["length"] > 0:
            entities.append(entity)
    return "".join(out), _sorted_entities(entities)
