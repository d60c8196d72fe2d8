"""The async Miro REST client: `MiroClient` over an injected `httpx2.AsyncClient`."""

from __future__ import annotations

from miroconnect.client.api import DEFAULT_API_URL, MiroClient, shared_pacer
from miroconnect.client.auth import MiroAuth, StaticTokenSource
from miroconnect.client.pacing import (
    CREDITS_BY_LEVEL,
    CreditPacer,
    MemoryPacingStore,
    PacingStore,
    RateLimitReading,
)
from miroconnect.client.retry import RetryPolicy

__all__ = [
    "CreditPacer",
    "CREDITS_BY_LEVEL",
    "DEFAULT_API_URL",
    "MemoryPacingStore",
    "MiroAuth",
    "MiroClient",
    "PacingStore",
    "RateLimitReading",
    "RetryPolicy",
    "shared_pacer",
    "StaticTokenSource",
]
