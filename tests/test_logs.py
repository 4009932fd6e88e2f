"""Personal numbers never reach a log line, whatever logger writes it."""

from __future__ import annotations

import io
import logging

import pytest

from bot.logs import PersonalDataFilter, scrub


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nik 6311014508900002 typed", "nik [NIK] typed"),
        ("nik 6311 0145 0890 0002", "nik [NIK]"),
        ("nik 63.11.01.450890.0002", "nik [NIK]"),
        ("phone +6281234567890 ok", "phone [PHONE] ok"),
        ("phone 0812-3456-7890", "phone [PHONE]"),
        ("phone 6281234567890", "phone [PHONE]"),
        ("update 10001 chat 1001", "update 10001 chat 1001"),
    ],
)
def test_scrub(raw: str, expected: str) -> None:
    assert scrub(raw) == expected


def test_filter_masks_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PersonalDataFilter())
    logger = logging.getLogger("test.scrub")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("bad input %s from %s", "6311014508900002", "+6281234567890")
        try:
            raise ValueError("cannot parse 6311014508900002")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "6311014508900002" not in out
    assert "6281234567890" not in out
    assert "[NIK]" in out
    assert "[PHONE]" in out


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING"])
def test_library_loggers_never_quote_payloads_and_are_never_louder_than_asked(level: str) -> None:
    from bot.logs import NOISY_LOGGERS, PAYLOAD_LOGGERS, configure

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    names = [*PAYLOAD_LOGGERS, *NOISY_LOGGERS]
    levels = {name: logging.getLogger(name).level for name in names}
    try:
        configure(level)
        asked = logging.getLevelName(level)
        for name, ceiling in PAYLOAD_LOGGERS.items():
            effective = logging.getLogger(name).getEffectiveLevel()
            assert effective == max(ceiling, asked), name
        # SQL statements are never logged, not even at LOG_LEVEL=DEBUG.
        assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
        assert not logging.getLogger("telegram.ext.ExtBot").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)
