"""Reference-app accounts and the boards made for app users: small repositories.

Passwords are hashed with argon2id (argon2-cffi); hashing runs in a worker thread because
it is deliberately slow. Signing in with an unknown name still verifies against a dummy
hash, so the answer time does not tell which names exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from miroconnect.storage.db import Database
from miroconnect.storage.models import WebAccountRow, WebBoardRow
from miroconnect.types import Clock

__all__ = ["Account", "AccountStore", "BoardRecord", "BoardStore", "UsernameTakenError"]


class UsernameTakenError(Exception):
    """Sign-up chose a name that already has an account."""


@dataclass(frozen=True)
class Account:
    """A signed-up user of the reference app."""

    id: int
    username: str

    @property
    def app_user_id(self) -> str:
        """The id the connect flow and the vault know this account by."""
        return f"account:{self.id}"


@dataclass(frozen=True)
class BoardRecord:
    """A board made through miroconnect."""

    board_id: str
    name: str
    view_link: str
    created_at: datetime


class AccountStore:
    """Creates accounts and checks passwords."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        hasher: PasswordHasher | None = None,
        *,
        concurrent_hashes: int = 2,
    ) -> None:
        self._database = database
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        # Each argon2 hash takes 64 MiB for a moment: at most this many at once per
        # process (a burst of sign-ins queues here instead of growing memory).
        self._hashing = anyio.CapacityLimiter(concurrent_hashes)

    async def create(self, username: str, password: str) -> Account:
        """Create an account; raises `UsernameTakenError` if the name is in use."""
        password_hash = await anyio.to_thread.run_sync(
            self._hasher.hash, password, limiter=self._hashing
        )
        async with self._database.session() as session:
            row = WebAccountRow(
                username=username, password_hash=password_hash, created_at=self._clock()
            )
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                raise UsernameTakenError(username) from None
            return Account(id=row.id, username=row.username)

    async def get(self, account_id: int) -> Account | None:
        """The account with this id, if it still exists."""
        async with self._database.session() as session:
            row = await session.get(WebAccountRow, account_id)
            return None if row is None else Account(id=row.id, username=row.username)

    async def authenticate(self, username: str, password: str) -> Account | None:
        """The account if `password` is right for `username`, else `None`."""
        async with self._database.session() as session:
            row = (
                await session.execute(
                    select(WebAccountRow).where(WebAccountRow.username == username)
                )
            ).scalar_one_or_none()
        if row is None:
            if self._dummy_hash is None:
                self._dummy_hash = await anyio.to_thread.run_sync(
                    self._hasher.hash, "not a password", limiter=self._hashing
                )
            await self._verify(self._dummy_hash, password)
            return None
        if not await self._verify(row.password_hash, password):
            return None
        return Account(id=row.id, username=row.username)

    async def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return await anyio.to_thread.run_sync(
                self._hasher.verify, password_hash, password, limiter=self._hashing
            )
        except (VerificationError, InvalidHashError):
            return False


class BoardStore:
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
        dialect = self._database.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # One statement (one round trip on PostgreSQL): a board recorded before, by a
        # repeated call or a concurrent callback, is left as it is and read back.
        statement = (
            insert(WebBoardRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["app_user_id", "board_id"])
            .returning(WebBoardRow.id)
        )
        async with self._database.single_session() as session, session.begin():
            inserted = (await session.execute(statement)).first()
        if inserted is not None:
            return BoardRecord(
                board_id=board_id, name=name, view_link=view_link, created_at=now
            )
        async with self._database.single_session() as session:
            existing = (
                await session.execute(
                    select(WebBoardRow).where(
                        WebBoardRow.app_user_id == app_user_id,
                        WebBoardRow.board_id == board_id,
                    )
                )
            ).scalar_one()
            return _record(existing)

    async def page(
        self, app_user_id: str, *, limit: int, before_id: int | None = None
    ) -> tuple[Sequence[BoardRecord], int | None]:
        """Up to `limit` boards, newest first, and the cursor of the next page."""
        query = select(WebBoardRow).where(WebBoardRow.app_user_id == app_user_id)
        if before_id is not None:
            query = query.where(WebBoardRow.id < before_id)
        query = query.order_by(WebBoardRow.id.desc()).limit(limit + 1)
        async with self._database.session() as session:
            rows = list((await session.execute(query)).scalars())
        more = len(rows) > limit
        rows = rows[:limit]
        return [_record(row) for row in rows], (rows[-1].id if more else None)


def _record(row: WebBoardRow) -> BoardRecord:
    return BoardRecord(
        board_id=row.board_id,
        name=row.name,
        view_link=row.view_link,
        created_at=row.created_at,
    )
