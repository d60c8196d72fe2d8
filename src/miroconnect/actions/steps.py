"""The Miro work of one operation, each step made once even when Miro's answer is lost.

`Steps` is one run of one operation, by the worker that holds its lease. Creating a board
is the hard case: Miro has no idempotency key, so every request is committed as `sent`
before it leaves, and after an ambiguous failure (a dropped connection, a timeout, a 5xx)
the board an unanswered request may have made is looked for before anything is sent
again (`reconcile`). Inviting people and adding starter content are repeated safely
instead: an invitation sent twice invites once, and content already on the board is not
made again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from miroconnect.actions.kinds import ShareBoard, StarterContent
from miroconnect.client import MiroClient, RetryPolicy
from miroconnect.client.models import Board, FrameData, Position, StickyNoteData
from miroconnect.errors import (
    ActionError,
    MiroServerError,
    MiroTransportError,
    RateLimitedError,
)
from miroconnect.oauth.pending import ActionContext
from miroconnect.storage.operations import Operation, OperationStore
from miroconnect.types import Sleep

__all__ = ["DEFAULT_STARTER_NOTES", "Steps", "board_data"]

DEFAULT_STARTER_NOTES = ("Goals", "Ideas", "Next steps")
# Errors after which the same request may simply be sent again (not processed, or Miro's
# answer will differ next time).
_TRANSIENT = (MiroTransportError, MiroServerError, RateLimitedError)


def board_data(board: Board) -> dict[str, Any]:
    """An action's result for a board: id, link and name."""
    return {
        "board_id": board.id,
        "view_link": board.view_link or f"https://miro.com/app/board/{board.id}/",
        "name": board.name,
    }


@dataclass
class Steps:
    """One run of `op` by the worker `owner` (see the module docstring)."""

    operations: OperationStore
    op: Operation
    owner: str
    client: MiroClient
    context: ActionContext
    attempts: int
    retry: RetryPolicy
    sleep: Sleep
    # Miro's clock and ours differ a little: a board made by this operation may carry a
    # creation time slightly before the operation's start.
    skew: timedelta
    # A board this run made and has not yet recorded on the operation's row: the caller
    # records it with the outcome (`OperationStore.finish(..., board_id=...)`).
    unrecorded_board: str | None = None

    async def create_board_once(
        self,
        name: str,
        send: Callable[[], Awaitable[Board]],
        *,
        fresh: bool,
        record_now: bool = True,
    ) -> Board:
        """The board this operation creates, made at most once.

        `fresh`: this run inserted the operation (committed `sent`, nothing sent yet).
        `record_now=False`: a board Miro just made is left in `unrecorded_board` for the
        caller to record with the outcome, one statement for both. Until then the row
        says `sent`, so a crash in between is reconciled like any lost answer.
        """
        op = self.op
        if op.created_board_id is not None:
            # An earlier run made (or adopted) the board and stopped before the end.
            return await self.client.boards.get(op.created_board_id)
        # `sent` from an earlier run: that request may have created the board.
        ambiguous = op.state == "sent" and not fresh
        marked = fresh
        last: Exception | None = None
        for attempt in range(self.attempts):
            sending = False
            try:
                if ambiguous:
                    found = await self.reconcile(name)
                    if found is not None:
                        return found
                if not marked:
                    await self.operations.mark_sent(op.id, self.owner)
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
                if not record_now:
                    self.unrecorded_board = board.id
                elif not await self.operations.adopt_board(op.id, self.owner, board.id):
                    raise ActionError("a new board id is already recorded (impossible)")
                return board
            await self.sleep(self.retry.backoff(attempt))
        assert last is not None  # noqa: S101 (the loop ran at least once)
        raise last

    async def reconcile(self, name: str) -> Board | None:
        """Adopt the board an earlier, unanswered request of this operation made.

        The team's boards, newest first (`team_id` is the filter Miro's search index
        answers at once), made by this Miro user with this name after the operation
        began, that no other operation adopted (a unique column decides). Another
        operation with the same name may adopt "our" board first; then the board its own
        request made is ours to take, and it exists by now (that operation only
        reconciles after its request was answered or broke): so list again while new
        candidates appear.
        """
        context = self.context
        since = self.op.started_at - self.skew
        tried: set[str] = set()
        while True:
            candidates: list[Board] = []
            async for board in self.client.boards.list(
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
                if await self.operations.adopt_board(self.op.id, self.owner, board.id):
                    return board
                tried.add(board.id)

    async def share(self, action: ShareBoard) -> dict[str, Any]:
        """Invite `action.emails`; on ambiguity simply again (twice invites once)."""
        for attempt in range(self.attempts):
            await self.operations.mark_sent(self.op.id, self.owner)
            try:
                result = await self.client.members.share(
                    action.board_id, list(action.emails), role=action.role
                )
            except _TRANSIENT:
                if attempt + 1 == self.attempts:
                    raise
                await self.sleep(self.retry.backoff(attempt))
                continue
            return {
                "board_id": action.board_id,
                "invited": list(result.successful),
                "failed": [failure.email for failure in result.failed],
            }
        raise AssertionError("unreachable")  # pragma: no cover

    async def starter_content(self, action: StarterContent, board_id: str) -> None:
        """A few sticky notes (and a frame if asked), each made once: on ambiguity the
        board's items are listed and what is already there is not made again."""
        notes = list(action.notes or DEFAULT_STARTER_NOTES)
        for attempt in range(self.attempts):
            await self.operations.mark_sent(self.op.id, self.owner)
            try:
                await self._add_missing(board_id, notes, action.frame_title)
                return
            except _TRANSIENT:
                if attempt + 1 == self.attempts:
                    raise
                await self.sleep(self.retry.backoff(attempt))

    async def _add_missing(
        self, board_id: str, notes: list[str], frame_title: str | None
    ) -> None:
        present_notes: set[str] = set()
        present_frames: set[str] = set()
        async for item in self.client.items.list(board_id):
            content = (item.data or {}).get("content")
            title = (item.data or {}).get("title")
            if item.type == "sticky_note" and isinstance(content, str):
                present_notes.add(content)
            if item.type == "frame" and isinstance(title, str):
                present_frames.add(title)
        if frame_title and frame_title not in present_frames:
            await self.client.frames.create(board_id, data=FrameData(title=frame_title))
        for i, note in enumerate(notes):
            if note not in present_notes:
                await self.client.sticky_notes.create(
                    board_id,
                    data=StickyNoteData(content=note),
                    position=Position(x=i * 250.0, y=0.0),
                )
