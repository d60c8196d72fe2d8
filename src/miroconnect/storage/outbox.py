"""The webhook outbox: events for the host app, written in the transaction of the change
they report, and the queue the delivery workers take them from.

An event exists exactly when its change was committed: never for a change rolled back,
never missing for one that was kept. `Outbox` writes them three ways, each atomic with the
change:

* `add`: inside a transaction a store already holds (a connection stored, its status
  changed under its row lock);
* `prepare` + `run`, for a change that is one statement (finishing an operation, inserting
  a first connection): on PostgreSQL still one statement, a data-modifying CTE
  (`WITH change AS (UPDATE ... RETURNING ...), event AS (INSERT INTO webhook_outbox
  SELECT ... FROM change) SELECT ... FROM change`); elsewhere the change and the INSERT in
  one transaction (`Database.run_in_transaction`). The event is written only if the
  change matched a row.

Stores get an `Outbox` only when a webhook URL is configured; without one they write no
event and run exactly the statements they ran before.

An event's body is `{"type", "timestamp", "data"}` as Standard Webhooks suggests, `data`
naming the app user, the connection, the Miro user and team (and the board): ids, never a
token. `WebhookQueue` is the delivery side: claim due events (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so workers never take the same one), record each outcome, list, retry, prune.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    Executable,
    Row,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection as SQLConnection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from miroconnect.oauth.pending import ActionContext
from miroconnect.oauth.tokens import Connection
from miroconnect.storage.db import Database
from miroconnect.storage.direct import ResultRow
from miroconnect.storage.models import WebhookEventRow
from miroconnect.storage.types import UTCDateTime

__all__ = [
    "BOARD_CREATED",
    "CONNECTION_CREATED",
    "CONNECTION_NEEDS_REAUTH",
    "CONNECTION_RECONNECTED",
    "CONNECTION_REVOKED",
    "EVENT_STATUSES",
    "EVENT_TYPES",
    "EventStatus",
    "NewEvent",
    "Outbox",
    "OutboxEvent",
    "WebhookQueue",
    "board_event",
    "connection_event",
    "new_event_id",
]

CONNECTION_CREATED = "connection.created"
CONNECTION_RECONNECTED = "connection.reconnected"
CONNECTION_NEEDS_REAUTH = "connection.needs_reauth"
CONNECTION_REVOKED = "connection.revoked"
BOARD_CREATED = "board.created"
EVENT_TYPES = (
    CONNECTION_CREATED,
    CONNECTION_RECONNECTED,
    CONNECTION_NEEDS_REAUTH,
    CONNECTION_REVOKED,
    BOARD_CREATED,
)


class EventStatus(StrEnum):
    """Where an event is: `pending` (due at `next_attempt_at`), `sending` (claimed by a
    worker until then), `delivered`, `dead` (its retries spent)."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"


EVENT_STATUSES = tuple(status.value for status in EventStatus)

T = cast(Table, WebhookEventRow.__table__)


@dataclass(frozen=True)
class NewEvent:
    """An event to write: its type and its `data` (JSON values, never a secret)."""

    type: str
    data: Mapping[str, Any]


def connection_event(event_type: str, connection: Connection) -> NewEvent:
    """A `connection.*` event about `connection` as it is after the change."""
    return NewEvent(
        event_type,
        {
            "app_user_id": connection.app_user_id,
            "connection_id": connection.id,
            "miro_user_id": connection.miro_user_id,
            "miro_team_id": connection.miro_team_id,
            "status": connection.status.value,
            "reason": connection.status_reason,
        },
    )


def board_event(context: ActionContext, board: Mapping[str, Any]) -> NewEvent:
    """`board.created` for a board an operation made; `board` is the action's result
    (`board_id`, `name`, `view_link` as Miro answered it)."""
    return NewEvent(
        BOARD_CREATED,
        {
            "app_user_id": context.app_user_id,
            "connection_id": context.connection_id,
            "miro_user_id": context.miro_user_id,
            "miro_team_id": context.miro_team_id,
            "board": {
                "id": board.get("board_id"),
                "name": board.get("name"),
                "view_link": board.get("view_link"),
            },
        },
    )


def new_event_id() -> str:
    """`msg_` and 32 hex digits that sort in creation order (nanoseconds, then 64 random
    bits): unique, and the `webhook-id` receivers deduplicate on."""
    return f"msg_{time.time_ns():016x}{secrets.token_hex(8)}"


