"""`MiroClient`: the async, typed client of Miro's REST API v2 for one connection."""

from __future__ import annotations

import asyncio
import threading

import httpx2

from miroconnect.client.boards import Boards
from miroconnect.client.items import ItemKind, Items
from miroconnect.client.members import Members
from miroconnect.client.models import (
    FrameItem,
    ShapeItem,
    StickyNoteItem,
    TextItem,
    TokenInfo,
)
from miroconnect.client.pacing import CreditPacer, Sleep
from miroconnect.client.requester import Requester
from miroconnect.client.retry import RetryPolicy
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
    """Miro's REST API v2 as one connection's user: boards, members, items, token info.

    It composes an `httpx2.AsyncClient` you own and share (its transport decides where
    calls go: Miro, the emulator, a mock) and a `TokenSource` for the connection:

    ```python
    async with httpx2.AsyncClient() as http:
        miro = MiroClient(http, vault.token_source(connection_id))
        board = await miro.boards.create(name="Sprint 12")
        async for item in miro.items.list(board.id):
            ...
    ```

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
        self._tokens = tokens
        self._requester = Requester(
            http,
            tokens,
            base_url=base_url,
            pacer=pacer if pacer is not None else shared_pacer(),
            retry=retry if retry is not None else RetryPolicy(),
            sleep=sleep,
        )
        self.boards = Boards(self._requester)
        self.members = Members(self._requester)
        self.items = Items(self._requester)
        self.sticky_notes: ItemKind[StickyNoteItem] = ItemKind(
            self._requester, "sticky_notes", StickyNoteItem
        )
        self.texts: ItemKind[TextItem] = ItemKind(self._requester, "texts", TextItem)
        self.shapes: ItemKind[ShapeItem] = ItemKind(
            self._requester, "shapes", ShapeItem
        )
        self.frames: ItemKind[FrameItem] = ItemKind(
            self._requester, "frames", FrameItem
        )

    def __repr__(self) -> str:
        return f"MiroClient(connection={self._tokens.key!r})"

    async def token_info(self) -> TokenInfo:
        """`GET /v1/oauth-token`: the user, team and scopes of the connection's token."""
        response = await self._requester.send(
            "GET", "/v1/oauth-token", level=None, idempotent=True
        )
        return TokenInfo.model_validate_json(response.content)

    async def revoke(self, *, client_id: str, client_secret: str) -> None:
        """Revoke the connection's tokens at Miro (`POST /v2/oauth/revoke`; the refresh
        token dies with the access token). The credentials travel in the JSON body,
        never in the URL."""
        token = await self._tokens.access_token()
        await self._requester.send(
            "POST",
            "/v2/oauth/revoke",
            level=None,
            idempotent=True,
            json={
                "accessToken": token,
                "clientId": client_id,
                "clientSecret": client_secret,
            },
            auth=False,
        )
