"""What a click asks for, carried through consent: `PendingAction` and its runner.

The connect flow stores a `PendingAction` with the state and, once the user has consented and the
tokens are stored, hands it to an `ActionRunner`. The real runner (create a board exactly once,
...) lives in `miroconnect.actions`; tests pass their own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from miroconnect.errors import MiroConnectError
from miroconnect.logs import log_event
from miroconnect.oauth.source import TokenSource
from miroconnect.oauth.tokens import Connection, ReadGuard

__all__ = [
    "ActionContext",
    "ActionResult",
    "ActionRunner",
    "PendingAction",
    "run_pending",
]

# Logged with the flow's events (the flow and the confirm run pending actions).
logger = logging.getLogger("miroconnect.oauth.flow")


@dataclass(frozen=True)
class PendingAction:
    """An action to run for an app user, e.g. `create_board` with `{"name": ...}`.

    `params` must be JSON-serialisable. `idempotency_key` makes a repeat of the same request
    (double click, refreshed callback, retried API call) return the first result.
    """

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class ActionContext:
    """Who the action runs for, and the token source of their Miro connection."""

    app_user_id: str
    connection_id: str
    miro_user_id: str
    miro_team_id: str
    tokens: TokenSource
    guard: ReadGuard | None = None
    """Set when the connection was read from memory: the action's journal entry checks
    it (`ReadGuard`)."""

    @classmethod
    def of(
        cls,
        connection: Connection,
        tokens: TokenSource,
        guard: ReadGuard | None = None,
    ) -> ActionContext:
        """The context of `connection`, whose tokens `tokens` gives."""
        return cls(
            app_user_id=connection.app_user_id,
            connection_id=connection.id,
            miro_user_id=connection.miro_user_id,
            miro_team_id=connection.miro_team_id,
            tokens=tokens,
            guard=guard,
        )


@dataclass(frozen=True)
class ActionResult:
    """The outcome, JSON-serialisable: e.g. `{"board_id": ..., "view_link": ...}`, and
    when the action's first run finished (a repeat answers the same time)."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
    finished_at: datetime | None = None


class ActionRunner(Protocol):
    """Runs a pending action once the user's connection is live."""

    async def run(self, action: PendingAction, context: ActionContext) -> ActionResult:
        """Run `action`; raise a `MiroConnectError` subclass on failure."""
        ...


async def run_pending(
    runner: ActionRunner,
    action: PendingAction,
    connection: Connection,
    tokens: TokenSource,
    guard: ReadGuard | None = None,
) -> ActionResult:
    """Run `action` on `connection` (whose tokens `tokens` gives), logged as
    `flow.action_run` or `flow.action_failed` (ids and kinds, never a token).
    `guard`: the connection was read from memory (`ReadGuard`); `StaleReadError` if it
    no longer holds (nothing was written or sent)."""
    context = ActionContext.of(connection, tokens, guard)
    try:
        result = await runner.run(action, context)
    except MiroConnectError as exc:
        reason = getattr(exc, "reason", None)
        log_event(
            logger,
            "flow.action_failed",
            level=logging.WARNING,
            connection_id=connection.id,
            app_user_id=connection.app_user_id,
            action=action.kind,
            error_type=type(exc).__name__,
            **({"reason": reason} if reason else {}),
        )
        raise
    log_event(
        logger,
        "flow.action_run",
        connection_id=connection.id,
        app_user_id=connection.app_user_id,
        action=action.kind,
    )
    return result
