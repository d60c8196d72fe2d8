"""The connect flow: start (send the browser to Miro) and complete (the callback).

A started flow is kept server-side under a one-time `state`: the app user, a hash of a
cookie that binds the browser, the pending action and the return URL, for 10 minutes. The
callback consumes the state atomically (it works once), checks expiry, browser and user,
exchanges the code, reads who the token belongs to, stores the connection and then runs
the pending action. Each failure raises its own `AuthorizationError` leaf, and nothing is
stored on failure. See RFC 6749 §10.12 and RFC 9700 §4.7 (CSRF), §4.11 (open redirectors).

Service mode: the host app's browser has no session with us, so `start_launch` returns a
one-time launch token for a link to our own service; `launch` (on first use) binds the
browser that opened it. At the callback the consent is held until the host confirms whose
it is (`miroconnect.oauth.consents`). Starting a flow (`start`, `start_launch`, `launch`)
lives in `miroconnect.oauth.starts`, which `ConnectFlow` builds on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from miroconnect.errors import (
    AccessDeniedError,
    AuthorizationError,
    CodeMissingError,
    ConsentFailedError,
    ExchangeFailedError,
    MiroConnectError,
    NotConnectedError,
    ReauthorizationRequiredError,
    StateUnknownError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.consents import CONSENT_TTL, HeldConsents
from miroconnect.oauth.miro import MiroOAuthClient
from miroconnect.oauth.outcomes import (
    ActionDone,
    Confirmed,
    ConsentRequired,
    FlowHeld,
    FlowOutcome,
    log_failure,
    why_not,
)
from miroconnect.oauth.params import check_return_url, hash_secret
from miroconnect.oauth.pending import (
    ActionResult,
    ActionRunner,
    PendingAction,
    run_pending,
)
from miroconnect.oauth.source import TokenSource
from miroconnect.oauth.starts import STATE_TTL, FlowStarts
from miroconnect.oauth.store import (
    ConsentStore,
    Display,
    FlowStore,
    PendingAuthorization,
)
from miroconnect.oauth.tokens import Connection, StaleReadError, TokenSet
from miroconnect.oauth.vault import OpenConnection, TokenVault
from miroconnect.types import Clock, system_clock

__all__ = ["ConnectFlow"]

logger = logging.getLogger(__name__)


class ConnectFlow(FlowStarts):
    """The server-side authorization-code flow with Miro, and the action it carries.

    ```python
    flow = ConnectFlow(store=store, vault=vault, miro=miro, runner=runner)
    start = await flow.start("user-1", PendingAction("create_board", {...}), "/projects/42")
    # set start.binding_cookie_value as a cookie, redirect to start.authorize_url
    outcome = await flow.complete(state=..., code=..., binding_cookie_value=cookie,
                                  app_user_id="user-1")
    # redirect (303) to outcome.return_url
    ```
    """

    def __init__(
        self,
        *,
        store: FlowStore,
        consents: ConsentStore,
        vault: TokenVault,
        miro: MiroOAuthClient,
        runner: ActionRunner,
        allowed_return_urls: Iterable[str] = (),
        clock: Clock = system_clock,
        state_ttl: timedelta = STATE_TTL,
        consent_ttl: timedelta = CONSENT_TTL,
    ) -> None:
        self.store = store
        self.consents = consents
        self.vault = vault
        self.miro = miro
        self.runner = runner
        self.allowed_return_urls = tuple(allowed_return_urls)
        self.clock = clock
        self.state_ttl = state_ttl
        self._consents = HeldConsents(
            consents,
            miro=miro,
            vault=vault,
            run=self._run_if_any,
            clock=clock,
            ttl=consent_ttl,
        )

    async def complete(
        self,
        *,
        state: str | None,
        code: str | None,
        error: str | None = None,
        error_description: str | None = None,
        binding_cookie_value: str | None,
        app_user_id: str | None = None,
    ) -> FlowOutcome | FlowHeld:
        """Finish the flow from Miro's callback and run the pending action.

        Only the browser that started the flow can use its state: a callback without the
        flow's binding cookie leaves the state as it was. `app_user_id` is the user
        logged in to the host app when it knows one: the state must belong to that user.
        A service-mode flow ends `FlowHeld` instead (see `confirm`). Raises one
        `AuthorizationError` leaf per failure.
        """
        try:
            return await self._complete(
                state=state,
                code=code,
                error=error,
                binding_cookie_value=binding_cookie_value,
                app_user_id=app_user_id,
            )
        except MiroConnectError as exc:
            log_failure(exc)
            raise

    async def _complete(
        self,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        binding_cookie_value: str | None,
        app_user_id: str | None,
    ) -> FlowOutcome | FlowHeld:
        if not state:
            raise StateUnknownError("the callback carries no state")
        now = self.clock()
        state_hash = hash_secret(state)
        # One UPDATE ... WHERE consumed_at IS NULL AND binding_hash = ...: exactly one
        # callback gets the flow, and only from the browser that started it.
        pending = await self.store.consume_pending(
            state_hash,
            binding_hash=hash_secret(binding_cookie_value)
            if binding_cookie_value
            else None,
            app_user_id=app_user_id,
            now=now,
        )
        if pending is None:
            # No return URL: this browser is not (or no longer) the one that started
            # the flow, so it is not sent on to the app's page.
            raise why_not(
                await self.store.find_pending(state_hash),
                binding_cookie_value,
                app_user_id,
                now,
            )
        log_event(
            logger,
            "flow.callback_consumed",
            flow_id=pending.id,
            app_user_id=pending.app_user_id,
        )
        try:
            return await self._exchange_and_run(
                pending, code=code, error=error, now=now
            )
        except AuthorizationError as exc:
            # The browser is the flow's own: it may go back to where the flow was to end
            # (if that is still allowed), with the reason.
            exc.app_user_id = pending.app_user_id
            exc.return_url = self._allowed_or_none(pending.return_url)
            exc.display = pending.display
            raise

    def _allowed_or_none(self, return_url: str) -> str | None:
        try:
            return check_return_url(return_url, self.allowed_return_urls)
        except AuthorizationError:
            return None

    async def _exchange_and_run(
        self,
        pending: PendingAuthorization,
        *,
        code: str | None,
        error: str | None,
        now: datetime,
    ) -> FlowOutcome | FlowHeld:
        """The callback's steps after the browser check: Miro's answer, the code
        exchange, then the connection and the pending action (or, in service mode, the
        consent held for the host's confirm)."""
        if error:
            if error == "access_denied":
                raise AccessDeniedError()
            raise ConsentFailedError(
                f"Miro could not authorize the app ({error[:64]!r})"
            )
        if not code:
            raise CodeMissingError()
        # The return URL was checked at the start; check again in case the allow-list
        # shrank in between (a stored value is still input).
        return_url = check_return_url(pending.return_url, self.allowed_return_urls)
        tokens = await self.miro.exchange_code(code, now=now)
        log_event(
            logger,
            "flow.code_exchanged",
            flow_id=pending.id,
            app_user_id=pending.app_user_id,
            expiring=tokens.expires_at is not None,
        )
        try:
            identity = await self.miro.token_info(tokens.access_token)
        except MiroConnectError as exc:
            # No stored token without a known user: give the grant back to Miro.
            await self.miro.revoke(tokens.access_token)
            raise ExchangeFailedError(
                "Miro did not tell who the new token belongs to"
            ) from exc
        if pending.held:
            return await self._consents.hold(pending, identity, tokens, return_url)
        connection = await self.store.save_connection(
            app_user_id=pending.app_user_id,
            identity=identity,
            tokens=tokens,
            now=self.clock(),
        )
        log_event(
            logger,
            "flow.connection_stored",
            flow_id=pending.id,
            app_user_id=pending.app_user_id,
            connection_id=connection.id,
            miro_team_id=connection.miro_team_id,
        )
        result, action_error = await self._run_if_any(
            pending.action, connection, tokens
        )
        log_event(
            logger,
            "flow.completed",
            flow_id=pending.id,
            app_user_id=pending.app_user_id,
            connection_id=connection.id,
            action=pending.action.kind if pending.action else None,
            action_ok=None if pending.action is None else action_error is None,
        )
        return FlowOutcome(return_url, connection, result, action_error=action_error)

    async def confirm(self, app_user_id: str, result: str) -> Confirmed:
        """Service mode: the host app says which of its users came back with `result`
        (`HeldConsents.confirm` in `miroconnect.oauth.consents` says what follows)."""
        return await self._consents.confirm(app_user_id, result)

    async def _run(
        self,
        action: PendingAction,
        connection: Connection,
        tokens: TokenSource | None = None,
    ) -> ActionResult:
        tokens = tokens or self.vault.token_source(connection.id)
        return await run_pending(self.runner, action, connection, tokens)

    async def _run_if_live(
        self, action: PendingAction, found: OpenConnection | None
    ) -> ActionDone | None:
        """Run `action` on `found` if it is live (its guard, if any, checked by the
        journal); None if it is not, or if Miro just refused its refresh (the vault
        then marked it `needs_reauth`)."""
        if found is None or not found.connection.is_live:
            return None
        try:
            result = await run_pending(
                self.runner, action, found.connection, found.tokens, found.guard
            )
        except ReauthorizationRequiredError:
            return None
        return ActionDone(found.connection, result)

    async def _run_if_any(
        self,
        action: PendingAction | None,
        connection: Connection,
        tokens: TokenSet | None = None,
    ) -> tuple[ActionResult | None, MiroConnectError | None]:
        """The pending action's result, or the error that stopped it (the connection
        is stored either way); `(None, None)` when nothing was pending. `tokens`: the
        connection's, just stored (the action then does not read them again)."""
        if action is None:
            return None, None
        source = self.vault.token_source(connection.id, read=tokens)
        try:
            return await self._run(action, connection, source), None
        except MiroConnectError as exc:
            return None, exc

    async def run_or_authorize(
        self,
        app_user_id: str,
        action: PendingAction,
        return_url: str | None,
        *,
        team_id: str | None = None,
        service: bool = False,
        display: Display = "redirect",
    ) -> ActionDone | ConsentRequired:
        """Run `action` now if the user has a live connection; otherwise start consent
        with the action pending, so it completes in the callback.

        A connection whose refresh Miro rejects (now, or earlier: `needs_reauth`) leads
        back through consent the same way. `service=True` starts a launch-link flow,
        which ends as `display` says (see `start_launch`). `return_url=None`: run
        only; where consent would be needed, raise `NotConnectedError` (nothing is
        started or stored).
        """
        if return_url is not None:
            return_url = self._check_return_url(return_url, app_user_id)
        found = await self.vault.open(app_user_id, team_id, reuse=True)
        try:
            done = await self._run_if_live(action, found)
        except StaleReadError:
            # The remembered read no longer holds (nothing was written or sent): read
            # again and decide on what is there now (a fresh read needs no guard).
            log_event(logger, "flow.stale_read", app_user_id=app_user_id)
            found = await self.vault.open(app_user_id, team_id)
            if found is not None:
                found = replace(found, guard=None)
            done = await self._run_if_live(action, found)
        if done is not None:
            return done
        if return_url is None:
            raise NotConnectedError(
                "the user must connect Miro first"
                if found is None
                else "the user's Miro connection must be authorized again"
            )
        if service:
            return ConsentRequired(
                await self.start_launch(
                    app_user_id, action, return_url, display=display
                )
            )
        return ConsentRequired(
            await self.start(app_user_id, action, return_url, team_id=team_id)
        )
