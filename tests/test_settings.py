"""Settings: read once from the environment; every bad value named in one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import Settings, SettingsError

GOOD = {"TELEGRAM_BOT_TOKEN": "123456:ABC-def"}


def test_defaults() -> None:
    s = Settings.from_env(GOOD)
    assert s.api_url == "https://api.telegram.org"
    assert s.database_url == "sqlite+aiosqlite:///data/jamsostek.sqlite3"
    assert s.default_language == "id"
    assert s.webhook_url is None
    assert s.admin_ids == frozenset()
    assert (s.min_age, s.max_age) == (15, 65)


def test_token_is_not_in_repr() -> None:
    s = Settings.from_env(
        {**GOOD, "WEBHOOK_URL": "https://x.example/hook", "WEBHOOK_SECRET": "s3"}
    )
    assert "ABC-def" not in repr(s)
    assert "s3" not in repr(s)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///tmp/x.db", "sqlite+aiosqlite:///tmp/x.db"),
    ],
)
def test_database_url_is_mapped_to_async_driver(raw: str, expected: str) -> None:
    assert Settings.from_env({**GOOD, "DATABASE_URL": raw}).database_url == expected


def test_plain_http_webhook_only_on_loopback() -> None:
    env = {**GOOD, "WEBHOOK_SECRET": "a"}
    s = Settings.from_env({**env, "WEBHOOK_URL": "http://127.0.0.1:8443/tg"})
    assert s.webhook_url == "http://127.0.0.1:8443/tg"
    with pytest.raises(SettingsError, match="WEBHOOK_URL"):
        Settings.from_env({**env, "WEBHOOK_URL": "http://bot.example.org/tg"})


def test_values_are_parsed() -> None:
    s = Settings.from_env(
        {
            **GOOD,
            "BOT_API_URL": "http://127.0.0.1:8081/",
            "ADMIN_IDS": "1, 22,333",
            "WEBHOOK_URL": "https://bot.example.org/tg",
            "WEBHOOK_SECRET": "abc_DEF-1",
            "PORT": "9000",
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "debug",
            "DEFAULT_LANGUAGE": "en",
        }
    )
    assert s.api_url == "http://127.0.0.1:8081"
    assert s.admin_ids == frozenset({1, 22, 333})
    assert s.port == 9000
    assert s.log_level == "DEBUG"
    assert s.default_language == "en"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "nonsense"}, "TELEGRAM_BOT_TOKEN"),
        ({**GOOD, "ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({**GOOD, "PORT": "eighty"}, "PORT"),
        ({**GOOD, "PORT": "70000"}, "PORT"),
        ({**GOOD, "BOT_API_URL": "ftp://x"}, "BOT_API_URL"),
        ({**GOOD, "DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({**GOOD, "DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        (
            {**GOOD, "WEBHOOK_URL": "http://insecure.example/x", "WEBHOOK_SECRET": "a"},
            "WEBHOOK_URL",
        ),
        ({**GOOD, "WEBHOOK_URL": "https://x.example/hook"}, "WEBHOOK_SECRET"),
        ({**GOOD, "WEBHOOK_SECRET": "has space"}, "WEBHOOK_SECRET"),
        ({**GOOD, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({**GOOD, "DEFAULT_LANGUAGE": "fr"}, "DEFAULT_LANGUAGE"),
        ({**GOOD, "MIN_AGE": "70"}, "MIN_AGE"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert variable in str(err.value)
    assert "\n" not in str(err.value)


def _run_bot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_malformed_value_stops_startup_with_one_line_and_no_traceback() -> None:
    result = _run_bot({**GOOD, "PORT": "x"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Configuration error: PORT must be a whole number; got 'x'"
    ]
