"""`MiroActionRunner`: what a click does on Miro, done exactly once.

Miro has no idempotency key, so the runner keeps its own: every run is an operation row
(`OperationStore`) committed before the request leaves (pending -> sent -> done/failed).
A 429 was not processed and is simply sent again once credits are back (the client does
that). After an ambiguous failure (connection dropped after sending, timeout, 5xx) the
runner reconciles before it sends again: it lists the team's boards newest first and adopts
the board with the operation's name, created by the same Miro user after the operation
began, that no other operation has adopted (a unique column guarantees that).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx2

from miroconnect.actions.operations import Operation, OperationStore
from miroconnect.client import DEFAULT_API_URL, CreditPacer, MiroClient, RetryPolicy
from miroconnect.client.models import Board, FrameData, Position, StickyNoteData
from miroconnect.client.pacing import Sleep
from miroconnect.errors import (
    ActionError,
    ActionFailedError,
    LeaseLostError,
    MiroAPIError,
    MiroServerError,
    MiroTransportError,
    OperationInProgressError,
    RateLimitedError,
    UnauthorizedError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.actions import ActionContext, ActionResult, PendingAction
from miroconnect.storage.db import Database
from miroconnect.types import Clock, system_clock

__all__ = ["DEFAULT_STARTER_NOTES", "KINDS", "MiroActionRunner"]

KINDS = ("create_board", "copy_board", "share_board", "add_starter_content")
DEFAULT_STARTER_NOTES = ("Goals", "Ideas", "Next steps")
# Giving a lease back after a database error: attempts, and the first wait (doubling, at
# most 2 s): about 9 s in all, longer than a PostgreSQL restart usually takes.
RELEASE_ATTEMPTS = 7
RELEASE_RETRY_DELAY = 0.2
RELEASE_RETRY_MAX_DELAY = 2.0
# How long a repeat waits for another worker's run of the same key before it gives up with
# `OperationInProgressError` (the other worker may have crashed: its lease, 2 minutes by
# default, must run out before anyone may resume the operation).
IN_PROGRESS_WAIT = timedelta(seconds=15)
IN_PROGRESS_RETRY_AFTER = 5  # seconds: what the error suggests to the caller

logger = logging.getLogger(__name__)


def _text(
    params: Mapping[str, Any], key: str, *, limit: int, required: bool
) -> str | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise ActionError(f"{key!r} must be a text of 1 to {limit} characters")
    return value


def _validate(action: PendingAction) -> None:
    """Refuse bad input before anything is written or sent."""
    p = action.params
    if action.kind not in KINDS:
        raise ActionError(f"unknown action {action.kind!r}; known: {', '.join(KINDS)}")
    if action.kind == "create_board":
        _text(p, "name", limit=60, required=True)
        description = p.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > 300
        ):
            raise ActionError("'description' must be a text of at most 300 characters")
    elif action.kind == "copy_board":
        _text(p, "template_board_id", limit=64, required=True)
        _text(p, "name", limit=60, required=True)
    elif action.kind == "share_board":
        _text(p, "board_id", limit=64, required=True)
        emails = p.get("emails")
        if (
            not isinstance(emails, list | tuple)
            or not 1 <= len(emails) <= 20
            or not all(isinstance(e, str) and "@" in e for e in emails)
        ):
            raise ActionError("'emails' must be a list of 1 to 20 email addresses")
        role = p.get("role", "commenter")
        if role not in ("viewer", "commenter", "editor", "coowner", "owner"):
            raise ActionError(
                "'role' must be viewer, commenter, editor, coowner or owner"
            )
    else:
        _text(p, "board_id", limit=64, required=True)
    if action.kind in ("create_board", "copy_board", "add_starter_content"):
        notes = p.get("notes")
        if notes is not None and (
            not isinstance(notes, list | tuple)
            or not all(isinstance(n, str) and n for n in notes)
        ):
            raise ActionError("'notes' must be a list of texts")
        if p.get("frame_title") is not None:
            _text(p, "frame_title", limit=200, required=False)


def _board_data(board: Board) -> dict[str, Any]:
    return {
        "board_id": board.id,
        "view_link": board.view_link or f"https://miro.com/app/board/{board.id}/",
        "name": board.name,
    }


def _definitive(error: MiroAPIError) -> bool:
    """An answer that will not change if the same request is sent again."""
    return not isinstance(error, MiroServerError | RateLimitedError | UnauthorizedError)


class MiroActionRunner:
    """Runs `PendingAction`s for connected users, each exactly once per idempotency key.

    ```python
    runner = MiroActionRunner(db, http)
    result = await runner.run(
        PendingAction("create_board", {"name": "Sprint 12"}, idempotency_key=click_id),
        context,
    )
    result.data["view_link"]
    ```

    Kinds: `create_board` {name, description?, starter_content?, notes?, frame_title?},
    `copy_board` {template_board_id, name, starter_content?...}, `share_board` {board_id,
    emails, role?}, `add_starter_content` {board_id, notes?, frame_title?}. The same key
    again (double click, refreshed callback, retried API call) returns the first result;
    while the first run is still going, the repeat waits for it, at most `in_progress_wait`,
    then raises `OperationInProgressError` (retry later with the same key).
    """

    def __init__(
        self,
        db: Database,
        http: httpx2.AsyncClient,
        *,
        base_url: str = DEFAULT_API_URL,
        pacer: CreditPacer | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock = system_clock,
        sleep: Sleep = asyncio.sleep,
        attempts: int = 8,
        lease: timedelta = timedelta(minutes=2),
        clock_skew: timedelta = timedelta(seconds=30),
        poll_interval: float = 0.05,
        in_progress_wait: timedelta = IN_PROGRESS_WAIT,
    ) -> None:
        self.operations = OperationStore(db, clock=clock, lease=lease)
        self._http = http
        self._base_url = base_url
        self._pacer = pacer
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._attempts = attempts
        # Miro's clock and ours differ a little: a board made by this operation may carry
        # a creation time slightly before the operation's start.
        self._skew = clock_skew
        self._poll = poll_interval
        self._clock = clock
        self._in_progress_wait = in_progress_wait

    async def run(self, action: PendingAction, context: ActionContext) -> ActionResult:
        """Run `action` for `context`'s user, or return the result of its first run."""
        _validate(action)
        key = action.idempotency_key or uuid4().hex
        owner = uuid4().hex
        # A board kind sends its create request first: a new row is inserted as `sent`.
        creates = action.kind in ("create_board", "copy_board")
        give_up = self._clock() + self._in_progress_wait
        while True:
            claim = await self.operations.claim(
                app_user_id=context.app_user_id,
                idempotency_key=key,
                kind=action.kind,
                params=action.params,
                connection_id=context.connection_id,
                miro_user_id=context.miro_user_id,
                miro_team_id=context.miro_team_id,
                owner=owner,
                sending=creates,
            )
            op = claim.operation
            if op.state == "done" and op.result is not None:
                return ActionResult(op.kind, op.result)
            if op.state == "failed":
                raise ActionFailedError(op.error or "the action failed")
            if claim.owned:
                break
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

        client = MiroClient(
            self._http,
            context.tokens,
            base_url=self._base_url,
            pacer=self._pacer,
            retry=self._retry,
            sleep=self._sleep,
        )
        try:
            data = await self._execute(op, owner, client, context, fresh=claim.created)
            await self.operations.finish(op.id, owner, data)
        except MiroAPIError as error:
            if _definitive(error):
                await self.operations.fail(op.id, owner, str(error))
            else:
                await self._release(op.id, owner)
            raise
        except BaseException:
            # Unreachable Miro, a dead connection, the database gone, a cancelled task:
            # the outcome is open, so the row stays pending/sent and the next run with
            # this key resumes it (reconciling first).
            await asyncio.shield(self._release(op.id, owner))
            raise
        return ActionResult(op.kind, data)

    async def _release(self, op_id: str, owner: str) -> None:
        """Give the lease back, through a short database outage (a restart, a failover).

        A lease left behind makes every retry with this key wait until it runs out (`lease`,
        2 minutes by default) before it can take the operation over. If the database stays
        away, the lease runs out by itself; the caller's own error says what broke.
        """
        delay = RELEASE_RETRY_DELAY
        for attempt in range(1, RELEASE_ATTEMPTS + 1):
            try:
                await self.operations.release(op_id, owner)
                return
            except LeaseLostError:
                return  # another worker took it over: nothing of ours to give back
            except Exception as exc:
                if attempt == RELEASE_ATTEMPTS:
                    log_event(
                        logger,
                        "action.release_failed",
                        level=logging.WARNING,
                        operation_id=op_id,
                        error_type=type(exc).__name__,
                    )
                    return
                await self._sleep(delay)
                delay = min(delay * 2, RELEASE_RETRY_MAX_DELAY)

    # -- the kinds ------------------------------------------------------------------------

    async def _execute(
        self,
        op: Operation,
        owner: str,
        client: MiroClient,
        context: ActionContext,
        *,
        fresh: bool,
    ) -> dict[str, Any]:
        p = op.params
        if op.kind in ("create_board", "copy_board"):
            name = str(p["name"])
            if op.kind == "create_board":

                def send() -> Awaitable[Board]:
                    return client.boards.create(
                        name=name,
                        description=p.get("description"),
                        team_id=context.miro_team_id,
                    )

            else:

                def send() -> Awaitable[Board]:
                    return client.boards.copy(
                        str(p["template_board_id"]),
                        name=name,
                        team_id=context.miro_team_id,
                    )

            board = await self._create_once(
                op, owner, client, context, name, send, fresh=fresh
            )
            data = _board_data(board)
            if p.get("starter_content") or p.get("notes") or p.get("frame_title"):
                await self._starter_content(op, owner, client, board.id)
            return data
        if op.kind == "share_board":
            return await self._share(op, owner, client)
        board_id = str(p["board_id"])
        await self._starter_content(op, owner, client, board_id)
        return {"board_id": board_id}

    async def _create_once(
        self,
        op: Operation,
        owner: str,
        client: MiroClient,
        context: ActionContext,
        name: str,
        send: Callable[[], Awaitable[Board]],
        *,
        fresh: bool,
    ) -> Board:
        if op.created_board_id is not None:
            # An earlier run made (or adopted) the board and stopped before the end.
            return await client.boards.get(op.created_board_id)
        # `sent` from an earlier run: that request may have created the board. A row
        # this run inserted is `sent` already, with nothing sent yet (`claim(sending=)`).
        ambiguous = op.state == "sent" and not fresh
        marked = fresh
        last: Exception | None = None
        for attempt in range(self._attempts):
            sending = False
            try:
                if ambiguous:
                    found = await self._reconcile(op, owner, client, context, name)
                    if found is not None:
                        return found
                if not marked:
                    await self.operations.mark_sent(op.id, owner)
                marked = False
                sending = True
                board = await send()
            except MiroTransportError as error:
                if sending:
                    ambiguous = error.maybe_processed
                last = error
            except (MiroServerError, RateLimitedError) as error:
                if sending:  # a 429 was not processed; a 5xx may have been
                    ambiguous = isinstance(error, MiroServerError)
                last = error
            else:
                if not await self.operations.adopt_board(op.id, owner, board.id):
                    raise ActionError("a new board id is already recorded (impossible)")
                return board
            await self._sleep(self._retry.backoff(attempt))
        assert last is not None  # noqa: S101 (the loop ran at least once)
        raise last

    async def _reconcile(
        self,
        op: Operation,
        owner: str,
        client: MiroClient,
        context: ActionContext,
        name: str,
    ) -> Board | None:
        """Adopt the board an earlier, unanswered request of this operation made.

        Another operation with the same name may adopt "our" board first; then the board
        its own request made is ours to take, and it exists by now (that operation only
        reconciles after its request was answered or broke): so list again while new
        candidates appear.
        """
        since = op.started_at - self._skew
        tried: set[str] = set()
        while True:
            candidates: list[Board] = []
            async for board in client.boards.list(
                team_id=context.miro_team_id, sort="last_created"
            ):
                if board.created_at is not None and board.created_at < since:
                    break  # newest first: everything further is older still
                if (
                    board.name == name
                    and board.created_by is not None
                    and board.created_by.id == context.miro_user_id
                    and board.id not in tried
                ):
                    candidates.append(board)
            if not candidates:
                return None
            for board in reversed(candidates):  # the oldest unclaimed one is ours
                if await self.operations.adopt_board(op.id, owner, board.id):
                    return board
                tried.add(board.id)

    async def _share(
        self, op: Operation, owner: str, client: MiroClient
    ) -> dict[str, Any]:
        # Inviting the same people twice is harmless: on ambiguity, simply send again.
        p = op.params
        emails: Sequence[str] = list(p["emails"])
        for attempt in range(self._attempts):
            await self.operations.mark_sent(op.id, owner)
            try:
                result = await client.members.share(
                    str(p["board_id"]), emails, role=str(p.get("role", "commenter"))
                )
            except (MiroTransportError, MiroServerError, RateLimitedError):
                if attempt + 1 == self._attempts:
                    raise
                await self._sleep(self._retry.backoff(attempt))
                continue
            return {
                "board_id": p["board_id"],
                "invited": list(result.successful),
                "failed": [f.email for f in result.failed],
            }
        raise AssertionError("unreachable")  # pragma: no cover

    async def _starter_content(
        self, op: Operation, owner: str, client: MiroClient, board_id: str
    ) -> None:
        """A few sticky notes (and a frame if asked), each made once: on ambiguity the
        board's items are listed and what is already there is not made again."""
        p = op.params
        notes = list(p.get("notes") or DEFAULT_STARTER_NOTES)
        frame_title = p.get("frame_title")
        for attempt in range(self._attempts):
            await self.operations.mark_sent(op.id, owner)
            try:
                present_notes: set[str] = set()
                present_frames: set[str] = set()
                async for item in client.items.list(board_id):
                    content = (item.data or {}).get("content")
                    title = (item.data or {}).get("title")
                    if item.type == "sticky_note" and isinstance(content, str):
                        present_notes.add(content)
                    if item.type == "frame" and isinstance(title, str):
                        present_frames.add(title)
                if frame_title and frame_title not in present_frames:
                    await client.frames.create(
                        board_id, data=FrameData(title=frame_title)
                    )
                for i, note in enumerate(notes):
                    if note not in present_notes:
                        await client.sticky_notes.create(
                            board_id,
                            data=StickyNoteData(content=note),
                            position=Position(x=i * 250.0, y=0.0),
                        )
                return
            except (MiroTransportError, MiroServerError, RateLimitedError):
                if attempt + 1 == self._attempts:
                    raise
                await self._sleep(self._retry.backoff(attempt))
