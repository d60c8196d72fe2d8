"""The hot path's statements: a board for a connected user costs two, on SQLite and
PostgreSQL alike: journal the operation before the call, finish it (and so record the
board) after. The connection and its tokens were read by an earlier request and are
remembered; the journal's INSERT checks that the read still holds
(`tests/storage/test_remembered_reads.py`). Pacing spends a grant from memory, and
nothing else touches the database.

Counted at the driver (`before_cursor_execute` on every engine), so a statement added by
any layer shows up here; `docs/benchmarks.md` has what each one cost. With webhooks on,
the finish also writes the `board.created` event: still one statement on PostgreSQL, one
more (in a transaction) on SQLite.
"""

from __future__ import annotations

import httpx2
import pytest

from support.statements import statement_kind as _kind
from support.statements import statements

from .conftest import Harness, open_harness
from .test_service_api import USER, connect

pytestmark = pytest.mark.db

BOARDS = f"/api/v1/users/{USER}/boards"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def five_boards(harness: Harness) -> list[str]:
    """Connect, make a first board, then the statements of five more."""
    await connect(harness)
    async with harness.api() as api:
        warm = await api.post(BOARDS, json={"name": "Warm"})
        assert warm.status_code == 201
        with statements() as seen:
            for number in range(5):
                made = await api.post(BOARDS, json={"name": f"Board {number}"})
                assert made.status_code == 201, made.text
    return seen


async def test_a_board_for_a_connected_user_is_two_statements(
    harness: Harness,
) -> None:
    seen = await five_boards(harness)
    assert [_kind(s) for s in seen] == [
        "INSERT operations",
        "UPDATE operations",
    ] * 5, "\n".join(seen)
    guarded = [s for s in seen if s.startswith("INSERT")]
    assert all("token_version" in s for s in guarded)


async def test_a_repeat_with_the_same_key_is_three_statements(
    harness: Harness,
) -> None:
    await connect(harness)
    key = {"Idempotency-Key": "same-click"}
    async with harness.api() as api:
        first = await api.post(BOARDS, json={"name": "Once"}, headers=key)
        with statements() as seen:
            again = await api.post(BOARDS, json={"name": "Once"}, headers=key)
    assert again.json() == first.json()
    # The insert that finds the key taken; then, in one transaction (BEGIN ... COMMIT
    # on SQLite), the remembered read checked again and the row, read under its lock
    # to compare the parameters.
    kinds = [_kind(s) for s in seen if _kind(s) not in ("BEGIN", "COMMIT")]
    assert kinds == ["INSERT operations", "SELECT connections", "SELECT operations"]


async def test_with_webhooks_a_board_also_writes_its_event_atomically(
    database_url: str,
) -> None:
    # The finish and the `board.created` event together: PostgreSQL in one statement
    # (a data-modifying CTE), SQLite in one transaction on its thread. The delivery
    # worker's own statements (`UPDATE webhook_outbox`: claims, outcomes) are not the
    # request's and are left out.
    received: list[str] = []

    def receiver(request: httpx2.Request) -> httpx2.Response:
        received.append(request.headers["webhook-id"])
        return httpx2.Response(204)

    async with open_harness(
        database_url,
        webhook_url="https://hooks.app.example/miro",
        webhook_secret=WEBHOOK_SECRET,
        webhook_transport=httpx2.MockTransport(receiver),
    ) as harness:
        seen = await five_boards(harness)
    kinds = [_kind(s) for s in seen if _kind(s) != "UPDATE webhook_outbox"]
    if database_url.startswith("postgresql"):
        per_board = ["INSERT operations", "WITH"]
    else:
        per_board = [
            "INSERT operations",
            "BEGIN",  # BEGIN IMMEDIATE; its COMMIT is the driver's, not a statement
            "UPDATE operations",
            "INSERT webhook_outbox",
        ]
    assert kinds == per_board * 5, "\n".join(seen)
    writes = [s for s in seen if s.startswith("WITH")]
    assert all("INSERT INTO webhook_outbox" in s for s in writes)
