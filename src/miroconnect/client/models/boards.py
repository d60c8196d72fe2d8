"""Boards and their members."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from miroconnect.client.models.base import MiroModel

__all__ = [
    "Board",
    "BoardLinks",
    "BoardMember",
    "BoardPermissionsPolicy",
    "BoardPolicy",
    "BoardProject",
    "BoardSharingPolicy",
    "InvitationError",
    "InvitationResult",
    "LastOpenedBy",
    "Picture",
    "Team",
    "UserInfo",
]


class UserInfo(MiroModel):
    """A user as boards show them (`UserInfoShort`)."""

    id: str
    name: str | None = None
    type: str | None = None


class LastOpenedBy(MiroModel):
    """Who opened a board last. Board lists may leave the id out (`UserInfoLastOpenedBy`
    requires nothing), so unlike `UserInfo` every field is optional."""

    id: str | None = None
    name: str | None = None
    type: str | None = None


class Picture(MiroModel):
    id: int | None = None
    image_url: str | None = Field(default=None, alias="imageURL")
    original_url: str | None = None
    type: str | None = None


class Team(MiroModel):
    id: str
    name: str | None = None
    type: str | None = None
    picture: Picture | None = None


class BoardProject(MiroModel):
    id: str | None = None


class BoardPermissionsPolicy(MiroModel):
    collaboration_tools_start_access: str | None = None
    copy_access: str | None = None
    sharing_access: str | None = None


class BoardSharingPolicy(MiroModel):
    access: str | None = None
    access_password_required: bool | None = None
    invite_to_account_and_board_link_access: str | None = None
    organization_access: str | None = None
    team_access: str | None = None


class BoardPolicy(MiroModel):
    """A board's sharing and permissions policy; also what `boards.create` takes."""

    permissions_policy: BoardPermissionsPolicy | None = None
    sharing_policy: BoardSharingPolicy | None = None


class BoardMember(MiroModel):
    """A board member: `role` is viewer, commenter, editor, coowner or owner."""

    id: str
    name: str | None = None
    role: str | None = None
    type: str | None = None


class BoardLinks(MiroModel):
    self_: str | None = Field(default=None, alias="self")
    related: str | None = None


class Board(MiroModel):
    """A board, as create, get, list, update and copy return it.

    ```python
    board = await client.boards.create(name="Sprint 12")
    board.id, board.view_link
    ```
    """

    id: str
    name: str
    description: str | None = None
    type: str | None = None
    team: Team | None = None
    project: BoardProject | None = None
    picture: Picture | None = None
    policy: BoardPolicy | None = None
    view_link: str | None = None
    owner: UserInfo | None = None
    current_user_membership: BoardMember | None = None
    created_at: datetime | None = None
    created_by: UserInfo | None = None
    modified_at: datetime | None = None
    modified_by: UserInfo | None = None
    last_opened_at: datetime | None = None
    last_opened_by: LastOpenedBy | None = None
    links: BoardLinks | None = None


class InvitationError(MiroModel):
    email: str | None = None
    reason: str | None = None


class InvitationResult(MiroModel):
    """The answer to sharing a board: member ids invited (numbers), emails that failed."""

    successful: list[int] = Field(default_factory=list)
    failed: list[InvitationError] = Field(default_factory=list)
