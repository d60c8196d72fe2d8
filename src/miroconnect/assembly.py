"""The one place that builds miroconnect from `Settings`: the composition root.

The CLI, the web app, the tests and the benchmarks all build their parts here, so every
part is made one way:

* `open_storage(settings)`: the database and what lives in it (encrypted connections,
  held consents, sessions, sign-in counters, operations): for commands that never talk to
  Miro (`keys`, `connections list`, `doctor`).
* `build_stack(settings)`: all of it: storage, Miro's OAuth client, the token vault, one
  shared HTTP client for Miro's REST API, the credit pacer shared through the database,
  the exactly-once action runner and the connect flow; and, when
  `MIROCONNECT_WEBHOOK_URL` is set, the webhook delivery worker (`Stack.start` runs it).

With a webhook URL, the stores write an event with every change they report (the outbox,
`miroconnect.storage.outbox`); without one they write none.

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

import httpx2

from miroconnect.actions import MiroActionRunner
from miroconnect.client import CreditPacer
from miroconnect.config import Settings
from miroconnect.crypto import KeyRing, TokenCipher
from miroconnect.errors import ConfigurationError
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.oauth.miro import MiroOAuthClient, MiroOAuthConfig, without_cookies
from miroconnect.oauth.pending import ActionRunner
from miroconnect.oauth.vault import TokenVault
from miroconnect.storage.accounts import SQLAccountStore
from miroconnect.storage.boards import SQLBoardList
from miroconnect.storage.consents import SQLConsentStore
from miroconnect.storage.db import Database
from miroconnect.storage.operations import OperationStore
from miroconnect.storage.outbox import Outbox, WebhookQueue
from miroconnect.storage.pacing import SQLPacingStore
from miroconnect.storage.repository import SQLStore
from miroconnect.storage.sessions import SQLSessionStore
from miroconnect.storage.throttle import SQLThrottle
from miroconnect.types import Clock, Sleep, system_clock
from miroconnect.webhooks.sender import (
    SEND_TIMEOUT,
    WebhookSender,
    webhook_secret_problem,
    webhook_url_problem,
)
from miroconnect.webhooks.worker import WebhookWorker

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
    boards: SQLBoardList
    accounts: SQLAccountStore
    sessions: SQLSessionStore
    throttle: SQLThrottle
    clock: Clock
    # Webhook events: written with the changes when a URL is configured (`outbox`),
    # listed, retried and claimed for delivery through `webhook_queue`.
    webhook_queue: WebhookQueue
    outbox: Outbox | None = None

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
    # Delivers webhook events when `MIROCONNECT_WEBHOOK_URL` is set; `start` runs it.
    webhooks: WebhookWorker | None = None

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

    def start(self) -> None:
        """Start this process's background work (in the running event loop): the
        webhook delivery worker, when webhooks are configured. `aclose` stops it."""
        if self.webhooks is not None:
            self.webhooks.start()

    async def aclose(self) -> None:
        """Stop the webhook worker; close the HTTP clients and the database connections."""
        if self.webhooks is not None:
            await self.webhooks.stop()
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
    outbox = Outbox(database) if settings.webhook_url else None
    return Storage(
        database=database,
        cipher=cipher,
        connections=SQLStore(database, cipher, outbox=outbox),
        consents=SQLConsentStore(database, cipher, outbox=outbox),
        operations=OperationStore(database, clock=clock, outbox=outbox),
        boards=SQLBoardList(database),
        accounts=SQLAccountStore(database, clock),
        sessions=SQLSessionStore(database),
        throttle=SQLThrottle(database, clock),
        clock=clock,
        webhook_queue=WebhookQueue(database),
        outbox=outbox,
    )


def _webhook_worker(
    settings: Settings,
    storage: Storage,
    transport: httpx2.AsyncBaseTransport | None,
    clock: Clock,
) -> tuple[WebhookWorker | None, tuple[object, ...]]:
    """The delivery worker and the HTTP client it sends with (to close), if webhooks
    are configured."""
    if storage.outbox is None:
        return None, ()
    url = settings.webhook_url
    secret = settings.webhook_secret.get_secret_value()
    for name, problem in (
        ("MIROCONNECT_WEBHOOK_URL", webhook_url_problem(url)),
        ("MIROCONNECT_WEBHOOK_SECRET", webhook_secret_problem(secret)),
    ):
        if problem:
            raise ConfigurationError(f"{name} {problem}")
    http = without_cookies(
        httpx2.AsyncClient(
            transport=transport, timeout=SEND_TIMEOUT, follow_redirects=False
        )
    )
    # Signed with the real time whatever `clock` says: receivers check the signature's
    # age against their own clocks. `clock` schedules the attempts.
    sender = WebhookSender(url, secret, http)
    worker = WebhookWorker(storage.webhook_queue, sender, clock=clock)
    storage.outbox.subscribe(worker.wake)
    return worker, (http,)


def build_stack(
    settings: Settings,
    *,
    miro_transport: httpx2.AsyncBaseTransport | None = None,
    clock: Clock = system_clock,
    database: Database | None = None,
    runner: ActionRunner | None = None,
    sleep: Sleep = asyncio.sleep,
    closers: tuple[object, ...] = (),
    webhook_transport: httpx2.AsyncBaseTransport | None = None,
) -> Stack:
    """Everything, from `settings`; `ConfigurationError` names a missing or bad setting.

    * `miro_transport`: how to reach Miro (the emulator's in-process transport in tests).
    * `clock`, `sleep`: time (tests move it instead of waiting).
    * `database`, `runner`: replace the parts `settings` would make.
    * `webhook_transport`: how to reach the webhook URL (tests inject a receiver).
    """
    storage = open_storage(settings, database=database, clock=clock)
    webhooks, webhook_closers = _webhook_worker(
        settings, storage, webhook_transport, clock
    )
    config = MiroOAuthConfig.from_settings(settings)
    miro = MiroOAuthClient(config, transport=miro_transport)
    vault = TokenVault(storage.connections, miro, clock=clock, sleep=sleep)
    http = without_cookies(
        httpx2.AsyncClient(transport=miro_transport, timeout=MIRO_TIMEOUT)
    )
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
        closers=closers + webhook_closers,
        webhooks=webhooks,
    )
