"""What the flow and the vault need from persistence, as Protocols.

`miroconnect.storage.repository.SQLStore` implements both with SQLAlchemy; this module
imports no database code, so the protocol logic stays testable on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from miroconnect.oauth.pending import PendingAction
from miroconnect.oauth.tokens import (
    Connection,
    ConnectionStatus,
    MiroIdentity,
    StoredTokens,
    TokenSet,
)

__all__ = [
    "ConnectionStore",
    "ConsentStatus",
    "ConsentStore",
    "DecidedConsent",
    "Display",
    "FlowStore",
    "HeldConsent",
    "LaunchResult",
    "LockedConnection",
    "NewHeldConsent",
    "NewPendingAuthorization",
    "PendingAuthorization",
]

# How a service-mode flow ends: a redirect to the return URL with `miro_result`, or a
# page that posts the result to the window that opened it (a single-page app's popup).
Display = Literal["redirect", "popup"]


@dataclass(frozen=True)
class NewPendingAuthorization:
    """A flow to remember at its start. Only hashes of the secrets are given."""

    id: str
    app_user_id: str
    action: PendingAction | None
    return_url: str
    created_at: datetime
    expires_at: datetime
    state_hash: str | None = None
    binding_hash: str | None = None
    launch_hash: str | None = None
    launch_expires_at: datetime | None = None
    display: Display = "redirect"


@dataclass(frozen=True)
class PendingAuthorization:
    """A started flow as read back when it is launched or completed."""

    id: str
    app_user_id: str
    action: PendingAction | None
    return_url: str
    expires_at: datetime
    binding_hash: str | None
    # Service mode (a launch link): the consent is held for the host app's confirm.
    held: bool = False
    consumed: bool = False
    display: Display = "redirect"


@dataclass(frozen=True)
class LaunchResult:
    """Outcome of claiming a launch token: the flow, or why not."""

    pending: PendingAuthorization | None
    failure: str | None = None  # "unknown" | "replayed" | "expired"


class FlowStore(Protocol):
    """Pending authorizations and the connection a completed flow creates."""

    async def add_pending(self, pending: NewPendingAuthorization) -> None:
        """Remember a started flow."""
        ...

    async def claim_launch(
        self,
        launch_hash: str,
        *,
        state_hash: str,
        binding_hash: str,
        expires_at: datetime,
        now: datetime,
    ) -> LaunchResult:
        """Atomically mark an unexpired, unused launch as used, and give it its state
        and browser binding. Succeeds once per launch token."""
        ...

    async def consume_pending(
        self,
        state_hash: str,
        *,
        binding_hash: str | None,
        app_user_id: str | None,
        now: datetime,
    ) -> PendingAuthorization | None:
        """Atomically mark the flow with this state as consumed and return it, only if
        it is unused, unexpired, bound to `binding_hash`, and (when `app_user_id` is
        given and the flow is not held for a confirm) started for that user; otherwise
        `None`, and the flow is left as it was. Succeeds once per state."""
        ...

    async def find_pending(self, state_hash: str) -> PendingAuthorization | None:
        """The flow with this state, consumed or not (tells why a callback lost)."""
        ...

    async def save_connection(
        self,
        *,
        app_user_id: str,
        identity: MiroIdentity,
        tokens: TokenSet,
        now: datetime,
    ) -> Connection:
        """Create or replace the (app user, team) connection with fresh tokens."""
        ...


class LockedConnection(Protocol):
    """A connection held under the store's lock (row lock, or SQLite's write lock)."""

    @property
    def current(self) -> StoredTokens:
        """The row as read after the lock was acquired."""
        ...

    async def save_tokens(self, tokens: TokenSet, *, now: datetime) -> None:
        """Replace the token pair; committed when the lock is released."""
        ...

    async def set_status(
        self, status: ConnectionStatus, reason: str | None, *, now: datetime
    ) -> None:
        """Change the status (tokens kept, unless `removed`, which deletes them)."""
        ...


class ConnectionStore(Protocol):
    """Connections and their tokens."""

    async def get_connection(self, connection_id: str) -> Connection | None:
        """One connection, any status."""
        ...

    async def find_connections(
        self,
        *,
        app_user_id: str | None = None,
        team_id: str | None = None,
        status: ConnectionStatus | None = None,
    ) -> Sequence[Connection]:
        """Connections matching every given filter, most recently updated first."""
        ...

    async def load_tokens(self, connection_id: str) -> StoredTokens | None:
        """A connection with its decrypted tokens, without locking."""
        ...

    async def user_tokens(
        self, app_user_id: str, team_id: str | None = None, *, reuse: bool = False
    ) -> Sequence[StoredTokens]:
        """The user's connections (to `team_id`, if given) with their decrypted tokens,
        most recently updated first, in one read: the hot path's first statement.

        `reuse=True`: a store may answer from a read it remembers, with no statement,
        if it sets `StoredTokens.guard` (a store that remembers nothing ignores it)."""
        ...

    def lock(self, connection_id: str) -> AbstractAsyncContextManager[LockedConnection]:
        """Hold the connection's lock for a read-modify-write; commit on normal exit.

        Raises `NotConnectedError` when the connection does not exist.
        """
        ...

    async def due_for_maintenance(
        self, *, refresh_issued_before: datetime, limit: int
    ) -> Sequence[str]:
        """Ids of connected connections whose refresh token was issued before the cutoff."""
        ...

    def maintenance_lock(self) -> AbstractAsyncContextManager[bool]:
        """A process-wide lock for the maintenance job: yields False when another process
        holds it."""
        ...

    async def delete_stale_pending(self, *, before: datetime) -> int:
        """Forget flows that expired before `before`; returns how many."""
        ...


class ConsentStatus(StrEnum):
    """A held service-mode consent: waiting, or decided by the host's confirm."""

    HELD = "held"  # tokens kept, unusable, until the host confirms
    CONFIRMED = "confirmed"  # the flow's own user: the tokens became its connection
    REFUSED = "refused"  # confirmed for another user: revoked at Miro
    EXPIRED = "expired"  # nobody confirmed in time: revoked at Miro


