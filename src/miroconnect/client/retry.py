"""When and how long the client waits before sending a call again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for calls that are safe to repeat, and for 429s.

    - An idempotent call (GET, PATCH, DELETE, most PUTs) that meets a 5xx or a network error
      is sent again up to `attempts` times in all, after a jittered exponential backoff
      ("full jitter": a uniform draw below `base_delay * 2**n`, capped at `max_delay`).
    - Any call answered 429 was not processed: it is sent again after `X-RateLimit-Reset`,
      up to `rate_limited_attempts` times.

    Calls that create something (POST, board copy) are never repeated blindly: the action
    runner reconciles first.
    """

    attempts: int = 4
    rate_limited_attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry))
        return self.rng.uniform(0.0, ceiling)
