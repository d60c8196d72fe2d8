"""Bearer authentication from a `TokenSource`, with one reactive refresh on 401."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import httpx2

from miroconnect.errors import ReauthorizationRequiredError
from miroconnect.oauth.source import TokenSource

__all__ = ["MiroAuth", "StaticTokenSource"]


class MiroAuth(httpx2.Auth):
    """Sends `Authorization: Bearer <token>` from a `TokenSource`.

    The source refreshes proactively (under 2 minutes left) when asked for a token. If Miro
    still answers 401, the source is told which token was rejected and the request is sent
    once more with what it returns. The token is never logged nor put in an error.
    """

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self._source.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self._source.after_rejection(token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


class StaticTokenSource:
    """A fixed access token: for tests, benchmarks and scripts with a token at hand.

    It has nothing to refresh: a 401 raises `ReauthorizationRequiredError`.
    """

    def __init__(self, token: str, *, key: str = "static") -> None:
        self._token = token
        self._key = key

    def __repr__(self) -> str:
        return f"StaticTokenSource(key={self._key!r})"

    @property
    def key(self) -> str:
        return self._key

    async def access_token(self) -> str:
        return self._token

    async def after_rejection(self, rejected: str) -> str:
        raise ReauthorizationRequiredError("Miro rejected the fixed access token")
