"""Builds the real `Connector` from the connect flow, the vault and an action runner."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

from miroconnect.actions import MiroActionRunner
from miroconnect.client import CreditPacer
from miroconnect.config import Settings
from miroconnect.crypto import KeyRing, TokenCipher
from miroconnect.errors import AuthorizationError, ConfigurationError, NotConnectedError
from miroconnect.oauth.actions import ActionResult, ActionRunner, PendingAction
from miroconnect.oauth.flow import (
    ActionDone,
    Confirmed,
    ConnectFlow,
    FlowHeld,
    FlowLaunch,
    FlowStart,
)
from miroconnect.oauth.miro import MiroOAuthClient, MiroOAuthConfig
from miroconnect.oauth.tokens import ConnectionStatus as VaultStatus
from miroconnect.oauth.vault import TokenVault
from miroconnect.storage.consents import SQLConsentStore
from miroconnect.storage.db import Database
from miroconnect.storage.pacing import SQLPacingStore
from miroconnect.storage.repository import SQLStore
from miroconnect.types import Clock
from miroconnect.web.connector import (
    AuthorizationNeeded,
    CallbackFailedError,
    CallbackOutcome,
    ConnectionStatus,
)

__all__ = ["FlowConnector", "build_connector", "public_base_url"]


def public_base_url(settings: Settings) -> str:
    """This service's public origin: the origin of its Miro redirect URI."""
    parts = urlsplit(settings.miro_redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            "MIROCONNECT_MIRO_REDIRECT_URI must be an absolute http(s) URL"
        )
    return f"{parts.scheme}://{parts.netloc}"


class FlowConnector:
    """`Connector` over `ConnectFlow` and `TokenVault`."""

    def __init__(
        self,
        flow: ConnectFlow,
        vault: TokenVault,
        *,
        launch_base_url: str,
        closers: tuple[Any, ...] = (),
    ) -> None:
        self.flow = flow
        self.vault = vault
        self._launch_base_url = launch_base_url.rstrip("/")
        self._closers = closers

    def _needed(self, start: FlowStart | FlowLaunch) -> AuthorizationNeeded:
        if isinstance(start, FlowLaunch):
            token = quote(start.launch_token, safe="")
            return AuthorizationNeeded(
                f"{self._launch_base_url}/connect/launch/{token}"
            )
        return AuthorizationNeeded(start.authorize_url, start.binding_cookie_value)

    async def run_or_authorize(
        self, app_user_id: str, action: PendingAction, return_url: str
    ) -> ActionResult | AuthorizationNeeded:
        answer = await self.flow.run_or_authorize(app_user_id, action, return_url)
        if isinstance(answer, ActionDone):
            return answer.result
        return self._needed(answer.start)

    async def run_or_launch(
        self, app_user_id: str, action: PendingAction, return_url: str
    ) -> ActionResult | AuthorizationNeeded:
        answer = await self.flow.run_or_authorize(
            app_user_id, action, return_url, service=True
        )
        if isinstance(answer, ActionDone):
            return answer.result
        return self._needed(answer.start)

    async def reconnect(self, app_user_id: str, return_url: str) -> AuthorizationNeeded:
        return self._needed(await self.flow.start(app_user_id, None, return_url))

    async def launch_connect(
        self, app_user_id: str, return_url: str
    ) -> AuthorizationNeeded:
        return self._needed(await self.flow.start_launch(app_user_id, None, return_url))

    async def confirm(self, app_user_id: str, result: str) -> Confirmed:
        return await self.flow.confirm(app_user_id, result)

    async def launch(self, token: str) -> AuthorizationNeeded:
        return self._needed(await self.flow.launch(token))

    async def complete(
        self,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        error_description: str | None,
        binding_cookie_value: str | None,
        app_user_id: str | None = None,
    ) -> CallbackOutcome:
        try:
            outcome = await self.flow.complete(
                state=state,
                code=code,
                error=error,
                error_description=error_description,
                binding_cookie_value=binding_cookie_value,
                app_user_id=app_user_id,
            )
        except AuthorizationError as exc:
            # The flow sets `return_url` only for failures after the browser check
            # (cancelled at Miro, code refused, ...), and only if it is still allowed.
            raise CallbackFailedError(exc.reason, exc.return_url) from exc
        if isinstance(outcome, FlowHeld):
            return CallbackOutcome(
                return_url=outcome.return_url, result_token=outcome.result_token
            )
        return CallbackOutcome(
            return_url=outcome.return_url,
            result=outcome.action_result,
            app_user_id=outcome.connection.app_user_id,
            action_failed=outcome.action_error is not None,
        )

    async def connection(self, app_user_id: str) -> ConnectionStatus | None:
        found = await self.vault.connection_for(app_user_id)
        if found is None:
            return None
        return ConnectionStatus(
            status="connected"
            if found.status is VaultStatus.CONNECTED
            else "needs_reauth",
            miro_user_id=found.miro_user_id,
            miro_user_name=found.miro_user_name,
            miro_team_id=found.miro_team_id,
            miro_team_name=found.miro_team_name,
            scopes=tuple(found.scopes),
            connected_since=found.connected_at,
            reason=found.status_reason,
        )

    async def disconnect(self, app_user_id: str) -> bool:
        try:
            await self.vault.disconnect(app_user_id=app_user_id)
        except NotConnectedError:
            return False
        return True

    async def aclose(self) -> None:
        """Close the HTTP clients this connector owns."""
        for closer in self._closers:
            await closer.aclose()


def build_connector(
    settings: Settings,
    *,
    database: Database,
    transport: httpx2.AsyncBaseTransport,
    clock: Clock,
    runner: ActionRunner | None = None,
) -> FlowConnector:
    """The connector of `create_app`, from settings; raises `ConfigurationError` for a
    missing or invalid setting."""
    config = MiroOAuthConfig.from_settings(settings)
    keys = settings.encryption_keys.get_secret_value()
    if not keys:
        raise ConfigurationError("not set: MIROCONNECT_ENCRYPTION_KEYS")
    cipher = TokenCipher(KeyRing.parse(keys))
    store = SQLStore(database, cipher)
    miro = MiroOAuthClient(config, transport=transport)
    vault = TokenVault(store, miro, clock=clock)
    http = httpx2.AsyncClient(transport=transport, timeout=30.0)
    # Rate-limit readings in the database: every worker and server on it spends one
    # credit budget per connection (a pacer in memory would let each spend it whole).
    pacer = CreditPacer(store=SQLPacingStore(database), clock=clock)
    flow = ConnectFlow(
        store=store,
        consents=SQLConsentStore(database, cipher),
        vault=vault,
        miro=miro,
        runner=runner
        or MiroActionRunner(
            database, http, base_url=settings.miro_api_url, pacer=pacer, clock=clock
        ),
        allowed_return_urls=settings.allowed_return_urls,
        clock=clock,
    )
    return FlowConnector(
        flow,
        vault,
        launch_base_url=public_base_url(settings),
        closers=(miro, http),
    )
