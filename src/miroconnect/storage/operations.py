"""The operations table as a small repository: claim, advance, adopt, finish.

Every action run is a row keyed by (app user, idempotency key), committed before any
request leaves. Only the worker holding the row's lease advances it; a lease that runs out
(a crashed worker) may be taken over, and the new owner reconciles before sending again.

A board made by an action is recorded on its operation (`created_board_id`, and the result
with its name and link), so finishing the operation records the board in the same
statement, and a user's boards are the done operations that made one
(`miroconnect.storage.boards`). With an
`Outbox` (webhooks configured), `finish` writes the `board.created` event atomically too.

The statements of the common path (insert a new operation, advance it, finish it) are
built once per store and run through `Database.run`: one statement each, atomic by itself.
Taking over a row whose key already exists reads and locks it in a transaction (rare: a
repeat or a crash).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from miroconnect.errors import ActionError, IdempotencyKeyReusedError, LeaseLostError
from miroconnect.oauth.tokens import ConnectionStatus, ReadGuard, StaleReadError
from miroconnect.storage.db import Database
from miroconnect.storage.direct import Prepared
from miroconnect.storage.models import ConnectionRow, OperationRow
from miroconnect.storage.outbox import NewEvent, Outbox
from miroconnect.types import Clock, system_clock

__all__ = [
    "BOARD_KINDS",
    "Claim",
    "LeaseLostError",
    "NewOperation",
    "Operation",
    "OperationStore",
]

T = cast(Table, OperationRow.__table__)
K = cast(Table, ConnectionRow.__table__)
BOARD_KINDS = ("create_board", "copy_board")  # the kinds whose result is a new board
# The columns a claim inserts (`OperationStore.claim`'s values).
_CLAIMED = (
    "id",
    "app_user_id",
    "idempotency_key",
    "kind",
    "params",
    "connection_id",
    "miro_user_id",
    "miro_team_id",
    "state",
    "attempts",
    "lease_owner",
    "lease_until",
    "started_at",
    "updated_at",
)


def _read_holds(whole_user: bool) -> ColumnElement[bool]:
    """SQL that is true while a remembered connection read still holds (`ReadGuard`):
    the connection live with the same tokens and, for a read of all the user's teams,
    still the user's only live one. Parameters: `guard_params`.

    The status is written into the SQL, not bound: SQLite plans a statement again each
    time a parameter compared with a column of a partial index is bound
    (`ix_connections_due` has `status = 'connected'`), which made this INSERT cost
    three times the plain one."""
    live: ColumnElement[str] = literal_column(
        f"'{ConnectionStatus.CONNECTED.value}'", type_=String()
    )
    chosen = exists().where(
        K.c.id == bindparam("guard_connection", type_=String()),
        K.c.token_version == bindparam("guard_version", type_=Integer()),
        K.c.status == live,
    )
    if not whole_user:
        return chosen
    lives = (
        select(func.count())
        .select_from(K)
        .where(K.c.app_user_id == bindparam("guard_user", type_=String()))
        .where(K.c.status == live)
        .scalar_subquery()
    )
    return and_(chosen, lives == 1)


def guard_params(guard: ReadGuard) -> dict[str, Any]:
    """The parameters of `_read_holds(guard.whole_user)`."""
    params: dict[str, Any] = {
        "guard_connection": guard.connection_id,
        "guard_version": guard.token_version,
    }
    if guard.whole_user:
        params["guard_user"] = guard.app_user_id
    return params


def _canonical(params: Mapping[str, Any]) -> str:
    """Parameters as the database returns them (JSON: tuples come back as lists)."""
    return json.dumps(params, sort_keys=True, default=str)


@dataclass(frozen=True)
class NewOperation:
    """What a claim inserts, or finds by (`app_user_id`, `idempotency_key`): the request
    (its kind and parameters) and the connection it runs on."""

    app_user_id: str
    idempotency_key: str
    kind: str
    params: Mapping[str, Any]
    connection_id: str
    miro_user_id: str
    miro_team_id: str
    guard: ReadGuard | None = None
    """The connection was read from memory: insert only while that read holds."""


@dataclass(frozen=True)
class Operation:
    """A snapshot of one operation row."""

    id: str
    app_user_id: str
    idempotency_key: str
    kind: str
    params: Mapping[str, Any]
    state: str
    attempts: int
    created_board_id: str | None
    result: Mapping[str, Any] | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def of(cls, row: OperationRow) -> Operation:
        return cls(
            id=row.id,
            app_user_id=row.app_user_id,
            idempotency_key=row.idempotency_key,
            kind=row.kind,
            params=dict(row.params),
            state=row.state,
            attempts=row.attempts,
            created_board_id=row.created_board_id,
            result=dict(row.result) if row.result is not None else None,
            error=row.error,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


@dataclass(frozen=True)
class Claim:
    """What `OperationStore.claim` found: the operation, whether we now run it, and
    whether this claim inserted it (nothing was ever sent for it)."""

    operation: Operation
    owned: bool
    created: bool = False


class _Statements:
    """The common path's statements, built once (no per-call construction or cache key)."""

    def __init__(self, db: Database) -> None:
        now = bindparam("now", type_=T.c.updated_at.type)
        mine = and_(T.c.id == bindparam("op_id"), T.c.lease_owner == bindparam("owner"))

        def advance(**values: Any) -> Prepared[Any]:
            return db.prepare(
                update(T).where(mine).values(updated_at=now, **values).returning(T.c.id)
            )

        dialect_insert: Any = (
            postgresql.insert
            if db.is_postgresql
            else sqlite.insert
            if db.is_sqlite
            else None
        )
        # A new key in one statement; `None` back if the key exists. (Other dialects
        # would take the read-and-lock path every time.)
        self.insert = (
            db.prepare(
                dialect_insert(T)
                .on_conflict_do_nothing(
                    index_elements=["app_user_id", "idempotency_key"]
                )
                .returning(T.c.id)
            )
            if dialect_insert is not None
            else None
        )
        # The same for an action whose connection was read from memory (`ReadGuard`):
        # inserted only while that read holds, checked in the same statement. Its
        # values are bound as `new_<column>` (the column names are SQLAlchemy's own).
        new_values = select(
            *(bindparam(f"new_{name}", type_=T.c[name].type) for name in _CLAIMED)
        )
        self.insert_if_read_holds = (
            {
                whole_user: db.prepare(
                    dialect_insert(T)
                    .from_select(_CLAIMED, new_values.where(_read_holds(whole_user)))
                    .on_conflict_do_nothing(
                        index_elements=["app_user_id", "idempotency_key"]
                    )
                    .returning(T.c.id)
                )
                for whole_user in (False, True)
            }
            if dialect_insert is not None
            else None
        )
        self.mark_sent = advance(
            state="sent",
            attempts=T.c.attempts + 1,
            lease_until=bindparam("until", type_=T.c.lease_until.type),
        )
        self.adopt = advance(created_board_id=bindparam("board", type_=String()))
        # The end of a run and, for a new board, its record: one statement.
        self.finish = advance(
            state="done",
            result=bindparam("outcome", type_=JSON()),
            created_board_id=func.coalesce(
                bindparam("board", type_=String()), T.c.created_board_id
            ),
            finished_at=now,
            lease_owner=None,
            lease_until=None,
        )
        self.fail = advance(
            state="failed",
            error=bindparam("error_text", type_=T.c.error.type),
            finished_at=now,
            lease_owner=None,
            lease_until=None,
        )
        self.release = advance(lease_owner=None, lease_until=None)


