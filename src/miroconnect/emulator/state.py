"""The emulator's memory: apps, users, grants, boards, items, faults and counters.

Everything lives in one `EmulatorState` per app. The emulator runs on one event loop and
no method here awaits, so each call is atomic without locks.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from miroconnect.emulator.ids import IdFactory, stable_numeric_id
from miroconnect.emulator.model import Board, Item, Team, User

__all__ = [
    "ACCESS_CODE_TTL",
    "ORGANIZATION_ID",
    "LEVEL_CREDITS",
    "REFRESH_TOKEN_TTL",
    "AccessToken",
    "AuthCode",
    "Board",
    "EmulatorClient",
    "EmulatorState",
    "Fault",
    "Item",
    "OAuthFailure",
    "RateDecision",
    "RefreshToken",
    "Team",
    "User",
    "utc_now",
]

ACCESS_CODE_TTL = timedelta(minutes=10)
REFRESH_TOKEN_TTL = timedelta(days=60)
# Credits per call, per Miro's rate-limit levels.
LEVEL_CREDITS = {1: 50, 2: 100, 3: 500, 4: 2000}
ORGANIZATION_ID = stable_numeric_id("organization", "emulator")


@dataclass(frozen=True)
class EmulatorClient:
    """A registered Miro app.

    `expiring` apps get an access token that lives `access_token_ttl` seconds and a
    rotating refresh token; other apps get one access token that lives until revoked.
    `name` is what the consent page calls the app, as Miro shows an app's name (empty:
    "App <client id>").
    """

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    expiring: bool = True
    access_token_ttl: int = 3600
    scopes: tuple[str, ...] = ("boards:read", "boards:write")
    name: str = ""

    @property
    def display_name(self) -> str:
        """The name the consent page shows."""
        return self.name or f"App {self.client_id}"


@dataclass(frozen=True)
class AuthCode:
    """An issued authorization code and what it is bound to."""

    client_id: str
    redirect_uri: str
    user: User
    team: Team
    expires_at: datetime


@dataclass(frozen=True)
class AccessToken:
    """A live access token. `expires_at` is None for non-expiring apps."""

    value: str
    client: EmulatorClient
    user: User
    team: Team
    scopes: tuple[str, ...]
    expires_at: datetime | None
    created_at: datetime
    refresh_token: str | None


@dataclass(frozen=True)
class RefreshToken:
    """A live refresh token, paired with exactly one access token."""

    value: str
    access_token: str
    expires_at: datetime


FaultAction = Literal["status", "delay", "drop_after_commit", "reset_before_commit"]


@dataclass(slots=True)
class Fault:
    """A fault rule; `times` counts down to 0 (None: unlimited)."""

    id: str
    method: str
    path: str
    action: FaultAction
    times: int | None = None
    probability: float = 1.0
    status: int = 500
    body: Any = None
    seconds: float = 0.0


class OAuthFailure(Exception):
    """A rejected token-endpoint request, rendered as Miro's `oauthError` envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RateDecision:
    """The outcome of charging a call: allowed or not, and the header values."""

    allowed: bool
    limit: int
    remaining: int
    reset: int


