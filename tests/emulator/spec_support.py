"""Miro's OpenAPI spec as the emulator's tests read it: the 85 platform operations, and
every deliberate deviation of the emulator from the spec, in one place, with its reason.

The platform operations are those whose first tag is one of `PLATFORM_TAGS`: everything
except the enterprise APIs (organizations, teams, projects, SCIM users and groups, legal
holds, audit and content logs, board export and classification, session reset), the
experimental ones (flowcharts, mind maps, code widgets, app metrics), Discovery, and
`POST /v2/oauth/revoke` (tagged "OAuth"; the emulator serves it all the same).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "COMMON_EXTRA_STATUSES",
    "DEVIATIONS",
    "EXTRA_STATUSES",
    "PLATFORM_TAGS",
    "SPEC_PATH",
    "Deviation",
    "Operation",
    "patched_spec",
    "platform_operations",
    "raw_spec",
]

SPEC_PATH = Path(__file__).parents[1] / "miro-openapi" / "spec.json"

PLATFORM_TAGS = (
    "Boards", "Board members", "Items", "items", "tags", "Connectors", "Card items",
    "App card items", "Document items", "documents", "Image items", "images",
    "Embed items", "groups", "Bulk operations", "doc formats", "Shape items",
    "Sticky note items", "Text items", "frames", "tokens",
)  # fmt: skip


@dataclass(frozen=True)
class Operation:
    """One spec operation: `path` is the spec's template, pseudo-paths included."""

    method: str
    path: str
    operation_id: str
    tag: str


@cache
def raw_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return spec


def platform_operations() -> tuple[Operation, ...]:
    """The spec's platform operations, in the spec's order (85 of them)."""
    found = []
    for path, methods in raw_spec()["paths"].items():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            tag = (operation.get("tags") or [""])[0]
            if tag in PLATFORM_TAGS:
                found.append(
                    Operation(method.upper(), path, operation["operationId"], tag)
                )
    return tuple(found)


@dataclass(frozen=True)
class Deviation:
    """Where the emulator and the spec part ways on purpose, and why."""

    name: str
    reason: str


DEVIATIONS = (
    Deviation(
        "dangling error responses",
        "The spec refers to 19 responses it does not define (#/components/responses/400, "
        "401, 403, 404, 409, 413, 425, 429, 500 and ten SCIM ones). They are stubbed "
        "with the spec's own Error schema, the envelope every Miro error uses.",
    ),
    Deviation(
        "oneOf of schemas without required fields",
        "WidgetDataOutput (an item's data), ItemData (a bulk-created item's data), and on "
        "the request side ItemDataCreate and ItemStyle (bulk create's data and style), "
        "are oneOf lists of object schemas none of which requires a field, so any object "
        "matches several and no answer or request can satisfy oneOf. Read as anyOf, "
        "which is what the official clients do (they take the best match).",
    ),
    Deviation(
        "Group is a user group's schema",
        "The request and answer of the board-group operations refer to Group, which in "
        "this spec is the SCIM user group {id, name, type} (a name clash). The emulator "
        'takes what the REST docs show, {"data": {"items": [ids]}}, and answers '
        '{"id", "type": "group", "data": {"items": [...]}}; the spec\'s Group '
        "and GroupResponseShort.data are read as that shape.",
    ),
    Deviation(
        "204 answers have no body",
        "The spec gives several 204 answers an object schema; HTTP forbids a body on a "
        "204, and the emulator sends none.",
    ),
    Deviation(
        "error answers on operations that list none",
        "The file-upload operations (images, documents, bulk from files) list only their "
        "success; bulk create lists no 404. Their failures are answered as everywhere "
        "else: 400 invalidParameters, 404 notFound, 413 when a file is over the "
        "documented 6 MB, 429 tooManyRequests.",
    ),
    Deviation(
        "statuses every operation may answer",
        "No platform operation declares 401, 403 or 405 (the spec has no security "
        "section). The emulator answers 401 tokenNotProvided without a live token, 403 "
        "forbiddenAccess for a missing scope or a role that may not write, and 405 with "
        "an Allow header for a method the path does not have.",
    ),
    Deviation(
        "deleteGroup's literal '?' path",
        "deleteGroup's path is /v2/boards/{board_id}/groups/{group_id}? (a literal '?'), "
        "the same URL as unGroup. One route serves both: delete_items=true deletes the "
        "items, and the '?delete_items' key the official clients send (their URL ends "
        "in '??delete_items=') is read as delete_items.",
    ),
)

# Statuses beyond the spec's, by operationId (see the deviations above).
_UPLOADS = (
    "create-image-item-using-local-file",
    "update-image-item-using-file-from-device",
    "create-document-item-using-file-from-device",
    "update-document-item-using-file-from-device",
    "create-items-in-bulk-using-file-from-device",
)
EXTRA_STATUSES: dict[str, frozenset[int]] = {
    **{op: frozenset({400, 404, 413, 429}) for op in _UPLOADS},
    "create-items": frozenset({404}),
}
COMMON_EXTRA_STATUSES = frozenset({401, 403, 405})

_BOARD_GROUP: dict[str, Any] = {
    "type": "object",
    "properties": {
        "data": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"type": "string"}}},
        }
    },
}
_GROUP_DATA: dict[str, Any] = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "string"}}},
}


@cache
def _patched() -> str:
    spec = copy.deepcopy(raw_spec())
    components = spec["components"]
    dangling = set(re.findall(r'"#/components/responses/([^"]+)"', json.dumps(spec)))
    components["responses"] = {
        name: {
            "description": "error",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
            },
        }
        for name in sorted(dangling)
    }
    schemas = components["schemas"]
    for name in ("WidgetDataOutput", "ItemData", "ItemDataCreate", "ItemStyle"):
        schemas[name]["anyOf"] = schemas[name].pop("oneOf")
    for methods in spec["paths"].values():
        for operation in methods.values():
            empty = isinstance(operation, dict) and operation.get("responses", {}).get(
                "204"
            )
            if empty:
                empty.pop("content", None)
    schemas["Group"] = _BOARD_GROUP
    schemas["GroupResponseShort"]["properties"]["data"] = _GROUP_DATA
    return json.dumps(spec)


def patched_spec() -> dict[str, Any]:
    """A fresh copy of the spec with every schema deviation above applied."""
    spec: dict[str, Any] = json.loads(_patched())
    return spec
