"""What a board holds: items, connectors, tags, groups and uploaded files.

Plain mutable records: the API changes them in place. The rules that keep them consistent
(a deleted item takes its connectors with it, a deleted tag leaves every item, ...) live in
`Board`'s methods, so every route that deletes an item applies the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from miroconnect.emulator.ids import stable_numeric_id

__all__ = [
    "SHARED_TEAM_NAME",
    "Board",
    "Connector",
    "Endpoint",
    "Group",
    "Item",
    "StoredFile",
    "Tag",
    "Team",
    "User",
]

SHARED_TEAM_NAME = "Emulator shared team"


@dataclass(frozen=True)
class Team:
    """A Miro team."""

    id: str
    name: str


@dataclass(frozen=True)
class User:
    """A Miro user: the same name always gives the same id and teams."""

    id: str
    name: str
    teams: tuple[Team, ...]

    @classmethod
    def named(cls, name: str) -> User:
        own = Team(stable_numeric_id("team", name), f"{name}'s team")
        shared = Team(stable_numeric_id("team", SHARED_TEAM_NAME), SHARED_TEAM_NAME)
        return cls(stable_numeric_id("user", name), name, (own, shared))

    def team(self, team_id: str | None) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)


@dataclass(slots=True)
class StoredFile:
    """An uploaded image or document, kept in memory (the emulator has no disk)."""

    content_type: str
    name: str
    data: bytes


@dataclass(slots=True)
class Item:
    """A board item: sticky note, text, shape, frame, card, app card, image, document,
    embed or doc format. `data`, `style`, `position` and `geometry` are the JSON objects
    the API shows; the other fields are what the emulator needs to keep besides."""

    id: str
    type: str
    data: dict[str, Any]
    style: dict[str, Any]
    position: dict[str, Any]
    geometry: dict[str, Any]
    parent_id: str | None
    created_at: datetime
    created_by: str
    modified_at: datetime
    modified_by: str
    # The app that created it: an app card is `owned` by that app only.
    client_id: str = ""
    tag_ids: list[str] = field(default_factory=list)
    group_id: str | None = None
    # An image or document made from an upload (otherwise data["url"] is its source).
    file: StoredFile | None = None


@dataclass(slots=True)
class Endpoint:
    """One end of a connector: the item, and where on it (a relative position such as
    {"x": "50%", "y": "0%"}, or a side to snap to)."""

    item_id: str
    position: dict[str, str] | None = None
    snap_to: str | None = None


@dataclass(slots=True)
class Connector:
    """A line between two items."""

    id: str
    start: Endpoint
    end: Endpoint
    shape: str
    captions: list[dict[str, Any]]
    style: dict[str, Any]
    created_at: datetime
    created_by: str
    modified_at: datetime
    modified_by: str


@dataclass(slots=True)
class Tag:
    """A board tag; cards and sticky notes carry tag ids."""

    id: str
    title: str
    fill_color: str


@dataclass(slots=True)
class Group:
    """Items grouped together (at least two)."""

    id: str
    item_ids: list[str]


@dataclass(slots=True)
class Board:
    """A board, its members (user id -> role) and everything on it, in creation order."""

    id: str
    name: str
    description: str
    team: Team
    owner: User
    policy: dict[str, Any]
    created_at: datetime
    modified_at: datetime
    modified_by: User
    last_opened_at: datetime
    project_id: str | None = None
    members: dict[str, tuple[User, str]] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    connectors: dict[str, Connector] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)

    def center(self, item: Item) -> tuple[float, float]:
        """The item's centre on the canvas: a frame's children are placed relative to
        the frame's top-left corner."""
        x = float(item.position.get("x", 0.0))
        y = float(item.position.get("y", 0.0))
        parent = self.items.get(item.parent_id or "")
        if parent is not None and item.position.get("relativeTo") == "parent_top_left":
            px, py = self.center(parent)
            x += px - float(parent.geometry.get("width", 0.0)) / 2
            y += py - float(parent.geometry.get("height", 0.0)) / 2
        return x, y

    def delete_item(self, item: Item) -> None:
        """Remove an item and what hangs on it: its connectors go (a connector needs
        both ends), it leaves its group, and a frame's children stay on the canvas."""
        del self.items[item.id]
        for connector in list(self.connectors.values()):
            if item.id in (connector.start.item_id, connector.end.item_id):
                del self.connectors[connector.id]
        if item.group_id is not None:
            self.leave_group(item)
        for child in self.items.values():
            if child.parent_id == item.id:
                child.parent_id = None
                child.position["relativeTo"] = "canvas_center"

    def leave_group(self, item: Item) -> None:
        """Take an item out of its group. A group needs two items, so a group left with
        one is dissolved (the Web SDK's rule; the REST docs say nothing either way)."""
        group = self.groups.get(item.group_id or "")
        item.group_id = None
        if group is None:
            return
        group.item_ids.remove(item.id)
        if len(group.item_ids) < 2:
            self.ungroup(group)

    def ungroup(self, group: Group) -> None:
        """Dissolve a group; its items stay."""
        self.groups.pop(group.id, None)
        for item_id in group.item_ids:
            member = self.items.get(item_id)
            if member is not None and member.group_id == group.id:
                member.group_id = None

    def delete_tag(self, tag: Tag) -> None:
        """Remove a tag from the board and from every item that carries it."""
        del self.tags[tag.id]
        for item in self.items.values():
            if tag.id in item.tag_ids:
                item.tag_ids.remove(tag.id)
