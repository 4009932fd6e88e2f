"""Encryption at rest for personal data (NIK, phone, names, birth dates).

* **Authenticated encryption**: AES-256-GCM from the ``cryptography`` package. A stored value is
  ``v1.<key id>.<base64(nonce + ciphertext + tag)>``; the key id says which key of the ring encrypted it,
  so keys can be rotated (``python -m bot rotate-key``) while old rows stay readable.
* **Blind index**: an HMAC-SHA256 of the normalised value under a separate index key, stored beside the
  ciphertext, so exact lookups and uniqueness (one submission per NIK) work without decrypting anything.
* **Where the keys live**: a :class:`KeyRing` is attached to the engine's dialect by
  :class:`storage.db.Database`; :class:`Encrypted` columns find it there when SQLAlchemy binds or reads a
  value. Nothing is global: two databases with different keys can live in one process (tests do).

``DATA_KEY`` holds one or more base64 keys separated by commas, the first one current. The index key is
``DATA_INDEX_KEY`` when set, otherwise derived from the *last* key of the ring (the oldest), so adding a
new key in front for rotation does not change any index.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String, Text, event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field

PREFIX = "v1"
#: Length of a blind index (hex HMAC-SHA256).
INDEX_LENGTH = 64
NONCE_BYTES = 12
DIALECT_ATTRIBUTE = "jamsostek_keyring"
#: ``Column.info`` key of a blind-index column: ``(plaintext column, to_text function or None)``.
INDEX_INFO = "blind_index_of"
#: ``Column.info`` key of a column holding another index column's value, or NULL while a status
#: column holds a given value: ``(index column, status column, status value)``.
INDEX_COPY_INFO = "blind_index_copy_of"
#: ``Column.info`` key of a column holding the first characters of another: ``(column, length)``.
PREFIX_INFO = "prefix_of"
#: Every ``Column.info`` key marking a derived column.
DERIVED_INFO = frozenset({INDEX_INFO, INDEX_COPY_INFO, PREFIX_INFO})


class CryptoError(ValueError):
    """A key is malformed, missing, or a value cannot be decrypted with the ring."""


def generate_key() -> str:
    """A new random 256-bit key, base64-encoded (what ``DATA_KEY`` holds)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (ValueError, TypeError):
        raise CryptoError("a data key is not valid base64") from None
    if len(raw) != 32:
        raise CryptoError(f"a data key must be 32 bytes (got {len(raw)})")
    return raw


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The data keys (current first) and the blind-index key."""

    keys: tuple[tuple[str, bytes], ...]
    index_key: bytes
    #: One AES-GCM object per key id, built once (constructing one costs more than sealing a NIK).
    _ciphers: dict[str, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ciphers", {kid: AESGCM(key) for kid, key in self.keys})

    @classmethod
    def from_text(cls, data_key: str, index_key: str | None = None) -> KeyRing:
        """Build from ``DATA_KEY`` (comma-separated base64 keys) and optional ``DATA_INDEX_KEY``."""
        raw = [_decode_key(part) for part in data_key.split(",") if part.strip()]
        if not raw:
            raise CryptoError("DATA_KEY holds no key")
        index = _decode_key(index_key) if index_key else _derive(raw[-1], b"blind-index")
        return cls(tuple((_key_id(k), k) for k in raw), index)

    @classmethod
    def load_or_create(cls, path: Path) -> KeyRing:
        """Read a key file, creating it (mode 0600) with a fresh key when missing.

        Used when ``DATA_KEY`` is not set (local runs, the playground): production sets ``DATA_KEY``.
        """
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(generate_key() + "\n")
        return cls.from_text(path.read_text().strip())

    @property
    def current_id(self) -> str:
        """Id of the key new values are encrypted with."""
        return self.keys[0][0]

    def encrypt(self, plaintext: str) -> str:
        """Encrypt with the current key."""
        kid = self.keys[0][0]
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, plaintext.encode(), kid.encode())
        return f"{PREFIX}.{kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str) -> str:
        """Decrypt a value written by :meth:`encrypt` with any key of the ring."""
        try:
            prefix, kid, body = token.split(".", 2)
        except ValueError:
            raise CryptoError("not an encrypted value") from None
        if prefix != PREFIX:
            raise CryptoError("unknown encryption format")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise CryptoError(
                f"no key {kid} in DATA_KEY (was it removed before rotation finished?)"
            )
        raw = base64.urlsafe_b64decode(body)
        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kid.encode()).decode()
        except InvalidTag:
            raise CryptoError("value was tampered with or encrypted with another key") from None

    def key_id_of(self, token: str) -> str:
        """The id of the key that encrypted ``token``."""
        return token.split(".", 2)[1]

    def index(self, value: str) -> str:
        """The blind index of ``value`` (hex HMAC-SHA256)."""
        return hmac.new(self.index_key, value.encode(), hashlib.sha256).hexdigest()


def attach(dialect: Dialect, ring: KeyRing) -> None:
    """Make ``ring`` the key ring of every :class:`Encrypted` column used through ``dialect``."""
    setattr(dialect, DIALECT_ATTRIBUTE, ring)


def ring_of(dialect: Dialect) -> KeyRing:
    """The key ring attached to ``dialect``."""
    ring = getattr(dialect, DIALECT_ATTRIBUTE, None)
    if ring is None:
        raise CryptoError("no key ring attached to this database (Database(..., keyring=...))")
    return ring


class Sealed(TypeDecorator[Any]):
    """Base of the encrypted column types: a value is turned into text, then encrypted."""

    impl = Text
    cache_ok = True

    def dump(self, value: Any) -> str:
        """The text stored (encrypted) for ``value``."""
        return str(value)

    def load(self, text: str) -> Any:
        """The Python value of decrypted ``text``."""
        return text

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return ring_of(dialect).encrypt(self.dump(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return self.load(ring_of(dialect).decrypt(value))


class Encrypted(Sealed):
    """A text column stored encrypted; reads and writes plain ``str`` in Python."""

    cache_ok = True


class EncryptedDate(Sealed):
    """A date (a birth date) stored encrypted as its ISO text; reads and writes ``date``."""

    cache_ok = True

    def dump(self, value: date) -> str:
        return value.isoformat()

    def load(self, text: str) -> date:
        return date.fromisoformat(text)


class EncryptedJSON(Sealed):
    """A JSON document stored encrypted (conversation scratch answers, replies awaiting sending).

    Like SQLAlchemy's ``JSON`` without mutation tracking: assign a new value to change it.
    """

    cache_ok = True

    def dump(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def load(self, text: str) -> Any:
        return json.loads(text)


def birth_date_token(value: date) -> str:
    """What the blind index of a birth date is computed over (kept apart from NIK indexes)."""
    return f"birth:{value.isoformat()}"


def blind_index_field(
    source: str, *, to_text: Callable[[Any], str] | None = None, primary_key: bool = False
) -> Any:
    """A model field holding the blind index of the column ``source``.

    Indexed (or the primary key); kept in step by :func:`maintain_derived_columns`.
    """
    extra: dict[str, Any] = {"primary_key": True} if primary_key else {"default": None}
    return Field(
        sa_type=String(INDEX_LENGTH),
        index=not primary_key,
        sa_column_kwargs={"info": {INDEX_INFO: (source, to_text)}},
        **extra,
    )


def derived_values(ring: KeyRing, table: Any, row: Mapping[str, Any]) -> dict[str, Any]:
    """The blind indexes and other derived columns of ``table`` for the plaintext ``row``.

    Columns say what they derive from in ``Column.info``: :data:`INDEX_INFO` (blind index of a
    column), :data:`PREFIX_INFO` (its first characters) and :data:`INDEX_COPY_INFO` (another
    index column's value, NULL while a status column holds a given value). Only columns whose
    sources are in ``row`` are returned, so a partial row gives a partial answer.
    """
    out: dict[str, Any] = {}
    for column in table.columns:
        if INDEX_INFO in column.info:
            source, to_text = column.info[INDEX_INFO]
            if source in row:
                value = row[source]
                out[column.name] = (
                    None
                    if value is None
                    else ring.index(to_text(value) if to_text is not None else str(value))
                )
        elif PREFIX_INFO in column.info:
            source, length = column.info[PREFIX_INFO]
            if source in row:
                value = row[source]
                out[column.name] = None if value is None else str(value)[:length]
    for column in table.columns:
        if INDEX_COPY_INFO in column.info:
            index_name, status_name, null_when = column.info[INDEX_COPY_INFO]
            if status_name in row and (index_name in out or index_name in row):
                copied = out[index_name] if index_name in out else row[index_name]
                out[column.name] = None if row[status_name] == null_when else copied
    return out


def derived_sources(table: Any) -> frozenset[str]:
    """The columns :func:`derived_values` reads for ``table``."""
    names: set[str] = set()
    for column in table.columns:
        if INDEX_INFO in column.info:
            names.add(column.info[INDEX_INFO][0])
        elif PREFIX_INFO in column.info:
            names.add(column.info[PREFIX_INFO][0])
        elif INDEX_COPY_INFO in column.info:
            names.update(column.info[INDEX_COPY_INFO][:2])
    return frozenset(names)


def maintain_derived_columns(model: type) -> None:
    """Keep ``model``'s derived columns (:func:`derived_values`) in step on every ORM flush.

    Core ``INSERT``/``UPDATE`` statements bypass this: their callers add
    :func:`derived_values` themselves.
    """
    table = model.__table__  # type: ignore[attr-defined]
    sources = derived_sources(table)

    def refresh(_mapper: Any, connection: Connection, target: Any) -> None:
        row = {name: getattr(target, name) for name in sources}
        for name, value in derived_values(ring_of(connection.dialect), table, row).items():
            setattr(target, name, value)

    event.listen(model, "before_insert", refresh)
    event.listen(model, "before_update", refresh)
