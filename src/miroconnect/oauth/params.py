"""Pure protocol logic: secrets and their hashes, URLs, request bodies, response parsing.

No I/O here; every function is tested with plain asserts. Miro's facts are in
`docs/miro-api.md` (authorize link: https://developers.miro.com/reference/create-authorization-request-link,
token endpoint: https://developers.miro.com/reference/get-new-access-token-using-refresh-token).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from miroconnect.errors import ReturnURLRejectedError
from miroconnect.oauth.tokens import MiroIdentity, TokenSet

__all__ = [
    "authorization_code_form",
    "build_authorize_url",
    "check_return_url",
    "hash_secret",
    "new_secret",
    "parse_token_info",
    "parse_token_response",
    "refresh_token_form",
    "revoke_body",
]

SECRET_BYTES = 32  # 256 bits: states, binding cookies and launch tokens


def new_secret() -> str:
    """A fresh 256-bit random value, URL-safe (43 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(value: str) -> str:
    """SHA-256 hex of a secret: what the database keeps instead of the secret.

    A plain hash suffices: the inputs are 256-bit random values, not guessable passwords.
    """
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def build_authorize_url(
    auth_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    team_id: str | None = None,
) -> str:
    """Miro's authorize link with `response_type=code` and our state."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    if team_id:
        query["team_id"] = team_id
    separator = "&" if urlsplit(auth_url).query else "?"
    return f"{auth_url}{separator}{urlencode(query)}"


def authorization_code_form(
    *, client_id: str, client_secret: str, code: str, redirect_uri: str
) -> dict[str, str]:
    """The form body of the code exchange: credentials in the body, never the URL
    (RFC 6749 §2.3.1)."""
    return {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
    }


def refresh_token_form(
    *, client_id: str, client_secret: str, refresh_token: str
) -> dict[str, str]:
    """The form body of a refresh (no `redirect_uri`: Miro does not want one)."""
    return {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }


def revoke_body(
    *, access_token: str, client_id: str, client_secret: str
) -> dict[str, str]:
    """The JSON body of `POST /v2/oauth/revoke`: camelCase keys (unlike the token
    endpoint's form), the token and the app's credentials in the body, never the URL."""
    return {
        "accessToken": access_token,
        "clientId": client_id,
        "clientSecret": client_secret,
    }


def _scopes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return ()


def _optional_str(value: Any) -> str | None:
    # Miro sends team_id as a string in one answer and a 19-digit number in another.
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("expected a string or an integer id")
    return str(value)


def parse_token_response(payload: Any, now: datetime) -> TokenSet:
    """Parse a token-endpoint answer; `ValueError` (without token values) if malformed."""
    if not isinstance(payload, Mapping):
        raise ValueError("token response is not a JSON object")
    access = payload.get("access_token")
    if not isinstance(access, str) or not access:
        raise ValueError("token response has no access_token")
    refresh = payload.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise ValueError("token response has an invalid refresh_token")
    expires_in = payload.get("expires_in")
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int | float)
    ):
        raise ValueError("token response has an invalid expires_in")
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        expires_at=None if expires_in is None else now + timedelta(seconds=expires_in),
        scopes=_scopes(payload.get("scope")),
        team_id=_optional_str(payload.get("team_id")),
        user_id=_optional_str(payload.get("user_id")),
    )


def parse_token_info(payload: Any) -> MiroIdentity:
    """Parse `GET /v1/oauth-token`: the user, team and scopes of a token."""
    if not isinstance(payload, Mapping):
        raise ValueError("token info is not a JSON object")
    user, team = payload.get("user"), payload.get("team")
    if not isinstance(user, Mapping) or not isinstance(team, Mapping):
        raise ValueError("token info lacks user or team")
    user_id, team_id = _optional_str(user.get("id")), _optional_str(team.get("id"))
    if not user_id or not team_id:
        raise ValueError("token info lacks a user or team id")
    user_name, team_name = user.get("name"), team.get("name")
    return MiroIdentity(
        user_id=user_id,
        team_id=team_id,
        user_name=user_name if isinstance(user_name, str) else None,
        team_name=team_name if isinstance(team_name, str) else None,
        scopes=_scopes(payload.get("scopes")),
    )


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    default = 443 if scheme == "https" else 80
    return (scheme, host, port or default)


def check_return_url(url: str, allowed_origins: Iterable[str] = ()) -> str:
    """`url` if it is safe to redirect to after the flow, else `ReturnURLRejectedError`.

    Safe means a plain path on our own site (`/projects/42?tab=1`), or an absolute http(s)
    URL whose origin is in `allowed_origins` (`https://app.example.com`). Rejected: other
    origins, scheme-relative `//host`, `/\\host` (browsers read `\\` as `/`), any scheme
    such as `javascript:`, credentials in the URL, and whitespace or control characters
    (browsers drop tabs and newlines, turning `/\\t/host` into `//host`). See RFC 9700
    §4.11 (open redirectors).
    """
    if not url or len(url) > 2048:
        raise ReturnURLRejectedError("the return URL is empty or too long")
    if "\\" in url or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise ReturnURLRejectedError(
            "the return URL contains a backslash, whitespace or a control character"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ReturnURLRejectedError("the return URL does not parse") from exc
    if not parts.scheme and not parts.netloc:
        if url.startswith("/") and not url.startswith("//"):
            return url
        raise ReturnURLRejectedError("a relative return URL must start with one '/'")
    if (
        parts.scheme in ("http", "https")
        and parts.hostname
        and parts.username is None
        and parts.password is None
    ):
        wanted = _origin(parts.scheme, parts.hostname, port)
        for allowed in allowed_origins:
            entry = urlsplit(allowed.strip())
            if entry.scheme and entry.hostname:
                try:
                    entry_port = entry.port
                except ValueError:
                    continue
                if _origin(entry.scheme, entry.hostname, entry_port) == wanted:
                    return url
    raise ReturnURLRejectedError("the return URL is not on the allow-list")
