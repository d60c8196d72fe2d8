"""Which of Miro's operations a method and path make, and its rate-limit level.

The client's methods book their level themselves; a request that did not come through one
(the service's proxy, `miroconnect.web.proxy`) finds its operation here:

```python
route_for("GET", "/v2/boards/uXjVOD6LSME=/items", {"tag_id"}).level  # 1
```

One row per operation of Miro's OpenAPI spec under `/v2/` (the spec's pseudo-paths, such
as `{board_id_PlatformFileUpload}`, written as the real path). Levels are the spec's ("Rate
limiting" in each operation's description): `tests/client/test_routes.py` compares every
row with the spec, and `tests/client/test_platform.py` checks that every call the client
makes is matched here to the level it booked.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

__all__ = ["DEFAULT_LEVEL", "ROUTES", "Route", "route_for"]

DEFAULT_LEVEL = 2
"""The level booked for a path no row knows (an enterprise or experimental API): Miro's
writes are mostly Level 2, and the answer's `X-RateLimit-*` headers correct the balance
either way."""


@dataclass(frozen=True)
class Route:
    """One operation: its method, path template and level.

    `selector`: a query parameter that picks this operation over another on the same
    method and path (`DELETE .../items/{item_id}?tag_id=` removes a tag, Level 1; without
    it the item is deleted, Level 3). `per_item`: Miro charges the level once per item of
    the body (bulk create).
    """

    method: str
    template: str
    level: int
    operation_id: str
    selector: str | None = None
    per_item: bool = False
    _parts: tuple[str | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = tuple(
            None if part.startswith("{") else part
            for part in self.template.strip("/").split("/")
        )
        object.__setattr__(self, "_parts", parts)

    @property
    def literal_parts(self) -> int:
        """How many segments are fixed words (a more literal row wins a tie)."""
        return sum(part is not None for part in self._parts)

    def matches(self, segments: list[str]) -> bool:
        """Whether a path's segments fit the template (any value for a parameter)."""
        return len(segments) == len(self._parts) and all(
            part is None or part == segment
            for part, segment in zip(self._parts, segments, strict=True)
        )


_B = "/v2/boards/{board_id}"


def _items(kind: str, names: str, *, update: bool = True) -> tuple[Route, ...]:
    """The four operations of an item type (create 2, get 1, update 2, delete 3)."""
    one = f"{_B}/{kind}/{{item_id}}"
    rows = [
        Route("POST", f"{_B}/{kind}", 2, f"create-{names}-item"),
        Route("GET", one, 1, f"get-{names}-item"),
        Route("DELETE", one, 3, f"delete-{names}-item"),
    ]
    if update:
        rows.append(Route("PATCH", one, 2, f"update-{names}-item"))
    return tuple(rows)


