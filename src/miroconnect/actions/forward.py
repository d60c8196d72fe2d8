"""A POST with an `Idempotency-Key`, forwarded to Miro once per key.

The service's proxy (`miroconnect.web.proxy`) sends a keyed POST through here. Like an
action (`MiroActionRunner`), it is an operation row, committed `sent` before the request
leaves, keyed by (app user, key); its params are the request's method, path, query,
content type and body digest, so the key sent again with anything else is
`IdempotencyKeyReusedError`. Then:

* Miro's answer (any status but a 5xx) is the operation's result: status, the headers the
  proxy passes back, and the body. A repeat of the key gets it again (`replayed`), and
  nothing is sent.
* A repeat while the first request runs waits for its answer (`Journal.claim`).
* After an ambiguous failure (the connection broke after sending, a timeout, a 5xx), whether
  Miro did it is unknown. `POST /v2/boards` is settled as board actions are (`Steps`: the
  board is looked for by name, creator and time, adopted if found, else created again).
  Any other request fails for good with `OutcomeUnknownError` and is never sent again.
* A failure that proves nothing reached Miro (it could not be connected to) is tried again;
  if Miro stays away, the operation fails as `not_sent` and a repeat of the key says so
  (`KeySpentNotSentError`: send the request with a new key).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx2

from miroconnect.actions.journal import Journal, definitive, new_operation
from miroconnect.actions.steps import Steps
from miroconnect.client import MiroClient, RetryPolicy
from miroconnect.client.models import Board
from miroconnect.client.requester import api_error
from miroconnect.errors import (
    KeySpentNotSentError,
    MiroAPIError,
    MiroTransportError,
    OutcomeUnknownError,
)
from miroconnect.oauth.pending import ActionContext
from miroconnect.storage.operations import Operation
from miroconnect.types import Sleep

__all__ = [
    "FORWARD_KIND",
    "NOT_SENT",
    "OUTCOME_UNKNOWN",
    "Answer",
    "Forwarder",
    "KeyedRequest",
]

FORWARD_KIND = "proxy"
"""The kind of a forwarded request's operation row."""
OUTCOME_UNKNOWN = "outcome_unknown"
NOT_SENT = "not_sent"
_CREATE_BOARD = ("POST", "/v2/boards")
_NOT_SENT_MESSAGE = (
    "Miro could not be reached and nothing was sent; this idempotency key is spent: "
    "send the request again with a new key"
)


@dataclass(frozen=True)
class Answer:
    """Miro's answer to a forwarded request, as the operation keeps it."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    replayed: bool = False

    def stored(self) -> dict[str, Any]:
        """The operation's result: the body as text when it is UTF-8 (JSON is)."""
        kept: dict[str, Any] = {"status": self.status, "headers": dict(self.headers)}
        try:
            kept["body"] = self.body.decode("utf-8")
        except UnicodeDecodeError:
            kept["body_base64"] = base64.b64encode(self.body).decode("ascii")
        return kept

    @classmethod
    def from_stored(cls, result: Mapping[str, Any]) -> Answer:
        """The answer an operation's result holds, to replay."""
        try:
            if "body_base64" in result:
                body = base64.b64decode(result["body_base64"], validate=True)
            else:
                body = str(result.get("body", "")).encode("utf-8")
            return cls(
                status=int(result["status"]),
                headers={str(k): str(v) for k, v in dict(result["headers"]).items()},
                body=body,
                replayed=True,
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ValueError("not a forwarded request's stored answer") from exc


@dataclass(frozen=True)
class KeyedRequest:
    """What a key stands for: one request, compared by these fields (the body by its
    digest). `json_body`: the body parsed, when it is small JSON (a board's name)."""

    method: str
    path: str
    query: str
    content_type: str
    body_sha256: str
    json_body: Any = field(default=None, compare=False)

    def params(self) -> dict[str, str]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "content_type": self.content_type,
            "body_sha256": self.body_sha256,
        }


Send = Callable[[], Awaitable[Answer]]
"""Sends the request once (paced, with the user's token) and returns Miro's answer, any
status; raises `MiroTransportError` when none came."""


@dataclass
class _Sent:
    """The last answer the board's request got, kept for the caller."""

    answer: Answer | None = None
    board_id: str | None = None


