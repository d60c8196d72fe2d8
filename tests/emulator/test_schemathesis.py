"""Schemathesis over the 85 platform operations of Miro's spec, against the emulator under
uvicorn: no 5xx, no answer that breaks its schema or content type, no status the spec does
not list beyond the deliberate deviations (all in `spec_support.py`).

Generated ids would only ever find 404s, so most examples get real ones: a shared board
holding an item of every type, a tag, a connector, a group and a member; operations that
destroy what they are given (deletes, group replacement) get fresh ones. One example in
five keeps the generated ids, so the 404 answers are checked too. The bulk upload from
files never gets a 2xx here (its JSON file must describe its files one by one); the
official client's test and the spec walk cover it. The spec the test reads
is `patched_spec()`: the schema deviations applied, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from miroconnect.emulator import create_emulator, serve_in_thread

from .conftest import CLIENT, COVERAGE, query_of
from .spec_support import (
    COMMON_EXTRA_STATUSES,
    EXTRA_STATUSES,
    Operation,
    patched_spec,
    platform_operations,
)

EXAMPLES = 20  # per operation: 85 x 20 requests, about a minute on two shared cores

_SEGMENT_BODIES: dict[str, dict[str, Any]] = {
    "sticky_notes": {},
    "texts": {"data": {"content": "t"}},
    "shapes": {},
    "frames": {"data": {}},
    "cards": {},
    "app_cards": {},
    "images": {"data": {"url": "https://example.com/a.png"}},
    "documents": {"data": {"url": "https://example.com/a.pdf"}},
    "embeds": {"data": {"url": "https://example.com/v"}},
    "docs": {"data": {"contentType": "markdown", "content": "# d"}},
    "items": {},  # generic item routes: any item will do
}


class World:
    """The real ids examples are given, made through the API itself."""

    def __init__(self, http: httpx2.Client) -> None:
        self.http = http
        self.serial = count()
        self.board = self.make_board()
        self.shared: dict[str, str] = {}

    def post(self, path: str, body: Any) -> str:
        response = self.http.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        return str(response.json()["id"])

    def make_board(self) -> str:
        return self.post("/v2/boards", {"name": f"board {next(self.serial)}"})

    def item(self, segment: str, fresh: bool) -> str:
        kind = segment if segment in _SEGMENT_BODIES and segment != "items" else "cards"
        if fresh or kind not in self.shared:
            made = self.post(f"/v2/boards/{self.board}/{kind}", _SEGMENT_BODIES[kind])
            if fresh:
                return made
            self.shared[kind] = made
        return self.shared[kind]

    def tag(self, fresh: bool) -> str:
        if fresh or "tag" not in self.shared:
            made = self.post(
                f"/v2/boards/{self.board}/tags", {"title": f"tag {next(self.serial)}"}
            )
            if fresh:
                return made
            self.shared["tag"] = made
        return self.shared["tag"]

    def connector(self, fresh: bool) -> str:
        if fresh or "connector" not in self.shared:
            ends = {
                "startItem": {"id": self.item("shapes", fresh=True)},
                "endItem": {"id": self.item("cards", fresh=True)},
            }
            made = self.post(f"/v2/boards/{self.board}/connectors", ends)
            if fresh:
                return made
            self.shared["connector"] = made
        return self.shared["connector"]

    def group(self, fresh: bool) -> str:
        if fresh or "group" not in self.shared:
            items = [self.item("sticky_notes", fresh=True) for _ in range(2)]
            made = self.post(
                f"/v2/boards/{self.board}/groups", {"data": {"items": items}}
            )
            if fresh:
                return made
            self.shared["group"] = made
        return self.shared["group"]

    def member(self) -> str:
        email = f"member{next(self.serial)}@example.com"
        response = self.http.post(
            f"/v2/boards/{self.board}/members", json={"emails": [email]}
        )
        return str(response.json()["successful"][0])


def _fill(case: schemathesis.Case[Any], op: Operation, world: World) -> None:
    """Replace generated ids with real ones (fresh where the operation destroys them),
    and make the URLs and item ids inside bodies real enough to be accepted."""
    destroys = op.method == "DELETE" or op.operation_id in (
        "updateGroup", "attach-tag-to-item", "remove-tag-from-item",
    )  # fmt: skip
    segments = op.path.split("/")
    segment = segments[4] if len(segments) > 4 else ""
    path = case.path_parameters or {}
    for name in list(path):
        if name.startswith("board_id"):
            path[name] = (
                world.make_board() if op.operation_id == "delete-board" else world.board
            )
        elif name == "item_id":
            path[name] = world.item(segment, fresh=destroys)
        elif name == "tag_id":
            path[name] = world.tag(fresh=destroys)
        elif name == "connector_id":
            path[name] = world.connector(fresh=destroys)
        elif name == "group_id":
            path[name] = world.group(fresh=destroys)
        elif name == "board_member_id":
            path[name] = world.member()
    body: dict[str, Any] = case.body if isinstance(case.body, dict) else {}
    for end in ("startItem", "endItem"):
        side = body.get(end)
        if isinstance(side, dict):
            side["id"] = world.item("shapes", fresh=True)
    data = body.get("data")
    if op.operation_id in ("createGroup", "updateGroup") and isinstance(data, dict):
        data["items"] = [world.item("sticky_notes", fresh=True) for _ in range(2)]
    if isinstance(data, dict) and isinstance(data.get("url"), str):
        data["url"] = "https://example.com/resource"
    query = case.query if isinstance(case.query, dict) else None
    if query is not None:
        if "tag_id" in query:
            query["tag_id"] = world.tag(fresh=False)
        if "parent_item_id" in query:
            query["parent_item_id"] = world.item("frames", fresh=False)
        if "group_item_id" in query:
            query["group_item_id"] = world.group(fresh=False)
        if "copy_from" in query:
            query["copy_from"] = world.board


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, dict[str, str]]]:
    app = create_emulator(
        clients=[CLIENT], auto_approve=True, seed=5, search_delay=0, credits=10**12
    )
    with serve_in_thread(app) as url, httpx2.Client(base_url=url) as http:
        location = http.get(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": CLIENT.client_id,
                "redirect_uri": CLIENT.redirect_uris[0],
            },
        ).headers["location"]
        token = http.post(
            "/v1/oauth/token",
            data={
                "grant_type": "authorization_code",
                "client_id": CLIENT.client_id,
                "client_secret": CLIENT.client_secret,
                "code": query_of(location)["code"],
                "redirect_uri": CLIENT.redirect_uris[0],
            },
        ).json()["access_token"]
        yield url, {"Authorization": f"Bearer {token}"}


def _declared(op: Operation) -> set[int]:
    responses = patched_spec()["paths"][op.path][op.method.lower()]["responses"]
    return {int(status) for status in responses if status.isdigit()}


def test_schemathesis_finds_no_5xx_and_no_schema_violation(
    served: tuple[str, dict[str, str]],
) -> None:
    url, headers = served
    schema = schemathesis.openapi.from_dict(patched_spec())
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    seen: dict[str, set[int]] = {}
    undeclared: list[str] = []
    with httpx2.Client(base_url=url, headers=headers) as http:
        world = World(http)
        for op in platform_operations():
            operation = schema.find_operation_by_id(op.operation_id)
            allowed = _declared(op) | COMMON_EXTRA_STATUSES
            allowed |= EXTRA_STATUSES.get(op.operation_id, frozenset())
            examples = count()

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case[Any]) -> None:
                if next(examples) % 5:  # noqa: B023  # read during this loop turn only
                    _fill(case, op, world)  # noqa: B023
                response = case.call(base_url=url, headers=headers)
                case.validate_response(response, checks=checks)
                seen.setdefault(op.operation_id, set()).add(response.status_code)  # noqa: B023
                if response.status_code not in allowed:  # noqa: B023
                    undeclared.append(
                        f"{op.method} {op.path}: {response.status_code} "  # noqa: B023
                        f"{response.text[:200]}"
                    )

            check()
    assert undeclared == []
    # Generated tokens for the v1 revoke are never the run's own: it stays alive.
    assert set(seen) == {op.operation_id for op in platform_operations()}
    succeeded = sorted(
        op for op, statuses in seen.items() if any(s < 300 for s in statuses)
    )
    COVERAGE["schemathesis"] = (
        f"{len(seen)}/85 operations fuzzed, "
        f"{len(succeeded)} with a 2xx answer validated; 0 5xx, 0 schema violations"
    )
