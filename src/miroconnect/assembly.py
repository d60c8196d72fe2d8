"""The one place that builds miroconnect from `Settings`: the composition root.

The CLI, the web app, the tests and the benchmarks all build their parts here, so every
part is made one way:

* `open_storage(settings)`: the database and what lives in it (encrypted connections,
  held consents, sessions, sign-in counters, operations): for commands that never talk to
  Miro (`keys`, `connections list`, `doctor`).
* `build_stack(settings)`: all of it: storage, Miro's OAuth client, the token vault, one
  shared HTTP client for Miro's REST API, the credit pacer shared through the database,
  the exactly-once action runner and the connect flow.

```python
stack = build_stack(Settings())
try:
    answer = await stack.flow.run_or_authorize("user-1", action, "/projects")
finally:
    await stack.aclose()
```
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy

import httpx2

from miroconnect.actions import MiroActionRunner
from miroconnect.client import CreditPacer
from miroconnect.config import Settings
from miroconnect.crypto import KeyRing, TokenCipher
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.miro import MiroOAuthClient, MiroOAuthConfig
from miroconnect.oauth.pending import ActionRunner
from miroconnect.oauth.vault import TokenVault
from miroconnect.storage.accounts import SQLAccountStore
from miroconnect.storage.consents import SQLConsentStore
from miroconnect.storage.db import Database
from miroconnect.storage.operations import OperationStore
from miroconnect.storage.pacing import SQLPacingStore
from miroconnect.storage.repository import SQLStore
from miroconnect.storage.sessions import SQLSessionStore
from miroconnect.storage.throttle import SQLThrottle
from miroconnect.types import Clock, Sleep, system_clock

__all__ = ["Stack", "Storage", "build_stack", "open_storage"]

# Miro's REST API: a generous whole-request timeout; the runner reconciles what it cuts.
MIRO_TIMEOUT = 30.0


@dataclass(frozen=True)
class Storage:
    """The database and its stores, for one process."""

    database: Database
    cipher: TokenCipher
    connections: SQLStore
    consents: SQLConsentStore
    operations: OperationStore
    accounts: SQLAccountStore
    sessions: SQLSessionStore
    throttle: SQLThrottle
    clock: Clock

    async def aclose(self) -> None:
        """Close the database's connections."""
        await self.database.dispose()


@dataclass(frozen=True)
class Stack:
    """Everything miroconnect runs on, built from one `Settings` (see the module doc)."""

    settings: Settings
    storage: Storage
    miro: MiroOAuthClient
    vault: TokenVault
    http: httpx2.AsyncClient
    pacer: CreditPacer
    runner: ActionRunner
    flow: ConnectFlow
    clock: Clock
    # Closed by `aclose` after the HTTP clients, before the database (e.g. a metered
    # transport that the web app wrapped around the one given to `build_stack`).
    closers: tuple[object, ...] = field(default=())

    @property
    def database(self) -> Database:
        """The database (`storage.database`)."""
        return self.storage.database

    def flow_with(
        self, runner: ActionRunner, *, allowed_return_urls: Iterable[str] | None = None
    ) -> ConnectFlow:
        """The connect flow on this stack with another action runner (a host's own
        actions, a test's probe) and, if given, another allow-list of return URLs."""
        return ConnectFlow(
            store=self.storage.connections,
            consents=self.storage.consents,
            vault=self.vault,
            miro=self.miro,
            runner=runner,
            allowed_return_urls=self.settings.allowed_return_urls
            if allowed_return_urls is None
            else allowed_return_urls,
            clock=self.clock,
        )

    async def aclose(self) -> None:
        """Close the HTTP clients and the database connections."""
        await self.http.aclose()
        await self.miro.aclose()
        for closer in self.closers:
            close = getattr(closer, "aclose", None)
            if close is not None:
                await close()
        await self.storage.aclose()


def open_storage(
    settings: Settings,
    *,
    database: Database | None = None,
    clock: Clock = system_clock,
) -> Storage:
    """The database of `settings` and its stores; `ConfigurationError` for bad keys."""
    database = database or Database(
        settings.database_url, pool_size=settings.database_pool_size
    )
    cipher = TokenCipher(KeyRing.parse(settings.encryption_keys.get_secret_value()))
    return Storage(
        database=database,
        cipher=cipher,
        connections=SQLStore(database, cipher),
        consents=SQLConsentStore(database, cipher),
        operations=OperationStore(database, clock=clock),
        accounts=SQLAccountStore(database, clock),
        sessions=SQLSessionStore(database),
        throttle=SQLThrottle(database, clock),
        clock=clock,
    )


def build_stack(
    settings: Settings,
    *,
    miro_transport: httpx2.AsyncBaseTransport | None = None,
    clock: Clock = system_clock,
    database: Database | None = None,
    runner: ActionRunner | None = None,
    sleep: Sleep = asyncio.sleep,
    closers: tuple[object, ...] = (),
) -> Stack:
    """Everything, from `settings`; `ConfigurationError` names a missing or bad setting.

    * `miro_transport`: how to reach Miro (the emulator's in-process transport in tests).
    * `clock`, `sleep`: time (tests move it instead of waiting).
    * `database`, `runner`: replace the parts `settings` would make.
    """
    storage = open_storage(settings, database=database, clock=clock)
    config = MiroOAuthConfig.from_settings(settings)
    miro = MiroOAuthClient(config, transport=miro_transport)
    vault = TokenVault(storage.connections, miro, clock=clock, sleep=sleep)
    http = httpx2.AsyncClient(transport=miro_transport, timeout=MIRO_TIMEOUT)
    # Every user's calls share this client: a cookie Miro (or a proxy before it) sets
    # must not ride along with the next user's request. Keep none, send none.
    http.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    # Rate-limit readings in the database: every worker and server on it spends one
    # credit budget per connection (a pacer in memory would let each spend it whole).
    pacer = CreditPacer(store=SQLPacingStore(storage.database), clock=clock)
    runner = runner or MiroActionRunner(
        storage.operations,
        http,
        base_url=config.api_url,
        pacer=pacer,
        clock=clock,
        sleep=sleep,
    )
    flow = ConnectFlow(
        store=storage.connections,
        consents=storage.consents,
        vault=vault,
        miro=miro,
        runner=runner,
        allowed_return_urls=settings.allowed_return_urls,
        clock=clock,
    )
    return Stack(
        settings=settings,
        storage=storage,
        miro=miro,
        vault=vault,
        http=http,
        pacer=pacer,
        runner=runner,
        flow=flow,
        clock=clock,
        closers=closers,
    )
