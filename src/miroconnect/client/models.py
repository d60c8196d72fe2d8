"""Typed models of Miro's REST API v2 answers (pydantic v2).

Field names are snake_case; the wire names (camelCase, as in
`tests/miro-openapi/spec.json`) are their aliases, and `tests/client/test_models.py` checks
every field against the spec's schema. Unknown fields are kept (`extra="allow"`), so a new
field from Miro never breaks a call. IDs stay strings, except the two the spec types as
numbers (`Picture.id`, `InvitationResult.successful`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "Board",
    "BoardLinks",
    "BoardMember",
    "BoardPermissionsPolicy",
    "BoardPolicy",
    "BoardProject",
    "BoardSharingPolicy",
    "FrameData",
    "FrameItem",
    "FrameStyle",
    "GenericItem",
    "Geometry",
    "InvitationError",
    "InvitationResult",
    "ItemActor",
    "ItemLinks",
    "ItemParent",
    "MiroModel",
    "NamedRef",
    "Picture",
    "Position",
    "ShapeData",
    "ShapeItem",
    "ShapeStyle",
    "StickyNoteData",
    "StickyNoteItem",
    "StickyNoteStyle",
    "Team",
    "TextData",
    "TextItem",
    "TextStyle",
    "TokenInfo",
    "UserInfo",
]


class MiroModel(BaseModel):
    """Base of every model: camelCase aliases, unknown fields kept, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body Miro expects: camelCase keys, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# -- boards ---------------------------------------------------------------------------


class UserInfo(MiroModel):
    """A user as boards show them (`UserInfoShort`)."""

    id: str
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
    last_opened_by: UserInfo | None = None
    links: BoardLinks | None = None


class InvitationError(MiroModel):
    email: str | None = None
    reason: str | None = None


class InvitationResult(MiroModel):
    """The answer to sharing a board: member ids invited (numbers), emails that failed."""

    successful: list[int] = Field(default_factory=list)
    failed: list[InvitationError] = Field(default_factory=list)


# -- items ----------------------------------------------------------------------------


class Position(MiroModel):
    x: float | None = None
    y: float | None = None
    origin: str | None = None
    relative_to: str | None = None


class Geometry(MiroModel):
    width: float | None = None
    height: float | None = None
    rotation: float | None = None


class ItemActor(MiroModel):
    """Who created or last modified an item (`createdBy`/`modifiedBy`: id and type only)."""

    id: str | None = None
    type: str | None = None


class ItemLinks(MiroModel):
    self_: str | None = Field(default=None, alias="self")
    related: str | None = None


class ItemParent(MiroModel):
    """The frame an item is in."""

    id: str | None = None


class _Item(MiroModel):
    id: str
    type: str
    position: Position | None = None
    geometry: Geometry | None = None
    created_at: datetime | None = None
    created_by: ItemActor | None = None
    modified_at: datetime | None = None
    modified_by: ItemActor | None = None
    links: ItemLinks | None = None


class StickyNoteData(MiroModel):
    content: str | None = None
    shape: str | None = None


class StickyNoteStyle(MiroModel):
    fill_color: str | None = None
    text_align: str | None = None
    text_align_vertical: str | None = None


class StickyNoteItem(_Item):
    data: StickyNoteData | None = None
    style: StickyNoteStyle | None = None
    parent: ItemParent | None = None


class TextData(MiroModel):
    content: str


class TextStyle(MiroModel):
    color: str | None = None
    fill_color: str | None = None
    fill_opacity: str | None = None
    font_family: str | None = None
    font_size: str | None = None
    text_align: str | None = None


class TextItem(_Item):
    data: TextData | None = None
    style: TextStyle | None = None
    parent: ItemParent | None = None


class ShapeData(MiroModel):
    content: str | None = None
    shape: str | None = None


class ShapeStyle(MiroModel):
    border_color: str | None = None
    border_opacity: str | None = None
    border_style: str | None = None
    border_width: str | None = None
    color: str | None = None
    fill_color: str | None = None
    fill_opacity: str | None = None
    font_family: str | None = None
    font_size: str | None = None
    text_align: str | None = None
    text_align_vertical: str | None = None


class ShapeItem(_Item):
    data: ShapeData | None = None
    style: ShapeStyle | None = None
    parent: ItemParent | None = None


class FrameData(MiroModel):
    format: str | None = None
    title: str | None = None
    type: str | None = None


class FrameStyle(MiroModel):
    fill_color: str | None = None


class FrameItem(_Item):
    data: FrameData | None = None
    style: FrameStyle | None = None


class GenericItem(MiroModel):
    """An item of any type, as the item list returns it; `data` depends on `type`."""

    id: str
    type: str
    data: dict[str, Any] | None = None
    position: Position | None = None
    geometry: Geometry | None = None
    created_at: datetime | None = None
    created_by: ItemActor | None = None
    modified_at: datetime | None = None
    modified_by: ItemActor | None = None
    parent: ItemParent | None = None


# -- token ----------------------------------------------------------------------------


class NamedRef(MiroModel):
    """`{type, name, id}`, as token info shows the team, user and organization."""

    id: str
    name: str | None = None
    type: str | None = None


class TokenInfo(MiroModel):
    """`GET /v1/oauth-token`: whose token this is and what it may do.

    `organization` is optional in practice although the spec requires it.
    """

    type: str | None = None
    organization: NamedRef | None = None
    team: NamedRef
    created_by: NamedRef | None = None
    user: NamedRef
    scopes: list[str] = Field(default_factory=list)
