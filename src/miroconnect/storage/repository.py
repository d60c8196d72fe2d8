"""`SQLStore`: the flow's and the vault's persistence on SQLAlchemy 2 async.

Tokens are encrypted here, on the way in and out of the `connections` table
(`miroconnect.storage.sealing`): the associated data names the row, its owner and the
field, so a ciphertext moved elsewhere, or a row re-pointed to another user, fails to open.
Every read-then-write runs in a `Database.write_session()` with the row locked
(`SELECT ... FOR UPDATE` on PostgreSQL; the IMMEDIATE transaction on SQLite). With an
`Outbox` (webhooks configured), every change of a connection writes its event in the same
transaction (`miroconnect.storage.outbox`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from miroconnect.crypto import TokenCipher
from miroconnect.errors import NotConnectedError
from miroconnect.oauth.store import (
    LaunchResult,
    NewPendingAuthorization,
    PendingAuthorization,
)
from miroconnect.oauth.tokens import (
    Connection,
    ConnectionStatus,
    MiroIdentity,
    ReadGuard,
    StoredTokens,
    TokenSet,
)
from miroconnect.storage.connection_rows import (
    LockedRow,
    action_columns,
    fill_row,
    new_row,
    to_connection,
    to_pending,
    upsert_connection_now,
)
from miroconnect.storage.db import Database
from miroconnect.storage.direct import ResultRow
from miroconnect.storage.flow_statements import FlowStatements, row_values
from miroconnect.storage.models import ConnectionRow, PendingAuthorizationRow
from miroconnect.storage.outbox import CONNECTION_CREATED, Outbox, connection_event
from miroconnect.storage.sealing import open_tokens

__all__ = ["SQLStore"]

# Any constant unique to this job: pg_try_advisory_lock takes a 64-bit key.
MAINTENANCE_LOCK_KEY = 0x6D69726F636F6E6E  # "miroconn"

REUSE_FOR = 60.0
"""Seconds a remembered connection read may answer `user_tokens(..., reuse=True)`."""
REMEMBERED_USERS = 10_000
"""Users whose read a store remembers at most (the oldest reads go first)."""


@dataclass(frozen=True)
class _Remembered:
    """A user's one live connection as read: the row stays sealed (its tokens are
    opened again at each use), the guard's version with it."""

    row: ResultRow
    connection: Connection
    token_version: int
    read_at: float  # time.monotonic()


