"""What the connect flow answers: where to send the browser, and what came of a flow.

The flow's steps return these values; the web layer turns each into a redirect, a page or
a JSON answer. Token-like fields (the binding cookie's value, the service-mode launch token
and result) are left out of `repr`.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime

from miroconnect.errors import (
    AuthorizationError,
    BrowserMismatchError,
    MiroConnectError,
    StateExpiredError,
    StateReplayedError,
    StateUnknownError,
    UserMismatchError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.params import hash_secret
from miroconnect.oauth.pending import ActionResult, PendingAction
from miroconnect.oauth.store import Display, PendingAuthorization
from miroconnect.oauth.tokens import Connection

__all__ = [
    "ActionDone",
    "Confirmed",
    "ConsentRequired",
    "FlowHeld",
    "FlowLaunch",
    "FlowOutcome",
    "FlowStart",
    "log_failure",
    "same_secret",
    "why_not",
]

logger = logging.getLogger("miroconnect.oauth.flow")


@dataclass(frozen=True)
class FlowStart:
    """Where to send the browser, and the cookie value to set on it first.

    The web layer sets `binding_cookie_value` as an HttpOnly, Secure, SameSite=Lax cookie
    (Lax: it must come back on Miro's top-level redirect) and redirects to `authorize_url`.
    """

    authorize_url: str
    binding_cookie_value: str = field(repr=False)
    state_expires_at: datetime


@dataclass(frozen=True)
class FlowLaunch:
    """Service mode: a one-time token for the link `GET /connect/{launch_token}`."""

    launch_token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class FlowOutcome:
    """A completed flow: where to redirect (303), the connection, and the action's result.

    `action_error` is set when the connection was stored but the pending action failed.
    """

    return_url: str
    connection: Connection
    action_result: ActionResult | None
    action_error: MiroConnectError | None = None


@dataclass(frozen=True)
class FlowHeld:
    """Service mode: consent given, tokens held until the host app confirms.

    The web layer redirects (303) to `return_url` with `miro_result=<result_token>` (or,
    for `display="popup"`, answers a page that posts it to `return_url`'s origin); the
    host's backend then calls `ConnectFlow.confirm(its_signed_in_user, result_token)`.
    """

    return_url: str
    result_token: str = field(repr=False)
    expires_at: datetime
    display: Display = "redirect"


@dataclass(frozen=True)
class Confirmed:
    """A held consent confirmed by its own user: the connection, and the action's result.

    `action_error` is set when the connection was stored but the pending action failed;
    `repeated` when the consent had been confirmed before (the first answer again).
    """

    connection: Connection
    action: PendingAction | None
    action_result: ActionResult | None
    action_error: MiroConnectError | None = None
    repeated: bool = False


@dataclass(frozen=True)
class ActionDone:
    """`run_or_authorize` ran the action at once on a live connection."""

    connection: Connection
    result: ActionResult


@dataclass(frozen=True)
class ConsentRequired:
    """`run_or_authorize` needs consent first; the action waits in the flow."""

    start: FlowStart | FlowLaunch


def same_secret(value: str | None, expected_hash: str | None) -> bool:
    if not value or not expected_hash:
        return False
    return hmac.compare_digest(hash_secret(value), expected_hash)


def log_failure(exc: MiroConnectError, **fields: str) -> None:
    """`flow.failed` with the error's stable reason (never its inputs)."""
    reason = exc.reason if isinstance(exc, AuthorizationError) else type(exc).__name__
    log_event(logger, "flow.failed", level=logging.WARNING, reason=reason, **fields)


def why_not(
    found: PendingAuthorization | None,
    binding_cookie_value: str | None,
    app_user_id: str | None,
    now: datetime,
) -> AuthorizationError:
    """Why a callback did not get its flow (the state was left as it was)."""
    if found is None:
        return StateUnknownError()
    error: AuthorizationError
    if found.consumed:
        error = StateReplayedError()
    elif now >= found.expires_at:
        error = StateExpiredError()
    elif not same_secret(binding_cookie_value, found.binding_hash):
        error = BrowserMismatchError()
    elif app_user_id is not None and not found.held:
        error = UserMismatchError()
    else:
        error = StateReplayedError()  # a concurrent callback of this browser won
    error.app_user_id = found.app_user_id
    return error
