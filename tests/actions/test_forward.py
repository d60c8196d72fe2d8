"""`Forwarder`: a keyed request reaches Miro at most once, whatever breaks, on fake time.

The proxy's own tests (`tests/web/test_proxy_keys.py`) drive it over HTTP; here the
cases that need time to pass or a worker to die: Miro unreachable for good, and a
repeat that finds the operation of a worker that crashed after sending.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from miroconnect.actions.forward import (
    FORWARD_KIND,
    NOT_SENT,
    OUTCOME_UNKNOWN,
    Answer,
    Forwarder,
    KeyedRequest,
)
from miroconnect.actions.journal import Journal
from miroconnect.client import RetryPolicy
from miroconnect.errors import (
    KeySpentNotSentError,
    MiroTransportError,
    OutcomeUnknownError,
)
from miroconnect.storage.operations import OperationStore

from .conftest import World

TAGS = KeyedRequest("POST", "/v2/boards/b1/tags", "", "application/json", "d1")
BOARD = KeyedRequest(
    "POST", "/v2/boards", "", "application/json", "d2", json_body={"name": "Orphan"}
)


class Sends:
    """A `send` that counts its calls and fails, or answers, as told."""

    def __init__(self, *, fail: MiroTransportError | None = None) -> None:
        self.calls = 0
        self.fail = fail

    async def __call__(self) -> Answer:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return Answer(201, {"content-type": "application/json"}, b'{"id":"t1"}')


def forwarder(world: World) -> Forwarder:
    operations = OperationStore(world.db, clock=world.time.now)
    return Forwarder(
        Journal(operations, clock=world.time.now, sleep=world.time.sleep),
        retry=RetryPolicy(rng=random.Random(5)),  # noqa: S311 (jitter)
        sleep=world.time.sleep,
    )


async def state_of(world: World, key: str) -> tuple[str, str | None]:
    op = await OperationStore(world.db).get(world.context.app_user_id, key)
    assert op is not None and op.kind == FORWARD_KIND
    return op.state, op.error


async def test_miro_unreachable_for_good_spends_the_key_and_says_so(
    world: World,
) -> None:
    sends = Sends(fail=MiroTransportError("connect", maybe_processed=False))
    with pytest.raises(KeySpentNotSentError):
        await forwarder(world).forward("k1", TAGS, world.context, world.client(), sends)
    assert sends.calls == 8  # tried again: nothing had reached Miro
    assert await state_of(world, "k1") == ("failed", NOT_SENT)
    again = Sends()
    with pytest.raises(KeySpentNotSentError):
        await forwarder(world).forward("k1", TAGS, world.context, world.client(), again)
    assert again.calls == 0


async def test_a_5xx_or_a_broken_answer_is_final_and_never_sent_again(
    world: World,
) -> None:
    broken = Sends(fail=MiroTransportError("read", maybe_processed=True))
    with pytest.raises(OutcomeUnknownError):
        await forwarder(world).forward(
            "k2", TAGS, world.context, world.client(), broken
        )
    assert broken.calls == 1
    assert await state_of(world, "k2") == ("failed", OUTCOME_UNKNOWN)

    async def server_error() -> Answer:
        return Answer(502, {}, b"bad gateway")

    with pytest.raises(OutcomeUnknownError):
        await forwarder(world).forward(
            "k3", TAGS, world.context, world.client(), server_error
        )
    assert await state_of(world, "k3") == ("failed", OUTCOME_UNKNOWN)


async def test_a_crashed_workers_request_is_never_sent_again(world: World) -> None:
    await world.sent_operation(
        "k4", FORWARD_KIND, TAGS.params(), lease=timedelta(seconds=1)
    )
    await world.time.sleep(5)  # the dead worker's lease runs out
    sends = Sends()
    with pytest.raises(OutcomeUnknownError):
        await forwarder(world).forward("k4", TAGS, world.context, world.client(), sends)
    assert sends.calls == 0
    assert await state_of(world, "k4") == ("failed", OUTCOME_UNKNOWN)


async def test_a_crashed_workers_board_is_found_and_answered_as_created(
    world: World,
) -> None:
    board = await world.client().boards.create(
        name="Orphan", team_id=world.context.miro_team_id
    )
    await world.sent_operation(
        "k5", FORWARD_KIND, BOARD.params(), lease=timedelta(seconds=1)
    )
    await world.time.sleep(5)
    sends = Sends()
    answer = await forwarder(world).forward(
        "k5", BOARD, world.context, world.client(), sends
    )
    assert sends.calls == 0
    assert answer.status == 201
    assert b'"id":"' + board.id.encode() + b'"' in answer.body
    assert b'"name":"Orphan"' in answer.body
    assert len(await world.boards()) == 1
    replay = await forwarder(world).forward(
        "k5", BOARD, world.context, world.client(), sends
    )
    assert replay.replayed and replay.body == answer.body


def test_stored_answers_replay_byte_for_byte() -> None:
    for body in (b'{"a":"\\u00e9"}', "é".encode(), b"\x89PNG\r\n\x1a\n\xff"):
        answer = Answer(200, {"x-ratelimit-limit": "100"}, body)
        again = Answer.from_stored(answer.stored())
        assert (again.status, dict(again.headers), again.body) == (
            200,
            {"x-ratelimit-limit": "100"},
            body,
        )
        assert again.replayed
    with pytest.raises(ValueError):
        Answer.from_stored({"status": 200})
