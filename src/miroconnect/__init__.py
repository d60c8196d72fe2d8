"""miroconnect: connect a web app's users to Miro.

The library surface is listed in `__all__`; `tests/test_exported_members.py` keeps it
honest. The pieces, left to right in the order imports go:

* `Settings`: every setting, read from `MIROCONNECT_*` at the edge.
* `build_stack(settings)`: everything built one way (the composition root): the
  database, the encrypted stores, the `TokenVault` (connections per app user, refresh
  single-flight across processes), the `ConnectFlow`, the credit pacer, the
  `MiroActionRunner`; `open_storage(settings)` for the database part alone.
* `ConnectFlow`: the OAuth connect flow with a one-time state bound to the browser and the
  app user, carrying a `PendingAction` through consent (and, in service mode, holding the
  consent for the host's confirm).
* `CreateBoard`, `CopyBoard`, `ShareBoard`, `AddStarterContent`: what a click can ask.
* `MiroClient`: the typed async REST client over any `TokenSource`.
* `miroconnect.web.create_app` / `connect_router`: the service and the mountable router;
  `miroconnect.emulator.create_emulator`: a fake Miro for tests and demos.
"""

from __future__ import annotations

from miroconnect.actions import (
    AddStarterContent,
    CopyBoard,
    CreateBoard,
    MiroActionRunner,
    ShareBoard,
)
from miroconnect.assembly import Stack, Storage, build_stack, open_storage
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
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.pending import (
    ActionContext,
    ActionResult,
    ActionRunner,
    PendingAction,
)
from miroconnect.oauth.source import TokenSource
from miroconnect.oauth.vault import TokenVault

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ActionContext",
    "ActionResult",
    "ActionRunner",
    "AddStarterContent",
    "AuthorizationError",
    "build_stack",
    "ConfigurationError",
    "ConnectFlow",
    "CopyBoard",
    "CreateBoard",
    "CryptoError",
    "DecryptionError",
    "EncryptionKeyNotFoundError",
    "MiroActionRunner",
    "MiroAPIError",
    "MiroClient",
    "MiroConnectError",
    "MiroTransportError",
    "NotConnectedError",
    "open_storage",
    "PendingAction",
    "ReauthorizationRequiredError",
    "Settings",
    "ShareBoard",
    "Stack",
    "StaticTokenSource",
    "Storage",
    "TokenSource",
    "TokenVault",
]
