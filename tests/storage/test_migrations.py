"""`alembic upgrade head` on an empty database gives exactly the models' tables."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import miroconnect.storage.models  # noqa: F401  (registers the tables)
from miroconnect.storage.base import Base
from miroconnect.storage.migrate import current_revision, upgrade


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_head_matches_the_models(database_url: str) -> None:
    assert await current_revision(database_url) is None
    await upgrade(database_url)
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
            tables = await connection.run_sync(
                lambda sync: set(inspect(sync).get_table_names())
            )
    finally:
        await engine.dispose()
    assert diff == []
    assert {"connections", "pending_authorizations"} <= tables
    assert await current_revision(database_url) is not None
    await upgrade(database_url)  # idempotent


async def test_first_revision_is_0001(database_url: str) -> None:
    await upgrade(database_url, "0001")
    assert await current_revision(database_url) == "0001"


async def test_upgrade_leaves_sqlite_in_wal_mode(database_url: str) -> None:
    # So that several processes opening the database at once need not switch it.
    if not database_url.startswith("sqlite"):
        pytest.skip("journal modes are SQLite's")
    await upgrade(database_url)
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
    finally:
        await engine.dispose()
    assert mode == "wal"
