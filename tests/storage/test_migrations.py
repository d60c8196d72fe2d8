"""`alembic upgrade head` on an empty database gives exactly the models' tables."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Integer,
    String,
    TableClause,
    column,
    insert,
    inspect,
    table,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import miroconnect.storage.models  # noqa: F401  (registers the tables)
from miroconnect.crypto import KeyRing, TokenCipher
from miroconnect.errors import DecryptionError
from miroconnect.storage.base import Base
from miroconnect.storage.boards import SQLBoardList
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import current_revision, downgrade, upgrade
from miroconnect.storage.models import ConnectionRow
from miroconnect.storage.repository import SQLStore
from miroconnect.storage.types import UTCDateTime
from support.oauth import KEY1


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


async def test_upgrade_makes_a_new_sqlite_file_private(tmp_path: Path) -> None:
    # Under the usual umask (022) SQLite would make it readable by every local user.
    previous = os.umask(0o022)
    try:
        await upgrade(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
        kept = tmp_path / "kept.db"
        kept.touch(mode=0o640)
        await upgrade(f"sqlite+aiosqlite:///{kept}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640  # a file that existed is left


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


async def test_0006_binds_stored_tokens_to_their_owner(database_url: str) -> None:
    # A database of 0005 with one connection, sealed the 0005 way (row and field only).
    await upgrade(database_url, "0005")
    cipher = TokenCipher(KeyRing.parse(KEY1))
    aad = "miroconnect:connections:{id}:{field}"
    row_id = "a" * 32
    values = {
        "id": row_id,
        "app_user_id": "user-1",
        "miro_team_id": "t1",
        "miro_user_id": "m1",
        "scopes": "boards:read",
        "status": "connected",
        "token_version": 1,
        "created_at": datetime(2026, 11, 1, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 1, tzinfo=UTC),
        "key_id": "k1",
        "access_token_ciphertext": cipher.encrypt(
            "old-access",
            associated_data=aad.format(id=row_id, field="access_token").encode(),
        ),
        "refresh_token_ciphertext": cipher.encrypt(
            "old-refresh",
            associated_data=aad.format(id=row_id, field="refresh_token").encode(),
        ),
    }
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(_connections_0005()).values(**values))
    finally:
        await engine.dispose()

    with pytest.raises(RuntimeError, match="MIROCONNECT_ENCRYPTION_KEYS"):
        await upgrade(database_url)  # the keys are needed to re-encrypt
    assert await current_revision(database_url) == "0005"
    await upgrade(database_url, "0006", encryption_keys=KEY1)
    assert await current_revision(database_url) == "0006"

    database = Database(database_url)
    try:
        store = SQLStore(database, cipher)
        stored = await store.load_tokens(row_id)
        assert stored is not None and stored.tokens is not None
        assert stored.tokens.access_token == "old-access"
        assert stored.tokens.refresh_token == "old-refresh"
        async with database.session() as session, session.begin():
            await session.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id == row_id)
                .values(app_user_id="user-2")
            )
        with pytest.raises(DecryptionError):
            await store.load_tokens(row_id)
    finally:
        await database.dispose()


def _connections_0005() -> TableClause:
    """The columns of `connections` at 0005 that a row needs."""
    names = ["id", "app_user_id", "miro_team_id", "miro_user_id", "scopes", "status"]
    names += ["key_id", "access_token_ciphertext", "refresh_token_ciphertext"]
    return table(
        "connections",
        *(column(name, String) for name in names),
        column("token_version", Integer),
        column("created_at", UTCDateTime),
        column("updated_at", UTCDateTime),
    )


async def test_0007_moves_recorded_boards_onto_their_operations(
    database_url: str,
) -> None:
    # A database of 0006 with two recorded boards: one made by an operation, one not.
    await upgrade(database_url, "0006")
    made = datetime(2026, 11, 2, tzinfo=UTC)
    recorded = datetime(2026, 11, 3, tzinfo=UTC)
    orphan_at = datetime(2026, 11, 4, tzinfo=UTC)
    operation = {
        "id": "b" * 32,
        "app_user_id": "user-1",
        "idempotency_key": "api:1",
        "kind": "create_board",
        "params": {"name": "Plan"},
        "connection_id": "c" * 32,
        "miro_user_id": "m1",
        "miro_team_id": "t1",
        "state": "done",
        "attempts": 1,
        "created_board_id": "board-1",
        "result": {"board_id": "board-1", "name": "Plan", "view_link": "https://x/1"},
        "started_at": made,
        "updated_at": made,
    }
    boards = [
        ("user-1", "board-1", "Plan", "https://x/1", recorded),
        ("user-1", "board-2", "Old", "https://x/2", orphan_at),
    ]
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(_operations_0006()).values(**operation))
            for user, board, name, link, at in boards:
                await connection.execute(
                    insert(_web_boards_0006()).values(
                        app_user_id=user,
                        board_id=board,
                        name=name,
                        view_link=link,
                        created_at=at,
                    )
                )
    finally:
        await engine.dispose()

    await upgrade(database_url, "0007")
    database = Database(database_url)
    try:
        listed, _ = await SQLBoardList(database).page("user-1", limit=10)
    finally:
        await database.dispose()
    # Newest first, each at the time it was recorded, the orphan kept.
    assert [(b.board_id, b.name, b.view_link, b.created_at) for b in listed] == [
        ("board-2", "Old", "https://x/2", orphan_at),
        ("board-1", "Plan", "https://x/1", recorded),
    ]

    await downgrade(database_url, "0006")
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT board_id, name FROM web_boards ORDER BY board_id")
            )
            assert [tuple(row) for row in rows] == [
                ("board-1", "Plan"),
                ("board-2", "Old"),
            ]
    finally:
        await engine.dispose()
    await upgrade(database_url)  # and up again


def _operations_0006() -> TableClause:
    names = ["id", "app_user_id", "idempotency_key", "kind", "connection_id"]
    names += ["miro_user_id", "miro_team_id", "state", "created_board_id"]
    return table(
        "operations",
        *(column(name, String) for name in names),
        column("params", JSON),
        column("result", JSON),
        column("attempts", Integer),
        column("started_at", UTCDateTime),
        column("updated_at", UTCDateTime),
    )


def _web_boards_0006() -> TableClause:
    return table(
        "web_boards",
        *(column(n, String) for n in ("app_user_id", "board_id", "name", "view_link")),
        column("created_at", UTCDateTime),
    )


async def test_0008_flows_started_before_it_end_with_a_redirect(
    database_url: str,
) -> None:
    await upgrade(database_url, "0006")
    pending = table(
        "pending_authorizations",
        column("id", String),
        column("state_hash", String),
        column("app_user_id", String),
        column("return_url", String),
        column("created_at", UTCDateTime),
        column("expires_at", UTCDateTime),
    )
    now = datetime(2026, 12, 1, tzinfo=UTC)
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(pending).values(
                    id="f" * 32,
                    state_hash="s" * 64,
                    app_user_id="user-1",
                    return_url="https://app.example/back",
                    created_at=now,
                    expires_at=now,
                )
            )
    finally:
        await engine.dispose()
    await upgrade(database_url, "0008")
    database = Database(database_url)
    try:
        found = await SQLStore(database, TokenCipher(KeyRing.parse(KEY1))).find_pending(
            "s" * 64
        )
    finally:
        await database.dispose()
    assert found is not None
    assert (found.return_url, found.display) == ("https://app.example/back", "redirect")
