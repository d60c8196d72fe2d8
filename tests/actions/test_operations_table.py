"""The `operations` table: migration 0002 matches the model; the key is unique."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from miroconnect.storage.base import Base
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.models import OperationRow
from support import FakeTime


def row(**values: Any) -> dict[str, Any]:
    now = FakeTime().now()
    base: dict[str, Any] = {
        "id": "op1",
        "app_user_id": "u1",
        "idempotency_key": "k1",
        "kind": "create_board",
        "params": {"name": "x"},
        "connection_id": "c1",
        "miro_user_id": "m1",
        "miro_team_id": "t1",
        "state": "pending",
        "attempts": 0,
        "started_at": now,
        "updated_at": now,
    }
    return base | values


async def test_migration_0002_creates_exactly_the_model(database_url: str) -> None:
    await upgrade(database_url)

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection)
        return [
            d
            for d in compare_metadata(context, Base.metadata)
            if "operations" in repr(d)
        ]

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_key_is_unique_per_user_and_a_board_is_adopted_once(
    database_url: str,
) -> None:
    await upgrade(database_url)
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(
                insert(OperationRow).values(row(created_board_id="b="))
            )
            await session.execute(
                insert(OperationRow).values(row(id="op2", app_user_id="u2"))
            )
        for clash in (
            row(id="op3"),  # same user, same key
            row(id="op4", idempotency_key="k4", created_board_id="b="),  # same board
            row(id="op5", idempotency_key="k5", state="lost"),  # unknown state
        ):
            with pytest.raises(IntegrityError):
                async with db.session() as session, session.begin():
                    await session.execute(insert(OperationRow).values(clash))
    finally:
        await db.dispose()
