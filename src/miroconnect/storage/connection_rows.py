"""Connection rows: how a `connections` row is read into a `Connection`, written with a
new grant (its tokens sealed to the row and its owner), and updated under its lock.

`upsert_connection_now` is the one statement sequence that stores a grant as a user's
connection; the flow's callback (`SQLStore.save_connection`) and the host's confirm of a
held consent (`miroconnect.storage.consents`) both run it, each in one
`Database.run_in_transaction`. With an `Outbox` (webhooks
configured), each of these changes writes its `connection.*` event in its transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from miroconnect.crypto import TokenCipher
from miroconnect.oauth.pending import PendingAction
from miroconnect.oauth.store import PendingAuthorization
from miroconnect.oauth.tokens import (
    Connection,
    ConnectionStatus,
    MiroIdentity,
    StoredTokens,
    TokenSet,
)
from miroconnect.storage.models import (
    ConnectionRow,
    PendingAuthorizationRow,
    PendingConsentRow,
)
from miroconnect.storage.outbox import (
    CONNECTION_CREATED,
    CONNECTION_NEEDS_REAUTH,
    CONNECTION_RECONNECTED,
    CONNECTION_REVOKED,
    Outbox,
    connection_event,
)
from miroconnect.storage.sealing import ConnectionFields, open_tokens, seal_tokens

__all__ = [
    "LockedRow",
    "action_columns",
    "action_of",
    "fill_row",
    "new_row",
    "to_connection",
    "to_pending",
    "upsert_connection_now",
]

# The event a status change reports (a change to the same status reports nothing).
_STATUS_EVENTS = {
    ConnectionStatus.NEEDS_REAUTH: CONNECTION_NEEDS_REAUTH,
    ConnectionStatus.REMOVED: CONNECTION_REVOKED,
    # Only after a failed write of a refreshed pair was retried (`oauth.refresh`).
    ConnectionStatus.CONNECTED: CONNECTION_RECONNECTED,
}


def to_connection(row: ConnectionFields) -> Connection:
    return Connection(
        id=row.id,
        app_user_id=row.app_user_id,
        miro_user_id=row.miro_user_id,
        miro_team_id=row.miro_team_id,
        status=ConnectionStatus(row.status),
        scopes=tuple(row.scopes.split()),
        status_reason=row.status_reason,
        miro_user_name=row.miro_user_name,
        miro_team_name=row.miro_team_name,
        key_id=row.key_id,
        access_expires_at=row.access_expires_at,
        refresh_issued_at=row.refresh_issued_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        connected_at=row.connected_at or row.created_at,
    )


def action_columns(action: PendingAction | None) -> dict[str, Any]:
    """The `action_*` columns of a flow's or a held consent's row for `action`."""
    return {
        "action_kind": action.kind if action else None,
        "action_params": dict(action.params) if action else None,
        "action_idempotency_key": action.idempotency_key if action else None,
    }


def action_of(row: PendingAuthorizationRow | PendingConsentRow) -> PendingAction | None:
    """The action a flow's or a held consent's row carries, if any."""
    if row.action_kind is None:
        return None
    return PendingAction(
        kind=row.action_kind,
        params=dict(row.action_params or {}),
        idempotency_key=row.action_idempotency_key,
    )


def to_pending(row: PendingAuthorizationRow) -> PendingAuthorization:
    return PendingAuthorization(
        id=row.id,
        app_user_id=row.app_user_id,
        action=action_of(row),
        return_url=row.return_url,
        expires_at=row.expires_at,
        binding_hash=row.binding_hash,
        held=row.launch_hash is not None,
        consumed=row.consumed_at is not None,
        display="popup" if row.display == "popup" else "redirect",
    )


def _write_tokens(
    cipher: TokenCipher, row: ConnectionRow, tokens: TokenSet, now: datetime
) -> None:
    seal_tokens(cipher, row, tokens)
    row.refresh_issued_at = now if tokens.refresh_token is not None else None
    row.token_version = (row.token_version or 0) + 1
    row.updated_at = now


def fill_row(
    cipher: TokenCipher,
    row: ConnectionRow,
    identity: MiroIdentity,
    tokens: TokenSet,
    now: datetime,
) -> None:
    """A connected row with `identity` and `tokens` (owner columns first: the
    ciphertexts are bound to them)."""
    row.miro_user_id = identity.user_id
    row.miro_user_name = identity.user_name
    row.miro_team_name = identity.team_name
    row.status = ConnectionStatus.CONNECTED.value
    row.status_reason = None
    row.connected_at = now
    _write_tokens(cipher, row, tokens, now)
    if identity.scopes:
        row.scopes = " ".join(identity.scopes)


def new_row(app_user_id: str, team_id: str, now: datetime) -> ConnectionRow:
    return ConnectionRow(
        id=uuid.uuid4().hex,
        app_user_id=app_user_id,
        miro_team_id=team_id,
        created_at=now,
        token_version=0,
        scopes="",
    )


def upsert_connection_now(
    session: Session,
    cipher: TokenCipher,
    *,
    app_user_id: str,
    identity: MiroIdentity,
    tokens: TokenSet,
    now: datetime,
    outbox: Outbox | None = None,
) -> Connection:
    """Inside the caller's write transaction: lock the (app user, team) row and give it
    `tokens`, or add it. A reconnect keeps the row (and its id), replacing the tokens.

    The event: `connection.created` for a new row or one that was disconnected
    (`removed`), `connection.reconnected` for a connected or `needs_reauth` one (the
    caller tells the outbox's listeners: `Outbox.written`)."""
    C = ConnectionRow
    row = session.scalar(
        select(C)
        .where(C.app_user_id == app_user_id, C.miro_team_id == identity.team_id)
        .with_for_update()
    )
    created = row is None or row.status == ConnectionStatus.REMOVED.value
    if row is None:
        row = new_row(app_user_id, identity.team_id, now)
        session.add(row)
    fill_row(cipher, row, identity, tokens, now)
    session.flush()
    connection = to_connection(row)
    if outbox is not None:
        kind = CONNECTION_CREATED if created else CONNECTION_RECONNECTED
        outbox.add_now(session, connection_event(kind, connection), now=now)
    return connection


class LockedRow:
    """A connection row under lock, for the vault's read-modify-write."""

    def __init__(
        self,
        cipher: TokenCipher,
        session: AsyncSession,
        row: ConnectionRow,
        outbox: Outbox | None = None,
    ) -> None:
        self._cipher = cipher
        self._session = session
        self._row = row
        self._outbox = outbox
        self._current = StoredTokens(to_connection(row), open_tokens(cipher, row))

    @property
    def current(self) -> StoredTokens:
        """The row as read under the lock."""
        return self._current

    async def save_tokens(self, tokens: TokenSet, *, now: datetime) -> None:
        """Replace the token pair (committed when the lock is released)."""
        _write_tokens(self._cipher, self._row, tokens, now)
        await self._session.flush()

    async def set_status(
        self, status: ConnectionStatus, reason: str | None, *, now: datetime
    ) -> None:
        """Change the status; `removed` deletes the tokens. A change writes its event
        (`connection.needs_reauth`, `.revoked`, `.reconnected`)."""
        row = self._row
        changed = row.status != status.value
        row.status = status.value
        row.status_reason = reason
        row.updated_at = now
        if status is ConnectionStatus.REMOVED:
            row.access_token_ciphertext = None
            row.refresh_token_ciphertext = None
            row.key_id = None
            row.access_expires_at = None
            row.refresh_issued_at = None
            row.token_version += 1
        await self._session.flush()
        if self._outbox is not None and changed:
            event = connection_event(_STATUS_EVENTS[status], to_connection(row))
            await self._outbox.add(self._session, event, now=now)
