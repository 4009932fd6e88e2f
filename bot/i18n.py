"""Translations and locale-aware formatting.

The gettext catalogs under ``locales/<lang>/LC_MESSAGES/messages.po`` are compiled in memory when the
application is built (no ``.mo`` build step a deploy could forget). Handlers receive a
:class:`Translator` for the user's language and call ``t("English msgid {name}", name=value)``: the
msgid is translated first and the named placeholders are filled afterwards, with every value
HTML-escaped unless it is wrapped in :class:`Html` (the bot speaks ``parse_mode=HTML``).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

DOMAIN = "messages"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
#: Keys in ``bot/data/*.toml`` whose string values are English msgids read by users.
DATA_MSGID_KEYS = ("label",)
DATA_MSGID_SUFFIXES = ("_label", "_text")


def N_(msgid: str) -> str:
    """Mark a string for extraction without translating it (translated later, per user)."""
    return msgid


class Html(str):
    """A string that is already safe HTML and must not be escaped again when formatted in."""

    __slots__ = ()


def escape(value: object) -> str:
    """Escape a user-supplied value for Telegram's HTML parse mode."""
    if isinstance(value, Html):
        return value
    return html.escape(str(value), quote=False)


@dataclass(frozen=True, slots=True)
class Translator:
    """Translations and formatting for one language."""

    language: str
    translations: Translations
    locale: Locale

    def __call__(self, msgid: str, /, **values: object) -> str:
        """Translate ``msgid`` and fill its named placeholders with escaped values."""
        text = self.translations.gettext(msgid)
        return text.format(**{k: escape(v) for k, v in values.items()}) if values else text

    def t(self, msgid: str, /, **values: object) -> str:
        """Alias of calling the translator (reads better as ``ctx.t(...)``)."""
        return self(msgid, **values)

    def n(self, singular: str, plural: str, count: int, /, **values: object) -> str:
        """Translate a message with a count; ``{count}`` is available as a placeholder."""
        text = self.translations.ngettext(singular, plural, count)
        values.setdefault("count", self.number(count))
        return text.format(**{k: escape(v) for k, v in values.items()})

    def raw(self, msgid: str) -> str:
        """Translate without formatting (for texts that contain literal braces)."""
        return self.translations.gettext(msgid)

    def money(self, amount: int | float) -> str:
        """Format rupiah with the locale's grouping: ``Rp16.800`` (id), ``Rp16,800`` (en).

        The symbol is always "Rp" (what Indonesians read, even in the English interface); Indonesian
        uses babel's own currency pattern, which yields exactly that.
        """
        if self.language == "id":
            return format_currency(
                amount, "IDR", format="¤#,##0", currency_digits=False, locale=self.locale
            ).replace("\xa0", "")
        return "Rp" + format_decimal(amount, format="#,##0", locale=self.locale)

    def number(self, value: int | float) -> str:
        """Format a number with the locale's separators (``1.234.567``)."""
        return format_decimal(value, locale=self.locale)

    def date(self, value: dt.date) -> str:
        """Format a date in words: ``7 Oktober 2025`` / ``October 7, 2025``."""
        return format_date(value, format="long", locale=self.locale)

    def short_date(self, value: dt.date) -> str:
        """Format a date compactly: ``07/10/25``."""
        return format_date(value, format="short", locale=self.locale)

    def time(self, value: dt.datetime) -> str:
        """Format a clock time: ``14.05``."""
        return format_time(value, format="short", locale=self.locale)

    def datetime(self, value: dt.datetime) -> str:
        """Format a date with its time: ``7 Oktober 2025 14.05``."""
        return format_datetime(value, format="d MMMM y HH.mm", locale=self.locale)


class Catalogs:
    """All compiled catalogs, one :class:`Translator` per supported language."""

    __slots__ = ("_default", "_translators")

    def __init__(self, translators: Mapping[str, Translator], default: str) -> None:
        self._translators = dict(translators)
        self._default = default

    @classmethod
    def load(cls, locales_dir: Path = LOCALES_DIR, *, default: str = "id") -> Catalogs:
        """Compile every ``<lang>/LC_MESSAGES/messages.po`` under ``locales_dir`` in memory."""
        translators: dict[str, Translator] = {}
        for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            language = po_path.parent.parent.name
            with po_path.open("rb") as fh:
                catalog = read_po(fh, locale=language)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            translators[language] = Translator(
                language=language,
                translations=Translations(buffer, domain=DOMAIN),
                locale=Locale.parse(language),
            )
        if default not in translators:
            raise FileNotFoundError(
                f"no catalog for the default language {default!r} in {locales_dir}"
            )
        return cls(translators, default)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages that have a catalog."""
        return tuple(self._translators)

    @property
    def default(self) -> Translator:
        """The translator of the default language."""
        return self._translators[self._default]

    def get(self, language: str | None) -> Translator:
        """The translator for ``language``, or the default one."""
        if language and language in self._translators:
            return self._translators[language]
        return self._translators[self._default]


def extract_data_toml(
    fileobj: IO[bytes], keywords: object, comment_tags: object, options: object
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor for ``bot/data/*.toml``: yields the English msgids that users will read.

    Registered in ``pyproject.toml`` (``[[tool.babel.mappings]]``); strings under a key named ``label``
    or ending in ``_label`` / ``_text`` are user-visible and therefore belong in the catalogs.
    """
    raw = fileobj.read()
    data = tomllib.loads(raw.decode("utf-8"))
    lines = raw.decode("utf-8").splitlines()

    def line_of(text: str) -> int:
        needle = text.replace("\\", "\\\\").replace('"', '\\"').split("\n", 1)[0]
        for number, line in enumerate(lines, start=1):
            if needle in line:
                return number
        return 0

    def walk(node: Any, key: str = "") -> Iterator[str]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, k)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, key)
        elif isinstance(node, str) and (
            key in DATA_MSGID_KEYS or key.endswith(DATA_MSGID_SUFFIXES)
        ):
            yield node

    for text in walk(data):
        yield line_of(text), "", text, []
