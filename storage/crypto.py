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
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "v1"
NONCE_BYTES = 12
DIALECT_ATTRIBUTE = "jamsostek_keyring"


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
        kid, key = self.keys[0]
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), kid.encode())
        return f"{PREFIX}.{kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str) -> str:
        """Decrypt a value written by :meth:`encrypt` with any key of the ring."""
        try:
            prefix, kid, body = token.split(".", 2)
        except ValueError:
            raise CryptoError("not an encrypted value") from None
        if prefix != PREFIX:
            raise CryptoError("unknown encryption format")
        key = dict(self.keys).get(kid)
        if key is None:
            raise CryptoError(
                f"no key {kid} in DATA_KEY (was it removed before rotation finished?)"
            )
        raw = base64.urlsafe_b64decode(body)
        try:
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kid.encode()).decode()
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


class Encrypted(TypeDecorator[str]):
    """A text column stored encrypted; reads and writes plain ``str`` in Python."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return ring_of(dialect).encrypt(str(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return ring_of(dialect).decrypt(value)