def _body(event: NewEvent, now: datetime) -> str:
    stamp = now.astimezone(UTC).isoformat(timespec="milliseconds")
    return json.dumps(
        {
            "type": event.type,
            "timestamp": stamp.replace("+00:00", "Z"),
            "data": event.data,
        },
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class _Prepared:
    """A one-statement change and, on PostgreSQL, that change with the event's INSERT."""

    change: Executable
    combined: Executable | None


class Outbox:
    """Writes events atomically with their changes (see the module doc).

    `new_id` makes event ids (tests give a fixed one to make the INSERT fail).
    `subscribe(wake)` registers a callable told when an event may have been written: a
    delivery worker in this process then looks at once instead of at its next poll.
    """

    def __init__(
        self, db: Database, *, new_id: Callable[[], str] = new_event_id
    ) -> None:
        self._db = db
        self._new_id = new_id
        self._listeners: list[Callable[[], None]] = []
        at = bindparam("event_at", type_=UTCDateTime())
        self._columns = (
            "id",
            "type",
            "payload",
            "status",
            "attempts",
            "created_at",
            "next_attempt_at",
        )
        self._values = (
            bindparam("event_id", type_=String()),
            bindparam("event_type", type_=String()),
            bindparam("event_payload", type_=Text()),
            literal("pending", String()),
            literal(0),
            at,
            at,
        )
        self._insert = insert(T).values(
            dict(zip(self._columns, self._values, strict=True))
        )

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` (no arguments, returns at once) whenever an event may have
        been written."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def _params(self, event: NewEvent, now: datetime) -> dict[str, Any]:
        return {
            "event_id": self._new_id(),
            "event_type": event.type,
            "event_payload": _body(event, now),
            "event_at": now,
        }

    async def add(
        self, session: AsyncSession, event: NewEvent, *, now: datetime
    ) -> None:
        """Write `event` in `session`'s transaction (committed or rolled back with it)."""
        await session.execute(self._insert, self._params(event, now))
        self._notify()

    def add_now(
        self, session: Session | SQLConnection, event: NewEvent, *, now: datetime
    ) -> None:
        """`add` in a synchronous session or connection (`Database.run_in_transaction`'s
        work, maybe on another thread): the listeners are not told; call `written`
        afterwards, on the event loop."""
        session.execute(self._insert, self._params(event, now))

    def written(self) -> None:
        """Tell the listeners an event may have been written (after `add_now`)."""
        self._notify()

    def prepare(self, change: Any) -> _Prepared:
        """Build, once, what `run` needs for `change`: one statement that returns a row
        when it changed one (`UPDATE/INSERT ... RETURNING`), named by no `event_*` bind
        parameter."""
        if not self._db.is_postgresql:
            return _Prepared(change, None)
        done = change.cte("change")
        written = insert(T).from_select(
            list(self._columns), select(*self._values).select_from(done)
        )
        combined = select(*done.c).add_cte(written.cte("event"))
        return _Prepared(change, combined)

    async def run(
        self,
        prepared: _Prepared,
        params: Mapping[str, Any],
        event: NewEvent,
        *,
        now: datetime,
    ) -> Sequence[ResultRow]:
        """Run the change with `params`; if it returned rows, write `event` with it,
        atomically. Returns the change's rows."""
        values = self._params(event, now)
        rows: Sequence[ResultRow]
        if prepared.combined is not None:
            rows = await self._db.run(prepared.combined, {**params, **values})
        else:
            change, insert_event = prepared.change, self._insert

            def work(connection: SQLConnection) -> Sequence[Row[Any]]:
                result = connection.execute(change, params)
                found = result.all() if result.returns_rows else []
                if found:
                    connection.execute(insert_event, values)
                return found

            rows = await self._db.run_in_transaction(work)
        if rows:
            self._notify()
        return rows


@dataclass(frozen=True)
class OutboxEvent:
    """One stored event, as the queue and `miroconnect webhooks list` see it."""

    id: str
    type: str
    payload: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None = None
    last_error: str | None = None

    @classmethod
    def of(cls, row: Any) -> OutboxEvent:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


class WebhookQueue:
    """The delivery side of the outbox: each method is one statement."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Repeats the partial index's predicate literally, so PostgreSQL's generic plan of
        # the prepared statement can use `ix_webhook_outbox_due`.
        due = (
            select(T.c.id)
            .where(text("status IN ('pending', 'sending')"))
            .where(T.c.next_attempt_at <= bindparam("now", type_=UTCDateTime()))
            .order_by(T.c.next_attempt_at)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)  # nothing on SQLite: one writer anyway
        )
        self._claim = (
            update(T)
            .where(T.c.id.in_(due.scalar_subquery()))
            .values(
                status="sending",
                attempts=T.c.attempts + 1,
                next_attempt_at=bindparam("lease_until", type_=UTCDateTime()),
            )
            .returning(*T.c)
        )
        # An outcome counts only for the claim that sent it: if its lease ran out and
        # another worker claimed the event again, `attempts` moved on.
        mine = and_(
            T.c.id == bindparam("event_id"),
            T.c.status == "sending",
            T.c.attempts == bindparam("attempt"),
        )
        self._delivered = (
            update(T)
            .where(mine)
            .values(
                status="delivered",
                delivered_at=bindparam("now", type_=UTCDateTime()),
                last_error=None,
            )
            .returning(T.c.id)
        )
        self._failed = (
            update(T)
            .where(mine)
            .values(
                status=bindparam("status", type_=String()),
                next_attempt_at=bindparam("retry_at", type_=UTCDateTime()),
                last_error=bindparam("error", type_=String()),
            )
            .returning(T.c.id)
        )

    async def claim(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxEvent]:
        """Take up to `limit` due events, soonest first, until `lease_until` (then
        another worker may take them again: at least once). Skips events another worker
        is claiming (PostgreSQL); counts an attempt on each."""
        params = {"now": now, "lease_until": lease_until, "limit": limit}
        rows = await self._db.run(self._claim, params)
        return sorted((OutboxEvent.of(row) for row in rows), key=lambda e: e.id)

    async def delivered(self, event: OutboxEvent, *, now: datetime) -> bool:
        """The receiver took it (2xx). False if the claim was no longer ours."""
        params = {"event_id": event.id, "attempt": event.attempts, "now": now}
        return await self._outcome(self._delivered, params)

    async def failed(
        self,
        event: OutboxEvent,
        error: str,
        *,
        retry_at: datetime | None,
        now: datetime,
    ) -> bool:
        """The attempt failed: due again at `retry_at`, or dead when it is `None`."""
        params = {
            "event_id": event.id,
            "attempt": event.attempts,
            "status": "pending" if retry_at is not None else "dead",
            "retry_at": retry_at or now,
            "error": error[:200],
        }
        return await self._outcome(self._failed, params)

    async def _outcome(self, statement: Any, params: Mapping[str, Any]) -> bool:
        return bool(await self._db.run(statement, params))

    async def list_events(
        self, *, status: str | None = None, limit: int = 50
    ) -> tuple[list[OutboxEvent], dict[str, int]]:
        """The newest `limit` events (of `status`), and how many there are per status."""
        statement = select(T).order_by(T.c.id.desc()).limit(limit)
        if status is not None:
            statement = statement.where(T.c.status == status)
        counts = select(T.c.status, func.count()).group_by(T.c.status)
        async with self._db.session() as session:
            rows = (await session.execute(statement)).all()
            by_status = {
                str(s): int(n) for s, n in (await session.execute(counts)).all()
            }
        return [OutboxEvent.of(row) for row in rows], by_status

    async def retry(self, event_id: str, *, now: datetime) -> str:
        """Send a pending or dead event again now, with a new retry schedule. Returns
        `queued`, or why not: `unknown`, `delivered`, `sending` (a worker has it)."""
        statement = (
            update(T)
            .where(T.c.id == event_id, T.c.status.in_(["pending", "dead"]))
            .values(status="pending", attempts=0, next_attempt_at=now)
            .returning(T.c.id)
        )
        if await self._db.run(statement):
            return "queued"
        rows = await self._db.run(select(T.c.status).where(T.c.id == event_id))
        return "unknown" if not rows else str(rows[0].status)

    async def delete_delivered(self, *, before: datetime) -> int:
        """Delete events delivered before `before` (`miroconnect maintain`)."""
        statement = delete(T).where(
            T.c.status == "delivered", T.c.delivered_at < before
        )
        async with self._db.single_session() as session, session.begin():
            result: Any = await session.execute(statement)
            return int(result.rowcount or 0)
