"""Browser-facing protections: security headers, the CSRF cookie, and CSRF checks.

CSRF uses a signed double-submit token. Every browser gets a random `mc_csrf` cookie
(HttpOnly, SameSite=Lax); every form carries `csrf_token`, the cookie's value signed with
the secret key. A post is accepted only when the form token's signature is ours and its
value equals the cookie. Another site can neither read the cookie nor forge a signature,
and a cookie planted by a sibling subdomain does not carry our signature.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRFSigner",
    "SecurityMiddleware",
    "content_security_policy",
    "cookie_is_secure",
]

CSRF_COOKIE = "mc_csrf"
CSRF_FIELD = "csrf_token"
_DOCS_PATHS = ("/docs", "/redoc")


def cookie_is_secure(scope: Scope) -> bool:
    """Whether cookies set on this request get `Secure`: yes when it arrived over https.

    Behind a TLS-terminating proxy, run uvicorn with `--proxy-headers` (the default for
    `miroconnect serve`) so the scheme seen here is the browser's.
    """
    return scope.get("scheme") in ("https", "wss")


def content_security_policy(frame_origins: Iterable[str]) -> str:
    """The CSP of every HTML page: nothing but our own stylesheet, no scripts at all.

    `frame_origins` are the Miro origins whose live embed a page may show, and that a
    form's redirect may lead to (Chromium applies `form-action` to the redirect after a
    post, and a post to "Create board" redirects to Miro's consent page).
    """
    origins = " ".join(sorted(set(frame_origins)))
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"frame-src {origins}".strip(),
            f"form-action 'self' {origins}".strip(),
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


# FastAPI's /docs page loads Swagger UI from a CDN with an inline bootstrap script.
_DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "frame-ancestors 'none'"
)


class CSRFSigner:
    """Signs and checks CSRF tokens against the browser's `mc_csrf` cookie value."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt="miroconnect.csrf")

    def token_for(self, cookie_value: str) -> str:
        """The token a form carries for the browser holding `cookie_value`."""
        return str(self._serializer.dumps(cookie_value))

    def is_valid(self, token: str | None, cookie_value: str | None) -> bool:
        """Whether `token` was signed by us for exactly this cookie value."""
        if not token or not cookie_value:
            return False
        try:
            value = self._serializer.loads(token)
        except BadSignature:
            return False
        return isinstance(value, str) and hmac.compare_digest(
            value.encode(), cookie_value.encode()
        )

    def check(self, request: Request, token: str | None) -> bool:
        """Whether the form `token` of `request` matches its CSRF cookie."""
        return self.is_valid(token, request.cookies.get(CSRF_COOKIE))


def _valid_cookie_value(value: str | None) -> bool:
    return value is not None and 20 <= len(value) <= 64 and value.isascii()


class SecurityMiddleware:
    """Adds security headers to every response and gives each browser a CSRF cookie.

    The CSRF cookie value is made available to templates as `request.state.csrf_value`
    before the endpoint runs, so the very first page a browser sees has working forms.
    """

    def __init__(
        self, app: ASGIApp, *, csp: str, header_paths: tuple[str, ...] | None = None
    ) -> None:
        self.app = app
        self.csp = csp
        # `None`: headers on every response; else only on paths under these prefixes.
        self.header_paths = header_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Starlette's parser, as `request.cookies` uses: the same value is seen here and
        # by the CSRF check, even when another app on this host sets odd cookies.
        cookies: dict[str, str] = {}
        for name, raw in scope.get("headers", []):
            if name == b"cookie":
                cookies.update(cookie_parser(raw.decode("latin-1")))
        existing = cookies.get(CSRF_COOKIE)
        new_value = None if _valid_cookie_value(existing) else secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_value"] = new_value or existing
        secure = cookie_is_secure(scope)
        is_docs = scope["path"] in _DOCS_PATHS
        with_headers = self.header_paths is None or str(scope["path"]).startswith(
            self.header_paths
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if with_headers:
                    _add_security_headers(headers, is_docs, secure, self.csp)
                if new_value is not None:
                    flags = "; Path=/; HttpOnly; SameSite=Lax"
                    if secure:
                        flags += "; Secure"
                    headers.append("set-cookie", f"{CSRF_COOKIE}={new_value}{flags}")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _add_security_headers(
    headers: MutableHeaders, is_docs: bool, secure: bool, csp: str
) -> None:
    headers.setdefault("x-content-type-options", "nosniff")
    headers.setdefault("x-frame-options", "DENY")
    headers.setdefault("referrer-policy", "same-origin")
    headers.setdefault("cross-origin-opener-policy", "same-origin")
    headers.setdefault("content-security-policy", _DOCS_CSP if is_docs else csp)
    if secure:
        headers.setdefault("strict-transport-security", "max-age=31536000")
