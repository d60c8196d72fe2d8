"""Every error miroconnect raises, under one root.

The tree:

* MiroConnectError
  x ConfigurationError          settings missing or invalid
  x CryptoError
    + EncryptionKeyNotFoundError  a ciphertext names a key id that is not configured
    + DecryptionError             the key is there but the ciphertext does not open
  x AuthorizationError          the connect flow failed; `reason` is a stable code
    (leaves are added by `miroconnect.oauth`, one per reason)
  x ReauthorizationRequiredError  the connection is dead; send the user through consent
  x NotConnectedError           the user has no connection to Miro
  x MiroAPIError                Miro answered with an error (status, code, message)
  x MiroTransportError          Miro could not be reached, or the connection broke

Messages never contain a token, a code or a secret.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthorizationError",
    "ConfigurationError",
    "CryptoError",
    "DecryptionError",
    "EncryptionKeyNotFoundError",
    "MiroAPIError",
    "MiroConnectError",
    "MiroTransportError",
    "NotConnectedError",
    "ReauthorizationRequiredError",
]


class MiroConnectError(Exception):
    """The root of every error this package raises."""


class ConfigurationError(MiroConnectError):
    """A setting is missing or invalid; the message names the setting."""


class CryptoError(MiroConnectError):
    """Encrypting or decrypting a stored secret failed."""


class EncryptionKeyNotFoundError(CryptoError):
    """A ciphertext was written with a key id that is not in the configured keys."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"encryption key {key_id!r} is not configured "
            "(MIROCONNECT_ENCRYPTION_KEYS): add it back, "
            "or rotate before removing it"
        )
        self.key_id = key_id


class DecryptionError(CryptoError):
    """The key id is known but the ciphertext does not open: wrong key, or a row
    that was altered or moved."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"stored secret does not decrypt with key {key_id!r}: "
            "the key is wrong or the row was altered or moved"
        )
        self.key_id = key_id


class AuthorizationError(MiroConnectError):
    """The OAuth connect flow failed.

    `reason` is a short stable code (`state_expired`, `access_denied`, ...) that pages
    and API errors show, and that metrics count.
    """

    reason = "authorization_failed"


class ReauthorizationRequiredError(MiroConnectError):
    """Miro rejected the stored grant; the user must go through consent again."""

    def __init__(
        self, message: str = "the Miro connection must be authorized again"
    ) -> None:
        super().__init__(message)


class NotConnectedError(MiroConnectError):
    """The app user has no live connection to Miro."""


class MiroAPIError(MiroConnectError):
    """Miro answered with an HTTP error.

    Carries the HTTP `status_code`, Miro's error `code` and `message`, the optional
    `context` and the request id Miro sent, if any.
    """

    def __init__(
        self,
        status_code: int,
        code: str | None,
        message: str,
        *,
        context: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"Miro answered {status_code} {code or ''}: {message}".strip())
        self.status_code = status_code
        self.code = code
        self.message = message
        self.context = context
        self.request_id = request_id


class MiroTransportError(MiroConnectError):
    """Miro could not be reached, timed out, or dropped the connection."""
