"""The operations table as a small repository: claim, advance, adopt, finish.

Every action run is a row keyed by (app user, idempotency key), committed before any
request leaves. Only the worker holding the row's lease advances it; a lease that runs out
(a crashed worker) may be taken over, and the new owner reconciles before sending again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from miroconnect.errors import IdempotencyKeyReusedError, LeaseLostError
from miroconnect.storage.db import Database
from miroconnect.storage.models import OperationRow
from miroconnect.types import Clock, system_clock

__all__ = ["Claim", "LeaseLostError", "Operation", "OperationStore"]


def _canonical(params: Mapping[str, Any]) -> str:
    """Parameters as the database returns them (JSON: tuples come back as lists)."""
    return json.dumps(params, sort_keys=True, default=str)


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
        )


@dataclass(frozen=True)
class Claim:
    """What `OperationStore.claim` found: the operation, whether we now run it, and
    whether this claim inserted it (nothing was ever sent for it)."""

    operation: Operation
    owned: bool
    created: bool = False


class OperationStore:
    """Reads and writes `operations` rows; each method is one short transaction."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = system_clock,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self._db = db
        self._clock = clock
        self._lease = lease

    async def claim(
        self,
        *,
        app_user_id: str,
        idempotency_key: str,
        kind: str,
        params: Mapping[str, Any],
        connection_id: str,
        miro_user_id: str,
        miro_team_id: str,
        owner: str,
        sending: bool = False,
    ) -> Claim:
        """Insert the operation, or find it; take its lease if it is free (new, or its
        worker's lease ran out).

        `sending=True`: the caller sends its first request right after a new claim, so a
        new row is inserted already `sent` (attempt 1) and needs no `mark_sent` before
        that request. A worker that resumes such a row reconciles first, as after any
        `sent`; that is the price of a crash between the claim and the request.
        """
        created = await self._insert(
            app_user_id=app_user_id,
            idempotency_key=idempotency_key,
            kind=kind,
            params=params,
            connection_id=connection_id,
            miro_user_id=miro_user_id,
            miro_team_id=miro_team_id,
            owner=owner,
            sending=sending,
        )
        if created is not None:
            return Claim(created, owned=True, created=True)
        while True:
            now = self._clock()
            try:
                async with self._db.write_session() as session, session.begin():
                    row = await session.scalar(
                        select(OperationRow)
                        .where(
                            OperationRow.app_user_id == app_user_id,
                            OperationRow.idempotency_key == idempotency_key,
                        )
                        .with_for_update()
                    )
                    if row is None:
                        row = OperationRow(
                            id=uuid4().hex,
                            app_user_id=app_user_id,
                            idempotency_key=idempotency_key,
                            kind=kind,
                            params=dict(params),
                            connection_id=connection_id,
                            miro_user_id=miro_user_id,
                            miro_team_id=miro_team_id,
                            state="pending",
                            attempts=0,
                            lease_owner=owner,
                            lease_until=now + self._lease,
                            started_at=now,
                            updated_at=now,
                        )
                        session.add(row)
                        await session.flush()
                        return Claim(Operation.of(row), owned=True)
                    if row.kind != kind:
                        raise IdempotencyKeyReusedError(
                            f"idempotency key already used for a {row.kind!r} action"
                        )
                    if _canonical(row.params) != _canonical(params):
                        raise IdempotencyKeyReusedError(
                            "idempotency key already used with other parameters"
                        )
                    if row.state in ("done", "failed"):
                        return Claim(Operation.of(row), owned=False)
                    if row.lease_until is None or row.lease_until <= now:
                        row.lease_owner = owner
                        row.lease_until = now + self._lease
                        row.updated_at = now
                        return Claim(Operation.of(row), owned=True)
                    return Claim(Operation.of(row), owned=False)
            except IntegrityError:
                # Another worker inserted the same key between our read and our insert
                # (PostgreSQL; SQLite's immediate transaction cannot interleave): read it.
                continue

    async def _insert(
        self,
        *,
        app_user_id: str,
        idempotency_key: str,
        kind: str,
        params: Mapping[str, Any],
        connection_id: str,
        miro_user_id: str,
        miro_team_id: str,
        owner: str,
        sending: bool,
    ) -> Operation | None:
        """The common case, a new key, in one statement: `INSERT ... ON CONFLICT DO
        NOTHING RETURNING` (one round trip on PostgreSQL, where the usual read-lock-insert
        transaction took four). `None` if the key exists (or the dialect has no such
        insert): `claim` then reads and locks the row."""
        now = self._clock()
        values: dict[str, Any] = {
            "id": uuid4().hex,
            "app_user_id": app_user_id,
            "idempotency_key": idempotency_key,
            "kind": kind,
            "params": dict(params),
            "connection_id": connection_id,
            "miro_user_id": miro_user_id,
            "miro_team_id": miro_team_id,
            "state": "sent" if sending else "pending",
            "attempts": 1 if sending else 0,
            "lease_owner": owner,
            "lease_until": now + self._lease,
            "started_at": now,
            "updated_at": now,
        }
        dialect = self._db.engine.dialect.name
        if dialect == "postgresql":
            statement: Any = postgresql.insert(OperationRow)
        elif dialect == "sqlite":
            statement = sqlite.insert(OperationRow)
        else:  # pragma: no cover (only the two supported databases)
            return None
        statement = (
            statement.values(**values)
            .on_conflict_do_nothing(index_elements=["app_user_id", "idempotency_key"])
            .returning(OperationRow.id)
        )
        async with self._db.single_session() as session, session.begin():
            inserted = (await session.execute(statement)).first()
        if inserted is None:
            return None
        return Operation(
            id=values["id"],
            app_user_id=app_user_id,
            idempotency_key=idempotency_key,
            kind=kind,
            params=dict(params),
            state=values["state"],
            attempts=values["attempts"],
            created_board_id=None,
            result=None,
            error=None,
            started_at=now,
        )

    async def _update(self, op_id: str, owner: str, **values: Any) -> None:
        now = self._clock()
        values.setdefault("updated_at", now)
        # One UPDATE: atomic by itself (autocommit on PostgreSQL, one round trip).
        async with self._db.single_session() as session, session.begin():
            result = await session.execute(
                update(OperationRow)
                .where(OperationRow.id == op_id, OperationRow.lease_owner == owner)
                .values(**values)
            )
            if getattr(result, "rowcount", 1) != 1:
                raise LeaseLostError("another worker took this operation over")

    async def mark_sent(self, op_id: str, owner: str) -> None:
        """Commit `sent` (and renew the lease) before a request that may change Miro."""
        await self._update(
            op_id,
            owner,
            state="sent",
            attempts=OperationRow.attempts + 1,
            lease_until=self._clock() + self._lease,
        )

    async def adopt_board(self, op_id: str, owner: str, board_id: str) -> bool:
        """Record the board this operation made; False if another operation has it."""
        try:
            await self._update(op_id, owner, created_board_id=board_id)
        except IntegrityError:
            return False
        return True

    async def finish(self, op_id: str, owner: str, result: Mapping[str, Any]) -> None:
        await self._update(
            op_id,
            owner,
            state="done",
            result=dict(result),
            lease_owner=None,
            lease_until=None,
        )

    async def fail(self, op_id: str, owner: str, error: str) -> None:
        await self._update(
            op_id,
            owner,
            state="failed",
            error=error,
            lease_owner=None,
            lease_until=None,
        )

    async def release(self, op_id: str, owner: str) -> None:
        """Give the lease back without an outcome: the next run with the key resumes it."""
        await self._update(op_id, owner, lease_owner=None, lease_until=None)

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
