"""Configuration, read once from the environment at start-up.

Every variable is documented in the README's configuration table. A missing or malformed value raises
:class:`SettingsError`, whose message is one line naming the variable; ``python -m bot`` prints that
line and exits instead of showing a traceback.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_SQLITE_PATH = Path("data") / "jamsostek.sqlite3"
LANGUAGES = ("id", "en")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _ids(name: str, raw: str) -> frozenset[int]:
    ids: set[int] = set()
    for piece in raw.replace(";", ",").split(","):
        part = piece.strip()
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise SettingsError(f"{name} must be comma-separated Telegram user ids; got {part!r}")
        ids.add(int(part))
    return frozenset(ids)


def _int(env: Mapping[str, str], name: str, default: int, *, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number; got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}; got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, lo: float, hi: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number; got {raw!r}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}; got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false; got {raw!r}")


def _http_url(name: str, raw: str, *, https_only: bool = False) -> str:
    parts = urlsplit(raw)
    # Telegram only calls https webhooks; plain http is allowed for loopback (local tests, a proxy).
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    allowed = {"https"} if https_only and not loopback else {"http", "https"}
    if parts.scheme not in allowed or not parts.netloc:
        need = "an https:// URL" if https_only else "an http:// or https:// URL"
        raise SettingsError(f"{name} must be {need}; got {raw!r}")
    return raw.rstrip("/")


def _data_key(env: Mapping[str, str], name: str) -> str | None:
    from storage.crypto import CryptoError, KeyRing

    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        KeyRing.from_text(raw)
    except CryptoError as exc:
        raise SettingsError(
            f"{name} must be base64 32-byte keys separated by commas ({exc}); "
            "make one with: python -m bot genkey"
        ) from None
    return raw


def database_url(raw: str) -> str:
    """Map a user-facing database URL to the async SQLAlchemy driver URL.

    ``postgres://`` and ``postgresql://`` (what Heroku-style hosts hand out) become
    ``postgresql+asyncpg://``; ``sqlite:///path`` becomes ``sqlite+aiosqlite:///path``.
    """
    scheme, sep, rest = raw.partition("://")
    if not sep:
        raise SettingsError(
            f"DATABASE_URL must look like postgresql://... or sqlite:///...; got {raw!r}"
        )
    scheme = scheme.lower()
    if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        return f"postgresql+asyncpg://{rest}"
    if scheme in {"sqlite", "sqlite+aiosqlite"}:
        return f"sqlite+aiosqlite://{rest}"
    raise SettingsError(f"DATABASE_URL must be a PostgreSQL or SQLite URL; got scheme {scheme!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the bot is configured with; built once by :meth:`from_env`."""

    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}"
    admin_ids: frozenset[int] = frozenset()
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    host: str = "0.0.0.0"  # noqa: S104 - a web dyno must listen on all interfaces
    port: int = 8080
    log_level: str = "INFO"
    default_language: str = "id"
    min_age: int = 15
    max_age: int = 65
    concurrent_updates: int = 64
    transport: str = "aiohttp"
    playground_port: int = 8080
    broadcast_rate: float = 30.0
    facilitator_desa_policy: str = "refuse"
    data_key: str | None = field(default=None, repr=False)
    data_index_key: str | None = field(default=None, repr=False)
    draft_retention_days: int = 30
    flood_burst: int = 20
    flood_window_seconds: float = 10.0
    lookup_failures_per_hour: int = 5

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, require_token: bool = True) -> Settings:
        """Read and validate every setting from ``env`` (normally ``os.environ``).

        Raises:
            SettingsError: a value is missing or malformed; the message names the variable.
        """
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if require_token and not token:
            raise SettingsError("TELEGRAM_BOT_TOKEN is not set")
        if token and (":" not in token or not token.split(":", 1)[0].isdigit()):
            raise SettingsError(
                "TELEGRAM_BOT_TOKEN must look like 123456:ABC-DEF... (from @BotFather)"
            )

        webhook_url = env.get("WEBHOOK_URL", "").strip() or None
        if webhook_url:
            webhook_url = _http_url("WEBHOOK_URL", webhook_url, https_only=True)
        secret = env.get("WEBHOOK_SECRET", "").strip() or None
        if webhook_url and not secret:
            raise SettingsError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        if secret is not None and not (
            1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)
        ):
            raise SettingsError(
                "WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )

        level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if not isinstance(logging.getLevelName(level), int):
            raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR; got {level!r}")

        language = env.get("DEFAULT_LANGUAGE", "id").strip().lower() or "id"
        if language not in LANGUAGES:
            raise SettingsError(
                f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}; got {language!r}"
            )

        raw_db = env.get("DATABASE_URL", "").strip()
        db_url = database_url(raw_db) if raw_db else f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}"

        transport = env.get("BOT_TRANSPORT", "aiohttp").strip().lower() or "aiohttp"
        if transport not in {"aiohttp", "httpx"}:
            raise SettingsError(f"BOT_TRANSPORT must be aiohttp or httpx; got {transport!r}")
        policy = env.get("FACILITATOR_DESA_POLICY", "refuse").strip().lower() or "refuse"
        if policy not in {"refuse", "warn"}:
            raise SettingsError(f"FACILITATOR_DESA_POLICY must be refuse or warn; got {policy!r}")

        min_age = _int(env, "MIN_AGE", 15, lo=0, hi=120)
        max_age = _int(env, "MAX_AGE", 65, lo=0, hi=120)
        if min_age >= max_age:
            raise SettingsError(f"MIN_AGE must be below MAX_AGE; got {min_age} and {max_age}")

        return cls(
            token=token,
            api_url=_http_url(
                "BOT_API_URL", env.get("BOT_API_URL", "").strip() or DEFAULT_API_URL
            ),
            database_url=db_url,
            admin_ids=_ids("ADMIN_IDS", env.get("ADMIN_IDS", "")),
            webhook_url=webhook_url,
            webhook_secret=secret,
            host=env.get("HOST", "").strip() or "0.0.0.0",  # noqa: S104
            port=_int(env, "PORT", 8080, lo=1, hi=65535),
            log_level=level,
            default_language=language,
            min_age=min_age,
            max_age=max_age,
            concurrent_updates=_int(env, "CONCURRENT_UPDATES", 64, lo=1, hi=4096),
            transport=transport,
            playground_port=_int(env, "PLAYGROUND_PORT", 8080, lo=0, hi=65535),
            broadcast_rate=_float(env, "BROADCAST_RATE", 30.0, lo=0.1, hi=1000.0),
            facilitator_desa_policy=policy,
            data_key=_data_key(env, "DATA_KEY"),
            data_index_key=_data_key(env, "DATA_INDEX_KEY"),
            draft_retention_days=_int(env, "DRAFT_RETENTION_DAYS", 30, lo=1, hi=3650),
            flood_burst=_int(env, "FLOOD_BURST", 20, lo=1, hi=10_000),
            flood_window_seconds=_float(env, "FLOOD_WINDOW_SECONDS", 10.0, lo=0.1, hi=3600.0),
            lookup_failures_per_hour=_int(env, "LOOKUP_FAILURES_PER_HOUR", 5, lo=1, hi=1000),
        )

    def replace(self, **changes: object) -> Settings:
        """Return a copy with some fields changed (tests and the playground use this)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
