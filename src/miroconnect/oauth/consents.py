"""Service mode's consents: held at the callback until the host app confirms whose they are.

At the callback of a service-mode flow nothing the browser carries proves which of the
host's users it belongs to, so `HeldConsents.hold` keeps the tokens (encrypted, unusable)
under a one-time result; the host's backend, which knows its signed-in user, calls
`confirm`. Only the user the flow was started for gets the connection and the action.

A held consent that the host confirmed for another user (`refused`), or that nobody
confirmed in time (`expired`), gives its grant back to Miro (`POST /v2/oauth/revoke`) and
loses its tokens. `confirm` does it at once; `close_stale_consents`, run by `miroconnect
maintain`, does it for consents nobody confirmed, and finishes a revoke that a crash
interrupted (a decided consent that still holds tokens).
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from miroconnect.errors import (
    AuthorizationError,
    FlowUserMismatchError,
    MiroConnectError,
    ResultExpiredError,
    ResultUnknownError,
    ResultUsedError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.miro import MiroOAuthClient
from miroconnect.oauth.outcomes import Confirmed, FlowHeld, log_failure
from miroconnect.oauth.params import hash_secret, new_secret
from miroconnect.oauth.pending import ActionResult, PendingAction
from miroconnect.oauth.store import (
    ConsentStatus,
    ConsentStore,
    HeldConsent,
    NewHeldConsent,
    PendingAuthorization,
)
from miroconnect.oauth.tokens import Connection, MiroIdentity, TokenSet
from miroconnect.oauth.vault import TokenVault
from miroconnect.types import Clock

__all__ = ["CONSENT_TTL", "HeldConsents", "close_stale_consents", "revoke_consent"]

# The detail of a confirm for another user once the flow's own user has confirmed.
ALREADY_CONFIRMED = (
    "Service mode: this result was already confirmed for the app user the flow was "
    "started for; a confirm for another user changes nothing."
)

# How long a held service-mode consent waits for the host's confirm.
CONSENT_TTL = timedelta(minutes=10)

# Logged as the flow's events, as before this module was split out of it.
logger = logging.getLogger("miroconnect.oauth.flow")


async def revoke_consent(
    consents: ConsentStore, miro: MiroOAuthClient, consent: HeldConsent, reason: str
) -> bool:
    """Revoke a refused or expired consent's grant at Miro, then delete its tokens; True
    when Miro confirmed. The tokens are deleted even when Miro cannot be reached: nobody
    may use them any more."""
    revoked = False
    if consent.tokens is not None:
        revoked = await miro.revoke(consent.tokens.access_token)
    await consents.forget_consent_tokens(consent.id)
    log_event(
        logger,
        "flow.consent_revoked",
        level=logging.INFO if revoked else logging.WARNING,
        consent_id=consent.id,
        flow_id=consent.flow_id,
        app_user_id=consent.app_user_id,
        reason=reason,
        revoked_at_miro=revoked,
    )
    return revoked


async def close_stale_consents(
    consents: ConsentStore,
    miro: MiroOAuthClient,
    *,
    clock: Clock,
    batch_size: int = 200,
) -> int:
    """Expire and revoke consents nobody confirmed in time, and finish interrupted
    revokes; returns how many were closed."""
    closed = 0
    while True:
        now = clock()
        due = await consents.consents_to_close(now=now, limit=batch_size)
        for consent in due:
            if consent.status is ConsentStatus.HELD and not (
                await consents.expire_consent(consent.id, now=now)
            ):
                continue  # confirmed (or refused) meanwhile
            reason = "result_expired"
            if consent.status is ConsentStatus.REFUSED:
                reason = "flow_user_mismatch"
            await revoke_consent(consents, miro, consent, reason)
            closed += 1
        if len(due) < batch_size:
            return closed


class HeldConsents:
    """Service mode's consents: held at the callback, decided by the host's confirm.

    `ConnectFlow` holds a consent here at the callback of a service-mode flow and hands
    `confirm` through; `run` is the flow's way to run a pending action (if any) on a
    connection: its result, or the error that stopped it.
    """

    def __init__(
        self,
        store: ConsentStore,
        *,
        miro: MiroOAuthClient,
        vault: TokenVault,
        run: Callable[
            [PendingAction | None, Connection, TokenSet | None],
            Awaitable[tuple[ActionResult | None, MiroConnectError | None]],
        ],
        clock: Clock,
        ttl: timedelta = CONSENT_TTL,
    ) -> None:
        self.store = store
        self.miro = miro
        self.vault = vault
        self._run = run
        self.clock = clock
        self.ttl = ttl

    async def hold(
        self,
        pending: PendingAuthorization,
        identity: MiroIdentity,
        tokens: TokenSet,
        return_url: str,
    ) -> FlowHeld:
        """Keep a service-mode consent's tokens, unusable, for the host's confirm."""
        result = new_secret()
        now = self.clock()
        consent = NewHeldConsent(
            id=uuid.uuid4().hex,
            result_hash=hash_secret(result),
            flow_id=pending.id,
            app_user_id=pending.app_user_id,
            action=pending.action,
            identity=identity,
            tokens=tokens,
            created_at=now,
            expires_at=now + self.ttl,
        )
        try:
            await self.store.hold_consent(consent)
        except BaseException:
            # Nothing stored: give the grant back rather than leave it with Miro.
            await self.miro.revoke(tokens.access_token)
            raise
        log_event(
            logger,
            "flow.consent_held",
            flow_id=pending.id,
            app_user_id=pending.app_user_id,
            consent_id=consent.id,
            miro_team_id=identity.team_id,
        )
        return FlowHeld(return_url, result, consent.expires_at, display=pending.display)

    async def confirm(self, app_user_id: str, result: str) -> Confirmed:
        """Service mode: the host app says which of its users came back with `result`.

        For the user the flow was started for, the held tokens become that user's
        connection and the pending action runs (exactly once: a repeat gets the first
        answer). For anyone else, `FlowUserMismatchError`: the grant is revoked at Miro,
        the tokens deleted, and nothing changes for either user. Also
        `ResultUnknownError`, `ResultUsedError` (refused before) and `ResultExpiredError`.
        """
        try:
            return await self._confirm(app_user_id, result)
        except MiroConnectError as exc:
            log_failure(exc, app_user_id=app_user_id)
            raise

    async def _confirm(self, app_user_id: str, result: str) -> Confirmed:
        if not result:
            raise ResultUnknownError()
        now = self.clock()

        def decide(consent: HeldConsent) -> ConsentStatus | None:
            # Under the consent's lock, in the store's transaction (maybe on the
            # database's thread): what the consent becomes, or an error (no change).
            own = hmac.compare_digest(
                app_user_id.encode(), consent.app_user_id.encode()
            )
            if consent.status is ConsentStatus.CONFIRMED:
                if not own:
                    # Decided before, for the flow's user: nothing changes (no revoke).
                    raise FlowUserMismatchError(ALREADY_CONFIRMED)
                return None  # a repeat of the flow user's confirm
            if consent.status is ConsentStatus.REFUSED:
                raise ResultUsedError()
            if consent.status is ConsentStatus.EXPIRED:
                raise ResultExpiredError()
            if now >= consent.expires_at:
                return ConsentStatus.EXPIRED
            if not own:
                return ConsentStatus.REFUSED
            return ConsentStatus.CONFIRMED

        decided = await self.store.decide_consent(hash_secret(result), decide, now=now)
        if decided is None:
            raise ResultUnknownError()
        # Committed: the decision holds whatever happens next.
        consent, connection = decided.consent, decided.connection
        if decided.status in (ConsentStatus.EXPIRED, ConsentStatus.REFUSED):
            refusal: AuthorizationError = (
                ResultExpiredError()
                if decided.status is ConsentStatus.EXPIRED
                else FlowUserMismatchError()
            )
            await revoke_consent(self.store, self.miro, consent, refusal.reason)
            raise refusal
        repeated = connection is None
        if connection is None:
            assert consent.connection_id is not None  # noqa: S101  # set by activate
            connection = await self.vault.get(consent.connection_id)
        else:
            log_event(
                logger,
                "flow.consent_confirmed",
                consent_id=consent.id,
                flow_id=consent.flow_id,
                app_user_id=consent.app_user_id,
                connection_id=connection.id,
                miro_team_id=connection.miro_team_id,
            )
        # Just activated: the action starts from the consent's tokens, not a new read.
        fresh = None if repeated else consent.tokens
        action_result, action_error = await self._run(consent.action, connection, fresh)
        return Confirmed(
            connection,
            consent.action,
            action_result,
            action_error=action_error,
            repeated=repeated,
        )
