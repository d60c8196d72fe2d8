"""`miroconnect.client.routes` says what Miro's spec says: every `/v2/` operation has its
row, with the spec's method, path and level, and a selector only where the spec makes
that query parameter required. (`test_platform.py` checks the client's own calls against
the same rows.)"""

from __future__ import annotations

import re

from emulator.spec_support import platform_operations, raw_spec
from miroconnect.client.routes import DEFAULT_LEVEL, ROUTES, route_for

from .platform_walk import credits_level


def _real_path(template: str) -> str:
    """The spec's pseudo-path as the URL's path: `{board_id_PlatformTags}` is a
    `{board_id}`, and deleteGroup's literal `?` is no part of the path."""
    return re.sub(r"\{board_id_[A-Za-z]+\}", "{board_id}", template).removesuffix("?")


def test_every_v2_operation_has_its_row_with_the_specs_level() -> None:
    spec = {
        op.operation_id: (op.method, _real_path(op.path), credits_level(op))
        for op in platform_operations()
        if op.path.startswith("/v2/")
    }
    rows = {
        route.operation_id: (route.method, route.template, route.level)
        for route in ROUTES
    }
    assert len(rows) == len(ROUTES)  # one row per operation
    assert rows == spec


def test_selectors_are_required_query_parameters_of_their_operation() -> None:
    paths = raw_spec()["paths"]
    by_id = {op.operation_id: op for op in platform_operations()}
    for route in ROUTES:
        if route.selector is None:
            continue
        op = by_id[route.operation_id]
        parameters = paths[op.path][op.method.lower()]["parameters"]
        required = {
            p["name"] for p in parameters if p["in"] == "query" and p.get("required")
        }
        assert route.selector in required, route.operation_id


def test_per_item_rows_are_the_operations_charged_per_item_of_the_body() -> None:
    paths = raw_spec()["paths"]
    by_id = {op.operation_id: op for op in platform_operations()}
    for route in ROUTES:
        op = by_id[route.operation_id]
        text = paths[op.path][op.method.lower()]["description"]
        # getGroupById is "Level 2 per item ID": its size is known only from the answer.
        charged = re.search(r"</a> per item(?! ID)", text) is not None
        assert route.per_item == charged, route.operation_id


def test_the_query_and_the_literal_path_pick_the_operation() -> None:
    item = "/v2/boards/uXjVOD6LSME=/items/3458764517517819000"
    assert route_for("DELETE", item).operation_id == "delete-item"  # type: ignore[union-attr]
    removed = route_for("DELETE", item, {"tag_id"})
    assert removed is not None and removed.level == 1
    by_tag = route_for("GET", "/v2/boards/b/items", {"tag_id", "limit"})
    assert by_tag is not None and by_tag.operation_id == "get-items-by-tag"
    listed = route_for("GET", "/v2/boards/b/items", {"limit"})
    assert listed is not None and listed.level == 2
    grouped = route_for("GET", "/v2/boards/b/groups/items")
    assert grouped is not None and grouped.operation_id == "getItemsByGroupId"
    bulk = route_for("POST", "/v2/boards/b/items/bulk")
    assert bulk is not None and bulk.per_item


def test_unknown_paths_and_methods_have_no_row() -> None:
    assert route_for("GET", "/v2/orgs/1/teams") is None
    assert route_for("POST", "/v2/boards/b") is None
    assert route_for("GET", "/v2/boards/b/items/i/tags/x") is None
    assert DEFAULT_LEVEL in (1, 2, 3, 4)
