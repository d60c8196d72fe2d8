"""The reference app's sign-in sessions: a random value in the cookie, the session on the
server (`miroconnect.storage.sessions`).

The cookie holds nothing but 256 random bits; the database holds their SHA-256, the account
and the session's end. Signing in always starts a new session (a value planted in the
browser before sign-in is never promoted), and signing out deletes it on the server, so a
copied cookie is worth nothing afterwards.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from miroconnect.oauth.params import hash_secret
from miroconnect.storage.sessions import SQLSessionStore
from miroconnect.types import Clock
from miroconnect.web.security import SESSION_COOKIE, cookie_is_secure, cookie_name

__all__ = ["SESSION_MAX_AGE", "Sessions"]

SESSION_MAX_AGE = 14 * 24 * 60 * 60  # two weeks, in seconds


class Sessions:
    """Reads, starts and ends the session of a request."""

    def __init__(self, store: SQLSessionStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    @staticmethod
    def _value(request: Request) -> str | None:
        value = request.cookies.get(cookie_name(SESSION_COOKIE, request.scope))
        return value if value and len(value) <= 128 else None

    async def account(self, request: Request) -> tuple[int, str] | None:
        """The signed-in account's (id, username), or `None` (no session, ended, or
        expired)."""
        value = self._value(request)
        if value is None:
            return None
        return await self._store.account(hash_secret(value), now=self._clock())

    async def sign_in(
        self, request: Request, response: Response, account_id: int
    ) -> None:
        """End the browser's current session, if any, start a new one for
        `account_id`, and set its cookie on `response`."""
        old = self._value(request)
        if old is not None:
            await self._store.end(hash_secret(old))
        value = secrets.token_urlsafe(32)
        now = self._clock()
        await self._store.create(
            hash_secret(value),
            account_id,
            now=now,
            expires_at=now + timedelta(seconds=SESSION_MAX_AGE),
        )
        secure = cookie_is_secure(request.scope)
        response.set_cookie(
            cookie_name(SESSION_COOKIE, request.scope),
            value,
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=secure,
        )

    async def sign_out(self, request: Request, response: Response) -> None:
        """End the session on the server and clear its cookie."""
        value = self._value(request)
        if value is not None:
            await self._store.end(hash_secret(value))
        response.delete_cookie(
            cookie_name(SESSION_COOKIE, request.scope),
            httponly=True,
            samesite="lax",
            secure=cookie_is_secure(request.scope),
        )
