"""The connect flow's one-statement writes and the hot path's connection read, built once.

`SQLStore` (flows and connections) and `SQLConsentStore` (held consents) run these through
`Database.run`: each is atomic by itself, so none needs a transaction around it, and none
is rebuilt or recompiled per call. A row's values come from its ORM object (`row_values`),
so what a row holds is still decided in one place (the models and `connection_rows`).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from miroconnect.storage.base import Base
from miroconnect.storage.db import Database
from miroconnect.storage.models import (
    ConnectionRow,
    PendingAuthorizationRow,
    PendingConsentRow,
)

__all__ = ["FlowStatements", "row_values"]

C = cast(Table, ConnectionRow.__table__)
P = cast(Table, PendingAuthorizationRow.__table__)
H = cast(Table, PendingConsentRow.__table__)


def row_values(row: Base) -> dict[str, Any]:
    """The column values set on a new ORM object, for a Core INSERT (unset columns are
    left out, so their defaults apply)."""
    table = cast(Table, type(row).__table__)
    values = {column.key: getattr(row, column.key) for column in table.columns}
    return {key: value for key, value in values.items() if value is not None}


class FlowStatements:
    """The statements, for one database's dialect."""

    def __init__(self, db: Database) -> None:
        now = bindparam("now", type_=P.c.expires_at.type)
        self.add_pending = db.prepare(insert(P))
        self.claim_launch = db.prepare(
            update(P)
            .where(
                P.c.launch_hash == bindparam("launch"),
                P.c.launched_at.is_(None),
                P.c.consumed_at.is_(None),
                P.c.launch_expires_at > now,
            )
            .values(
                launched_at=now,
                state_hash=bindparam("state"),
                binding_hash=bindparam("binding"),
                expires_at=bindparam("until", type_=P.c.expires_at.type),
            )
            .returning(*P.c)
        )
        # Only the flow's own browser wins: the state unused and unexpired, the binding
        # cookie's hash the flow's; with a signed-in user, also that user's (unless the
        # flow is held for a confirm).
        consume = (
            update(P)
            .where(
                P.c.state_hash == bindparam("state"),
                P.c.consumed_at.is_(None),
                P.c.binding_hash == bindparam("binding"),
                P.c.expires_at > now,
            )
            .values(consumed_at=now)
            .returning(*P.c)
        )
        self.consume = db.prepare(consume)
        self.consume_for_user = db.prepare(
            consume.where(
                or_(P.c.launch_hash.is_not(None), P.c.app_user_id == bindparam("user"))
            )
        )
        self.hold_consent = db.prepare(insert(H))
        dialect_insert: Any = postgresql.insert if db.is_postgresql else sqlite.insert
        # A first connection in one statement; nothing back if the (user, team) exists.
        self.insert_connection = db.prepare(
            dialect_insert(C)
            .on_conflict_do_nothing(index_elements=["app_user_id", "miro_team_id"])
            .returning(C.c.id)
        )
        by_user = select(C).where(C.c.app_user_id == bindparam("user"))
        order = (C.c.updated_at.desc(), C.c.id)
        self.user_rows = db.prepare(by_user.order_by(*order))
        self.user_team_rows = db.prepare(
            by_user.where(C.c.miro_team_id == bindparam("team")).order_by(*order)
        )
