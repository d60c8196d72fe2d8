"""Closing service-mode consents that will not become connections.

A held consent that the host confirmed for another user (`refused`), or that nobody
confirmed in time (`expired`), gives its grant back to Miro (`POST /v2/oauth/revoke`) and
loses its tokens. `ConnectFlow.confirm` does it at once; `close_stale_consents`, run by
`miroconnect maintain`, does it for consents nobody confirmed, and finishes a revoke that a
crash interrupted (a decided consent that still holds tokens).
"""

from __future__ import annotations

import logging

from miroconnect.logs import log_event
from miroconnect.oauth.miro import MiroOAuthClient
from miroconnect.oauth.store import ConsentStatus, ConsentStore, HeldConsent
from miroconnect.types import Clock

__all__ = ["close_stale_consents", "revoke_consent"]

logger = logging.getLogger(__name__)


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
