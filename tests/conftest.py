"""Fixtures shared by the whole suite.

The database: every test that asks for `database_url` gets a new, empty database of its
own. By default that is a SQLite file in the test's temporary folder; `pytest
--database-url postgresql+asyncpg://...` gives each test a fresh PostgreSQL database on
that server instead
(`make test` runs the `db`-marked tests a second time that way). Tests using it are
marked `db` automatically.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url

# Randomised tests draw the same examples on every run, CI included: a failure is a bug to
# fix (its example is printed, with the blob `@reproduce_failure` takes), never a reason to
# rerun. `MIROCONNECT_FUZZ_EXPLORE=1` (the fuzz bench) draws new examples each run instead.
hypothesis_settings.register_profile(
    "repeatable", derandomize=True, print_blob=True, database=None
)
hypothesis_settings.register_profile(
    "explore", derandomize=False, print_blob=True, database=None
)
hypothesis_settings.load_profile(
    "explore" if os.environ.get("MIROCONNECT_FUZZ_EXPLORE") == "1" else "repeatable"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-url",
        default=None,
        help="run database tests on this PostgreSQL server; default: SQLite files",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    url = make_url(server_url)
    connection = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a new, empty database that lives as long as the test."""
    server_url: str | None = request.config.getoption("--database-url")
    if not server_url:
        yield f"sqlite+aiosqlite:///{tmp_path / 'miroconnect.db'}"
        return
    name = f"mc_test_{secrets.token_hex(6)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(server_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        asyncio.run(
            _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


@pytest.fixture
def is_postgresql(database_url: str) -> bool:
    return database_url.startswith("postgresql")
