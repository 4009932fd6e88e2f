"""Logging set-up, done once by the command line, with personal data scrubbed from every record.

Handlers never log NIKs, phone numbers or names on purpose; the :class:`PersonalDataFilter` is the
safety net for what slips through anyway (an exception message quoting user input, a library logging
a request): 16-digit NIK-like numbers and Indonesian phone numbers are masked before a record is
written, whatever logger produced it.
"""

from __future__ import annotations

import logging
import re

#: 16 digits, possibly split by spaces, dots or dashes, not inside a longer number.
NIK_PATTERN = re.compile(r"(?<![\d])(?:\d[ .\-]?){15}\d(?![\d])")
#: +62 / 62 / 08 followed by 7-12 more digits (spaces or dashes allowed).
PHONE_PATTERN = re.compile(r"(?<![\d])(?:\+?62|0)8(?:[ \-]?\d){7,12}(?![\d])")


def scrub(text: str) -> str:
    """Mask NIK-like and phone-like numbers in ``text``."""
    text = NIK_PATTERN.sub("[NIK]", text)
    return PHONE_PATTERN.sub("[PHONE]", text)


class PersonalDataFilter(logging.Filter):
    """Rewrite each record's message (and exception text) with personal numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def configure(level: str) -> None:
    """Log to stderr at ``level``; keep HTTP client chatter (which would show the token) quiet."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PersonalDataFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quiet_libraries()


#: Libraries whose verbose lines quote what people typed: python-telegram-bot logs every Bot API
#: call with its parameters and every update it receives at DEBUG; the database drivers and
#: SQLAlchemy's engine log statements (with values) at DEBUG / INFO. A name cannot be recognised
#: by a pattern, so these are never more verbose than this, whatever ``LOG_LEVEL`` says.
PAYLOAD_LOGGERS = {
    "telegram": logging.INFO,
    "aiosqlite": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "asyncpg": logging.WARNING,
}
#: HTTP client chatter (request lines show the bot token) stays at WARNING.
NOISY_LOGGERS = ("httpx", "httpcore", "aiohttp.access")


def quiet_libraries() -> None:
    """Keep the loggers that would quote personal data or the token at their ceiling or above.

    A logger is raised to its ceiling, never lowered below the root level.
    """
    root = logging.getLogger().getEffectiveLevel()
    for name, ceiling in PAYLOAD_LOGGERS.items():
        logging.getLogger(name).setLevel(max(ceiling, root))
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root))
