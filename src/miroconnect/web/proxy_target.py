"""Where a proxied request may go, and which headers cross the proxy.

The proxy (`miroconnect.web.proxy`) adds a user's Miro token to what another app sends,
so what it sends, and to where, is decided here, before anything is read or sent:

* The path is checked as it arrived (the raw path, still percent-encoded): only
  `/v2/...`; no encoded `/` or `\\` (`%2F`, `%5C`), no empty segment (`//evil.com`), no
  `.` or `..` segment, encoded or not (`%2e%2e`); only the characters a path segment may
  hold (RFC 3986 `pchar`), but no `;` (a server that strips path parameters would read
  `oauth;x` as `oauth`). It is then put in its normal form (RFC 3986 6.2.2.2: an escaped
  letter, digit or `-._~` decoded, `%6fauth` is `oauth`), which is what every later
  check reads (`/v2/oauth/...` is refused: the connection's tokens are this service's to
  revoke, `DELETE .../connection`; the credit level of the operation) and what is sent.
* The URL is the configured Miro API base plus that path: whatever the path holds, its
  scheme, host and port are the base's (checked again after parsing).
* Only `Accept` and `Content-Type` go to Miro (never the app's `Authorization`, cookies
  or forwarding headers); only `Content-Type`, `Content-Disposition`, `Location`,
  `Retry-After` and `X-RateLimit-*` come back (never `Set-Cookie`, never hop-by-hop).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

import httpx2
from starlette.types import Scope

__all__ = [
    "MAX_PATH_LENGTH",
    "MAX_QUERY_LENGTH",
    "ProxyTarget",
    "TargetForbiddenError",
    "TargetRefusedError",
    "answer_headers",
    "proxy_target",
    "request_headers",
]

MAX_PATH_LENGTH = 2048
MAX_QUERY_LENGTH = 4096

# RFC 3986 `pchar`: unreserved, sub-delims, ":", "@", and percent-escapes.
_SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+")
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c)", re.IGNORECASE)
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]")
_QUERY = re.compile(r"[\x21-\x7e]*")  # printable ASCII, no space (a `#` never arrives)

_FORWARDED = ("accept", "content-type")
_PASSED_BACK = ("content-type", "content-disposition", "location", "retry-after")


class TargetRefusedError(ValueError):
    """The path or query may not be forwarded to Miro (the message says why)."""


class TargetForbiddenError(TargetRefusedError):
    """A well-formed path to Miro that the proxy does not give access to."""


@dataclass(frozen=True)
class ProxyTarget:
    """A checked request target at Miro: `path` in its normal form, `query` exactly as
    it arrived."""

    path: str
    query: str
    url: httpx2.URL

    @property
    def query_names(self) -> frozenset[str]:
        """The names of the query's parameters (to tell operations apart)."""
        return frozenset(name for name, _ in parse_qsl(self.query, True))


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if not isinstance(raw, bytes):  # a server that gives only the decoded path
        return str(scope["path"])
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise TargetRefusedError(
            "the path must be ASCII (percent-encode the rest)"
        ) from None


def _unreserved_decoded(escape: re.Match[str]) -> str:
    char = chr(int(escape.group(1), 16))
    return char if _UNRESERVED.fullmatch(char) else escape.group(0).upper()


def _normal_segment(segment: str) -> str:
    """`segment`, checked, in its normal form (see the module docstring)."""
    if not segment:
        raise TargetRefusedError("the path has an empty segment ('//')")
    if not _SEGMENT.fullmatch(segment):
        raise TargetRefusedError("the path has characters a path may not hold")
    normal = _ESCAPE.sub(_unreserved_decoded, segment)
    if ";" in normal:
        raise TargetRefusedError("the path has a ';' (path parameters are not sent)")
    decoded = unquote(normal)
    if decoded in (".", ".."):
        raise TargetRefusedError("the path has a '.' or '..' segment")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
        raise TargetRefusedError("the path has control characters")
    return normal


def _miro_path(raw_path: str, path: str) -> str:
    """The last segments of the raw path, as many as the route's decoded `path` has."""
    if _ENCODED_SEPARATOR.search(raw_path) or "\\" in raw_path:
        raise TargetRefusedError("the path has an encoded '/' or a backslash")
    # Without encoded slashes, the raw and decoded paths have the same segments.
    segments = [
        _normal_segment(segment)
        for segment in raw_path.split("/")[-len(path.split("/")) :]
    ]
    if segments[0] != "v2" or len(segments) < 2:
        raise TargetRefusedError("only Miro's REST API v2 is proxied: /v2/...")
    # Any segment that begins so (`oauth.`, `oauth%20`): a server that trims a suffix
    # or a space must not route it to the OAuth endpoints either.
    if segments[1].lower().startswith("oauth"):
        raise TargetForbiddenError(
            "Miro's OAuth endpoints are not proxied: the connection's tokens are this "
            "service's (DELETE /api/v1/users/{user_id}/connection revokes them)"
        )
    miro_path = "/" + "/".join(segments)
    if len(miro_path) > MAX_PATH_LENGTH:
        raise TargetRefusedError(
            f"the path is longer than {MAX_PATH_LENGTH} characters"
        )
    return miro_path


def _query(scope: Scope) -> str:
    raw: bytes = scope.get("query_string", b"")
    try:
        query = raw.decode("ascii")
    except UnicodeDecodeError:
        raise TargetRefusedError(
            "the query must be ASCII (percent-encode the rest)"
        ) from None
    if len(query) > MAX_QUERY_LENGTH or not _QUERY.fullmatch(query):
        raise TargetRefusedError(
            f"the query must be printable ASCII, at most {MAX_QUERY_LENGTH} characters"
        )
    return query


def proxy_target(scope: Scope, path: str, api_url: str) -> ProxyTarget:
    """The Miro URL for a proxy request whose route matched `path` (the part after
    `/miro/`, decoded); `TargetRefusedError` if it may not go there."""
    miro_path = _miro_path(_raw_path(scope), path)
    query = _query(scope)
    base = httpx2.URL(api_url)
    url = httpx2.URL(str(base).rstrip("/") + miro_path + (f"?{query}" if query else ""))
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        raise TargetRefusedError("the path must stay on Miro's API")  # pragma: no cover
    return ProxyTarget(miro_path, query, url)


def request_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of the app's request that Miro gets."""
    return {name: headers[name] for name in _FORWARDED if name in headers}


def answer_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of Miro's answer that the app gets."""
    kept = {name: headers[name] for name in _PASSED_BACK if name in headers}
    kept.update(
        (name.lower(), value)
        for name, value in headers.items()
        if name.lower().startswith("x-ratelimit-")
    )
    return kept
