"""SQLite concurrency settings: WAL, busy timeout, and IMMEDIATE write transactions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from miroconnect.storage.db import Database, shown_url


async def test_sqlite_pragmas_and_write_lock(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/x.db", busy_timeout_ms=5000)
    try:
        async with db.session() as session:
            assert (await session.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await session.scalar(text("PRAGMA busy_timeout"))) == 5000
        async with db.session() as session, session.begin():
            await session.execute(text("CREATE TABLE t (n INTEGER)"))
        order: list[str] = []

        async def writer(name: str, hold: asyncio.Event | None) -> None:
            async with db.write_session() as session, session.begin():
                # IMMEDIATE: the write lock is held from BEGIN, before any write.
                await session.execute(text("SELECT count(*) FROM t"))
                order.append(f"{name} in")
                if hold is not None:
                    await hold.wait()
                await session.execute(text("INSERT INTO t VALUES (1)"))
                order.append(f"{name} out")

        release = asyncio.Event()
        first = asyncio.create_task(writer("a", release))
        while order != ["a in"]:
            await asyncio.sleep(0)
        second = asyncio.create_task(writer("b", None))
        await asyncio.sleep(0.2)  # b must be waiting on the lock, not inside
        assert order == ["a in"]
        # Readers are not blocked by the writer (WAL).
        async with db.session() as session:
            assert (await session.scalar(text("SELECT count(*) FROM t"))) == 0
        release.set()
        await asyncio.gather(first, second)
        assert order == ["a in", "a out", "b in", "b out"]
    finally:
        await db.dispose()


@pytest.mark.parametrize("immediate", [False, True])
async def test_plain_sessions_do_not_take_the_write_lock(
    tmp_path: Path, immediate: bool
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/y.db", busy_timeout_ms=100)
    try:
        async with db.write_session() as holder, holder.begin():
            await holder.execute(text("SELECT 1"))
            other = db.write_session() if immediate else db.session()
            async with other, other.begin():
                if immediate:
                    with pytest.raises(Exception, match="locked"):
                        await other.execute(text("SELECT 1"))
                else:
                    assert (await other.scalar(text("SELECT 1"))) == 1
    finally:
        await db.dispose()


async def test_the_pool_size_setting_reaches_the_vault_on_postgresql(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.pool import QueuePool

    from miroconnect.assembly import build_stack
    from miroconnect.config import Settings
    from miroconnect.crypto import generate_key

    # The environment is the edge where settings come from; setenv is that edge here.
    monkeypatch.setenv("MIROCONNECT_DATABASE_URL", database_url)
    monkeypatch.setenv("MIROCONNECT_DATABASE_POOL_SIZE", "3")
    monkeypatch.setenv("MIROCONNECT_ENCRYPTION_KEYS", generate_key("k1"))
    monkeypatch.setenv("MIROCONNECT_MIRO_CLIENT_ID", "3074457363680401096")
    monkeypatch.setenv("MIROCONNECT_MIRO_CLIENT_SECRET", "secret")
    monkeypatch.setenv("MIROCONNECT_MIRO_REDIRECT_URI", "http://127.0.0.1:8000/cb")
    settings = Settings()
    assert settings.database_pool_size == 3
    stack = build_stack(settings)
    try:
        pool = stack.database.engine.sync_engine.pool
        if database_url.startswith("postgresql"):
            assert isinstance(pool, QueuePool) and pool.size() == 3
        else:  # SQLite keeps SQLAlchemy's own pool for its file
            assert not isinstance(pool, QueuePool) or pool.size() != 3
    finally:
        await stack.aclose()


async def test_single_statements_hold_no_write_lock_between_round_trips(
    tmp_path: Path,
) -> None:
    # SQLite: a single-statement write sends no BEGIN, so the write lock is gone as soon
    # as the statement has run, before its (empty) COMMIT: another writer gets it at once
    # instead of sleeping in busy_timeout's backoff while this task waits for the loop.
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/z.db", busy_timeout_ms=100)
    try:
        async with db.session() as session, session.begin():
            await session.execute(text("CREATE TABLE t (n INTEGER)"))
        async with db.single_session() as single, single.begin():
            await single.execute(text("INSERT INTO t VALUES (1)"))
            async with db.write_session() as other, other.begin():
                await other.execute(text("INSERT INTO t VALUES (2)"))
        async with db.single_engine.begin() as connection:
            await connection.execute(text("UPDATE t SET n = n + 10"))
            async with db.write_session() as other, other.begin():
                await other.execute(text("INSERT INTO t VALUES (3)"))
        async with db.session() as session:
            rows = (await session.scalars(text("SELECT n FROM t ORDER BY n"))).all()
        assert rows == [3, 11, 12]
    finally:
        await db.dispose()


def test_a_shown_url_hides_passwords_in_the_user_part_and_the_query() -> None:
    # asyncpg takes `?password=` as the password: the CLI and the logs print this URL.
    shown = shown_url(
        "postgresql+asyncpg://bob:pw1@db:5432/app"
        "?password=pw2&sslpassword=pw3&ssl=require"
    )
    assert "pw1" not in shown and "pw2" not in shown and "pw3" not in shown
    assert shown == (
        "postgresql+asyncpg://bob:***@db:5432/app"
        "?password=***&ssl=require&sslpassword=***"
    )
    assert (
        shown_url("sqlite+aiosqlite:///./data/x.db")
        == "sqlite+aiosqlite:///./data/x.db"
    )
    assert shown_url("not a url") == "(unparsable database URL)"
