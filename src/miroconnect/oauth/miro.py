"""Miro's OAuth endpoints over HTTP: code exchange, refresh, token info, revoke.

Everything goes through one `httpx2.AsyncClient` whose transport is injectable, so tests
run against `httpx2.MockTransport` or the emulator in process. Credentials travel in the
form body (token endpoint) or the JSON body (revoke), never in a URL; tokens and codes never
appear in an exception message.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import httpx2

from miroconnect.config import Settings, https_url_problem
from miroconnect.errors import (
    CodeRejectedError,
    ConfigurationError,
    ExchangeFailedError,
    MiroAPIError,
    MiroServerError,
    MiroTransportError,
    RateLimitedError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.params import (
    authorization_code_form,
    build_authorize_url,
    parse_token_info,
    parse_token_response,
    refresh_token_form,
    revoke_body,
)
from miroconnect.oauth.tokens import MiroIdentity, TokenSet

__all__ = [
    "MIRO_HOSTS",
    "MiroOAuthClient",
    "MiroOAuthConfig",
    "RefreshRejectedError",
    "miro_url_problem",
    "without_cookies",
]


def without_cookies(http: httpx2.AsyncClient) -> httpx2.AsyncClient:
    """`http`, keeping no cookie: one client carries every user's calls (and every
    webhook delivery), so a cookie Miro, a receiver or a proxy before them sets must not
    ride along with the next request."""
    http.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return http


@dataclass(frozen=True)
class MiroOAuthConfig:
    """The app's registration at Miro, and where Miro lives.

    `auth_url` and `api_url` point at the emulator in tests and demos.
    """

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    auth_url: str = "https://miro.com/oauth/authorize"
    api_url: str = "https://api.miro.com"

    @classmethod
    def from_settings(cls, settings: Settings) -> MiroOAuthConfig:
        """Read the `MIROCONNECT_MIRO_*` settings; a clear error names what is missing."""
        missing = [
            name
            for name, value in (
                ("MIROCONNECT_MIRO_CLIENT_ID", settings.miro_client_id),
                (
                    "MIROCONNECT_MIRO_CLIENT_SECRET",
                    settings.miro_client_secret.get_secret_value(),
                ),
                ("MIROCONNECT_MIRO_REDIRECT_URI", settings.miro_redirect_uri),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(f"not set: {', '.join(missing)}")
        for name, url in (
            ("MIROCONNECT_MIRO_AUTH_URL", settings.miro_auth_url),
            ("MIROCONNECT_MIRO_API_URL", settings.miro_api_url),
        ):
            problem = miro_url_problem(url)
            if problem:
                raise ConfigurationError(f"{name} {problem}")
        return cls(
            client_id=settings.miro_client_id,
            client_secret=settings.miro_client_secret.get_secret_value(),
            redirect_uri=settings.miro_redirect_uri,
            auth_url=settings.miro_auth_url,
            api_url=settings.miro_api_url,
        )


logger = logging.getLogger(__name__)

MIRO_HOSTS = ("miro.com", "api.miro.com")


def miro_url_problem(url: str) -> str | None:
    """Why `url` cannot be where Miro lives, or `None`: it must be an absolute https
    URL; plain http only on loopback (the emulator of `miroconnect demo`). Client
    secrets, codes and tokens travel to it."""
    return https_url_problem(url)


class RefreshRejectedError(Exception):
    """Miro refused a refresh token (internal: the vault turns it into `needs_reauth`)."""

    def __init__(self, status_code: int, code: str | None) -> None:
        super().__init__(f"Miro refused the refresh token ({status_code} {code or ''})")
        self.status_code = status_code
        self.code = code


def _error_code(response: httpx2.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        code = body.get("code") or body.get("error")
        if isinstance(code, str):
            return code[:64]
    return None


def _error_message(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:200]
    return response.reason_phrase or "error"


class MiroOAuthClient:
    """Talks to Miro's OAuth endpoints for one app registration.

    ```python
    miro = MiroOAuthClient(config, transport=httpx2.MockTransport(handler))
    tokens = await miro.exchange_code(code, now=clock())
    ```
    """

    def __init__(
        self,
        config: MiroOAuthConfig,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.config = config
        self._http = without_cookies(
            httpx2.AsyncClient(
                base_url=config.api_url, transport=transport, timeout=timeout
            )
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    def authorize_url(self, state: str, *, team_id: str | None = None) -> str:
        """The URL to send the browser to for consent."""
        return build_authorize_url(
            self.config.auth_url,
            client_id=self.config.client_id,
            redirect_uri=self.config.redirect_uri,
            state=state,
            team_id=team_id,
        )

    async def _send(
        self, method: str, path: str, call: str, **kwargs: Any
    ) -> httpx2.Response:
        """One request to Miro, logged as `miro.call` (path and status; never a body,
        a header or a query)."""
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx2.HTTPError as exc:
            log_event(
                logger,
                "miro.call",
                level=logging.WARNING,
                call=call,
                method=method,
                path=path,
                error_type=type(exc).__name__,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            raise
        log_event(
            logger,
            "miro.call",
            level=logging.INFO if response.status_code < 500 else logging.WARNING,
            call=call,
            method=method,
            path=path,
            status_code=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    async def _post_token(self, form: dict[str, str]) -> httpx2.Response:
        return await self._send(
            "POST", "/v1/oauth/token", f"token.{form.get('grant_type')}", data=form
        )

    async def exchange_code(self, code: str, *, now: datetime) -> TokenSet:
        """Exchange an authorization code; `CodeRejectedError` or `ExchangeFailedError`."""
        form = authorization_code_form(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            code=code,
            redirect_uri=self.config.redirect_uri,
        )
        try:
            response = await self._post_token(form)
        except httpx2.HTTPError as exc:
            raise ExchangeFailedError("Miro could not be reached") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ExchangeFailedError(f"Miro answered {response.status_code}")
        if response.status_code != 200:
            raise CodeRejectedError(
                f"Miro refused the authorization code ({response.status_code} "
                f"{_error_code(response) or ''})".replace(" )", ")")
            )
        try:
            return parse_token_response(response.json(), now)
        except ValueError as exc:
            raise ExchangeFailedError(
                f"Miro's token answer is invalid: {exc}"
            ) from None

    async def refresh(self, refresh_token: str, *, now: datetime) -> TokenSet:
        """Use a refresh token. Miro rotates: the old pair is dead once this succeeds.

        Raises `RefreshRejectedError` when Miro refuses the token (4xx), and
        `MiroTransportError` / `MiroAPIError` when the outcome is unknown or Miro failed.
        """
        form = refresh_token_form(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            refresh_token=refresh_token,
        )
        try:
            response = await self._post_token(form)
        except httpx2.HTTPError as exc:
            raise MiroTransportError(
                f"refreshing the token failed: {type(exc).__name__}"
            ) from exc
        if 400 <= response.status_code < 500 and response.status_code != 429:
            raise RefreshRejectedError(response.status_code, _error_code(response))
        if response.status_code != 200:
            # The leaf says "try again later" to callers that sort errors by it: the
            # action runner keeps an operation open (not failed) after a 429 or a 5xx.
            cls: type[MiroAPIError] = MiroAPIError
            if response.status_code == 429:
                cls = RateLimitedError
            elif response.status_code >= 500:
                cls = MiroServerError
            raise cls(
                response.status_code, _error_code(response), _error_message(response)
            )
        try:
            return parse_token_response(response.json(), now)
        except ValueError as exc:
            raise MiroAPIError(200, None, f"invalid token answer: {exc}") from None

    async def token_info(self, access_token: str) -> MiroIdentity:
        """`GET /v1/oauth-token`: the Miro user, team and scopes of `access_token`."""
        try:
            response = await self._send(
                "GET",
                "/v1/oauth-token",
                "token_info",
                headers={"Authorization": f"Bearer {access_token}"},
            )
        except httpx2.HTTPError as exc:
            raise MiroTransportError(
                f"reading the token info failed: {type(exc).__name__}"
            ) from exc
        if response.status_code != 200:
            raise MiroAPIError(
                response.status_code, _error_code(response), _error_message(response)
            )
        try:
            return parse_token_info(response.json())
        except ValueError as exc:
            raise MiroAPIError(200, None, f"invalid token info: {exc}") from None

    async def revoke(self, access_token: str) -> bool:
        """`POST /v2/oauth/revoke` (the v1 endpoint puts the token in the URL).

        True when Miro confirmed (204); False when it refused or could not be reached.
        Revoking the access token revokes its refresh token too.
        """
        body = revoke_body(
            access_token=access_token,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
        )
        try:
            response = await self._send("POST", "/v2/oauth/revoke", "revoke", json=body)
        except httpx2.HTTPError:
            return False
        return response.status_code in (200, 204)
