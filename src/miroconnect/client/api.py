"""`MiroClient`: the async, typed client of Miro's REST API v2 for one connection."""

from __future__ import annotations

import asyncio
import threading

import httpx2

from miroconnect.client.boards import Boards
from miroconnect.client.connectors import Connectors
from miroconnect.client.groups import Groups
from miroconnect.client.items import Items
from miroconnect.client.kinds import ItemKind
from miroconnect.client.media import DocFormats, Documents, Embeds, Images
from miroconnect.client.members import Members
from miroconnect.client.models import (
    AppCardData,
    AppCardItem,
    AppCardStyle,
    CardData,
    CardItem,
    CardStyle,
    FrameData,
    FrameItem,
    FrameStyle,
    ShapeData,
    ShapeItem,
    ShapeStyle,
    StickyNoteData,
    StickyNoteItem,
    StickyNoteStyle,
    TextData,
    TextItem,
    TextStyle,
    TokenInfo,
)
from miroconnect.client.pacing import CreditPacer, Sleep
from miroconnect.client.requester import Requester
from miroconnect.client.retry import RetryPolicy
from miroconnect.client.tags import Tags
from miroconnect.client.tokens import Tokens
from miroconnect.oauth.source import TokenSource

__all__ = ["DEFAULT_API_URL", "MiroClient", "shared_pacer"]

DEFAULT_API_URL = "https://api.miro.com"

_shared: CreditPacer | None = None
_shared_lock = threading.Lock()


def shared_pacer() -> CreditPacer:
    """The process-wide pacer every client uses unless given another: rate-limit readings
    are per connection and must be seen by every task that uses the connection."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CreditPacer()
        return _shared


class MiroClient:
    """Miro's REST API v2 as one connection's user: every platform operation, grouped by
    what it works on.

    It composes an `httpx2.AsyncClient` you own and share (its transport decides where
    calls go: Miro, the emulator, a mock) and a `TokenSource` for the connection:

    ```python
    async with httpx2.AsyncClient() as http:
        miro = MiroClient(http, vault.token_source(connection_id))
        board = await miro.boards.create(name="Sprint 12")
        async for item in miro.items.list(board.id):
            ...
    ```

    The groups: `boards`, `members`, `items` (any type, and bulk create), one per item
    type (`sticky_notes`, `texts`, `shapes`, `frames`, `cards`, `app_cards`, `images`,
    `documents`, `embeds`, `doc_formats`), `connectors`, `tags`, `groups` and `tokens`.
    `miroconnect.client.operations.operation_map(client)` says which method makes which
    operation of Miro's OpenAPI spec.

    Every call waits for rate-limit credits first (`CreditPacer`), and idempotent calls
    are retried after 5xx answers and network errors (`RetryPolicy`).
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        tokens: TokenSource,
        *,
        base_url: str = DEFAULT_API_URL,
        pacer: CreditPacer | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._source = tokens
        r = Requester(
            http,
            tokens,
            base_url=base_url,
            pacer=pacer if pacer is not None else shared_pacer(),
            retry=retry if retry is not None else RetryPolicy(),
            sleep=sleep,
        )
        self._requester = r
        self.boards = Boards(r)
        self.members = Members(r)
        self.items = Items(r)
        self.sticky_notes: ItemKind[StickyNoteItem, StickyNoteData, StickyNoteStyle] = (
            ItemKind(r, "sticky_notes", "sticky-note", StickyNoteItem)
        )
        self.texts: ItemKind[TextItem, TextData, TextStyle] = ItemKind(
            r, "texts", "text", TextItem
        )
        self.shapes: ItemKind[ShapeItem, ShapeData, ShapeStyle] = ItemKind(
            r, "shapes", "shape", ShapeItem
        )
        # Create and update take `FrameChanges` too (a `FrameData` with show_content).
        self.frames: ItemKind[FrameItem, FrameData, FrameStyle] = ItemKind(
            r, "frames", "frame", FrameItem
        )
        self.cards: ItemKind[CardItem, CardData, CardStyle] = ItemKind(
            r, "cards", "card", CardItem
        )
        self.app_cards: ItemKind[AppCardItem, AppCardData, AppCardStyle] = ItemKind(
            r, "app_cards", "app-card", AppCardItem
        )
        self.images = Images(r)
        self.documents = Documents(r)
        self.embeds = Embeds(r)
        self.doc_formats = DocFormats(r)
        self.connectors = Connectors(r)
        self.tags = Tags(r)
        self.groups = Groups(r)
        self.tokens = Tokens(r, tokens)

    def __repr__(self) -> str:
        return f"MiroClient(connection={self._source.key!r})"

    async def token_info(self) -> TokenInfo:
        """`GET /v1/oauth-token`: the user, team and scopes of the connection's token
        (the same as `client.tokens.info()`)."""
        return await self.tokens.info()

    async def revoke(self, *, client_id: str, client_secret: str) -> None:
        """Revoke the connection's tokens at Miro (`POST /v2/oauth/revoke`; the refresh
        token dies with the access token); the same as `client.tokens.revoke(...)`."""
        await self.tokens.revoke(client_id=client_id, client_secret=client_secret)
