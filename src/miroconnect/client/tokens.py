"""`client.tokens`: the connection's access token itself: what it is (token info) and
revoking it."""

from __future__ import annotations

import warnings

from miroconnect.client.models import TokenInfo
from miroconnect.client.operations import operation
from miroconnect.client.requester import Requester
from miroconnect.oauth.params import revoke_body
from miroconnect.oauth.source import TokenSource

__all__ = ["Tokens"]


class Tokens:
    """`client.tokens`: token info and revoke, for the connection's token.

    The OAuth flow has its own calls of the same endpoints (`miroconnect.oauth.miro`), for
    a token that no connection holds yet; both build the revoke body and read token info
    with the same functions (`miroconnect.oauth.params`).
    """

    def __init__(self, requester: Requester, source: TokenSource) -> None:
        self._r = requester
        self._source = source

    @operation("token-info")
    async def info(self) -> TokenInfo:
        """`GET /v1/oauth-token`: the user, team and scopes of the token (not metered).
        `info.identity` reads them as the OAuth flow does."""
        response = await self._r.send(
            "GET", "/v1/oauth-token", level=None, idempotent=True
        )
        return TokenInfo.model_validate_json(response.content)

    @operation("revoke-token-v2")
    async def revoke(self, *, client_id: str, client_secret: str) -> None:
        """Revoke the token at Miro (`POST /v2/oauth/revoke`); its refresh token dies
        with it. The credentials travel in the JSON body, never in the URL. Raises on
        failure (the OAuth flow's revoke returns False instead: it is best effort)."""
        token = await self._source.access_token()
        await self._r.send(
            "POST",
            "/v2/oauth/revoke",
            level=None,
            idempotent=True,
            json=revoke_body(
                access_token=token, client_id=client_id, client_secret=client_secret
            ),
            auth=False,
        )

    @operation("revoke-token")
    async def revoke_v1(self) -> None:
        """Revoke the token with Miro's deprecated v1 endpoint
        (`POST /v1/oauth/revoke?access_token=...`), which needs no app credentials.

        Prefer `revoke`: Miro deprecated this one because the token travels in the URL,
        where proxies and access logs keep it (and httpx2 logs request URLs at INFO). It
        warns with `DeprecationWarning`.
        """
        warnings.warn(
            "POST /v1/oauth/revoke is deprecated by Miro (the token travels in the "
            "URL); use client.tokens.revoke",
            DeprecationWarning,
            stacklevel=2,
        )
        token = await self._source.access_token()
        await self._r.send(
            "POST",
            "/v1/oauth/revoke",
            level=None,
            idempotent=True,
            params={"access_token": token},
            auth=False,
        )
