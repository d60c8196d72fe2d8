"""One-time messages of the reference app's home page: "Board created", "Miro is
disconnected", why a board was not made, a board name that cannot be used.

The server sets one when something happened, and the next home page shows it once. It
travels in a short-lived cookie signed with the app's secret key and bound to the signed-in
session: the page shows only what this server said to this session, never what a URL says
(`/?miro_board_id=anything` shows no "Board created"), and the page that shows it clears
it, so a reload shows nothing again. (A cookie rather than a table: the session rows have
no column for it, and a message is not worth a migration.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from miroconnect.web.security import cookie_is_secure, cookie_name, session_tag

__all__ = ["FLASH_COOKIE", "Flash", "FlashKind", "Flashes"]

FLASH_COOKIE = "mc_flash"
# Long enough for a redirect and a slow page load; a message found later is stale.
FLASH_MAX_AGE = 120
# The board name typed into a refused form comes back in the cookie: keep it short.
_VALUE_MAX = 200

FlashKind = Literal["created", "disconnected", "failed", "invalid_name"]


@dataclass(frozen=True)
class Flash:
    """What happened: `created` (value: the board id), `disconnected`, `failed` (value:
    the reason code) or `invalid_name` (value: the name that was refused)."""

    kind: FlashKind
    value: str = ""


class Flashes:
    """Sets and takes the one message of a browser's session."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret_key, salt="miroconnect.flash.v1"
        )

    def set(self, request: Request, response: Response, flash: Flash) -> None:
        """Put `flash` on `response`, for the session of `request`."""
        value = self._serializer.dumps(
            [flash.kind, flash.value[:_VALUE_MAX], session_tag(request)]
        )
        response.set_cookie(
            cookie_name(FLASH_COOKIE, request.scope),
            value,
            max_age=FLASH_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=cookie_is_secure(request.scope),
        )

    def read(self, request: Request) -> Flash | None:
        """The message set for this session, if any (see `clear`)."""
        raw = request.cookies.get(cookie_name(FLASH_COOKIE, request.scope))
        if raw is None:
            return None
        try:
            kind, value, session = self._serializer.loads(raw, max_age=FLASH_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        if kind not in get_args(FlashKind) or session != session_tag(request):
            return None
        return Flash(kind, str(value))

    @staticmethod
    def clear(request: Request, response: Response) -> None:
        """Remove the message from the browser with `response`: it is shown once."""
        name = cookie_name(FLASH_COOKIE, request.scope)
        if name in request.cookies:
            response.delete_cookie(
                name,
                httponly=True,
                samesite="lax",
                secure=cookie_is_secure(request.scope),
            )