class Forwarder:
    """Forwards keyed requests once per key (see the module docstring).

    ```python
    forwarder = Forwarder(Journal(operations), retry=RetryPolicy())
    answer = await forwarder.forward("api:k1", request, context, client, send)
    ```
    """

    def __init__(
        self,
        journal: Journal,
        *,
        retry: RetryPolicy,
        sleep: Sleep = asyncio.sleep,
        attempts: int = 8,
        clock_skew: timedelta = timedelta(seconds=30),
    ) -> None:
        self.journal = journal
        self._retry = retry
        self._sleep = sleep
        self._attempts = attempts
        self._skew = clock_skew

    async def forward(
        self,
        key: str,
        request: KeyedRequest,
        context: ActionContext,
        client: MiroClient,
        send: Send,
    ) -> Answer:
        """Send `request` once for `key`, or answer what its first sending got.

        `client` is the user's (it looks for a board after an ambiguous failure).
        Raises `OutcomeUnknownError`, `KeySpentNotSentError`, `IdempotencyKeyReusedError`,
        `OperationInProgressError`, or what broke (the operation is then resumed by a
        repeat of the key).
        """
        owner = uuid4().hex
        claim = await self.journal.claim(
            new_operation(context, key, FORWARD_KIND, request.params()),
            owner=owner,
            sending=True,
        )
        op = claim.operation
        if not claim.owned:
            return _settled(op)
        operations = self.journal.operations
        try:
            if (request.method, request.path) == _CREATE_BOARD:
                steps = self._steps(op, owner, request, context, client)
                answer = await self._create_board(steps, request, send, claim.created)
            else:
                answer = await self._once(op, owner, send, fresh=claim.created)
            await operations.finish(op.id, owner, answer.stored())
        except (OutcomeUnknownError, KeySpentNotSentError) as error:
            reason = (
                OUTCOME_UNKNOWN if isinstance(error, OutcomeUnknownError) else NOT_SENT
            )
            await operations.fail(op.id, owner, reason)
            raise
        except BaseException:
            # What broke leaves the outcome open: a repeat of the key resumes it.
            await asyncio.shield(self.journal.release(op.id, owner))
            raise
        return answer

    async def _once(
        self, op: Operation, owner: str, send: Send, *, fresh: bool
    ) -> Answer:
        """Any request but a board's: sent at most once; never after an ambiguity."""
        if op.state == "sent" and not fresh:
            raise OutcomeUnknownError(
                "an earlier request with this idempotency key was sent and its answer "
                "is unknown: it is not sent again"
            )
        if op.state == "pending":
            await self.journal.operations.mark_sent(op.id, owner)
        for attempt in range(self._attempts):
            try:
                answer = await send()
            except MiroTransportError as error:
                if error.maybe_processed:
                    raise OutcomeUnknownError(
                        "the connection to Miro broke after the request was sent: "
                        "whether Miro did it is unknown, and it is not sent again"
                    ) from error
                if attempt + 1 == self._attempts:
                    raise KeySpentNotSentError(_NOT_SENT_MESSAGE) from error
                await self._sleep(self._retry.backoff(attempt))
                continue
            if answer.status >= 500:
                raise OutcomeUnknownError(
                    f"Miro answered {answer.status}: whether it did the request is "
                    "unknown, and it is not sent again"
                )
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _steps(
        self,
        op: Operation,
        owner: str,
        request: KeyedRequest,
        context: ActionContext,
        client: MiroClient,
    ) -> Steps:
        body = request.json_body if isinstance(request.json_body, dict) else {}
        team = body.get("teamId")
        if isinstance(team, str | int) and str(team):
            # A board made in another team is looked for there.
            context = replace(context, miro_team_id=str(team))
        return Steps(
            self.journal.operations,
            op,
            owner,
            client,
            context,
            attempts=self._attempts,
            retry=self._retry,
            sleep=self._sleep,
            skew=self._skew,
        )

    async def _create_board(
        self, steps: Steps, request: KeyedRequest, send: Send, fresh: bool
    ) -> Answer:
        """`POST /v2/boards` through `Steps.create_board_once`: after an ambiguous
        failure the board is looked for before the request is sent again."""
        body = request.json_body if isinstance(request.json_body, dict) else {}
        name = body.get("name")
        sent = _Sent()

        async def create() -> Board:
            answer = await send()
            sent.answer = answer
            if answer.status >= 400:
                # 5xx and 429: `Steps` settles them; any other refusal is the answer.
                raise api_error(
                    httpx2.Response(
                        answer.status, headers=answer.headers, content=answer.body
                    )
                )
            board = Board.model_validate_json(answer.body)
            sent.board_id = board.id
            return board

        try:
            board = await steps.create_board_once(
                name if isinstance(name, str) else "Untitled", create, fresh=fresh
            )
        except MiroAPIError as error:
            if definitive(error) and sent.answer is not None:
                return sent.answer
            raise
        if sent.answer is not None and sent.board_id == board.id:
            return sent.answer
        # Found, not made by this run: answered as Miro answers a creation.
        found = board.model_dump(by_alias=True, exclude_unset=True, mode="json")
        return Answer(
            201,
            {"content-type": "application/json"},
            json.dumps(found, separators=(",", ":")).encode(),
        )


def _settled(op: Operation) -> Answer:
    """What a finished operation answers to a repeat of its key."""
    if op.state == "failed":
        if op.error == NOT_SENT:
            raise KeySpentNotSentError(_NOT_SENT_MESSAGE)
        raise OutcomeUnknownError(
            "the first request with this idempotency key has an unknown outcome at "
            "Miro: it is not sent again"
        )
    assert op.result is not None  # noqa: S101  # `Journal.claim` returns it done
    return Answer.from_stored(op.result)
