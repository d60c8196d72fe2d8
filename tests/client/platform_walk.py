"""Helpers for driving every client method against the emulator and checking each call
against Miro's OpenAPI spec: what was sent (path, query, body, credits booked, whether it
may be repeated) and what came back (the spec's schema, our model, its required fields).

The spec is read as the emulator's tests read it (`emulator.spec_support`): the same list
of 85 platform operations and the same listed deviations.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ParamSpec, TypeVar

import httpx2
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from pydantic import BaseModel
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from emulator.spec_support import Operation, patched_spec, platform_operations
from miroconnect.client import MiroClient
from miroconnect.client.operations import operation_id

__all__ = [
    "Call",
    "Exchange",
    "Recorder",
    "Sent",
    "Walk",
    "credits_level",
    "operations",
    "report",
    "required_fields_kept",
    "validate_answer",
    "validate_request",
]

P = ParamSpec("P")
R = TypeVar("R")

SPEC_URI = "urn:miro-spec"

# The v2 revoke is tagged OAuth, not a platform operation, but the client makes it too.
_REVOKE_V2 = Operation("POST", "/v2/oauth/revoke", "revoke-token-v2", "OAuth")


@cache
def operations() -> dict[str, Operation]:
    """Every operation the client may make, by operationId: the 85 and the v2 revoke."""
    found = {op.operation_id: op for op in platform_operations()}
    found[_REVOKE_V2.operation_id] = _REVOKE_V2
    return found


@cache
def _spec() -> dict[str, Any]:
    # With the listed deviations applied (spec_support.py), requests' oneOfs included.
    return patched_spec()


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(_spec(), DRAFT4)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return registry


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _spec_operation(op: Operation) -> dict[str, Any]:
    found: dict[str, Any] = _spec()["paths"][op.path][op.method.lower()]
    return found


def _errors(pointer: str, value: Any) -> list[str]:
    validator = OAS30Validator(
        {"$ref": f"{SPEC_URI}#/{pointer}"},
        registry=_registry(),
        format_checker=oas30_format_checker,
    )
    return sorted(e.message for e in validator.iter_errors(value))


def credits_level(op: Operation) -> int | None:
    """The rate-limit level the spec's description gives the operation (None: none)."""
    text = _spec_operation(op).get("description", "")
    level = re.search(r"Level (\d)", text)
    return int(level.group(1)) if level else None


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    spec = _spec()
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def answer_schema(op: Operation, status: int) -> tuple[str, dict[str, Any]] | None:
    """The JSON pointer and schema of the spec's answer for `status`, if it has one."""
    declared = _spec_operation(op)["responses"].get(str(status))
    assert declared is not None, f"{op.operation_id}: status {status} not in the spec"
    content = declared.get("content", {}).get("application/json")
    if status == 204 or content is None or "schema" not in content:
        return None
    pointer = _pointer(
        "paths", op.path, op.method.lower(), "responses", str(status), "content",
        "application/json", "schema",
    )  # fmt: skip
    return pointer, content["schema"]


def validate_answer(op: Operation, response: httpx2.Response) -> None:
    """The answer's status is the spec's, and its body validates against its schema."""
    found = answer_schema(op, response.status_code)
    if found is None:
        assert not response.content, (
            f"{op.operation_id}: a body where the spec has none"
        )
        return
    errors = _errors(found[0], response.json())
    assert not errors, f"{op.operation_id}: " + "; ".join(errors[:5])