class SQLStore:
    """Implements `FlowStore` and `ConnectionStore` on a `Database`; with `outbox`, each
    change of a connection writes its webhook event. `reuse_for`: seconds a connection
    read may be remembered (`user_tokens`; 0 turns it off)."""

    def __init__(
        self,
        db: Database,
        cipher: TokenCipher,
        *,
        outbox: Outbox | None = None,
        reuse_for: float = REUSE_FOR,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.outbox = outbox
        self._sql = FlowStatements(db)
        self._reuse_for = reuse_for
        # app user -> team asked for (None: all) -> the read, for `user_tokens`.
        self._remembered: OrderedDict[str, dict[str | None, _Remembered]] = (
            OrderedDict()
        )

    # -- FlowStore ------------------------------------------------------------------------

    async def add_pending(self, pending: NewPendingAuthorization) -> None:
        """Remember a started flow (hashes only)."""
        row = PendingAuthorizationRow(
            id=pending.id,
            state_hash=pending.state_hash,
            binding_hash=pending.binding_hash,
            launch_hash=pending.launch_hash,
            app_user_id=pending.app_user_id,
            **action_columns(pending.action),
            return_url=pending.return_url,
            display=pending.display,
            created_at=pending.created_at,
            expires_at=pending.expires_at,
            launch_expires_at=pending.launch_expires_at,
        )
        await self.db.run(self._sql.add_pending, row_values(row))

    async def claim_launch(
        self,
        launch_hash: str,
        *,
        state_hash: str,
        binding_hash: str,
        expires_at: datetime,
        now: datetime,
    ) -> LaunchResult:
        """One UPDATE that only an unused, unexpired launch matches."""
        P = PendingAuthorizationRow
        # The UPDATE alone decides (atomic by itself, see `Database.run`); the read
        # after a miss only tells why, so it needs no transaction with it.
        rows = await self.db.run(
            self._sql.claim_launch,
            {
                "launch": launch_hash,
                "now": now,
                "state": state_hash,
                "binding": binding_hash,
                "until": expires_at,
            },
        )
        if rows:
            return LaunchResult(to_pending(PendingAuthorizationRow(**rows[0]._mapping)))
        async with self.db.single_session() as session:
            found = await session.scalar(select(P).where(P.launch_hash == launch_hash))
        if found is None:
            return LaunchResult(None, "unknown")
        if found.launched_at is not None or found.consumed_at is not None:
            return LaunchResult(None, "replayed")
        return LaunchResult(None, "expired")

    async def consume_pending(
        self,
        state_hash: str,
        *,
        binding_hash: str | None,
        app_user_id: str | None,
        now: datetime,
    ) -> PendingAuthorization | None:
        """One `UPDATE ... SET consumed_at ... RETURNING` that only the flow's own browser
        can win: the state unused and unexpired, the binding cookie's hash the flow's, and
        (when the host knows its signed-in user, for a flow that is not held for a
        confirm) the same app user. Anyone else's callback leaves the state untouched."""
        if binding_hash is None:
            return None
        params = {"state": state_hash, "binding": binding_hash, "now": now}
        statement = self._sql.consume
        if app_user_id is not None:
            statement = self._sql.consume_for_user
            params["user"] = app_user_id
        # One statement, atomic by itself (see `Database.run`).
        rows = await self.db.run(statement, params)
        return to_pending(PendingAuthorizationRow(**rows[0]._mapping)) if rows else None

    async def find_pending(self, state_hash: str) -> PendingAuthorization | None:
        """The flow with this state, consumed or not (tells why a callback lost)."""
        P = PendingAuthorizationRow
        async with self.db.single_session() as session:
            row = await session.scalar(select(P).where(P.state_hash == state_hash))
            return None if row is None else to_pending(row)

    async def save_connection(
        self,
        *,
        app_user_id: str,
        identity: MiroIdentity,
        tokens: TokenSet,
        now: datetime,
    ) -> Connection:
        """Upsert the (app user, team) row; a reconnect replaces the tokens."""
        try:
            for attempt in range(3):
                try:
                    inserted = await self._insert_connection(
                        app_user_id, identity, tokens, now
                    )
                    if inserted is not None:
                        return inserted
                    return await self._save_connection(
                        app_user_id, identity, tokens, now
                    )
                except IntegrityError:
                    # Two flows of one user inserted the same (user, team) at once on
                    # PostgreSQL: the loser retries and updates the winner's row.
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self.forget(app_user_id)

    async def _insert_connection(
        self,
        app_user_id: str,
        identity: MiroIdentity,
        tokens: TokenSet,
        now: datetime,
    ) -> Connection | None:
        """The common case, a first connection, in one statement: `INSERT ... ON
        CONFLICT DO NOTHING RETURNING`, no transaction held open around it (on SQLite no
        write lock across trips to the event loop; on PostgreSQL one round trip instead
        of four). `None` if the (user, team) row exists: `_save_connection` then locks
        and updates it. The ciphertexts are bound to the new row's id, as there."""
        row = new_row(app_user_id, identity.team_id, now)
        fill_row(self.cipher, row, identity, tokens, now)
        values = row_values(row)
        connection = to_connection(row)
        if self.outbox is None:
            rows = await self.db.run(self._sql.insert_connection, values)
        else:
            # With its `connection.created` event: one statement on PostgreSQL (a CTE),
            # one transaction elsewhere (`Outbox.prepare`). The values are set on the
            # INSERT itself: inside a CTE, SQLAlchemy does not bind them by column name.
            prepared = self.outbox.prepare(
                self._sql.insert_connection.statement.values(values)
            )
            event = connection_event(CONNECTION_CREATED, connection)
            rows = await self.outbox.run(prepared, {}, event, now=now)
        return connection if rows else None

    async def _save_connection(
        self,
        app_user_id: str,
        identity: MiroIdentity,
        tokens: TokenSet,
        now: datetime,
    ) -> Connection:
        cipher, outbox = self.cipher, self.outbox

        def work(session: Session) -> Connection:
            return upsert_connection_now(
                session,
                cipher,
                app_user_id=app_user_id,
                identity=identity,
                tokens=tokens,
                now=now,
                outbox=outbox,
            )

        connection = await self.db.run_in_session(work)  # one trip on SQLite
        if self.outbox is not None:
            self.outbox.written()  # committed: a woken worker finds the event
        return connection

    # -- ConnectionStore ------------------------------------------------------------------

    async def get_connection(self, connection_id: str) -> Connection | None:
        """One connection, any status."""
        async with self.db.single_session() as session:
            row = await session.get(ConnectionRow, connection_id)
            return None if row is None else to_connection(row)

    async def find_connections(
        self,
        *,
        app_user_id: str | None = None,
        team_id: str | None = None,
        status: ConnectionStatus | None = None,
    ) -> Sequence[Connection]:
        """Connections matching the filters, most recently updated first."""
        C = ConnectionRow
        statement = select(C).order_by(C.updated_at.desc(), C.id)
        if app_user_id is not None:
            statement = statement.where(C.app_user_id == app_user_id)
        if team_id is not None:
            statement = statement.where(C.miro_team_id == team_id)
        if status is not None:
            statement = statement.where(C.status == status.value)
        async with self.db.single_session() as session:
            return [to_connection(row) for row in await session.scalars(statement)]

    async def list_connections(
        self,
        *,
        app_user_id: str | None = None,
        status: ConnectionStatus | None = None,
        limit: int = 100,
    ) -> tuple[Sequence[Connection], int]:
        """Operators' view: at most `limit` connections matching the filters, most
        recently updated first, and how many match in all."""
        C = ConnectionRow
        conditions = []
        if app_user_id is not None:
            conditions.append(C.app_user_id == app_user_id)
        if status is not None:
            conditions.append(C.status == status.value)
        statement = (
            select(C)
            .where(*conditions)
            .order_by(C.updated_at.desc(), C.id)
            .limit(limit)
        )
        async with self.db.session() as session:
            total = await session.scalar(
                select(func.count()).select_from(C).where(*conditions)
            )
            rows = [to_connection(row) for row in await session.scalars(statement)]
        return rows, int(total or 0)

    async def load_tokens(self, connection_id: str) -> StoredTokens | None:
        """The connection and its decrypted tokens, without a lock."""
        async with self.db.single_session() as session:
            row = await session.get(ConnectionRow, connection_id)
            if row is None:
                return None
            return StoredTokens(to_connection(row), open_tokens(self.cipher, row))

    async def user_tokens(
        self, app_user_id: str, team_id: str | None = None, *, reuse: bool = False
    ) -> Sequence[StoredTokens]:
        """The user's connections (to `team_id`) with their decrypted tokens, most
        recently updated first: one statement through `Database.run`.

        A read that finds exactly one live connection is remembered for `reuse_for`
        seconds. `reuse=True` may answer from it, with no statement: then that
        connection alone, carrying the `ReadGuard` its first write must check.
        """
        if reuse and (recalled := self._recall(app_user_id, team_id)) is not None:
            return [recalled]
        if team_id is None:
            rows = await self.db.run(self._sql.user_rows, {"user": app_user_id})
        else:
            params = {"user": app_user_id, "team": team_id}
            rows = await self.db.run(self._sql.user_team_rows, params)
        # The rows as read (no ORM object is built): `ConnectionFields`.
        found = [
            StoredTokens(to_connection(row), open_tokens(self.cipher, row))
            for row in rows
        ]
        live = [i for i, stored in enumerate(found) if stored.connection.is_live]
        if len(live) == 1:
            self._remember(app_user_id, team_id, rows[live[0]], found[live[0]])
        else:
            self._drop(app_user_id, team_id)
        return found

    def _remember(
        self, app_user_id: str, team_id: str | None, row: ResultRow, found: StoredTokens
    ) -> None:
        """Keep the read, newest last: the oldest reads are the first to go, once they
        are too old to use or when there are too many."""
        now = time.monotonic()
        read = _Remembered(row, found.connection, row.token_version, now)
        self._remembered.setdefault(app_user_id, {})[team_id] = read
        self._remembered.move_to_end(app_user_id)
        while self._remembered:
            oldest = next(iter(self._remembered.values()))
            expired = all(now - r.read_at >= self._reuse_for for r in oldest.values())
            if not expired and len(self._remembered) <= REMEMBERED_USERS:
                break
            self._remembered.popitem(last=False)

    def _drop(self, app_user_id: str, team_id: str | None) -> None:
        reads = self._remembered.get(app_user_id)
        if reads is not None:
            reads.pop(team_id, None)
            if not reads:
                del self._remembered[app_user_id]

    def _recall(self, app_user_id: str, team_id: str | None) -> StoredTokens | None:
        read = self._remembered.get(app_user_id, {}).get(team_id)
        if read is None:
            return None
        if time.monotonic() - read.read_at >= self._reuse_for:
            self._drop(app_user_id, team_id)
            return None
        guard = ReadGuard(
            read.connection.id, read.token_version, app_user_id, team_id is None
        )
        return StoredTokens(
            read.connection, open_tokens(self.cipher, read.row), guard=guard
        )

    def forget(self, app_user_id: str) -> None:
        """Drop the user's remembered reads (this process changed a connection of
        theirs; other processes' changes are caught by the guard)."""
        self._remembered.pop(app_user_id, None)

    @asynccontextmanager
    async def lock(self, connection_id: str) -> AsyncIterator[LockedRow]:
        """Hold the row (PostgreSQL) or the write lock (SQLite); commit on normal exit."""
        owner: str | None = None
        try:
            async with self.db.write_session() as session, session.begin():
                row = await session.scalar(
                    select(ConnectionRow)
                    .where(ConnectionRow.id == connection_id)
                    .with_for_update()
                )
                if row is None:
                    raise NotConnectedError(
                        f"connection {connection_id} does not exist"
                    )
                owner = row.app_user_id
                yield LockedRow(self.cipher, session, row, self.outbox)
        finally:
            # After the commit: a read made meanwhile saw the old row; it goes too.
            if owner is not None:
                self.forget(owner)

    async def due_for_maintenance(
        self, *, refresh_issued_before: datetime, limit: int
    ) -> Sequence[str]:
        """Connected rows whose refresh token was issued before the cutoff, oldest first."""
        C = ConnectionRow
        # The status is written into the SQL, not bound: only then does the partial index
        # `ix_connections_due` match under PostgreSQL's generic plan of a prepared statement.
        connected = literal(ConnectionStatus.CONNECTED.value, literal_execute=True)
        statement = (
            select(C.id)
            .where(
                C.status == connected,
                C.refresh_token_ciphertext.is_not(None),
                C.refresh_issued_at < refresh_issued_before,
            )
            .order_by(C.refresh_issued_at)
            .limit(limit)
        )
        async with self.db.session() as session:
            return list(await session.scalars(statement))

    @asynccontextmanager
    async def maintenance_lock(self) -> AsyncIterator[bool]:
        """`pg_try_advisory_lock` on PostgreSQL, held on its own connection for the run.

        SQLite has no such lock; running the job twice there is still safe, because every
        refresh is single-flight under the write lock and re-checks whether it is due.
        """
        if not self.db.is_postgresql:
            yield True
            return
        async with self.db.engine.connect() as connection:
            acquired = bool(
                await connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"),
                    {"key": MAINTENANCE_LOCK_KEY},
                )
            )
            await connection.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"),
                        {"key": MAINTENANCE_LOCK_KEY},
                    )
                    await connection.commit()

    async def delete_stale_pending(self, *, before: datetime) -> int:
        """Delete flows whose state expired before `before`."""
        P = PendingAuthorizationRow
        async with self.db.session() as session, session.begin():
            result: Any = await session.execute(delete(P).where(P.expires_at < before))
            return int(result.rowcount or 0)
