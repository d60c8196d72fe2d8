"""Items that show something from elsewhere: `client.images` and `client.documents`
(from a URL or an uploaded file), `client.embeds` (a link Miro previews) and
`client.doc_formats` (Miro's own rich documents, written in Markdown).

```python
image = await client.images.create(board.id, "https://example.com/plan.png")
upload = await client.images.upload(board.id, Upload(png, "plan.png", "image/png"))
doc = await client.doc_formats.create(board.id, "# Plan\\n- one")
```
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from miroconnect.client.kinds import ItemRoutes, item_body
from miroconnect.client.models import (
    DocFormatContentType,
    DocFormatItem,
    DocumentItem,
    EmbedItem,
    EmbedUrlData,
    Geometry,
    ImageItem,
    MiroModel,
    Position,
    Upload,
)
from miroconnect.client.operations import operation
from miroconnect.client.requester import Files, Requester

__all__ = ["DocFormats", "Documents", "Embeds", "Images"]

ItemT = TypeVar("ItemT", bound=MiroModel)


def _upload_parts(upload: Upload, data: dict[str, Any]) -> Files:
    """The multipart body of an upload: the file as `resource`, and the item's title,
    place and size as a JSON `data` part when any is given (the spec's field names)."""
    parts: Files = [("resource", upload.part())]
    if data:
        parts = [
            ("data", (None, json.dumps(data).encode(), "application/json")),
            *parts,
        ]
    return parts


class _FileItems(ItemRoutes[ItemT]):
    """Images and documents: made from a URL or from a file, both kept by Miro."""

    async def _from_file(
        self,
        board_id: str,
        item_id: str | None,
        upload: Upload,
        fields: dict[str, str | None],
        position: Position | None,
        geometry: Geometry | None,
        parent_id: str | None,
    ) -> ItemT:
        data: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
        data |= item_body({"position": position, "geometry": geometry}, parent_id)
        files = _upload_parts(upload, data)
        if item_id is None:
            return await self._create(board_id, files=files)
        return await self._update(board_id, item_id, files=files)

    @operation("create-{kind}-item-using-url")
    async def create(
        self,
        board_id: str,
        url: str,
        *,
        title: str | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> ItemT:
        """Make an item from a file at `url`, which Miro fetches (level 2). Give a width
        or a height in `geometry`, not both: the file keeps its ratio."""
        if not url:
            raise ValueError("url must not be empty")
        data = {"url": url, "title": title}
        parts = {"position": position, "geometry": geometry}
        body = {"data": {k: v for k, v in data.items() if v is not None}}
        return await self._create(board_id, json=item_body(parts, parent_id) | body)

    @operation("update-{kind}-item-using-url")
    async def update(
        self,
        board_id: str,
        item_id: str,
        *,
        url: str | None = None,
        title: str | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> ItemT:
        """Change the item's URL, title, place or size (level 2)."""
        data = {k: v for k, v in {"url": url, "title": title}.items() if v is not None}
        parts = {"position": position, "geometry": geometry}
        body = item_body(parts, parent_id) | ({"data": data} if data else {})
        return await self._update(board_id, item_id, json=body)


class Images(_FileItems[ImageItem]):
    """`client.images`: pictures, from a URL or uploaded (PNG, JPEG, GIF, WebP, SVG...)."""

    def __init__(self, requester: Requester) -> None:
        super().__init__(requester, "images", "image", ImageItem)

    @operation("create-image-item-using-local-file")
    async def upload(
        self,
        board_id: str,
        file: Upload,
        *,
        title: str | None = None,
        alt_text: str | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> ImageItem:
        """Upload a picture (up to 6 MB) as a new image (level 2)."""
        fields = {"title": title, "altText": alt_text}
        return await self._from_file(
            board_id, None, file, fields, position, geometry, parent_id
        )

    @operation("update-image-item-using-file-from-device")
    async def replace(
        self,
        board_id: str,
        item_id: str,
        file: Upload,
        *,
        title: str | None = None,
        alt_text: str | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> ImageItem:
        """Replace an image's picture with an uploaded one (level 2)."""
        fields = {"title": title, "altText": alt_text}
        return await self._from_file(
            board_id, item_id, file, fields, position, geometry, parent_id
        )


class Documents(_FileItems[DocumentItem]):
    """`client.documents`: files shown as documents (PDF and the like)."""

    def __init__(self, requester: Requester) -> None:
        super().__init__(requester, "documents", "document", DocumentItem)

    @operation("create-document-item-using-file-from-device")
    async def upload(
        self,
        board_id: str,
        file: Upload,
        *,
        title: str | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> DocumentItem:
        """Upload a file (up to 6 MB) as a new document (level 2)."""
        return await self._from_file(
            board_id, None, file, {"title": title}, position, geometry, parent_id
        )

    @operation("update-document-item-using-file-from-device")
    async def replace(
        self,
        board_id: str,
        item_id: str,
        file: Upload,
        *,
        title: str | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> DocumentItem:
        """Replace a document's file with an uploaded one (level 2)."""
        return await self._from_file(
            board_id, item_id, file, {"title": title}, position, geometry, parent_id
        )


class Embeds(ItemRoutes[EmbedItem]):
    """`client.embeds`: a link (video, page, design) Miro shows as a preview."""

    def __init__(self, requester: Requester) -> None:
        super().__init__(requester, "embeds", "embed", EmbedItem)

    @operation("create-embed-item")
    async def create(
        self,
        board_id: str,
        url: str,
        *,
        mode: str | None = None,
        preview_url: str | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> EmbedItem:
        """Embed `url` (level 2): `mode` inline (played on the board) or modal (opened
        in a window); `preview_url` is the picture shown until it is opened."""
        if not url:
            raise ValueError("url must not be empty")
        data = EmbedUrlData(url=url, mode=mode, preview_url=preview_url)
        parts = {"data": data, "position": position, "geometry": geometry}
        return await self._create(board_id, json=item_body(parts, parent_id))

    @operation("update-embed-item")
    async def update(
        self,
        board_id: str,
        item_id: str,
        *,
        url: str | None = None,
        mode: str | None = None,
        preview_url: str | None = None,
        position: Position | None = None,
        geometry: Geometry | None = None,
        parent_id: str | None = None,
    ) -> EmbedItem:
        """Change an embed (level 2): only the values given change."""
        data = EmbedUrlData(url=url, mode=mode, preview_url=preview_url)
        parts: dict[str, MiroModel | None] = {
            "data": data if data.to_wire() else None,
            "position": position,
            "geometry": geometry,
        }
        return await self._update(board_id, item_id, json=item_body(parts, parent_id))


class DocFormats(ItemRoutes[DocFormatItem]):
    """`client.doc_formats`: Miro's structured documents, written in Markdown and read
    back as Markdown or HTML. They have no update: delete and create again."""

    def __init__(self, requester: Requester) -> None:
        super().__init__(requester, "docs", "doc-format", DocFormatItem)

    @operation("create-doc-format-item")
    async def create(
        self,
        board_id: str,
        markdown: str,
        *,
        position: Position | None = None,
        parent_id: str | None = None,
    ) -> DocFormatItem:
        """Create a document from Markdown (level 2)."""
        data = {"contentType": "markdown", "content": markdown}
        body = item_body({"position": position}, parent_id) | {"data": data}
        return await self._create(board_id, json=body)

    @operation("get-doc-format-item")
    async def get(
        self,
        board_id: str,
        item_id: str,
        *,
        text_content_type: DocFormatContentType | None = None,
    ) -> DocFormatItem:
        """A document (level 1), its content as Markdown or HTML (`text_content_type`;
        Miro's default when None)."""
        params = {"textContentType": text_content_type} if text_content_type else None
        response = await self._r.send(
            "GET",
            self._path(board_id, item_id),
            level=1,
            idempotent=True,
            params=params,
        )
        return DocFormatItem.model_validate_json(response.content)
