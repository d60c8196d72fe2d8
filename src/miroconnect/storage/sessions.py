"""`SQLSessionStore`: the reference app's sign-in sessions, kept on the server.

The browser's cookie holds a random 256-bit value; the table holds only its SHA-256, the
account and the end of the session. Signing out deletes the row, so a copy of the cookie
(a shared computer, a stolen backup) stops working at once, and every session ends at
`expires_at` whatever the cookie's own lifetime says.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from miroconnect.storage.db import Database
from miroconnect.storage.models import WebAccountRow, WebSessionRow

__all__ = ["SQLSessionStore"]


class SQLSessionStore:
    """Creates, finds and ends sessions; each method is one statement."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, session_hash: str, account_id: int, *, now: datetime, expires_at: datetime
    ) -> None:
        """A new session of `account_id` under the hash of its cookie value."""
        row = WebSessionRow(
            id=session_hash,
            account_id=account_id,
            created_at=now,
            expires_at=expires_at,
        )
        async with self._db.single_session() as session, session.begin():
            session.add(row)

    async def account(
        self, session_hash: str, *, now: datetime
    ) -> tuple[int, str] | None:
        """The (id, username) of the session's account, if the session is live."""
        statement = (
            select(WebAccountRow.id, WebAccountRow.username)
            .join(WebSessionRow, WebSessionRow.account_id == WebAccountRow.id)
            .where(WebSessionRow.id == session_hash, WebSessionRow.expires_at > now)
        )
        async with self._db.single_session() as session:
            found = (await session.execute(statement)).one_or_none()
        return None if found is None else (int(found[0]), str(found[1]))

    async def end(self, session_hash: str) -> None:
        """End the session (sign-out); nothing happens if it is gone already."""
        async with self._db.single_session() as session, session.begin():
            await session.execute(
                delete(WebSessionRow).where(WebSessionRow.id == session_hash)
            )

    async def end_expired(self, *, now: datetime) -> int:
        """Delete sessions past their end; how many."""
        async with self._db.single_session() as session, session.begin():
            result: Any = await session.execute(
                delete(WebSessionRow).where(WebSessionRow.expires_at <= now)
            )
            return int(result.rowcount or 0)
