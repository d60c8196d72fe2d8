"""Identifiers in Miro's shapes.

Miro's ids are opaque to clients but have recognisable shapes, and clients break on the
shapes (a board id ends in `=`, which must be escaped in a query string; user, team and
item ids are 19-digit numbers that only survive as strings). The emulator reproduces them.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable

__all__ = ["TOKEN_PREFIX", "IdFactory", "stable_numeric_id"]

# base64 of {"miro.origin":"eu01"}: the prefix of every code and token in Miro's docs.
TOKEN_PREFIX = "eyJtaXJvLm9yaWdpbiI6ImV1MDEifQ_"  # noqa: S105  # public prefix

_BASE64URL = string.ascii_letters + string.digits + "-_"
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-"


def stable_numeric_id(kind: str, name: str) -> str:
    """A 19-digit numeric string derived from `name`: the same name, the same id.

    Used for users and teams, so that signing in as "alice" twice (or in two emulator
    processes) gives the same Miro user.
    """
    digest = hashlib.sha256(f"{kind}:{name}".encode()).digest()
    # 3074457... is where Miro's ids live; keep 19 digits and the leading 3.
    return str(3_000_000_000_000_000_000 + int.from_bytes(digest[:8], "big") % 10**18)


class IdFactory:
    """Makes board, item and token ids from one random source.

    With a seed the ids repeat from run to run (useful in tests); without one they come
    from the operating system's generator, as tokens should. Within one factory no id is
    ever made twice: Miro's ids are unique for good, and clients (the action runner's
    duplicate check, a token cache) rely on that.
    """

    def __init__(self, seed: int | None = None) -> None:
        # A seeded Random is deliberate: reproducible fakes. Unseeded, SystemRandom is a
        # CSPRNG, so emulator tokens are unguessable like real ones.
        self._rng: random.Random = (
            random.Random(seed)  # noqa: S311
            if seed is not None
            else random.SystemRandom()
        )
        # Every id handed out so far: a redraw on collision keeps them unique (a few
        # bytes per id; an emulator lives for a test run or a demo).
        self._issued: set[str] = set()

    def _unique(self, make: Callable[[], str]) -> str:
        while True:
            value = make()
            if value not in self._issued:
                self._issued.add(value)
                return value

    @property
    def rng(self) -> random.Random:
        """The shared random source (fault probabilities draw from it too)."""
        return self._rng

    def board_id(self) -> str:
        """`uXjV` + 7 base64url characters + `=`, e.g. `uXjVOD6LSME=`."""
        return self._unique(
            lambda: (
                "uXjV" + "".join(self._rng.choice(_BASE64URL) for _ in range(7)) + "="
            )
        )

    def item_id(self) -> str:
        """A 19-digit numeric string starting 3458764, like Miro's item ids."""
        return self._unique(
            lambda: (
                "3458764" + "".join(self._rng.choice(string.digits) for _ in range(12))
            )
        )

    def secret(self) -> str:
        """A code or token: Miro's `eyJ..._` prefix and 27 random characters."""
        return self._unique(
            lambda: (
                TOKEN_PREFIX
                + "".join(self._rng.choice(_TOKEN_ALPHABET) for _ in range(27))
            )
        )

    def cursor_salt(self) -> str:
        """A short random tag (fault ids)."""
        return "".join(self._rng.choice(string.ascii_lowercase) for _ in range(10))
