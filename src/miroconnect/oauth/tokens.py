"""Values of the vault: a token pair, a Miro identity, a connection.

Token values are excluded from `repr`, so a logged or printed value never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "Connection",
    "ConnectionStatus",
    "MiroIdentity",
    "ReadGuard",
    "StaleReadError",
    "StoredTokens",
    "TokenSet",
]


@dataclass(frozen=True)
class TokenSet:
    """What Miro's token endpoint answered, parsed.

    `refresh_token` and `expires_at` are None for apps without expiring tokens. `user_id`
    is absent from refresh answers (Miro documents it only for the code exchange).
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime | None
    scopes: tuple[str, ...] = ()
    team_id: str | None = None
    user_id: str | None = None

    def expires_within(self, margin: timedelta, now: datetime) -> bool:
        """Whether the access token has less than `margin` left (never, if it does
        not expire)."""
        return self.expires_at is not None and self.expires_at - now < margin


@dataclass(frozen=True)
class MiroIdentity:
    """Who and where a token belongs to, from `GET /v1/oauth-token`."""

    user_id: str
    team_id: str
    user_name: str | None = None
    team_name: str | None = None
    scopes: tuple[str, ...] = ()


class ConnectionStatus(StrEnum):
    """The life of a connection: live, dead until consent, or disconnected."""

    CONNECTED = "connected"
    NEEDS_REAUTH = "needs_reauth"
    REMOVED = "removed"


@dataclass(frozen=True)
class Connection:
    """One app user's connection to one Miro team, without its tokens."""

    id: str
    app_user_id: str
    miro_user_id: str
    miro_team_id: str
    status: ConnectionStatus
    scopes: tuple[str, ...] = ()
    status_reason: str | None = None
    miro_user_name: str | None = None
    miro_team_name: str | None = None
    key_id: str | None = None
    access_expires_at: datetime | None = None
    refresh_issued_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    connected_at: datetime | None = None  # the latest consent (a reconnect's)

    @property
    def is_live(self) -> bool:
        """Whether actions can run on it without going through consent."""
        return self.status is ConnectionStatus.CONNECTED


@dataclass(frozen=True)
class StoredTokens:
    """A connection with its decrypted tokens (None once removed), as the vault reads it."""

    connection: Connection
    tokens: TokenSet | None
    guard: ReadGuard | None = None
    """Set when the read was remembered from an earlier one, not made now: what the
    action's journal entry must find still true (`ReadGuard`)."""


@dataclass(frozen=True)
class ReadGuard:
    """What must still hold for a remembered connection read to be used as if made now.

    The store remembers a user's read for a short while when it found exactly one live
    connection. The action's first write (its journal entry) checks, in the same
    statement, that this connection is still live with the same tokens
    (`token_version`), and, for a read of all the user's teams (`whole_user`), that it
    is still the user's only live one. Anything else changed (a refresh, a disconnect,
    a reconnect, a second team, in this process or any other): the write is refused
    with `StaleReadError` and the caller reads again.
    """

    connection_id: str
    token_version: int
    app_user_id: str
    whole_user: bool


class StaleReadError(Exception):
    """A remembered connection read no longer holds (see `ReadGuard`): nothing was
    written; read the connection again and retry."""
