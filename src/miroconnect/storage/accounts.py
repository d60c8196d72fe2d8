"""Reference-app accounts: usernames and argon2 hashes in `web_accounts`.

The hashing itself is the web layer's (`miroconnect.web.accounts`). The boards made for app
users are recorded on their operations (`miroconnect.storage.operations`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from miroconnect.errors import UsernameTakenError
from miroconnect.storage.db import Database
from miroconnect.storage.models import WebAccountRow
from miroconnect.types import Clock

__all__ = ["AccountRecord", "SQLAccountStore"]


@dataclass(frozen=True)
class AccountRecord:
    """An account as stored: its id, username and password hash."""

    id: int
    username: str
    password_hash: str = field(repr=False)


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
