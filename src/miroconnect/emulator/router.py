"""The REST API's routes in one table: every path, its methods, and which handler (and so
which spec operation) answers.

Several spec operations share a URL and differ only by a query parameter or the body's
content type (the spec's `board_id_PlatformTags`, `board_id_PlatformFileUpload`,
`board_id_PlatformContainers` and `..._Platformcreateitemsinbulkusingfilefromdevice` paths
are the same URLs as their plain twins). A router built from the spec's path templates
would send `DELETE /items/{id}?tag_id=` to "delete item"; here such URLs dispatch on what
tells the operations apart, before any credit is charged.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from miroconnect.emulator import (
    boards,
    bulk,
    connectors,
    groups,
    items,
    members,
    tags,
    uploads,
)
from miroconnect.emulator.api import Endpoint, resource
from miroconnect.emulator.kinds import KINDS

__all__ = ["routes"]


def when_query(name: str, present: Endpoint, absent: Endpoint) -> Endpoint:
    """`present` if the query string has `name`, else `absent`."""

    async def dispatch(request: Request) -> Response:
        handler = present if name in request.query_params else absent
        return await handler(request)

    dispatch.__name__ = f"{present.__name__}_or_{absent.__name__}"
    return dispatch


def when_multipart(multipart: Endpoint, other: Endpoint) -> Endpoint:
    """`multipart` for a multipart/form-data body, else `other` (JSON)."""

    async def dispatch(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        is_multipart = content_type.lower().startswith("multipart/")
        return await (multipart if is_multipart else other)(request)

    dispatch.__name__ = f"{multipart.__name__}_or_{other.__name__}"
    return dispatch


def when_group_delete(request: Request) -> bool:
    q = request.query_params
    return "?delete_items" in q or q.get("delete_items") == "true"


async def _delete_group_or_ungroup(request: Request) -> Response:
    # deleteGroup (delete_items=true, or the official clients' "?delete_items" quirk, see
    # groups.py) and unGroup share DELETE /groups/{group_id}.
    handler = groups.delete_group if when_group_delete(request) else groups.ungroup
    return await handler(request)


def _kind_routes() -> list[Route]:
    found: list[Route] = []
    uploads_by_type = {
        "image": (
            uploads.upload_create("image", "create-image-item-using-local-file"),
            uploads.upload_update("image", "update-image-item-using-file-from-device"),
        ),
        "document": (
            uploads.upload_create(
                "document", "create-document-item-using-file-from-device"
            ),
            uploads.upload_update(
                "document", "update-document-item-using-file-from-device"
            ),
        ),
    }
    for kind in KINDS:
        h = items.kind_handlers(kind)
        create, update = h["create"], h.get("update")
        if kind.type in uploads_by_type:
            upload_create, upload_update = uploads_by_type[kind.type]
            create = when_multipart(upload_create, create)
            assert update is not None  # noqa: S101  # images and documents have PATCH
            update = when_multipart(upload_update, update)
        base = f"/v2/boards/{{board_id}}/{kind.segment}"
        found.append(resource(base, post=create))
        one = {"get": h["get"], "delete": h["delete"]}
        if update is not None:
            one["patch"] = update
        found.append(resource(f"{base}/{{item_id}}", **one))
    return found


BOARD = "/v2/boards/{board_id}"

routes = [
    resource(
        "/v2/boards",
        get=boards.list_boards,
        post=boards.create_board,
        put=boards.copy_board,
    ),
    resource(
        BOARD,
        get=boards.get_board,
        patch=boards.update_board,
        delete=boards.delete_board,
    ),
    resource(f"{BOARD}/members", get=members.list_members, post=members.share_board),
    resource(
        f"{BOARD}/members/{{member_id}}",
        get=members.get_member,
        patch=members.update_member,
        delete=members.remove_member,
    ),
    # Before /items/{item_id}: "bulk" is not an item id.
    resource(
        f"{BOARD}/items/bulk",
        post=when_multipart(bulk.bulk_create_from_files, bulk.bulk_create),
    ),
    resource(
        f"{BOARD}/items",
        get=when_query(
            "tag_id",
            tags.items_by_tag,
            when_query("parent_item_id", items.list_items_in_frame, items.list_items),
        ),
    ),
    resource(
        f"{BOARD}/items/{{item_id}}",
        get=items.get_generic_item,
        patch=items.move_item,
        post=tags.attach_tag,
        delete=when_query("tag_id", tags.remove_tag, items.delete_generic_item),
    ),
    resource(f"{BOARD}/items/{{item_id}}/tags", get=tags.tags_of_item),
    resource(
        "/v2-experimental/boards/{board_id}/items/{item_id}",
        delete=items.delete_item_experimental,
    ),
    *_kind_routes(),
    resource(
        f"{BOARD}/connectors",
        get=connectors.list_connectors,
        post=connectors.create_connector,
    ),
    resource(
        f"{BOARD}/connectors/{{connector_id}}",
        get=connectors.get_connector,
        patch=connectors.update_connector,
        delete=connectors.delete_connector,
    ),
    resource(f"{BOARD}/tags", get=tags.list_tags, post=tags.create_tag),
    resource(
        f"{BOARD}/tags/{{tag_id}}",
        get=tags.get_tag,
        patch=tags.update_tag,
        delete=tags.delete_tag,
    ),
    resource(f"{BOARD}/groups", get=groups.list_groups, post=groups.create_group),
    # Before /groups/{group_id}: "items" is not a group id.
    resource(f"{BOARD}/groups/items", get=groups.group_items),
    resource(
        f"{BOARD}/groups/{{group_id}}",
        get=groups.get_group,
        put=groups.update_group,
        delete=_delete_group_or_ungroup,
    ),
    resource(f"{BOARD}/resources/{{folder}}/{{item_id}}", get=uploads.resource),
]
