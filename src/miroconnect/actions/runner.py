"""`MiroActionRunner`: what a click does on Miro, done exactly once.

Miro has no idempotency key, so the runner keeps its own: every run is an operation row
(`OperationStore`) committed before the request leaves (pending -> sent -> done/failed),
keyed by (app user, idempotency key). The worker that claims the row holds its lease and
does the work (`miroconnect.actions.steps`); a repeat of the key waits for that worker's
outcome, or, once its lease ran out (a crash), takes the operation over and reconciles
before sending anything again. A 429 was not processed and is sent again once credits are
back (the client does that); a definitive refusal fails the operation for good (the same
key then repeats the failure).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx2

from miroconnect.actions.journal import (
    IN_PROGRESS_WAIT,
    Journal,
    definitive,
    new_operation,
)
from miroconnect.actions.kinds import (
    Action,
    AddStarterContent,
    CopyBoard,
    CreateBoard,
    ShareBoard,
    parse_action,
)
from miroconnect.actions.steps import Steps, board_data
from miroconnect.client import DEFAULT_API_URL, CreditPacer, MiroClient, RetryPolicy
from miroconnect.client.models import Board
from miroconnect.errors import (
    ActionFailedError,
    MiroAPIError,
)
from miroconnect.oauth.pending import ActionContext, ActionResult, PendingAction
from miroconnect.storage.operations import BOARD_KINDS, Claim, OperationStore
from miroconnect.storage.outbox import board_event
from miroconnect.types import Clock, Sleep, system_clock

__all__ = ["MiroActionRunner"]


class MiroActionRunner:
    """Runs `PendingAction`s for connected users, each exactly once per idempotency key.

    ```python
    runner = MiroActionRunner(OperationStore(db), http)
    result = await runner.run(CreateBoard(name="Sprint 12").pending(click_id), context)
    result.data["view_link"]
    ```

    The kinds are the models of `miroconnect.actions.kinds`. The same key again (double
    click, refreshed callback, retried API call) returns the first result; while the
    first run is still going, the repeat waits for it, at most `in_progress_wait`, then
    raises `OperationInProgressError` (retry later with the same key). The same key with
    other parameters raises `IdempotencyKeyReusedError`.
    """

    def __init__(
        self,
        operations: OperationStore,
        http: httpx2.AsyncClient,
        *,
        base_url: str = DEFAULT_API_URL,
        pacer: CreditPacer | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock = system_clock,
        sleep: Sleep = asyncio.sleep,
        attempts: int = 8,
        clock_skew: timedelta = timedelta(seconds=30),
        poll_interval: float = 0.05,
        in_progress_wait: timedelta = IN_PROGRESS_WAIT,
    ) -> None:
        self._journal = Journal(
            operations,
            clock=clock,
            sleep=sleep,
            poll_interval=poll_interval,
            in_progress_wait=in_progress_wait,
        )
        self._http = http
        self._base_url = base_url
        self._pacer = pacer
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._attempts = attempts
        self._skew = clock_skew

    @property
    def operations(self) -> OperationStore:
        """The operations table this runner journals to."""
        return self._journal.operations

    @operations.setter
    def operations(self, store: OperationStore) -> None:
        self._journal.operations = store

    async def run(self, action: PendingAction, context: ActionContext) -> ActionResult:
        """Run `action` for `context`'s user, or return the result of its first run."""
        parsed = parse_action(action)  # bad input: refused before anything is written
        key = action.idempotency_key or uuid4().hex
        owner = uuid4().hex
        claim = await self._claim(action, key, owner, context)
        op = claim.operation
        if not claim.owned:
            if op.state == "failed":
                raise ActionFailedError(op.error or "the action failed")
            assert op.result is not None  # noqa: S101  # `_claim` returns it done
            return ActionResult(op.kind, op.result, op.finished_at)
        client = MiroClient(
            self._http,
            context.tokens,
            base_url=self._base_url,
            pacer=self._pacer,
            retry=self._retry,
            sleep=self._sleep,
        )
        steps = Steps(
            self.operations,
            op,
            owner,
            client,
            context,
            attempts=self._attempts,
            retry=self._retry,
            sleep=self._sleep,
            skew=self._skew,
        )
        try:
            # A new row holds the params just parsed; an older one is parsed as stored.
            data = await self._execute(
                steps, fresh=claim.created, action=parsed if claim.created else None
            )
            # A new board not yet on the row is recorded by the same statement, and so
            # is its `board.created` event when webhooks are on (only the run that
            # finishes the operation gets here: a repeat of the key does not).
            event = None
            if self.operations.records_events and op.kind in BOARD_KINDS:
                event = board_event(context, data)
            finished_at = await self.operations.finish(
                op.id, owner, data, board_id=steps.unrecorded_board, event=event
            )
        except MiroAPIError as error:
            if definitive(error):
                await self.operations.fail(op.id, owner, str(error))
            else:
                await self._journal.release(op.id, owner)
            raise
        except BaseException:
            # Unreachable Miro, a dead connection, the database gone, a cancelled task:
            # the outcome is open, so the row stays pending/sent and the next run with
            # this key resumes it (reconciling first).
            await asyncio.shield(self._journal.release(op.id, owner))
            raise
        return ActionResult(op.kind, data, finished_at)

    async def _claim(
        self, action: PendingAction, key: str, owner: str, context: ActionContext
    ) -> Claim:
        """The operation, owned by this run; or done or failed by another (not owned).
        Waits while another worker runs it, at most `in_progress_wait`."""
        return await self._journal.claim(
            new_operation(context, key, action.kind, action.params),
            owner=owner,
            # A board kind sends its create request first: a new row is `sent`.
            sending=action.kind in (CreateBoard.kind, CopyBoard.kind),
        )

    async def _execute(
        self, steps: Steps, *, fresh: bool, action: Action | None = None
    ) -> dict[str, Any]:
        """Dispatch on the operation's kind: `action`, or the operation's parameters
        validated again, as stored."""
        op = steps.op
        if action is None:
            action = parse_action(PendingAction(op.kind, op.params))
        team_id = steps.context.miro_team_id
        if isinstance(action, CreateBoard | CopyBoard):
            client = steps.client
            if isinstance(action, CreateBoard):
                board_action = action

                def send() -> Awaitable[Board]:
                    return client.boards.create(
                        name=board_action.name,
                        description=board_action.description,
                        team_id=team_id,
                    )

            else:
                copy_action = action

                def send() -> Awaitable[Board]:
                    return client.boards.copy(
                        copy_action.template_board_id,
                        name=copy_action.name,
                        team_id=team_id,
                    )

            # Starter content comes after the board: the board is recorded first, so a
            # resumed run adds the content to it. Alone, it is recorded by `finish`.
            board = await steps.create_board_once(
                action.name, send, fresh=fresh, record_now=action.wants_content
            )
            if action.wants_content:
                await steps.starter_content(action, board.id)
            return board_data(board)
        if isinstance(action, ShareBoard):
            return await steps.share(action)
        assert isinstance(action, AddStarterContent)  # noqa: S101  # the last kind
        await steps.starter_content(action, action.board_id)
        return {"board_id": action.board_id}
