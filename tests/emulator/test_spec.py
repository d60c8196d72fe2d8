"""Every emulator endpoint's JSON answers validate against Miro's OpenAPI spec
(what it must show: 2)."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx2
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from .conftest import REDIRECT_URI, Tokens, connect
from .spec_support import patched_spec

SPEC_URI = "urn:miro-spec"


@cache
def _spec() -> dict[str, Any]:
    # The spec with the deliberate deviations applied (all listed in spec_support.py).
    return patched_spec()


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(_spec(), DRAFT4)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return registry


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def validate(response: httpx2.Response, path: str, method: str) -> None:
    """Validate a JSON answer against the spec's schema for (path, method, status)."""
    spec = _spec()
    operation = spec["paths"][path][method.lower()]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, (
        f"{method} {path}: status {response.status_code} is not in the spec"
    )
    ref = declared.get("$ref")
    if ref is not None:
        declared = spec["components"]["responses"][ref.rsplit("/", 1)[1]]
    content = declared.get("content", {}).get("application/json")
    if response.status_code == 204:
        # The spec gives some 204s an object schema, but HTTP forbids a 204 body.
        assert not response.content, f"{method} {path}: a 204 with a body"
        return
    if content is None or "schema" not in content:
        assert not response.content, f"{method} {path}: body where spec has none"
        return
    status = str(response.status_code)
    if ref is None:
        pointer = _pointer(
            "paths", path, method.lower(), "responses", status, "content",
            "application/json", "schema",
        )  # fmt: skip
    else:
        pointer = _pointer("components", "responses", ref.rsplit("/", 1)[1], "content",
                           "application/json", "schema")  # fmt: skip
    validator = OAS30Validator(
        {"$ref": f"{SPEC_URI}#/{pointer}"},
        registry=_registry(),
        format_checker=oas30_format_checker,
    )
    errors = sorted(validator.iter_errors(response.json()), key=str)
    assert not errors, f"{method} {path} {status}: " + "; ".join(
        e.message for e in errors[:5]
    )


