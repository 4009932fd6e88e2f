"""An aiohttp implementation of python-telegram-bot's ``BaseRequest``.

python-telegram-bot's default ``HTTPXRequest`` spends a large share of the bot's CPU inside httpx.
This transport uses one shared aiohttp session with keep-alive and a bounded connection pool; it is the
default (``BOT_TRANSPORT=aiohttp``) and ``BOT_TRANSPORT=httpx`` switches back to the stock client.

Requests without files go out as one JSON body. :meth:`AiohttpRequest.post_json` additionally lets
the reply sender (:mod:`bot.delivery`) call the Bot API with a ready-made JSON payload, skipping the
parameter objects python-telegram-bot builds for each call and the ``Message`` it builds from each
answer (a third of the cost of a send; see the README's "Performance" section).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData

_JSON_HEADERS = {"Content-Type": "application/json"}


class AiohttpRequest(BaseRequest):
    """``BaseRequest`` over a single ``aiohttp.ClientSession``."""

    __slots__ = (
        "_connect_timeout",
        "_default_timeout",
        "_limit",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
    ) -> None:
        self._limit = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._default_timeout: aiohttp.ClientTimeout | None = None

    def _timeout(
        self,
        read_timeout: ODVInput[float],
        write_timeout: ODVInput[float],
        connect_timeout: ODVInput[float],
    ) -> aiohttp.ClientTimeout:
        defaults = (
            isinstance(read_timeout, DefaultValue)
            and isinstance(write_timeout, DefaultValue)
            and isinstance(connect_timeout, DefaultValue)
        )
        if defaults and self._default_timeout is not None:
            return self._default_timeout
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        write = self._write_timeout if isinstance(write_timeout, DefaultValue) else write_timeout
        # The whole request must finish within connect + write + read time.
        total = None if read is None else read + (connect or 0) + (write or 0)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect)
        if defaults:
            self._default_timeout = timeout  # the common case: build it once
        return timeout

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the shared session (idempotent)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        """Close the shared session (idempotent)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make one HTTP request; map aiohttp's errors onto PTB's ``TimedOut``/``NetworkError``."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout)
        data: Any = None
        headers: dict[str, str] | None = None
        if request_data is not None:
            if request_data.contains_files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                files = request_data.multipart_data
                for name, (filename, content, mime) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mime)
                data = form
            else:
                # One JSON body with nested objects: cheaper than PTB's per-value JSON strings
                # that are then form-encoded (urlencode showed up in profiles), and the Bot API
                # accepts it for every method without files.
                data = json.dumps(request_data.parameters, ensure_ascii=False).encode()
                headers = _JSON_HEADERS
        try:
            async with self._session.request(
                method, url, data=data, timeout=timeout, headers=headers
            ) as resp:
                return resp.status, await resp.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err

    async def post_json(self, url: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` as JSON and return the answer's ``result``.

        Errors are raised as python-telegram-bot's ``Bot`` raises them (``RetryAfter``,
        ``Forbidden``, ``BadRequest``, ``TimedOut``, ``NetworkError``...), so callers handle both
        paths alike.
        """
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = self._timeout(
            BaseRequest.DEFAULT_NONE, BaseRequest.DEFAULT_NONE, BaseRequest.DEFAULT_NONE
        )
        body = json.dumps(payload, ensure_ascii=False).encode()
        try:
            async with self._session.post(
                url, data=body, timeout=timeout, headers=_JSON_HEADERS
            ) as resp:
                status, raw = resp.status, await resp.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err
        try:
            answer = json.loads(raw)
        except ValueError as err:
            raise NetworkError(f"invalid answer from the Bot API (HTTP {status})") from err
        if not isinstance(answer, dict):
            raise NetworkError(f"invalid answer from the Bot API (HTTP {status})")
        if 200 <= status <= 299:
            return answer.get("result")
        raise api_error(status, answer)


def api_error(status: int, answer: dict[str, Any]) -> TelegramError:
    """The exception python-telegram-bot raises for a failed Bot API answer (the same mapping)."""
    try:
        message = f"{HTTPStatus(status).phrase} ({status})"
    except ValueError:
        message = f"Unknown HTTPError ({status})"
    message = str(answer.get("description") or message)
    parameters = answer.get("parameters") or {}
    if parameters.get("migrate_to_chat_id"):
        return ChatMigrated(int(parameters["migrate_to_chat_id"]))
    if parameters.get("retry_after"):
        return RetryAfter(int(parameters["retry_after"]))
    if status == HTTPStatus.FORBIDDEN:
        return Forbidden(message)
    if status in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        return InvalidToken(message)
    if status == HTTPStatus.BAD_REQUEST:
        return BadRequest(message)
    if status == HTTPStatus.CONFLICT:
        return Conflict(message)
    return NetworkError(message)