def validate_request(op: Operation, request: httpx2.Request) -> None:
    """The query names are the operation's, a JSON body validates against the request
    schema, and a multipart body has the spec's field names (and the required ones)."""
    spec_op = _spec_operation(op)
    declared = {p["name"] for p in spec_op.get("parameters", []) if p["in"] == "query"}
    required = {
        p["name"]
        for p in spec_op.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    sent = set(request.url.params.keys())
    assert sent <= declared, f"{op.operation_id}: query {sent - declared} not declared"
    assert required <= sent, f"{op.operation_id}: query {required - sent} missing"
    body = spec_op.get("requestBody", {}).get("content", {})
    content_type = request.headers.get("content-type", "")
    if not request.content:
        assert not spec_op.get("requestBody", {}).get("required"), op.operation_id
        return
    if content_type.startswith("application/json"):
        assert "application/json" in body, f"{op.operation_id}: JSON not declared"
        pointer = _pointer(
            "paths", op.path, op.method.lower(), "requestBody", "content",
            "application/json", "schema",
        )  # fmt: skip
        errors = _errors(pointer, json.loads(request.content))
        assert not errors, f"{op.operation_id} request: " + "; ".join(errors[:5])
        return
    assert content_type.startswith("multipart/form-data"), content_type
    schema = _resolve(body["multipart/form-data"]["schema"])
    names = _multipart_names(request)
    assert set(names) <= set(schema["properties"]), f"{op.operation_id}: {names}"
    assert set(schema.get("required", [])) <= set(names), f"{op.operation_id}: {names}"
    data = names.get("data")
    if data is not None and _resolve(schema["properties"]["data"]).get("type") == (
        "object"
    ):
        pointer = _pointer(
            "paths", op.path, op.method.lower(), "requestBody", "content",
            "multipart/form-data", "schema", "properties", "data",
        )  # fmt: skip
        if "$ref" in body["multipart/form-data"]["schema"]:
            ref = body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
            pointer = _pointer("components", "schemas", ref, "properties", "data")
        errors = _errors(pointer, json.loads(data))
        assert not errors, f"{op.operation_id} data part: " + "; ".join(errors[:5])


def _multipart_names(request: httpx2.Request) -> dict[str, bytes]:
    """The parts of a multipart body by name (the last of a repeated name)."""
    boundary = request.headers["content-type"].split("boundary=", 1)[1].encode()
    parts: dict[str, bytes] = {}
    for chunk in request.content.split(b"--" + boundary)[1:-1]:
        head, _, payload = chunk.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        assert name is not None, head
        parts[name.group(1).decode()] = payload.removesuffix(b"\r\n")
    return parts


def required_fields_kept(
    model: BaseModel, raw: Any, schema: dict[str, Any]
) -> list[str]:
    """Where the spec marks a field required and the answer has it, our parsed model must
    declare it (a typed field, not an unknown extra) and hold it; nested models, lists of
    them and `oneOf`s of objects are followed. Returns what is missing."""
    missing: list[str] = []
    _kept(model, raw, schema, type(model).__name__, missing)
    return missing


def _kept(
    model: BaseModel, raw: Any, schema: dict[str, Any], where: str, out: list[str]
) -> None:
    schema = _resolve(schema)
    if not isinstance(raw, dict):
        return
    alternatives = schema.get("allOf") or schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        for part in alternatives:
            _kept(model, raw, part, where, out)
    by_alias = {(f.alias or n): n for n, f in type(model).model_fields.items()}
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in raw:
            continue
        if name not in by_alias:
            out.append(f"{where}.{name} (not a declared field)")
            continue
        if getattr(model, by_alias[name]) is None:
            out.append(f"{where}.{name} (lost)")
    for name, prop in properties.items():
        if name not in by_alias or name not in raw:
            continue
        value = getattr(model, by_alias[name])
        if isinstance(value, BaseModel):
            _kept(value, raw[name], prop, f"{where}.{name}", out)
        elif isinstance(value, list):
            items = _resolve(prop).get("items", {})
            for i, (entry, raw_entry) in enumerate(zip(value, raw[name], strict=True)):
                if isinstance(entry, BaseModel):
                    _kept(entry, raw_entry, items, f"{where}.{name}[{i}]", out)


class Recorder(httpx2.AsyncBaseTransport):
    """A transport that passes every request on and keeps it with its answer (both read
    into memory)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.exchanges.append(Exchange(request, response))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True)
class Exchange:
    request: httpx2.Request
    response: httpx2.Response


@dataclass(frozen=True)
class Sent:
    """What a method asked the requester to send: the level and units it books, and
    whether the call may be repeated."""

    method: str
    path: str
    level: int | None
    units: int
    idempotent: bool


@dataclass
class Call:
    """One client method call: its operation, what it sent, what came back."""

    operation_id: str
    sent: list[Sent] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)


class Walk:
    """Calls client methods one at a time and records, for each, the requests the
    requester was asked to send and the HTTP exchanges they made."""

    def __init__(self, client: MiroClient, recorder: Recorder) -> None:
        self.calls: list[Call] = []
        self._recorder = recorder
        self._sent: list[Sent] = []
        requester = client._requester
        send = requester.send

        async def spy(method: str, path: str, **options: Any) -> httpx2.Response:
            self._sent.append(
                Sent(
                    method,
                    path,
                    options["level"],
                    options.get("units", 1),
                    options["idempotent"],
                )
            )
            return await send(method, path, **options)

        # The groups share this one requester: watching it sees every call they make.
        requester.send = spy  # type: ignore[method-assign]

    def _start(self, method: Callable[..., Any]) -> tuple[str, int, int]:
        op = operation_id(method)
        assert op is not None, f"{method} makes no spec operation"
        return op, len(self._sent), len(self._recorder.exchanges)

    def _end(self, op: str, sent: int, exchanges: int) -> None:
        self.calls.append(
            Call(op, self._sent[sent:], self._recorder.exchanges[exchanges:])
        )

    async def call(
        self, method: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        op, sent, exchanges = self._start(method)
        try:
            return await method(*args, **kwargs)
        finally:
            self._end(op, sent, exchanges)

    async def each(
        self, method: Callable[P, AsyncIterator[R]], *args: P.args, **kwargs: P.kwargs
    ) -> list[R]:
        op, sent, exchanges = self._start(method)
        try:
            return [entry async for entry in method(*args, **kwargs)]
        finally:
            self._end(op, sent, exchanges)


_LINES: dict[str, str] = {}


class _Summary:
    """Prints the client's coverage figures at the end of the run."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for name, line in sorted(_LINES.items()):
            terminalreporter.write_line(f"client coverage ({name}): {line}")


def report(config: pytest.Config, name: str, line: str) -> None:
    """Print `line` in the run's closing summary (and once per name)."""
    _LINES[name] = line
    if not config.pluginmanager.has_plugin("miroconnect-client-coverage"):
        config.pluginmanager.register(_Summary(), "miroconnect-client-coverage")
