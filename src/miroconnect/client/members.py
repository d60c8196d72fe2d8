"""Board members: share (invite), list, get, update, remove."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from miroconnect.client.models import BoardMember, InvitationResult, OffsetPage
from miroconnect.client.operations import operation
from miroconnect.client.pagination import offset_paged
from miroconnect.client.requester import Requester, path_id

__all__ = ["ROLES", "Members"]

ROLES = ("viewer", "commenter", "editor", "coowner", "owner")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")


class Members:
    """`client.members`: who may see or edit a board."""

    def __init__(self, requester: Requester) -> None:
        self._r = requester

    @operation("share-board")
    async def share(
        self,
        board_id: str,
        emails: Sequence[str],
        *,
        role: str = "commenter",
        message: str | None = None,
    ) -> InvitationResult:
        """Invite 1-20 people by email (level 3). Inviting again is harmless, so it is
        repeated like an idempotent call."""
        if isinstance(emails, str) or not 1 <= len(emails) <= 20:
            raise ValueError("share with a list of 1 to 20 email addresses")
        _check_role(role)
        body: dict[str, object] = {"emails": list(emails), "role": role}
        if message is not None:
            body["message"] = message
        response = await self._r.send(
            "POST",
            f"/v2/boards/{path_id(board_id)}/members",
            level=3,
            idempotent=True,
            json=body,
        )
        return InvitationResult.model_validate_json(response.content)

    @operation("get-board-members")
    async def list(
        self, board_id: str, *, page_size: int = 50
    ) -> AsyncIterator[BoardMember]:
        """Every member of a board, over offset pages (level 1 each)."""
        if not 1 <= page_size <= 50:
            raise ValueError("page_size is between 1 and 50")
        async for member in offset_paged(
            self._r,
            f"/v2/boards/{path_id(board_id)}/members",
            OffsetPage[BoardMember].model_validate_json,
            level=1,
            page_size=page_size,
        ):
            yield member

    @operation("get-specific-board-member")
    async def get(self, board_id: str, member_id: str) -> BoardMember:
        """One member (level 1)."""
        response = await self._r.send(
            "GET",
            f"/v2/boards/{path_id(board_id)}/members/{path_id(member_id)}",
            level=1,
            idempotent=True,
        )
        return BoardMember.model_validate_json(response.content)

    @operation("update-board-member")
    async def update(self, board_id: str, member_id: str, *, role: str) -> BoardMember:
        """Change a member's role (level 2)."""
        _check_role(role)
        response = await self._r.send(
            "PATCH",
            f"/v2/boards/{path_id(board_id)}/members/{path_id(member_id)}",
            level=2,
            idempotent=True,
            json={"role": role},
        )
        return BoardMember.model_validate_json(response.content)

    @operation("remove-board-member")
    async def remove(self, board_id: str, member_id: str) -> None:
        """Remove a member from a board (level 2)."""
        await self._r.send(
            "DELETE",
            f"/v2/boards/{path_id(board_id)}/members/{path_id(member_id)}",
            level=2,
            idempotent=True,
        )
