"""What the flow and the vault need from persistence, as Protocols.

`miroconnect.storage.repository.SQLStore` implements both with SQLAlchemy; this module
imports no database code, so the protocol logic stays testable on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from miroconnect.oauth.actions import PendingAction
from miroconnect.oauth.tokens import (
    Connection,
    ConnectionStatus,
    MiroIdentity,
    StoredTokens,
    TokenSet,
)

__all__ = [
    "ConnectionStore",
    "FlowStore",
    "LaunchResult",
    "LockedConnection",
    "NewPendingAuthorization",
    "PendingAuthorization",
]


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


@dataclass(frozen=True)
class PendingAuthorization:
    """A started flow as read back when it is launched or completed."""

    id: str
    app_user_id: str
    action: PendingAction | None
    return_url: str
    expires_at: datetime
    binding_hash: str | None


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
        self, state_hash: str, *, now: datetime
    ) -> PendingAuthorization | None:
        """Atomically mark the flow with this state as consumed and return it; None if
        no unconsumed flow has this state. Succeeds once per state."""
        ...

    async def pending_exists(self, state_hash: str) -> bool:
        """Whether a flow with this state was ever stored (tells replayed from forged)."""
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