ROUTES: tuple[Route, ...] = (
    # Boards.
    Route("POST", "/v2/boards", 3, "create-board"),
    Route("GET", "/v2/boards", 1, "get-boards"),
    Route("PUT", "/v2/boards", 4, "copy-board"),
    Route("GET", _B, 1, "get-specific-board"),
    Route("PATCH", _B, 2, "update-board"),
    Route("DELETE", _B, 3, "delete-board"),
    # Board members.
    Route("POST", f"{_B}/members", 3, "share-board"),
    Route("GET", f"{_B}/members", 1, "get-board-members"),
    Route("GET", f"{_B}/members/{{board_member_id}}", 1, "get-specific-board-member"),
    Route("PATCH", f"{_B}/members/{{board_member_id}}", 2, "update-board-member"),
    Route("DELETE", f"{_B}/members/{{board_member_id}}", 2, "remove-board-member"),
    # Items of any type, and bulk create.
    Route("GET", f"{_B}/items", 2, "get-items"),
    Route("GET", f"{_B}/items", 2, "get-items-within-frame", "parent_item_id"),
    Route("GET", f"{_B}/items", 1, "get-items-by-tag", "tag_id"),
    Route("GET", f"{_B}/items/{{item_id}}", 1, "get-specific-item"),
    Route("PATCH", f"{_B}/items/{{item_id}}", 2, "update-item-position-or-parent"),
    Route("DELETE", f"{_B}/items/{{item_id}}", 3, "delete-item"),
    Route("DELETE", f"{_B}/items/{{item_id}}", 1, "remove-tag-from-item", "tag_id"),
    Route("POST", f"{_B}/items/{{item_id}}", 1, "attach-tag-to-item"),
    Route("POST", f"{_B}/items/bulk", 2, "create-items", per_item=True),
    Route(
        "POST",
        f"{_B}/items/bulk",
        2,
        "create-items-in-bulk-using-file-from-device",
        per_item=True,
    ),
    # One type each (URL and file variants of images and documents share a path).
    *_items("app_cards", "app-card"),
    *_items("cards", "card"),
    *_items("embeds", "embed"),
    *_items("shapes", "shape"),
    *_items("sticky_notes", "sticky-note"),
    *_items("texts", "text"),
    *_items("frames", "frame"),
    *_items("docs", "doc-format", update=False),
    Route("POST", f"{_B}/images", 2, "create-image-item-using-url"),
    Route("POST", f"{_B}/images", 2, "create-image-item-using-local-file"),
    Route("GET", f"{_B}/images/{{item_id}}", 1, "get-image-item"),
    Route("PATCH", f"{_B}/images/{{item_id}}", 2, "update-image-item-using-url"),
    Route(
        "PATCH",
        f"{_B}/images/{{item_id}}",
        2,
        "update-image-item-using-file-from-device",
    ),
    Route("DELETE", f"{_B}/images/{{item_id}}", 3, "delete-image-item"),
    Route("POST", f"{_B}/documents", 2, "create-document-item-using-url"),
    Route("POST", f"{_B}/documents", 2, "create-document-item-using-file-from-device"),
    Route("GET", f"{_B}/documents/{{item_id}}", 1, "get-document-item"),
    Route("PATCH", f"{_B}/documents/{{item_id}}", 2, "update-document-item-using-url"),
    Route(
        "PATCH",
        f"{_B}/documents/{{item_id}}",
        2,
        "update-document-item-using-file-from-device",
    ),
    Route("DELETE", f"{_B}/documents/{{item_id}}", 3, "delete-document-item"),
    # Connectors.
    Route("POST", f"{_B}/connectors", 2, "create-connector"),
    Route("GET", f"{_B}/connectors", 2, "get-connectors"),
    Route("GET", f"{_B}/connectors/{{connector_id}}", 1, "get-connector"),
    Route("PATCH", f"{_B}/connectors/{{connector_id}}", 2, "update-connector"),
    Route("DELETE", f"{_B}/connectors/{{connector_id}}", 3, "delete-connector"),
    # Groups.
    Route("POST", f"{_B}/groups", 2, "createGroup"),
    Route("GET", f"{_B}/groups", 2, "get-all-groups"),
    Route("GET", f"{_B}/groups/items", 2, "getItemsByGroupId"),
    Route("GET", f"{_B}/groups/{{group_id}}", 2, "getGroupById"),
    Route("PUT", f"{_B}/groups/{{group_id}}", 2, "updateGroup"),
    Route("DELETE", f"{_B}/groups/{{group_id}}", 3, "unGroup"),
    Route("DELETE", f"{_B}/groups/{{group_id}}", 3, "deleteGroup", "delete_items"),
    # Tags.
    Route("POST", f"{_B}/tags", 1, "create-tag"),
    Route("GET", f"{_B}/tags", 1, "get-tags-from-board"),
    Route("GET", f"{_B}/tags/{{tag_id}}", 1, "get-tag"),
    Route("PATCH", f"{_B}/tags/{{tag_id}}", 1, "update-tag"),
    Route("DELETE", f"{_B}/tags/{{tag_id}}", 1, "delete-tag"),
    Route("GET", f"{_B}/items/{{item_id}}/tags", 1, "get-tags-from-item"),
)


def route_for(method: str, path: str, query: Collection[str] = ()) -> Route | None:
    """The operation `method` on `path` makes, given the names of its query parameters;
    None if no row knows it (book `DEFAULT_LEVEL` then).

    A row whose selector is in `query` wins over the plain row of the same path, and a
    more literal template over one with a parameter in its place (`.../groups/items` is
    not a group called "items").
    """
    segments = path.strip("/").split("/")
    best: Route | None = None
    best_rank = (0, 0)
    for route in ROUTES:
        if route.method != method or not route.matches(segments):
            continue
        if route.selector is not None and route.selector not in query:
            continue
        rank = (route.selector is not None, route.literal_parts)
        if best is None or rank > best_rank:
            best, best_rank = route, rank
    return best
