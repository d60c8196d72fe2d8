"""miroconnect: connect a web app's users to Miro.

The library surface is listed in `__all__`; `tests/test_exported_members.py` keeps it
honest.
"""

from __future__ import annotations

from miroconnect.errors import (
    AuthorizationError,
    ConfigurationError,
    CryptoError,
    DecryptionError,
    EncryptionKeyNotFoundError,
    MiroAPIError,
    MiroConnectError,
    MiroTransportError,
    NotConnectedError,
    ReauthorizationRequiredError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
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
