"""What the web layer needs from the connect flow and the vault, as one small seam.

Routers talk to a `Connector`; `miroconnect.web.wiring` builds the real one from the
flow, the vault and the action runner. Keeping the seam here keeps the handlers thin and
lets the pages be read without knowing how the vault stores anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from miroconnect.oauth.actions import ActionResult, PendingAction
from miroconnect.oauth.flow import Confirmed

__all__ = [
    "AuthorizationNeeded",
    "CallbackFailedError",
    "CallbackOutcome",
    "ConnectionStatus",
    "Connector",
]


@dataclass(frozen=True)
class ConnectionStatus:
    """An app user's Miro connection, as pages and the API show it."""

    status: Literal["connected", "needs_reauth"]
    miro_user_id: str
    miro_user_name: str | None
    miro_team_id: str
    miro_team_name: str | None
    scopes: tuple[str, ...]
    connected_since: datetime | None
    reason: str | None = None


@dataclass(frozen=True)
class AuthorizationNeeded:
    """The user must consent first: send the browser to `authorize_url`.

    In browser mode `binding_cookie_value` is set and must be stored in the browser (as
    an HttpOnly cookie) before redirecting; in service mode `authorize_url` is a one-time
    launch link to this service, which sets that cookie itself.
    """

    authorize_url: str
    binding_cookie_value: str | None = None


@dataclass(frozen=True)
class CallbackOutcome:
    """A completed callback: where to send the browser, and what the action produced."""

    return_url: str
    result: ActionResult | None = None
    app_user_id: str | None = None
    # The connection is stored but the pending action failed (`miro_error=action_failed`).
    action_failed: bool = False
    # Service mode: the consent is held; the browser takes this back as `miro_result`
    # for the host app's confirm (nothing is connected, no action ran yet).
    result_token: str | None = None


class CallbackFailedError(Exception):
    """`Connector.complete` failed with `reason` (an `AuthorizationError` reason).

    `return_url` is where the flow was to end, known when the failure came after the
    browser was verified (the user cancelled at Miro, Miro refused the code, ...): a flow
    started by another app then goes back to it with `miro_error=<reason>`.
    """

    def __init__(self, reason: str, return_url: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.return_url = return_url


class Connector(Protocol):
    """The connect flow and the vault, seen from the web layer."""

    async def run_or_authorize(
        self, app_user_id: str, action: PendingAction, return_url: str
    ) -> ActionResult | AuthorizationNeeded:
        """Run `action` now if the user has a live connection, else start consent
        (browser mode: the caller sets the binding cookie)."""
        ...

    async def run_or_launch(
        self, app_user_id: str, action: PendingAction, return_url: str
    ) -> ActionResult | AuthorizationNeeded:
        """Like `run_or_authorize`, but for a browser that never saw this service:
        the returned URL is a one-time launch link to this service."""
        ...

    async def reconnect(self, app_user_id: str, return_url: str) -> AuthorizationNeeded:
        """Start consent with nothing pending (a connection that needs it again)."""
        ...

    async def launch_connect(
        self, app_user_id: str, return_url: str
    ) -> AuthorizationNeeded:
        """Service mode: a one-time launch link for consent with nothing pending."""
        ...

    async def confirm(self, app_user_id: str, result: str) -> Confirmed:
        """Service mode: the host confirms which of its users came back with `result`
        (see `ConnectFlow.confirm`)."""
        ...

    async def launch(self, token: str) -> AuthorizationNeeded:
        """Consume a launch token: the Miro authorize URL and the binding cookie."""
        ...

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
        """Finish the flow from Miro's callback; raises `CallbackFailedError` (or an
        `AuthorizationError` leaf).

        `app_user_id` is the user signed in at this browser, when the app knows one: a
        flow started for another user then fails with reason `user_mismatch`.
        """
        ...

    async def connection(self, app_user_id: str) -> ConnectionStatus | None:
        """The user's connection, or `None` when there is none."""
        ...

    async def disconnect(self, app_user_id: str) -> bool:
        """Revoke at Miro and forget the tokens; `False` if there was nothing."""
        ...
