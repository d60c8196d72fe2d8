"""The reference app's sign-in session: a signed cookie holding only the account id.

The cookie is signed, not encrypted, so it holds nothing secret: no Miro token ever goes
near it. It expires after `SESSION_MAX_AGE` and is replaced at every sign-in.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from miroconnect.web.security import cookie_is_secure

__all__ = ["SESSION_COOKIE", "SESSION_MAX_AGE", "SessionSigner"]

SESSION_COOKIE = "mc_session"
SESSION_MAX_AGE = 14 * 24 * 60 * 60  # two weeks, in seconds


class SessionSigner:
    """Reads and writes the session cookie."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret_key, salt="miroconnect.session"
        )

    def account_id(self, request: Request) -> int | None:
        """The signed-in account's id, or `None` (no cookie, forged, or expired)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            value = self._serializer.loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if isinstance(value, dict) and isinstance(value.get("account"), int):
            return int(value["account"])
        return None

    def sign_in(self, request: Request, response: Response, account_id: int) -> None:
        """Set the session cookie for `account_id` on `response`."""
        response.set_cookie(
            SESSION_COOKIE,
            str(self._serializer.dumps({"account": account_id})),
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=cookie_is_secure(request.scope),
        )

    def sign_out(self, request: Request, response: Response) -> None:
        """Clear the session cookie."""
        response.delete_cookie(
            SESSION_COOKIE,
            httponly=True,
            samesite="lax",
            secure=cookie_is_secure(request.scope),
        )