async def test_every_endpoint_answers_in_the_spec_shape(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    h = tokens.headers
    calls: list[tuple[httpx2.Response, str, str]] = []

    async def call(method: str, url: str, template: str, **kw: Any) -> httpx2.Response:
        response = await http.request(method, url, headers=h, **kw)
        calls.append((response, template, method))
        return response

    info = await call("GET", "/v1/oauth-token", "/v1/oauth-token")
    assert info.status_code == 200

    board = (
        await call("POST", "/v2/boards", "/v2/boards", json={
            "name": "Spec", "description": "walk",
            "policy": {"sharingPolicy": {"access": "view"}},
        })
    ).json()  # fmt: skip
    b = board["id"]
    await call("GET", f"/v2/boards/{b}", "/v2/boards/{board_id}")
    for _ in range(3):
        await call("POST", "/v2/boards", "/v2/boards", json={})
    await call("GET", "/v2/boards?limit=2&offset=1", "/v2/boards")
    await call("GET", "/v2/boards?sort=alphabetically&query=spec", "/v2/boards")
    await call("PATCH", f"/v2/boards/{b}", "/v2/boards/{board_id}", json={"name": "S2"})
    await call("PUT", "/v2/boards", "/v2/boards", params={"copy_from": b}, json={})
    await call("POST", "/v2/boards", "/v2/boards", json={"name": "x" * 61})
    await call("GET", "/v2/boards/uXjVnothere=", "/v2/boards/{board_id}")

    members = "/v2/boards/{board_id}/members"
    member = "/v2/boards/{board_id}/members/{board_member_id}"
    await call("POST", f"/v2/boards/{b}/members", members,
               json={"emails": ["ann@example.com", "nope"], "role": "editor"})  # fmt: skip
    listed = await call("GET", f"/v2/boards/{b}/members", members)
    ann = next(m["id"] for m in listed.json()["data"] if m["name"] == "ann")
    await call("GET", f"/v2/boards/{b}/members/{ann}", member)
    await call(
        "PATCH", f"/v2/boards/{b}/members/{ann}", member, json={"role": "viewer"}
    )
    await call("DELETE", f"/v2/boards/{b}/members/{ann}", member)

    frame = (
        await call("POST", f"/v2/boards/{b}/frames", "/v2/boards/{board_id}/frames",
                   json={"data": {"title": "F"}})
    ).json()["id"]  # fmt: skip
    kinds = {
        "sticky_notes": {"data": {"content": "hi"}, "parent": {"id": frame}},
        "texts": {"data": {"content": "text"}, "style": {"fontSize": "20"}},
        "shapes": {"data": {"shape": "circle"}, "geometry": {"width": 50}},
        "frames": {"data": {"title": "G"}},
    }
    for kind, body in kinds.items():
        collection = f"/v2/boards/{{board_id}}/{kind}"
        single = f"{collection}/{{item_id}}"
        created = await call("POST", f"/v2/boards/{b}/{kind}", collection, json=body)
        assert created.status_code == 201, created.text
        item = created.json()["id"]
        await call("GET", f"/v2/boards/{b}/{kind}/{item}", single)
        if kind in ("sticky_notes", "frames"):  # the spec has no PATCH for the others
            await call("PATCH", f"/v2/boards/{b}/{kind}/{item}", single,
                       json={"position": {"x": 5, "y": 6}})  # fmt: skip
        if kind == "sticky_notes":
            await call("DELETE", f"/v2/boards/{b}/{kind}/{item}", single)
        if kind == "frames":
            await call("DELETE", f"/v2/boards/{b}/{kind}/{item}", single)
    await call("POST", f"/v2/boards/{b}/sticky_notes", "/v2/boards/{board_id}/sticky_notes",
               json={"style": {"fillColor": "purple"}})  # fmt: skip
    for i in range(12):
        await call("POST", f"/v2/boards/{b}/sticky_notes",
                   "/v2/boards/{board_id}/sticky_notes", json={"data": {"content": str(i)}})  # fmt: skip
    first = await call("GET", f"/v2/boards/{b}/items", "/v2/boards/{board_id}/items")
    cursor = first.json()["cursor"]
    await call("GET", f"/v2/boards/{b}/items", "/v2/boards/{board_id}/items",
               params={"cursor": cursor})  # fmt: skip
    await call("GET", f"/v2/boards/{b}/items?limit=5", "/v2/boards/{board_id}/items")
    one = first.json()["data"][0]["id"]
    generic = "/v2/boards/{board_id}/items/{item_id}"
    await call("GET", f"/v2/boards/{b}/items/{one}", generic)
    await call(
        "PATCH", f"/v2/boards/{b}/items/{one}", generic, json={"position": {"x": 1}}
    )
    await call("DELETE", f"/v2/boards/{b}/items/{one}", generic)
    await call("DELETE", f"/v2/boards/{b}", "/v2/boards/{board_id}")

    await call("POST", "/v2/oauth/revoke", "/v2/oauth/revoke",
               json={"accessToken": "nope", "clientId": "x", "clientSecret": "y"})  # fmt: skip
    spare = await connect(http)
    await call("POST", "/v1/oauth/revoke", "/v1/oauth/revoke",
               params={"access_token": spare.access})  # fmt: skip
    await call("POST", "/v2/oauth/revoke", "/v2/oauth/revoke",
               json={"accessToken": tokens.access, "clientId": "3074457363680401096",
                     "clientSecret": "app-secret"})  # fmt: skip

    statuses = {(m, t, r.status_code) for r, t, m in calls}
    # The walk covered successes and the error paths it meant to.
    assert ("POST", "/v2/boards", 400) in statuses
    assert ("GET", "/v2/boards/{board_id}", 404) in statuses
    assert ("GET", "/v2/boards/{board_id}/items", 400) in statuses
    assert ("POST", "/v2/oauth/revoke", 404) in statuses
    assert ("POST", "/v2/oauth/revoke", 204) in statuses
    failures: list[str] = []
    for response, template, method in calls:
        try:
            validate(response, template, method)
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, "\n".join(failures)
    assert REDIRECT_URI  # the connect() above used the registered URI


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429])
def test_validator_rejects_a_wrong_shape(status: int) -> None:
    # The check above is only as good as the validator: a wrong body must fail it.
    bad = httpx2.Response(200, json={"id": 5, "name": "x", "type": "board"})
    with pytest.raises(AssertionError):
        validate(bad, "/v2/boards/{board_id}", "GET")
    error = httpx2.Response(status, json={"status": "nope", "type": "error"})
    with pytest.raises(AssertionError):
        validate(error, "/v2/boards/{board_id}", "GET")


async def test_bulk_create_from_files_answers_in_the_spec_shape(
    http: httpx2.AsyncClient, tokens: Tokens
) -> None:
    # The one operation schemathesis cannot make succeed (its JSON file must describe
    # its files one by one): its answer is checked here.
    h = tokens.headers
    board = (await http.post("/v2/boards", json={}, headers=h)).json()["id"]
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
    files = [
        ("data", ("d.json", b'[{"type": "image"}, {"type": "document"}]', "text/json")),
        ("resources", ("a.png", png, "image/png")),
        ("resources", ("a.pdf", b"%PDF-1.4", "application/pdf")),
    ]
    template = (
        "/v2/boards/{board_id_Platformcreateitemsinbulkusingfilefromdevice}/items/bulk"
    )
    made = await http.post(f"/v2/boards/{board}/items/bulk", files=files, headers=h)
    assert made.status_code == 201
    validate(made, template, "POST")