class OperationStore:
    """Reads and writes `operations` rows; each method is one statement or one short
    transaction."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = system_clock,
        lease: timedelta = timedelta(minutes=2),
        outbox: Outbox | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._lease = lease
        self._sql = _Statements(db)
        self._outbox = outbox
        self._finish_event = (
            outbox.prepare(self._sql.finish.statement) if outbox else None
        )

    @property
    def records_events(self) -> bool:
        """Whether `finish` writes the events it is given (webhooks are configured)."""
        return self._outbox is not None

    async def claim(
        self, new: NewOperation, *, owner: str, sending: bool = False
    ) -> Claim:
        """Insert the operation, or find it; take its lease if it is free (new, or its
        worker's lease ran out).

        `sending=True`: the caller sends its first request right after a new claim, so a
        new row is inserted already `sent` (attempt 1) and needs no `mark_sent` before
        that request. A worker that resumes such a row reconciles first, as after any
        `sent`; that is the price of a crash between the claim and the request.
        """
        now = self._clock()
        values: dict[str, Any] = {
            "id": _ordered_id(),
            "app_user_id": new.app_user_id,
            "idempotency_key": new.idempotency_key,
            "kind": new.kind,
            "params": dict(new.params),
            "connection_id": new.connection_id,
            "miro_user_id": new.miro_user_id,
            "miro_team_id": new.miro_team_id,
            "state": "sent" if sending else "pending",
            "attempts": 1 if sending else 0,
            "lease_owner": owner,
            "lease_until": now + self._lease,
            "started_at": now,
            "updated_at": now,
        }
        if await self._insert(values, new.guard):
            return Claim(_new_operation(values), owned=True, created=True)
        while True:
            try:
                return await self._take(values, new.guard)
            except IntegrityError:
                # Another worker inserted the same key between our read and our insert
                # (PostgreSQL; SQLite's immediate transaction cannot interleave): read it.
                continue

    async def _insert(self, values: Mapping[str, Any], guard: ReadGuard | None) -> bool:
        """A new key in one statement (with `guard`: only while the read holds); False
        if nothing was inserted (the key exists, the read no longer holds, or the
        dialect has no such statement)."""
        if guard is None:
            if self._sql.insert is None:
                return False
            return bool(await self._db.run(self._sql.insert, values))
        if self._sql.insert_if_read_holds is None:
            return False
        params = {f"new_{name}": value for name, value in values.items()}
        statement = self._sql.insert_if_read_holds[guard.whole_user]
        return bool(await self._db.run(statement, params | guard_params(guard)))

    async def _take(
        self, values: Mapping[str, Any], guard: ReadGuard | None = None
    ) -> Claim:
        """The key exists (or the dialect has no one-statement insert, or `guard`'s
        read no longer holds): read and lock its row, and take its lease if it is free.
        `StaleReadError` (nothing written) when `guard`'s read no longer holds."""
        now = self._clock()
        async with self._db.write_session() as session, session.begin():
            if guard is not None:
                holds = select(_read_holds(guard.whole_user))
                if not await session.scalar(holds, guard_params(guard)):
                    raise StaleReadError(
                        "the connection changed since it was read: read it again"
                    )
            row = await session.scalar(
                select(OperationRow)
                .where(
                    OperationRow.app_user_id == values["app_user_id"],
                    OperationRow.idempotency_key == values["idempotency_key"],
                )
                .with_for_update()
            )
            if row is None:
                row = OperationRow(**values)
                session.add(row)
                await session.flush()
                return Claim(Operation.of(row), owned=True, created=True)
            if row.kind != values["kind"]:
                raise IdempotencyKeyReusedError(
                    f"idempotency key already used for a {row.kind!r} action"
                )
            if _canonical(row.params) != _canonical(values["params"]):
                raise IdempotencyKeyReusedError(
                    "idempotency key already used with other parameters"
                )
            if row.state in ("done", "failed"):
                if (row.connection_id, row.miro_user_id) != (
                    values["connection_id"],
                    values["miro_user_id"],
                ):
                    # Its answer is another Miro account's (the user disconnected and
                    # connected again, maybe as someone else): never replayed.
                    raise IdempotencyKeyReusedError(
                        "idempotency key already used with an earlier Miro connection "
                        "of this user: send a new key"
                    )
                return Claim(Operation.of(row), owned=False)
            if row.lease_until is None or row.lease_until <= now:
                row.lease_owner = values["lease_owner"]
                row.lease_until = now + self._lease
                row.updated_at = now
                return Claim(Operation.of(row), owned=True)
            return Claim(Operation.of(row), owned=False)

    async def _advance(
        self, statement: Prepared[Any], op_id: str, owner: str, **params: Any
    ) -> None:
        rows = await self._db.run(
            statement, {"op_id": op_id, "owner": owner, "now": self._clock(), **params}
        )
        if not rows:
            raise LeaseLostError("another worker took this operation over")

    async def mark_sent(self, op_id: str, owner: str) -> None:
        """Commit `sent` (and renew the lease) before a request that may change Miro."""
        until = self._clock() + self._lease
        await self._advance(self._sql.mark_sent, op_id, owner, until=until)

    async def adopt_board(self, op_id: str, owner: str, board_id: str) -> bool:
        """Record the board this operation made; False if another operation has it."""
        try:
            await self._advance(self._sql.adopt, op_id, owner, board=board_id)
        except IntegrityError:
            return False
        return True

    async def finish(
        self,
        op_id: str,
        owner: str,
        result: Mapping[str, Any],
        *,
        board_id: str | None = None,
        event: NewEvent | None = None,
    ) -> datetime:
        """Done with `result`; with `board_id`, the board it made is recorded in the same
        statement (`ActionError` if another operation has it); with `event` (and an
        outbox), that event is written atomically with it. When it finished."""
        now = self._clock()
        params = {
            "op_id": op_id,
            "owner": owner,
            "now": now,
            "outcome": dict(result),
            "board": board_id,
        }
        try:
            if event is not None and self._outbox and self._finish_event:
                rows = await self._outbox.run(
                    self._finish_event, params, event, now=now
                )
            else:
                rows = await self._db.run(self._sql.finish, params)
        except IntegrityError:
            raise ActionError(
                f"board {board_id} is already recorded by another operation"
            ) from None
        if not rows:
            raise LeaseLostError("another worker took this operation over")
        return now

    async def fail(self, op_id: str, owner: str, error: str) -> None:
        await self._advance(self._sql.fail, op_id, owner, error_text=error)

    async def release(self, op_id: str, owner: str) -> None:
        """Give the lease back without an outcome: the next run with the key resumes it."""
        await self._advance(self._sql.release, op_id, owner)

    async def get(self, app_user_id: str, idempotency_key: str) -> Operation | None:
        async with self._db.session() as session:
            row = await session.scalar(
                select(OperationRow).where(
                    OperationRow.app_user_id == app_user_id,
                    OperationRow.idempotency_key == idempotency_key,
                )
            )
            return Operation.of(row) if row is not None else None

    async def all(self) -> list[Operation]:
        """Every operation (for tests and maintenance)."""
        async with self._db.session() as session:
            rows = await session.scalars(select(OperationRow))
            return [Operation.of(row) for row in rows]


def _ordered_id() -> str:
    """32 hex digits that sort in creation order (nanoseconds, then 64 random bits), like
    a UUIDv7: boards that finish in the same instant still list in the order made."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def _new_operation(values: Mapping[str, Any]) -> Operation:
    return Operation(
        id=values["id"],
        app_user_id=values["app_user_id"],
        idempotency_key=values["idempotency_key"],
        kind=values["kind"],
        params=dict(values["params"]),
        state=values["state"],
        attempts=values["attempts"],
        created_board_id=None,
        result=None,
        error=None,
        started_at=values["started_at"],
    )
