"""Items that show something from elsewhere: images, documents (files), embeds (links),
and doc formats (Miro's own rich documents)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from miroconnect.client.models.base import (
    Geometry,
    ItemActor,
    ItemBase,
    ItemLinks,
    ItemParent,
    MiroModel,
    Position,
)

__all__ = [
    "DocFormatContentType",
    "DocFormatData",
    "DocFormatItem",
    "DocumentData",
    "DocumentItem",
    "DocumentUrlData",
    "EmbedData",
    "EmbedItem",
    "EmbedUrlData",
    "ImageData",
    "ImageItem",
    "ImageUrlData",
    "Upload",
]


@dataclass(frozen=True)
class Upload:
    """A file to upload, held in memory (Miro takes up to 6 MB a file). Bytes, not a
    stream, so a call can be sent again after a 429 or a lost answer.

    ```python
    picture = Upload(png_bytes, "plan.png", "image/png")
    image = await client.images.upload(board.id, picture, title="Plan")
    ```
    """

    content: bytes = field(repr=False)
    filename: str
    content_type: str = "application/octet-stream"

    def part(self) -> tuple[str, bytes, str]:
        """The `(filename, content, content type)` of a multipart file part."""
        return (self.filename, self.content, self.content_type)


DocFormatContentType = Literal["markdown", "html"]
"""The two forms a doc format's content can be read in."""


# -- images ---------------------------------------------------------------------------


class ImageData(MiroModel):
    """An image's data as Miro answers it: `image_url` is a Miro resource URL (fetch it
    with the access token), not the URL the image was made from."""

    image_url: str | None = None
    title: str | None = None


class ImageUrlData(MiroModel):
    """An image from a URL, as create and update (and bulk create) send it."""

    url: str | None = None
    title: str | None = None


class ImageItem(ItemBase):
    data: ImageData | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


# -- documents ------------------------------------------------------------------------


class DocumentData(MiroModel):
    document_url: str | None = None
    title: str | None = None


class DocumentUrlData(MiroModel):
    """A document from a URL, as create and update (and bulk create) send it."""

    url: str | None = None
    title: str | None = None


class DocumentItem(ItemBase):
    data: DocumentData | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


# -- embeds ---------------------------------------------------------------------------


class EmbedData(MiroModel):
    """What an embed shows: `mode` is inline or modal; the provider fields are Miro's
    reading of the URL (oEmbed)."""

    content_type: str | None = None
    description: str | None = None
    html: str | None = None
    mode: str | None = None
    preview_url: str | None = None
    provider_name: str | None = None
    provider_url: str | None = None
    title: str | None = None
    url: str | None = None


class EmbedUrlData(MiroModel):
    """An embed as create and update (and bulk create) send it."""

    url: str | None = None
    mode: str | None = None
    preview_url: str | None = None


class EmbedItem(ItemBase):
    data: EmbedData | None = None
    geometry: Geometry | None = None
    parent: ItemParent | None = None


# -- doc formats ----------------------------------------------------------------------


class DocFormatData(MiroModel):
    """A doc format's content in `content_type` (markdown or html, as asked)."""

    content_type: str
    content: str
    content_version: float | None = None


class DocFormatItem(MiroModel):
    """A doc format item (it has no geometry: Miro sizes it)."""

    id: str
    type: str
    data: DocFormatData | None = None
    position: Position | None = None
    created_at: datetime | None = None
    created_by: ItemActor | None = None
    modified_at: datetime | None = None
    modified_by: ItemActor | None = None
    parent: ItemParent | None = None
    links: ItemLinks | None = None