class EmulatorState:
    """All mutable state of one emulator, and the rules that change it."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        clients: Sequence[EmulatorClient],
        default_user: str,
        credits: int,
        window_seconds: int,
        auto_approve: bool,
        seed: int | None,
        search_delay: float = 0.0,
    ) -> None:
        self._clock = clock
        self._initial_clients = tuple(clients)
        self.default_user = default_user
        self.credits = credits
        self.window_seconds = window_seconds
        self.auto_approve = auto_approve
        # Seconds before a new board shows up in searches other than by team or project.
        self.search_delay = timedelta(seconds=search_delay)
        # One id factory for the emulator's lifetime, not one per reset: a seeded factory
        # made afresh would hand out the same board ids and tokens again after a reset
        # (an old token would come back to life, the runner would see "impossible"
        # duplicate boards). Miro never reuses an id.
        self.ids = IdFactory(seed)
        self.reset()

    def reset(self) -> None:
        """Forget everything except the clients given to `create_emulator` (ids made
        before the reset are never made again)."""
        self.offset = timedelta()
        self.clients: dict[str, EmulatorClient] = {
            c.client_id: c for c in self._initial_clients
        }
        self.codes: dict[str, AuthCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.boards: dict[str, Board] = {}
        self.faults: list[Fault] = []
        self.buckets: dict[tuple[str, str], tuple[int, int]] = {}
        self.stats: dict[str, int] = {
            "authorization_code": 0,
            "refresh_token": 0,
            "token_errors": 0,
            "boards_created": 0,
            "requests": 0,
            "rate_limited": 0,
            "faults_applied": 0,
        }
        # Calls per spec operationId that got past authentication.
        self.operations: dict[str, int] = {}

    def count(self, operation: str) -> None:
        """Count one call of a spec operation (see `/_emulator/stats`)."""
        self.operations[operation] = self.operations.get(operation, 0) + 1

    # -- time -------------------------------------------------------------------

    def now(self) -> datetime:
        """The emulator's time: the injected clock plus `/_emulator/clock` advances."""
        return self._clock() + self.offset

    # -- OAuth ------------------------------------------------------------------

    def issue_code(
        self, client: EmulatorClient, redirect_uri: str, user: User, team: Team
    ) -> str:
        code = self.ids.secret()
        self.codes[code] = AuthCode(
            client.client_id, redirect_uri, user, team, self.now() + ACCESS_CODE_TTL
        )
        return code

    def authenticate_client(self, client_id: str, client_secret: str) -> EmulatorClient:
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(
            client.client_secret.encode(), client_secret.encode()
        ):
            raise OAuthFailure(401, "Invalid client credentials.")
        return client

    def exchange_code(
        self, client: EmulatorClient, code: str, redirect_uri: str
    ) -> AccessToken:
        # Single use: the code is gone whether this exchange succeeds or not.
        grant = self.codes.pop(code, None)
        if grant is None or grant.client_id != client.client_id:
            raise OAuthFailure(401, "Invalid authorization code.")
        if self.now() >= grant.expires_at:
            raise OAuthFailure(401, "Authorization code has expired.")
        if redirect_uri != grant.redirect_uri:
            raise OAuthFailure(401, "Redirect URI mismatch.")
        self.stats["authorization_code"] += 1
        return self._issue_tokens(client, grant.user, grant.team, client.scopes)

    def refresh(self, client: EmulatorClient, refresh_token: str) -> AccessToken:
        if not client.expiring:
            raise OAuthFailure(400, "This app does not use expiring tokens.")
        record = self.refresh_tokens.get(refresh_token)
        old = self.access_tokens.get(record.access_token) if record else None
        if record is None or old is None or old.client.client_id != client.client_id:
            raise OAuthFailure(401, "Invalid refresh token.")
        if self.now() >= record.expires_at:
            raise OAuthFailure(401, "Refresh token has expired.")
        # Rotation: the old pair dies now, before the new one is handed out.
        self._revoke(old)
        self.stats["refresh_token"] += 1
        return self._issue_tokens(client, old.user, old.team, old.scopes)

    def _issue_tokens(
        self, client: EmulatorClient, user: User, team: Team, scopes: tuple[str, ...]
    ) -> AccessToken:
        now = self.now()
        refresh = self.ids.secret() if client.expiring else None
        token = AccessToken(
            value=self.ids.secret(),
            client=client,
            user=user,
            team=team,
            scopes=scopes,
            expires_at=(
                now + timedelta(seconds=client.access_token_ttl)
                if client.expiring
                else None
            ),
            created_at=now,
            refresh_token=refresh,
        )
        self.access_tokens[token.value] = token
        if refresh is not None:
            self.refresh_tokens[refresh] = RefreshToken(
                refresh, token.value, now + REFRESH_TOKEN_TTL
            )
        return token

    def _revoke(self, token: AccessToken) -> None:
        self.access_tokens.pop(token.value, None)
        if token.refresh_token is not None:
            self.refresh_tokens.pop(token.refresh_token, None)

    def revoke(self, access_token: str, client_id: str | None = None) -> bool:
        """Revoke an access token and its refresh token; False if there was none."""
        token = self.access_tokens.get(access_token)
        if token is None or (
            client_id is not None and token.client.client_id != client_id
        ):
            return False
        self._revoke(token)
        return True

    def lookup_token(self, value: str) -> AccessToken | str:
        """The live token, or why not: "invalid" or "expired"."""
        token = self.access_tokens.get(value)
        if token is None:
            return "invalid"
        if token.expires_at is not None and self.now() >= token.expires_at:
            return "expired"
        return token

    # -- rate limits ------------------------------------------------------------

    def charge(self, user_id: str, client_id: str, level: int) -> RateDecision:
        """Charge one call of `level` to the (user, app) budget of the current window."""
        now = int(self.now().timestamp())
        start = now - now % self.window_seconds
        reset = start + self.window_seconds
        key = (user_id, client_id)
        window, used = self.buckets.get(key, (start, 0))
        if window != start:
            used = 0
        cost = LEVEL_CREDITS[level]
        if used + cost > self.credits:
            self.buckets[key] = (start, used)
            self.stats["rate_limited"] += 1
            return RateDecision(False, self.credits, self.credits - used, reset)
        used += cost
        self.buckets[key] = (start, used)
        return RateDecision(True, self.credits, self.credits - used, reset)

    def peek(self, user_id: str, client_id: str) -> RateDecision:
        """The (user, app) budget as it stands, without charging."""
        now = int(self.now().timestamp())
        start = now - now % self.window_seconds
        window, used = self.buckets.get((user_id, client_id), (start, 0))
        if window != start:
            used = 0
        return RateDecision(
            True, self.credits, self.credits - used, start + self.window_seconds
        )

    def idle_rate(self) -> RateDecision:
        """Header values for a response not charged to any (user, app)."""
        now = int(self.now().timestamp())
        reset = now - now % self.window_seconds + self.window_seconds
        return RateDecision(True, self.credits, self.credits, reset)

    # -- faults -----------------------------------------------------------------

    def match_fault(self, method: str, path: str) -> Fault | None:
        """The first rule matching this request that fires, counting it down."""
        for fault in self.faults:
            if fault.method not in ("*", method) or not path.startswith(fault.path):
                continue
            if fault.times is not None and fault.times <= 0:
                continue
            if fault.probability < 1.0 and self.ids.rng.random() >= fault.probability:
                continue
            if fault.times is not None:
                fault.times -= 1
            self.stats["faults_applied"] += 1
            return fault
        return None

    # -- stats ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        return {
            "token_grants": {
                "authorization_code": s["authorization_code"],
                "refresh_token": s["refresh_token"],
            },
            "token_errors": s["token_errors"],
            "boards_created": s["boards_created"],
            "boards": len(self.boards),
            "requests": s["requests"],
            "rate_limited": s["rate_limited"],
            "faults_applied": s["faults_applied"],
            "operations": dict(sorted(self.operations.items())),
        }


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)
