"""The per-test database is real, empty, and private to the test."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.mark.parametrize("round_", [1, 2])
async def test_each_test_gets_an_empty_database(database_url: str, round_: int) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            # Fails on the second round if the first round's table leaked across tests.
            await connection.execute(
                text("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
            )
            await connection.execute(
                text("INSERT INTO probe (id) VALUES (:id)"), {"id": round_}
            )
            count = await connection.scalar(text("SELECT count(*) FROM probe"))
        assert count == 1
    finally:
        await engine.dispose()
