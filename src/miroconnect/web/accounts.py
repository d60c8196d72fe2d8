"""Reference-app accounts: argon2id password hashes over `SQLAccountStore`.

Hashing runs in a worker thread because it is deliberately slow, at most
`concurrent_hashes` at once (each takes 64 MiB for a moment). Signing in with an unknown
name still verifies against a dummy hash, so the answer time does not tell which names
exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from miroconnect.storage.accounts import SQLAccountStore

__all__ = ["Account", "Accounts"]


@dataclass(frozen=True)
class Account:
    """A signed-up user of the reference app."""

    id: int
    username: str

    @property
    def app_user_id(self) -> str:
        """The id the connect flow and the vault know this account by."""
        return f"account:{self.id}"


class Accounts:
    """Creates accounts and checks passwords."""

    def __init__(
        self,
        store: SQLAccountStore,
        hasher: PasswordHasher | None = None,
        *,
        concurrent_hashes: int = 2,
    ) -> None:
        self._store = store
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        # A burst of sign-ins queues here instead of growing memory.
        self._hashing = anyio.CapacityLimiter(concurrent_hashes)

    async def create(self, username: str, password: str) -> Account:
        """Create an account; raises `UsernameTakenError` if the name is in use."""
        password_hash = await anyio.to_thread.run_sync(
            self._hasher.hash, password, limiter=self._hashing
        )
        record = await self._store.create(username, password_hash)
        return Account(id=record.id, username=record.username)

    async def authenticate(self, username: str, password: str) -> Account | None:
        """The account if `password` is right for `username`, else `None`."""
        record = await self._store.find(username)
        if record is None:
            if self._dummy_hash is None:
                self._dummy_hash = await anyio.to_thread.run_sync(
                    self._hasher.hash, "not a password", limiter=self._hashing
                )
            await self._verify(self._dummy_hash, password)
            return None
        if not await self._verify(record.password_hash, password):
            return None
        return Account(id=record.id, username=record.username)

    async def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return await anyio.to_thread.run_sync(
                self._hasher.verify, password_hash, password, limiter=self._hashing
            )
        except (VerificationError, InvalidHashError):
            return False
