"""miroconnect: connect a web app's users to Miro.

The library surface is listed in `__all__`; `tests/test_exported_members.py` keeps it
honest. The pieces, left to right in the order imports go:

* `Settings`: every setting, read from `MIROCONNECT_*` at the edge.
* `open_vault(settings)`: the database, the encrypted token store and the `TokenVault`
  (connections per app user, refresh single-flight across processes).
* `ConnectFlow`: the OAuth connect flow with a one-time state bound to the browser and the
  app user, carrying a `PendingAction` through consent.
* `MiroClient`: the typed async REST client over any `TokenSource`.
* `MiroActionRunner`: create, copy, share a board, exactly once per idempotency key.
* `miroconnect.web.create_app` / `connect_router`: the service and the mountable router;
  `miroconnect.emulator.create_emulator`: a fake Miro for tests and demos.
"""

from __future__ import annotations

from miroconnect.actions import MiroActionRunner
from miroconnect.client import MiroClient, StaticTokenSource
from miroconnect.config import Settings
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
from miroconnect.oauth.actions import ActionContext, ActionResult, PendingAction
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.source import TokenSource
from miroconnect.oauth.vault import TokenVault
from miroconnect.storage.factory import VaultStack, open_vault

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ActionContext",
    "ActionResult",
    "AuthorizationError",
    "ConfigurationError",
    "ConnectFlow",
    "CryptoError",
    "DecryptionError",
    "EncryptionKeyNotFoundError",
    "MiroActionRunner",
    "MiroAPIError",
    "MiroClient",
    "MiroConnectError",
    "MiroTransportError",
    "NotConnectedError",
    "open_vault",
    "PendingAction",
    "ReauthorizationRequiredError",
    "Settings",
    "StaticTokenSource",
    "TokenSource",
    "TokenVault",
    "VaultStack",
]
