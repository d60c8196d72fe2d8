"""Taking an operation's lease and giving it back: shared by everything that writes to
Miro once per idempotency key (`MiroActionRunner`, and the service's proxy through
`miroconnect.actions.forward`).

`Journal.claim` inserts or finds the operation row (`OperationStore.claim`) and, while
another worker holds its lease, waits for that worker's outcome, at most
`in_progress_wait`; `Journal.release` gives a lease back through a short database outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from miroconnect.errors import (
    LeaseLostError,
    MiroAPIError,
    MiroServerError,
    OperationInProgressError,
    RateLimitedError,
    UnauthorizedError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.pending import ActionContext
from miroconnect.storage.operations import Claim, NewOperation, OperationStore
from miroconnect.types import Backoff, Clock, Sleep, system_clock

__all__ = [
    "IN_PROGRESS_RETRY_AFTER",
    "IN_PROGRESS_WAIT",
    "RELEASE_RETRY",
    "Journal",
    "definitive",
    "new_operation",
]

# Giving a lease back after a database error: about 9 s of doubling waits, longer than a
# PostgreSQL restart usually takes.
RELEASE_RETRY = Backoff(attempts=7, first=0.2, maximum=2.0)
# How long a repeat waits for another worker's run of the same key before it gives up with
# `OperationInProgressError` (the other worker may have crashed: its lease, 2 minutes by
# default, must run out before anyone may resume the operation).
IN_PROGRESS_WAIT = timedelta(seconds=15)
IN_PROGRESS_RETRY_AFTER = 5  # seconds: what the error suggests to the caller

# Logged as the runner, whose events these were before the journal was split out of it.
logger = logging.getLogger("miroconnect.actions.runner")


def definitive(error: MiroAPIError) -> bool:
    """An answer that will not change if the same request is sent again: the operation
    fails for good (a 5xx, a 429 or a 401 leaves it to be resumed instead)."""
    return not isinstance(error, MiroServerError | RateLimitedError | UnauthorizedError)


def new_operation(
    context: ActionContext, key: str, kind: str, params: Mapping[str, Any]
) -> NewOperation:
    """The operation of a request with idempotency `key`, run for `context`."""
    return NewOperation(
        app_user_id=context.app_user_id,
        idempotency_key=key,
        kind=kind,
        params=params,
        connection_id=context.connection_id,
        miro_user_id=context.miro_user_id,
        miro_team_id=context.miro_team_id,
        guard=context.guard,
    )


class Journal:
    """The operations table as the runners use it: claim (waiting), release (retrying)."""

    def __init__(
        self,
        operations: OperationStore,
        *,
        clock: Clock = system_clock,
        sleep: Sleep = asyncio.sleep,
        poll_interval: float = 0.05,
        in_progress_wait: timedelta = IN_PROGRESS_WAIT,
    ) -> None:
        self.operations = operations
        self._clock = clock
        self._sleep = sleep
        self._poll = poll_interval
        self._in_progress_wait = in_progress_wait

    async def claim(self, new: NewOperation, *, owner: str, sending: bool) -> Claim:
        """The operation, owned by `owner` now; or done or failed by another (not owned).

        While another worker runs it, polls for its outcome, at most `in_progress_wait`,
        then raises `OperationInProgressError` (nothing was sent for this request).
        `IdempotencyKeyReusedError` if the key was used with another kind or params, or
        settled under another connection or Miro user.
        """
        give_up = self._clock() + self._in_progress_wait
        while True:
            claim = await self.operations.claim(new, owner=owner, sending=sending)
            # The remembered read held for the first claim (or `StaleReadError` was
            # raised): waiting for another worker's outcome does not check it again.
            new = replace(new, guard=None)
            op = claim.operation
            if claim.owned or op.state == "failed":
                return claim
            if op.state == "done" and op.result is not None:
                return claim
            # Another worker runs it: wait for its outcome, but not for as long as a
            # crashed worker's lease lasts.
            if self._clock() >= give_up:
                log_event(
                    logger,
                    "action.in_progress",
                    level=logging.WARNING,
                    operation_id=op.id,
                    action=op.kind,
                )
                raise OperationInProgressError(
                    "another request with this idempotency key is still running; "
                    "repeat it with the same key later",
                    retry_after=IN_PROGRESS_RETRY_AFTER,
                )
            await self._sleep(self._poll)

    async def release(self, op_id: str, owner: str) -> None:
        """Give the lease back, through a short database outage (a restart, a failover).

        A lease left behind makes every retry with this key wait until it runs out (`lease`,
        2 minutes by default) before it can take the operation over. If the database stays
        away, the lease runs out by itself; the caller's own error says what broke.
        """
        for attempt, delay in enumerate(RELEASE_RETRY.delays(), start=1):
            try:
                await self.operations.release(op_id, owner)
                return
            except LeaseLostError:
                return  # another worker took it over: nothing of ours to give back
            except Exception as exc:
                if attempt == RELEASE_RETRY.attempts:
                    log_event(
                        logger,
                        "action.release_failed",
                        level=logging.WARNING,
                        operation_id=op_id,
                        error_type=type(exc).__name__,
                    )
                    return
                await self._sleep(delay)
