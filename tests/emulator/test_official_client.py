"""Miro's official Python client (`miro_api`), pointed at the emulator over a real
socket, runs the board workflow with no validation error (what it must show: 1)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from miro_api import MiroApi
from miro_api.configuration import Configuration
from miro_api.models.board_changes import BoardChanges
from miro_api.models.board_members_invite import BoardMembersInvite
from miro_api.models.copy_board_changes import CopyBoardChanges
from miro_api.models.sticky_note_create_request import StickyNoteCreateRequest
from miro_api.models.sticky_note_data import StickyNoteData

from .conftest import CLIENT, LiveServer, query_of


def _token(server: LiveServer) -> str:
    with httpx2.Client(base_url=server.url) as http:
        http.post("/_emulator/reset", json={})
        location = http.get(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": CLIENT.client_id,
                "redirect_uri": CLIENT.redirect_uris[0],
            },
        ).headers["location"]
        response = http.post(
            "/v1/oauth/token",
            data={
                "grant_type": "authorization_code",
                "client_id": CLIENT.client_id,
                "client_secret": CLIENT.client_secret,
                "code": query_of(location)["code"],
                "redirect_uri": CLIENT.redirect_uris[0],
            },
        )
        return str(response.json()["access_token"])


@pytest.fixture
def miro(live_server: LiveServer) -> Iterator[MiroApi]:
    # MiroApi reads the process-wide default Configuration; point it at the emulator
    # for this test and put it back afterwards.
    config = Configuration.get_default()
    previous = config.host
    config.host = live_server.url
    try:
        yield MiroApi(_token(live_server))
    finally:
        config.host = previous


def test_official_client_board_workflow(miro: MiroApi) -> None:
    created = [
        miro.create_board(BoardChanges(name=f"Board {i}", description="from miro_api"))
        for i in range(5)
    ]
    board = created[0]
    assert board.id.endswith("=") and len(board.id) == 12
    assert board.view_link is not None and "/app/board/" in board.view_link

    fetched = miro.get_specific_board(board.id)
    assert fetched.name == "Board 0"
    assert fetched.team is not None and fetched.team.id.isdigit()

    page = miro.get_boards(limit="2", offset="0")
    assert page.total == 5 and page.size == 2 and len(page.data or []) == 2
    assert {b.name for b in miro.get_all_boards()} == {f"Board {i}" for i in range(5)}

    updated = miro.update_board(board.id, BoardChanges(name="Renamed"))
    assert updated.name == "Renamed"

    copy = miro.copy_board(board.id, CopyBoardChanges(name="Copy"))
    assert copy.name == "Copy" and copy.id != board.id

    invite = miro.share_board(
        board.id, BoardMembersInvite(emails=["ann@example.com"], role="editor")
    )
    assert invite.successful is not None and len(invite.successful) == 1
    members = miro.get_board_members(board.id)
    assert {m.name for m in members.data or []} == {"demo", "ann"}

    for i in range(12):
        note = miro.create_sticky_note_item(
            board.id,
            StickyNoteCreateRequest(data=StickyNoteData(content=f"note {i}")),
        )
        assert note.type == "sticky_note"
    first = miro.get_items(board.id, limit="10")
    assert first.total == 12 and len(first.data or []) == 10 and first.cursor
    rest = miro.get_items(board.id, limit="10", cursor=first.cursor)
    assert len(rest.data or []) == 2 and not rest.cursor
    assert len(list(miro.get_all_items(board.id))) == 12

    miro.delete_board(copy.id)
    assert miro.get_boards().total == 5
