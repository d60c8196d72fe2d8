"""Reference-app accounts and the boards made for app users: their tables.

`SQLAccountStore` keeps usernames and argon2 hashes (the hashing itself is the web layer's,
`miroconnect.web.accounts`); `SQLBoardStore` remembers each board made through miroconnect,
to list a user's boards newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from miroconnect.errors import UsernameTakenError
from miroconnect.storage.db import Database
from miroconnect.storage.models import WebAccountRow, WebBoardRow
from miroconnect.types import Clock

__all__ = ["AccountRecord", "BoardRecord", "SQLAccountStore", "SQLBoardStore"]


@dataclass(frozen=True)
class AccountRecord:
    """An account as stored: its id, username and password hash."""

    id: int
    username: str
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class BoardRecord:
    """A board made through miroconnect."""

    board_id: str
    name: str
    view_link: str
    created_at: datetime


class SQLAccountStore:
    """Accounts: one INSERT to create, one SELECT to find."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def create(self, username: str, password_hash: str) -> AccountRecord:
        """A new account; `UsernameTakenError` if the name is in use."""
        row = WebAccountRow(
            username=username, password_hash=password_hash, created_at=self._clock()
        )
        async with self._database.single_session() as session:
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                raise UsernameTakenError(username) from None
            return AccountRecord(row.id, row.username, row.password_hash)

    async def find(self, username: str) -> AccountRecord | None:
        """The account with this username, if any."""
        async with self._database.single_session() as session:
            row = await session.scalar(
                select(WebAccountRow).where(WebAccountRow.username == username)
            )
        if row is None:
            return None
        return AccountRecord(row.id, row.username, row.password_hash)


class SQLBoardStore:
    """Remembers the boards made for each app user, to list them newest first."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def record(
        self, app_user_id: str, board_id: str, name: str, view_link: str
    ) -> BoardRecord:
        """Remember a board; recording the same board twice keeps the first record."""
        now = self._clock()
        values = {
            "app_user_id": app_user_id,
            "board_id": board_id,
            "name": name,
            "view_link": view_link,
            "created_at": now,
        }
        insert: Any = (
            postgresql.insert if self._database.is_postgresql else sqlite.insert
        )(WebBoardRow)
        # One statement (one round trip on PostgreSQL): a board recorded before, by a
        # repeated call or a concurrent callback, is left as it is and read back.
        statement = (
            insert.values(**values)
            .on_conflict_do_nothing(index_elements=["app_user_id", "board_id"])
            .returning(WebBoardRow.id)
        )
        async with self._database.single_session() as session, session.begin():
            inserted = (await session.execute(statement)).first()
        if inserted is not None:
            return BoardRecord(board_id, name, view_link, now)
        async with self._database.single_session() as session:
            existing = await session.scalar(
                select(WebBoardRow).where(
                    WebBoardRow.app_user_id == app_user_id,
                    WebBoardRow.board_id == board_id,
                )
            )
            assert existing is not None  # noqa: S101  # the conflict said it exists
            return _record(existing)

    async def page(
        self, app_user_id: str, *, limit: int, before_id: int | None = None
    ) -> tuple[Sequence[BoardRecord], int | None]:
        """Up to `limit` boards, newest first, and the cursor of the next page."""
        query = select(WebBoardRow).where(WebBoardRow.app_user_id == app_user_id)
        if before_id is not None:
            query = query.where(WebBoardRow.id < before_id)
        query = query.order_by(WebBoardRow.id.desc()).limit(limit + 1)
        async with self._database.single_session() as session:
            rows = list(await session.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        return [_record(row) for row in rows], (rows[-1].id if more else None)


def _record(row: WebBoardRow) -> BoardRecord:
    return BoardRecord(row.board_id, row.name, row.view_link, row.created_at)