@dataclass(frozen=True)
class NewHeldConsent:
    """A consent to hold at the callback of a service-mode flow."""

    id: str
    result_hash: str
    flow_id: str
    app_user_id: str
    action: PendingAction | None
    identity: MiroIdentity
    tokens: TokenSet = field(repr=False)
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class HeldConsent:
    """A held consent as read back under its lock (`tokens` None once deleted)."""

    id: str
    flow_id: str
    app_user_id: str
    action: PendingAction | None
    identity: MiroIdentity
    status: ConsentStatus
    created_at: datetime
    expires_at: datetime
    connection_id: str | None
    tokens: TokenSet | None = field(repr=False)


@dataclass(frozen=True)
class DecidedConsent:
    """What `ConsentStore.decide_consent` did: the consent as read under the lock, the
    status it was given (`None`: left as it was) and, when confirmed now, the
    connection its tokens became."""

    consent: HeldConsent
    status: ConsentStatus | None
    connection: Connection | None = None


class ConsentStore(Protocol):
    """Service-mode consents held between Miro's callback and the host's confirm."""

    async def hold_consent(self, consent: NewHeldConsent) -> None:
        """Store a consent (its tokens encrypted, bound to the row and its owner)."""
        ...

    async def decide_consent(
        self,
        result_hash: str,
        decide: Callable[[HeldConsent], ConsentStatus | None],
        *,
        now: datetime,
    ) -> DecidedConsent | None:
        """In one transaction, with the consent locked: `decide(consent)` says what it
        becomes (`confirmed`: its tokens become the flow user's connection; `refused`
        or `expired`: closed, tokens kept for the revoke; `None`: nothing changes), or
        raises (nothing changes). `None` when no consent has this result's hash.

        `decide` must neither block nor touch asyncio: it may run on the database's own
        thread, or on the event loop inside the database's transaction."""
        ...

    async def expire_consent(self, consent_id: str, *, now: datetime) -> bool:
        """Mark a still-held consent `expired` (one conditional UPDATE); False when it
        was decided meanwhile."""
        ...

    async def forget_consent_tokens(self, consent_id: str) -> None:
        """Delete a decided consent's tokens (after they were revoked at Miro)."""
        ...

    async def consents_to_close(
        self, *, now: datetime, limit: int
    ) -> Sequence[HeldConsent]:
        """Held consents past their expiry, and refused or expired ones that still hold
        tokens (a revoke that did not finish): the maintenance job revokes them."""
        ...

    async def delete_old_consents(self, *, before: datetime) -> int:
        """Forget consents that expired before `before`; returns how many."""
        ...
