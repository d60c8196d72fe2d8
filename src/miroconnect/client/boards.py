"""Boards: create, get, list, update, delete, copy (`/v2/boards`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from miroconnect.client.models import Board, OffsetPage
from miroconnect.client.operations import operation
from miroconnect.client.pagination import offset_paged
from miroconnect.client.requester import Requester, path_id

__all__ = ["Boards", "board_changes"]


def board_changes(
    *,
    name: str | None = None,
    description: str | None = None,
    policy: Mapping[str, Any] | None = None,
    team_id: str | None = None,
    project_id: str | None = None,
) -> dict[str, Any]:
    """A `BoardChanges` body with the fields given; checks Miro's length limits first."""
    if name is not None and not 1 <= len(name) <= 60:
        raise ValueError("a board name has 1 to 60 characters")
    if description is not None and len(description) > 300:
        raise ValueError("a board description has at most 300 characters")
    body: dict[str, Any] = {
        "name": name,
        "description": description,
        "policy": dict(policy) if policy is not None else None,
        "teamId": team_id,
        "projectId": project_id,
    }
    return {key: value for key, value in body.items() if value is not None}


class Boards:
    """`client.boards`: the boards of the connection's user."""

    def __init__(self, requester: Requester) -> None:
        self._r = requester

    @operation("create-board")
    async def create(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        policy: Mapping[str, Any] | None = None,
        team_id: str | None = None,
        project_id: str | None = None,
    ) -> Board:
        """Create a board (level 3). Not repeated on errors: Miro has no idempotency key,
        so a lost answer is for the caller to reconcile (see `miroconnect.actions`)."""
        body = board_changes(
            name=name,
            description=description,
            policy=policy,
            team_id=team_id,
            project_id=project_id,
        )
        response = await self._r.send(
            "POST", "/v2/boards", level=3, idempotent=False, json=body
        )
        return Board.model_validate_json(response.content)

    @operation("get-specific-board")
    async def get(self, board_id: str) -> Board:
        """One board (level 1)."""
        response = await self._r.send(
            "GET", f"/v2/boards/{path_id(board_id)}", level=1, idempotent=True
        )
        return Board.model_validate_json(response.content)

    @operation("get-boards")
    async def list(
        self,
        *,
        team_id: str | None = None,
        project_id: str | None = None,
        query: str | None = None,
        owner: str | None = None,
        sort: str | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[Board]:
        """Every matching board, fetching offset pages of `page_size` (1-50) as needed.

        ```python
        async for board in client.boards.list(team_id=team, sort="last_created"):
            ...
        ```
        """
        if not 1 <= page_size <= 50:
            raise ValueError("page_size is between 1 and 50")
        filters: dict[str, str | int] = {
            key: value
            for key, value in (
                ("team_id", team_id),
                ("project_id", project_id),
                ("query", query),
                ("owner", owner),
                ("sort", sort),
            )
            if value is not None
        }
        async for board in offset_paged(
            self._r,
            "/v2/boards",
            OffsetPage[Board].model_validate_json,
            level=1,
            page_size=page_size,
            params=filters,
        ):
            yield board

    @operation("update-board")
    async def update(
        self,
        board_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        policy: Mapping[str, Any] | None = None,
        team_id: str | None = None,
        project_id: str | None = None,
    ) -> Board | None:
        """Change a board (level 2). Returns None when Miro answers 202: accepted, applied
        later, no body."""
        body = board_changes(
            name=name,
            description=description,
            policy=policy,
            team_id=team_id,
            project_id=project_id,
        )
        response = await self._r.send(
            "PATCH",
            f"/v2/boards/{path_id(board_id)}",
            level=2,
            idempotent=True,
            json=body,
        )
        if response.status_code == 202 or not response.content:
            return None
        return Board.model_validate_json(response.content)

    @operation("delete-board")
    async def delete(self, board_id: str) -> None:
        """Delete a board (level 3); it goes to Trash on paid plans."""
        await self._r.send(
            "DELETE", f"/v2/boards/{path_id(board_id)}", level=3, idempotent=True
        )

    @operation("copy-board")
    async def copy(
        self,
        board_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        policy: Mapping[str, Any] | None = None,
        team_id: str | None = None,
    ) -> Board:
        """Copy a board, e.g. a template (level 4): `PUT /v2/boards?copy_from=<id>`.

        Although it is a PUT, every call makes a new board, so it is not repeated blindly.
        """
        if not board_id:
            raise ValueError("board_id must not be empty")
        body = board_changes(
            name=name, description=description, policy=policy, team_id=team_id
        )
        response = await self._r.send(
            "PUT",
            "/v2/boards",
            level=4,
            idempotent=False,
            params={"copy_from": board_id},
            json=body,
        )
        return Board.model_validate_json(response.content)
