"""Bulk create: up to 20 items in one call, all or nothing.

"The bulk create operation is transactional. If any item's create operation fails, the
create operation for all the remaining items also fails, and none of the items will be
created." So every item is validated first; the first failures are reported in Miro's
`BulkOperationError` shape (`context.fields[].field` = "<index>.<parameter>"), and only a
wholly valid request creates anything. It costs "Level 2 per item".

Two forms: a JSON array (`create-items`), or multipart with a JSON file `data` describing
images and documents and one `resources` file per entry, in the same order.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from miroconnect.emulator.api import Caller, endpoint, visible_board
from miroconnect.emulator.items import add_item, item_json, placement
from miroconnect.emulator.kinds import Kind, Parts, by_type
from miroconnect.emulator.model import Board, StoredFile
from miroconnect.emulator.uploads import file_parts, read_multipart, stored_file
from miroconnect.emulator.validate import invalid
from miroconnect.emulator.wire import APIError, json_response

__all__ = ["bulk_create", "bulk_create_from_files"]

MAX_ITEMS = 20
# ItemTypeChange: the types a bulk create accepts.
BULK_TYPES = (
    "app_card", "text", "shape", "sticky_note", "image", "document", "card", "frame",
    "embed",
)  # fmt: skip

Planned = tuple[Kind, Parts, tuple[dict[str, Any], str | None], StoredFile | None]


def _failed(fields: list[dict[str, str]]) -> APIError:
    return APIError(
        400,
        "Bulk create failed: "
        + "; ".join(f"{f['field']}: {f['message']}" for f in fields),
        context={"fields": fields},
    )


def _plan_all(
    board: Board,
    entries: list[Any],
    allowed: tuple[str, ...],
    files: list[StoredFile | None],
) -> list[Planned]:
    """Validate every entry; raise one 400 naming each failure, or return the plan."""
    plan: list[Planned] = []
    failures: list[dict[str, str]] = []
    for i, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise invalid("", "must be an object")
            item_type = entry.get("type")
            kind = by_type(item_type) if isinstance(item_type, str) else None
            if kind is None or kind.type not in allowed:
                raise invalid("type", "must be one of " + ", ".join(allowed))
            if kind.data_required and files[i] is None and "data" not in entry:
                raise invalid("data", "is required")
            stored = files[i]
            if stored is None:
                parts = kind.read(entry, None)
            else:
                parts = file_parts(kind, entry, stored, None)
            plan.append((kind, parts, placement(entry, board, None, kind), stored))
        except APIError as error:
            for field in (error.context or {}).get(
                "fields", [{"field": "", "message": error.message}]
            ):
                name = f"{i}.{field['field']}".rstrip(".")
                failures.append({"field": name, "message": field["message"]})
    if failures:
        raise _failed(failures)
    return plan


def _create_all(caller: Caller, board: Board, plan: list[Planned]) -> Response:
    # Priced per item: one unit was charged on the way in.
    caller.charge(2, len(plan) - 1)
    made = []
    for kind, parts, placed, stored in plan:
        item = add_item(caller, board, kind, parts, placed)
        item.file = stored
        made.append(item_json(board, item, caller.base))
    return json_response({"data": made, "type": "bulk-list"}, 201)


def _count(entries: Any) -> list[Any]:
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ITEMS:
        raise invalid("items", f"send 1 to {MAX_ITEMS} items")
    return entries


@endpoint("boards:write", 2, "create-items")
async def bulk_create(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    raw = await request.body()
    if not raw.strip():
        raise APIError(400, "Request body is required.")
    try:
        entries = _count(json.loads(raw))
    except (ValueError, RecursionError):  # nested too deep
        raise APIError(400, "Request body is not valid JSON.") from None
    plan = _plan_all(board, entries, BULK_TYPES, [None] * len(entries))
    return _create_all(caller, board, plan)


@endpoint("boards:write", 2, "create-items-in-bulk-using-file-from-device")
async def bulk_create_from_files(request: Request, caller: Caller) -> Response:
    board = visible_board(caller, request.path_params["board_id"], write=True)
    parts = await read_multipart(request)
    described = parts.get("data")
    if not described:
        raise invalid("data", "a JSON file describing the items is required")
    try:
        entries = _count(json.loads(described[0].data or b"null"))
    except (ValueError, RecursionError):  # nested too deep
        raise invalid("data", "must be a JSON array") from None
    resources = parts.get("resources", [])
    if len(resources) != len(entries):
        raise invalid("resources", "send one file per entry of data, in the same order")
    files: list[StoredFile | None] = []
    for i, entry in enumerate(entries):
        item_type = entry.get("type") if isinstance(entry, dict) else None
        kind = by_type(item_type if isinstance(item_type, str) else "")
        if kind is None or kind.type not in ("image", "document"):
            raise _failed(
                [{"field": f"{i}.type", "message": "must be image or document"}]
            )
        files.append(stored_file(kind, resources[i], f"resources.{i}"))
    plan = _plan_all(board, entries, ("image", "document"), files)
    return _create_all(caller, board, plan)
