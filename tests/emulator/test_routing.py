"""Routing: every platform operation of the spec is routed; wrong methods get 405 with
Allow; unknown paths cost nothing; bodies the spec requires are required; frames."""

from __future__ import annotations

import re

import httpx2
from starlette.applications import Starlette
from starlette.routing import Match, Route

from .conftest import Tokens
from .spec_support import platform_operations


def _concrete(template: str) -> str:
    # The spec's pseudo-paths are real URLs once their ids are filled in.
    path = template.rstrip("?")
    return re.sub(r"\{[^}]+\}", "3458764000000000001", path)


def test_every_platform_operation_is_routed(emulator: Starlette) -> None:
    unrouted = []
    for op in platform_operations():
        scope = {"type": "http", "path": _concrete(op.path), "method": op.method}
        matches = [
            route
            for route in emulator.routes
            if isinstance(route, Route) and route.matches(scope)[0] == Match.FULL
        ]
        if not matches:
            unrouted.append(f"{op.method} {op.path}")
    assert unrouted == []
    assert len(platform_operations()) == 85


async def test_405_names_every_allowed_method(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    board = (await http.post("/v2/boards", json={}, headers=tokens.headers)).json()[
        "id"
    ]
    for method, path, allowed in (
        ("DELETE", "/v2/boards", {"GET", "HEAD", "POST", "PUT"}),
        ("PUT", f"/v2/boards/{board}/tags", {"GET", "HEAD", "POST"}),
        ("POST", f"/v2/boards/{board}/docs/1", {"GET", "HEAD", "DELETE"}),
        (
            "PUT",
            f"/v2/boards/{board}/items/1",
            {"GET", "HEAD", "PATCH", "POST", "DELETE"},
        ),
    ):
        response = await http.request(method, path, headers=tokens.headers)
        assert response.status_code == 405, (method, path)
        assert set(response.headers["Allow"].split(", ")) == allowed
        assert response.json()["code"] == "methodNotAllowed"


async def test_unknown_paths_spend_no_credits(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    board = (await http.post("/v2/boards", json={}, headers=h)).json()["id"]
    before = (await http.get(f"/v2/boards/{board}", headers=h)).headers
    for path in (f"/v2/boards/{board}/widgets", f"/v2/boards/{board}/cards/1/x"):
        assert (await http.get(path, headers=h)).status_code == 404
    after = (await http.get(f"/v2/boards/{board}", headers=h)).headers
    spent = int(before["X-RateLimit-Remaining"]) - int(after["X-RateLimit-Remaining"])
    assert spent == 50  # the second GET board only


async def test_required_bodies_and_empty_query_values(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    board = (await http.post("/v2/boards", json={}, headers=h)).json()["id"]
    b = f"/v2/boards/{board}"
    note = (await http.post(f"{b}/sticky_notes", json={}, headers=h)).json()["id"]
    for method, path in (
        ("POST", f"{b}/sticky_notes"), ("POST", f"{b}/cards"), ("POST", f"{b}/tags"),
        ("POST", f"{b}/connectors"), ("PATCH", b), ("PATCH", f"{b}/sticky_notes/{note}"),
        ("PATCH", f"{b}/items/{note}"), ("POST", f"{b}/members"),
    ):  # fmt: skip
        response = await http.request(method, path, headers=h)
        assert response.status_code == 400, (method, path)
    assert (
        await http.post("/v2/boards", headers=h)
    ).status_code == 201  # optional body
    for params in ({"sort": ""}, {"limit": ""}, {"type": ""}):
        path = "/v2/boards" if "type" not in params else f"{b}/items"
        assert (await http.get(path, params=params, headers=h)).status_code == 400


async def test_frames_hold_items_of_every_type_but_frames(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    board = (await http.post("/v2/boards", json={}, headers=h)).json()["id"]
    b = f"/v2/boards/{board}"
    frame = (await http.post(f"{b}/frames", json={"data": {}}, headers=h)).json()["id"]
    inside = {"parent": {"id": frame}, "position": {"x": 10, "y": 10}}
    for kind, body in (
        ("cards", {}), ("app_cards", {}), ("texts", {"data": {"content": "t"}}),
        ("embeds", {"data": {"url": "https://example.com"}}),
        ("images", {"data": {"url": "https://example.com/a.png"}}),
        ("documents", {"data": {"url": "https://example.com/a.pdf"}}),
        ("docs", {"data": {"contentType": "markdown", "content": "x"}}),
    ):  # fmt: skip
        made = await http.post(f"{b}/{kind}", json={**body, **inside}, headers=h)
        assert made.status_code == 201, (kind, made.text)
        assert made.json()["position"]["relativeTo"] == "parent_top_left"
    nested = await http.post(
        f"{b}/frames", json={"data": {}, "parent": {"id": frame}}, headers=h
    )
    assert nested.status_code == 400
    listed = await http.get(f"{b}/items", params={"parent_item_id": frame}, headers=h)
    assert listed.json()["total"] == 7
    not_a_frame = listed.json()["data"][0]["id"]
    bad = await http.get(
        f"{b}/items", params={"parent_item_id": not_a_frame}, headers=h
    )
    assert bad.status_code == 400
