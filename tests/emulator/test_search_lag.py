"""Board search lags as Miro documents: "Filtering by `team_id` or `project_id` (or both)
returns results instantly. For other filters, allow a few seconds for indexing of newly
created boards." (GET /v2/boards, in the spec and the official clients' docs.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from miroconnect.emulator import create_emulator, emulator_transport
from support import FakeClock

from .conftest import BASE_URL, CLIENT, Tokens, connect


@pytest.fixture
async def lagging(clock: FakeClock) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_emulator(clock=clock, clients=[CLIENT], search_delay=3)
    async with httpx2.AsyncClient(
        transport=emulator_transport(app), base_url=BASE_URL
    ) as client:
        yield client


async def _names(http: httpx2.AsyncClient, tokens: Tokens, **params: str) -> list[str]:
    response = await http.get("/v2/boards", params=params, headers=tokens.headers)
    assert response.status_code == 200
    return [b["name"] for b in response.json()["data"]]


async def test_team_and_project_lists_are_instant_other_searches_lag(
    lagging: httpx2.AsyncClient, clock: FakeClock
) -> None:
    tokens = await connect(lagging)
    h, team = tokens.headers, tokens.body["team_id"]
    made = await lagging.post(
        "/v2/boards", json={"name": "Fresh", "projectId": "123"}, headers=h
    )
    assert made.status_code == 201
    # What the action runner's reconciliation asks: team_id + sort=last_created.
    assert await _names(lagging, tokens, team_id=team, sort="last_created") == ["Fresh"]
    assert await _names(lagging, tokens, team_id=team) == ["Fresh"]
    assert await _names(lagging, tokens, project_id="123") == ["Fresh"]
    assert await _names(lagging, tokens, team_id=team, query="nothing") == ["Fresh"]
    # Everything else goes through the search index, which has not seen it yet.
    assert await _names(lagging, tokens, query="fresh") == []
    assert await _names(lagging, tokens, owner=tokens.body["user_id"]) == []
    assert await _names(lagging, tokens) == []
    clock.advance(2.9)
    assert await _names(lagging, tokens, query="fresh") == []
    clock.advance(0.1)
    assert await _names(lagging, tokens, query="fresh") == ["Fresh"]
    assert await _names(lagging, tokens, owner=tokens.body["user_id"]) == ["Fresh"]
    assert await _names(lagging, tokens) == ["Fresh"]
    # The board itself is there at once, whatever the index says.
    board = made.json()["id"]
    assert (await lagging.get(f"/v2/boards/{board}", headers=h)).status_code == 200


async def test_a_copy_is_a_new_board_to_the_index(
    lagging: httpx2.AsyncClient, clock: FakeClock
) -> None:
    tokens = await connect(lagging)
    h = tokens.headers
    board = (await lagging.post("/v2/boards", json={"name": "A"}, headers=h)).json()
    clock.advance(5)
    await lagging.put(
        "/v2/boards", params={"copy_from": board["id"]}, json={"name": "B"}, headers=h
    )
    assert await _names(lagging, tokens, query="") == ["A"]
    clock.advance(3)
    assert sorted(await _names(lagging, tokens)) == ["A", "B"]


def test_the_delay_is_not_negative() -> None:
    with pytest.raises(ValueError, match="search_delay"):
        create_emulator(search_delay=-1)
