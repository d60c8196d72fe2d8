"""Starting the connect flow: the pending flow stored, the browser sent to Miro.

`FlowStarts` is the first half of `ConnectFlow` (`miroconnect.oauth.flow`): `start` (the
browser that made the request is bound by a cookie at once), `start_launch` and `launch`
(service mode: a one-time launch link binds the browser that opens it first). Only hashes
of the state, the binding cookie and the launch token are stored.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import datetime, timedelta

from miroconnect.errors import (
    AuthorizationError,
    LaunchExpiredError,
    LaunchReplayedError,
    LaunchUnknownError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.miro import MiroOAuthClient
from miroconnect.oauth.outcomes import FlowLaunch, FlowStart, log_failure
from miroconnect.oauth.params import check_return_url, hash_secret, new_secret
from miroconnect.oauth.pending import PendingAction
from miroconnect.oauth.store import Display, FlowStore, NewPendingAuthorization
from miroconnect.types import Clock

__all__ = ["STATE_TTL", "FlowStarts"]

STATE_TTL = timedelta(minutes=10)

# Logged as the flow, as before this module was split out of it (operators filter on it).
logger = logging.getLogger("miroconnect.oauth.flow")


class FlowStarts:
    """Starting flows; `ConnectFlow` sets the attributes."""

    store: FlowStore
    miro: MiroOAuthClient
    allowed_return_urls: tuple[str, ...]
    clock: Clock
    state_ttl: timedelta

    async def start(
        self,
        app_user_id: str,
        action: PendingAction | None,
        return_url: str,
        *,
        team_id: str | None = None,
    ) -> FlowStart:
        """Start consent for `app_user_id` in the browser that made this request.

        Raises `ReturnURLRejectedError` for an unsafe `return_url`. `team_id` preselects
        a team on Miro's screen; the user still chooses.
        """
        state, binding = new_secret(), new_secret()
        expires_at = await self._remember(
            app_user_id,
            action,
            return_url,
            mode="browser",
            state_hash=hash_secret(state),
            binding_hash=hash_secret(binding),
        )
        return FlowStart(
            authorize_url=self.miro.authorize_url(state, team_id=team_id),
            binding_cookie_value=binding,
            state_expires_at=expires_at,
        )

    async def start_launch(
        self,
        app_user_id: str,
        action: PendingAction | None,
        return_url: str,
        *,
        display: Display = "redirect",
    ) -> FlowLaunch:
        """Service mode: like `start`, but the browser is bound later, by `launch`;
        `display="popup"` ends the flow on a page that posts to the opener window."""
        launch = new_secret()
        expires_at = await self._remember(
            app_user_id,
            action,
            return_url,
            mode="service",
            launch_hash=hash_secret(launch),
            display=display,
        )
        return FlowLaunch(launch_token=launch, expires_at=expires_at)

    async def _remember(
        self,
        app_user_id: str,
        action: PendingAction | None,
        return_url: str,
        *,
        mode: str,
        state_hash: str | None = None,
        binding_hash: str | None = None,
        launch_hash: str | None = None,
        display: Display = "redirect",
    ) -> datetime:
        """Store a new pending flow (hashes only) and log its start; its expiry."""
        return_url = self._check_return_url(return_url, app_user_id)
        now = self.clock()
        expires_at = now + self.state_ttl
        flow_id = uuid.uuid4().hex
        if action is not None and action.idempotency_key is None:
            # The action runs once per key: a repeated callback or confirm must find it.
            action = dataclasses.replace(action, idempotency_key=f"flow:{flow_id}")
        await self.store.add_pending(
            NewPendingAuthorization(
                id=flow_id,
                app_user_id=app_user_id,
                action=action,
                return_url=return_url,
                created_at=now,
                expires_at=expires_at,
                state_hash=state_hash,
                binding_hash=binding_hash,
                launch_hash=launch_hash,
                launch_expires_at=expires_at if launch_hash else None,
                display=display,
            )
        )
        log_event(
            logger,
            "flow.started",
            flow_id=flow_id,
            app_user_id=app_user_id,
            mode=mode,
            display=display,
            action=action.kind if action else None,
        )
        return expires_at

    async def launch(self, launch_token: str) -> FlowStart:
        """Service mode: the browser opened the launch link. Works once per token.

        Binds this browser (cookie) and gives it a fresh state; raises
        `LaunchUnknownError`, `LaunchReplayedError` or `LaunchExpiredError`.
        """
        if not launch_token:
            log_failure(LaunchUnknownError())
            raise LaunchUnknownError()
        now = self.clock()
        state, binding = new_secret(), new_secret()
        expires_at = now + self.state_ttl
        claimed = await self.store.claim_launch(
            hash_secret(launch_token),
            state_hash=hash_secret(state),
            binding_hash=hash_secret(binding),
            expires_at=expires_at,
            now=now,
        )
        if claimed.pending is None:
            error = {
                "replayed": LaunchReplayedError,
                "expired": LaunchExpiredError,
            }.get(claimed.failure or "", LaunchUnknownError)()
            log_failure(error)
            raise error
        log_event(
            logger,
            "flow.launched",
            flow_id=claimed.pending.id,
            app_user_id=claimed.pending.app_user_id,
        )
        return FlowStart(
            authorize_url=self.miro.authorize_url(state),
            binding_cookie_value=binding,
            state_expires_at=expires_at,
        )

    def _check_return_url(self, return_url: str, app_user_id: str) -> str:
        try:
            return check_return_url(return_url, self.allowed_return_urls)
        except AuthorizationError as exc:
            log_failure(exc, app_user_id=app_user_id)
            raise
