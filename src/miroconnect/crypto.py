"""Encryption at rest for stored secrets: AES-256-GCM with a key id per ciphertext.

A ciphertext is the text `mc1.<key id>.<base64url(nonce || ciphertext+tag)>`. The key id says
which configured key opens it, so keys can be rotated online: new writes use the primary key,
old rows keep opening with the old key until `miroconnect keys rotate` re-encrypts them.

The caller passes *associated data* naming the row and the field (`connection/<id>/access`):
GCM authenticates it, so a ciphertext copied to another row or field does not decrypt.

```python
keys = KeyRing.parse("k2:...,k1:...")  # first = primary
cipher = TokenCipher(keys)
blob = cipher.encrypt("secret", associated_data=b"connection/42/access")
cipher.decrypt(blob, associated_data=b"connection/42/access")  # "secret"
```

This module is pure: it knows nothing of the database.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from miroconnect.errors import (
    ConfigurationError,
    DecryptionError,
    EncryptionKeyNotFoundError,
)

__all__ = ["KeyRing", "TokenCipher", "generate_key", "key_id_of"]

_PREFIX = "mc1"
_NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_key(key_id: str) -> str:
    """A new `key_id:base64url(32 random bytes)` entry for `MIROCONNECT_ENCRYPTION_KEYS`."""
    if not _KEY_ID.match(key_id):
        raise ConfigurationError(
            "a key id is 1-32 characters of letters, digits, '-' or '_'"
        )
    return f"{key_id}:{_b64encode(secrets.token_bytes(32))}"


@dataclass(frozen=True)
class KeyRing:
    """The configured keys by id; `primary` encrypts, every key decrypts.

    Build it with `KeyRing.parse(settings.encryption_keys.get_secret_value())`.
    """

    primary: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.primary not in self.keys:
            raise ConfigurationError(
                "the primary encryption key is not in the key ring"
            )

    @classmethod
    def parse(cls, value: str) -> KeyRing:
        """Parse comma-separated `key_id:base64url-32-bytes` pairs; the first is primary.

        Errors name the setting and the key id, never the key material.
        """
        entries = [part.strip() for part in value.split(",") if part.strip()]
        if not entries:
            raise ConfigurationError(
                "MIROCONNECT_ENCRYPTION_KEYS is empty: generate a key with "
                "`miroconnect keys generate`"
            )
        keys: dict[str, bytes] = {}
        for entry in entries:
            key_id, sep, material = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not _KEY_ID.match(key_id):
                raise ConfigurationError(
                    "MIROCONNECT_ENCRYPTION_KEYS: each entry is `key_id:base64url-key` "
                    "with a key id of letters, digits, '-' or '_'"
                )
            if key_id in keys:
                raise ConfigurationError(
                    f"MIROCONNECT_ENCRYPTION_KEYS: key id {key_id!r} appears twice"
                )
            try:
                raw = _b64decode(material.strip())
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ConfigurationError(
                    f"MIROCONNECT_ENCRYPTION_KEYS: key {key_id!r} is not 32 bytes "
                    "of base64url (AES-256)"
                )
            keys[key_id] = raw
        return cls(primary=next(iter(keys)), keys=keys)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every configured key id, primary first."""
        return tuple(self.keys)


def key_id_of(ciphertext: str) -> str:
    """The key id a ciphertext was written with (no key needed)."""
    prefix, _, rest = ciphertext.partition(".")
    key_id, sep, _ = rest.partition(".")
    if prefix != _PREFIX or not sep or not key_id:
        raise DecryptionError("<malformed>")
    return key_id


class TokenCipher:
    """Encrypts and decrypts secrets with the key ring; see the module docstring."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys
        self._aead = {kid: AESGCM(material) for kid, material in keys.keys.items()}

    @property
    def primary_key_id(self) -> str:
        """The key id new ciphertexts are written with."""
        return self._keys.primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id this cipher can decrypt, primary first."""
        return self._keys.key_ids

    def encrypt(self, plaintext: str, *, associated_data: bytes) -> str:
        """Encrypt `plaintext` under the primary key, bound to `associated_data`."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[self._keys.primary].encrypt(
            nonce, plaintext.encode("utf-8"), associated_data
        )
        return f"{_PREFIX}.{self._keys.primary}.{_b64encode(nonce + sealed)}"

    def decrypt(self, ciphertext: str, *, associated_data: bytes) -> str:
        """Decrypt a ciphertext written by `encrypt` with the same associated data.

        Raises `EncryptionKeyNotFoundError` naming the key id when that key is not
        configured, and `DecryptionError` when the key is wrong or the ciphertext was
        altered or moved to another row.
        """
        key_id = key_id_of(ciphertext)
        aead = self._aead.get(key_id)
        if aead is None:
            raise EncryptionKeyNotFoundError(key_id)
        try:
            blob = _b64decode(ciphertext.rsplit(".", 1)[1])
            opened = aead.decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], associated_data
            )
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptionError(key_id) from exc
        return opened.decode("utf-8")

    def needs_rotation(self, ciphertexts: Iterable[str]) -> bool:
        """Whether any of these ciphertexts is not under the primary key."""
        return any(key_id_of(c) != self._keys.primary for c in ciphertexts)
