"""`TokenSource`: where a Miro client gets a live access token for one connection."""

from __future__ import annotations

from typing import Protocol

__all__ = ["TokenSource"]


class TokenSource(Protocol):
    """A live access token for one connection, refreshed when needed.

    The vault implements it per connection; a fixed token (tests, benchmarks) implements it
    trivially. Implementations never log or put the token in an exception.
    """

    @property
    def key(self) -> str:
        """A stable id of the connection (rate-limit readings are shared per key)."""
        ...

    async def access_token(self) -> str:
        """A token to send now; refreshed first (single-flight) when under 2 minutes
        remain. Raises `ReauthorizationRequiredError` if Miro rejects the refresh."""
        ...

    async def after_rejection(self, rejected: str) -> str:
        """Miro answered 401 to `rejected`: return a token to retry with once.

        If another task already replaced `rejected`, that token is returned without a new
        refresh; otherwise the connection is refreshed (single-flight). Raises
        `ReauthorizationRequiredError` when there is nothing left to try.
        """
        ...
