"""Browser-facing protections: security headers, the CSRF cookie, and CSRF checks.

CSRF uses a signed double-submit token bound to the session. Every browser gets a random
`mc_csrf` cookie (HttpOnly, SameSite=Lax); every form carries `csrf_token`, the cookie's
value and the browser's session (a hash of its session cookie, empty when signed out)
signed with the secret key. A post is accepted only when the signature is ours and both
match the request's cookies, and when the browser does not say the post came from another
site (`Sec-Fetch-Site`, else `Origin`). Another site can neither read the cookies nor forge
a signature; an attacker's own cookie and token, planted in a victim's browser, do not
match the victim's session; and under HTTPS the cookies carry the `__Host-` prefix, which
a sibling subdomain or a plain-http page cannot set at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from miroconnect.web.docs import DOCS_CSP
from miroconnect.web.requestlog import PathPrefixes

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "FORM_LIMITS",
    "MAX_BODY_BYTES",
    "SESSION_COOKIE",
    "CSRFSigner",
    "SecurityMiddleware",
    "content_security_policy",
    "cookie_is_secure",
    "cookie_name",
    "cross_site",
    "session_tag",
]

CSRF_COOKIE = "mc_csrf"
SESSION_COOKIE = "mc_session"
CSRF_FIELD = "csrf_token"
# Every request body, of every route: read no further than this, answer 413 before any
# parsing (the API's largest body is a board of 60 + 300 characters and a 2 KiB URL).
MAX_BODY_BYTES = 64 * 1024
# Forms are a few short fields, never files (multipart parsing would spool them to disk).
FORM_LIMITS = {"max_files": 0, "max_fields": 32, "max_part_size": 16 * 1024}
# Swagger UI's page has a policy of its own (`miroconnect.web.docs.DOCS_CSP`).
_DOCS_PATHS = ("/docs",)


def cookie_is_secure(scope: Scope) -> bool:
    """Whether cookies set on this request get `Secure`: yes when it arrived over https.

    Behind a TLS-terminating proxy, run uvicorn with `--proxy-headers` (the default for
    `miroconnect serve`) so the scheme seen here is the browser's.
    """
    return scope.get("scheme") in ("https", "wss")


def cookie_name(name: str, scope: Scope) -> str:
    """`name` with the `__Host-` prefix on HTTPS: such a cookie is Secure, for this host
    only and path `/`, so a sibling subdomain or a plain-http page cannot plant one."""
    return f"__Host-{name}" if cookie_is_secure(scope) else name


def cross_site(request: Request) -> bool:
    """Whether the browser says this request came from another site.

    `Sec-Fetch-Site` when the browser sends it (every current one does): only
    `same-origin` and `none` (typed, bookmarked) are ours; `same-site` is a sibling
    subdomain, which is not. Else `Origin`, when sent, must be this origin. A client that
    sends neither is left to the token check.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return origin != f"{request.url.scheme}://{request.url.netloc}"


def session_tag(request: Request) -> str:
    """What a CSRF token is bound to besides the CSRF cookie: the session cookie, hashed
    (empty when there is none)."""
    value = request.cookies.get(cookie_name(SESSION_COOKIE, request.scope))
    if not value:
        return ""
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def content_security_policy(frame_origins: Iterable[str]) -> str:
    """The CSP of every HTML page: our own stylesheet and script (`static/app.js`, the
    busy buttons), nothing inline, nothing from elsewhere.

    `frame_origins` are the Miro origins whose live embed a page may show, and that a
    form's redirect may lead to (Chromium applies `form-action` to the redirect after a
    post, and a post to "Create board" redirects to Miro's consent page).
    """
    origins = " ".join(sorted(set(frame_origins)))
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"frame-src {origins}".strip(),
            f"form-action 'self' {origins}".strip(),
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


class CSRFSigner:
    """Signs and checks CSRF tokens against the browser's `mc_csrf` cookie and session."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt="miroconnect.csrf.v2")

    def token_for(self, request: Request) -> str:
        """The token a form rendered for `request` carries."""
        cookie_value = getattr(request.state, "csrf_value", "") or ""
        return str(self._serializer.dumps([cookie_value, session_tag(request)]))

    def check(self, request: Request, token: str | None) -> bool:
        """Whether the form `token` was signed by us for exactly this request's CSRF
        cookie and session."""
        cookie_value = request.cookies.get(cookie_name(CSRF_COOKIE, request.scope))
        if not token or not cookie_value:
            return False
        try:
            value = self._serializer.loads(token)
        except BadSignature:
            return False
        if not isinstance(value, list) or len(value) != 2:
            return False
        signed_cookie, signed_session = value
        if not isinstance(signed_cookie, str) or not isinstance(signed_session, str):
            return False
        same_cookie = hmac.compare_digest(signed_cookie.encode(), cookie_value.encode())
        same_session = hmac.compare_digest(
            signed_session.encode(), session_tag(request).encode()
        )
        return same_cookie and same_session


def _valid_cookie_value(value: str | None) -> bool:
    return value is not None and 20 <= len(value) <= 64 and value.isascii()


class SecurityMiddleware:
    """Adds security headers to every response and gives each browser a CSRF cookie.

    The CSRF cookie value is made available to templates as `request.state.csrf_value`
    before the endpoint runs, so the very first page a browser sees has working forms.
    Requests to `no_cookie_paths` (prefixes: the service API, the probes) get the headers
    but no cookie: no form is ever posted to or rendered by them.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        csp: str,
        header_paths: tuple[str, ...] | None = None,
        no_cookie_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.csp = csp
        # `None`: headers on every response; else only at or under these prefixes (a
        # host's `/connections` is not under `/connect`).
        self.header_paths = PathPrefixes(header_paths)
        self.no_cookie_paths = PathPrefixes(no_cookie_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        name = cookie_name(CSRF_COOKIE, scope)
        new_value = None
        if not self.no_cookie_paths.cover(scope):
            # Starlette's parser, as `request.cookies` uses: the same value is seen here
            # and by the CSRF check, even when another app on this host sets odd cookies.
            cookies: dict[str, str] = {}
            for header, raw in scope.get("headers", []):
                if header == b"cookie":
                    cookies.update(cookie_parser(raw.decode("latin-1")))
            existing = cookies.get(name)
            if not _valid_cookie_value(existing):
                new_value = secrets.token_urlsafe(32)
            scope.setdefault("state", {})["csrf_value"] = new_value or existing
        secure = cookie_is_secure(scope)
        is_docs = path in _DOCS_PATHS
        with_headers = self.header_paths.cover(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if with_headers:
                    _add_security_headers(headers, is_docs, secure, self.csp)
                if new_value is not None:
                    flags = "; Path=/; HttpOnly; SameSite=Lax"
                    if secure:
                        flags += "; Secure"
                    headers.append("set-cookie", f"{name}={new_value}{flags}")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _add_security_headers(
    headers: MutableHeaders, is_docs: bool, secure: bool, csp: str
) -> None:
    headers.setdefault("x-content-type-options", "nosniff")
    headers.setdefault("x-frame-options", "DENY")
    headers.setdefault("referrer-policy", "same-origin")
    headers.setdefault("cross-origin-opener-policy", "same-origin")
    headers.setdefault("content-security-policy", DOCS_CSP if is_docs else csp)
    if secure:
        headers.setdefault("strict-transport-security", "max-age=31536000")
