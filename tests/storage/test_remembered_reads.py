"""Remembered connection reads (`SQLStore.user_tokens(..., reuse=True)`) and their guard.

A read that finds a user's one live connection is remembered, so the next action needs no
statement to read it; the action's journal entry then checks, in its own INSERT, that the
read still holds (`ReadGuard`). Here two stores on one database stand for two processes:
`here` remembers, `there` changes the connection behind its back. Every change that would
make a fresh read answer differently must refuse the insert (`StaleReadError`, nothing
written), whether the key is new or already taken.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from miroconnect.crypto import KeyRing, TokenCipher
from miroconnect.oauth.tokens import (
    ConnectionStatus,
    MiroIdentity,
    StaleReadError,
    StoredTokens,
    TokenSet,
)
from miroconnect.storage import repository
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.models import OperationRow
from miroconnect.storage.operations import NewOperation, OperationStore
from miroconnect.storage.repository import SQLStore
from support import FakeClock
from support.oauth import KEY1
from support.statements import statement_kind, statements

pytestmark = pytest.mark.db

USER = "u1"
TEAM_ONE = MiroIdentity("miro-u1", "team-1", "Ada", "Team One", ("boards:write",))
TEAM_TWO = MiroIdentity("miro-u1", "team-2", "Ada", "Team Two", ("boards:write",))


@dataclass
class Two:
    """Two processes' stores on one database."""

    here: SQLStore
    there: SQLStore
    operations: OperationStore
    clock: FakeClock

    def tokens(self, access: str) -> TokenSet:
        return TokenSet(access, f"refresh-{access}", self.clock() + timedelta(hours=1))

    async def connect(
        self, store: SQLStore, identity: MiroIdentity = TEAM_ONE, access: str = "a1"
    ) -> str:
        saved = await store.save_connection(
            app_user_id=USER,
            identity=identity,
            tokens=self.tokens(access),
            now=self.clock(),
        )
        return saved.id

    async def claim(self, read: StoredTokens, key: str = "k1") -> bool:
        """The journal entry an action on `read` writes; True if it was inserted."""
        connection = read.connection
        new = NewOperation(
            USER,
            key,
            "create_board",
            {"name": "B"},
            connection.id,
            connection.miro_user_id,
            connection.miro_team_id,
            guard=read.guard,
        )
        claim = await self.operations.claim(new, owner="owner-1", sending=True)
        return claim.created

    async def operations_written(self) -> int:
        async with self.operations._db.session() as session:
            count = select(func.count()).select_from(OperationRow)
            return int(await session.scalar(count) or 0)


@pytest.fixture
async def two(database_url: str) -> AsyncIterator[Two]:
    await upgrade(database_url)
    here_db, there_db = Database(database_url), Database(database_url)
    cipher = TokenCipher(KeyRing.parse(KEY1))
    clock = FakeClock()
    try:
        yield Two(
            SQLStore(here_db, cipher),
            SQLStore(there_db, cipher),
            OperationStore(here_db, clock=clock),
            clock,
        )
    finally:
        await here_db.dispose()
        await there_db.dispose()


async def remembered(two: Two, team_id: str | None = None) -> StoredTokens:
    """Read once (remembered), then again from memory: the read with its guard."""
    await two.here.user_tokens(USER, team_id)
    with statements() as seen:
        (read,) = await two.here.user_tokens(USER, team_id, reuse=True)
    assert seen == []
    assert read.guard is not None
    return read


async def test_a_remembered_read_costs_no_statement_and_its_guard_lets_the_insert_in(
    two: Two,
) -> None:
    await two.connect(two.there, access="a1")
    read = await remembered(two)
    assert read.tokens is not None and read.tokens.access_token == "a1"
    with statements() as seen:
        assert await two.claim(read)
    assert [statement_kind(s) for s in seen] == ["INSERT operations"]


async def test_a_fresh_read_carries_no_guard(two: Two) -> None:
    await two.connect(two.there)
    (read,) = await two.here.user_tokens(USER)
    assert read.guard is None
    (again,) = await two.here.user_tokens(USER, reuse=False)
    assert again.guard is None


@pytest.mark.parametrize("team_id", [None, "team-1"])
@pytest.mark.parametrize(
    "change", ["new tokens", "needs_reauth", "removed", "reconnected"]
)
async def test_any_change_to_the_connection_elsewhere_refuses_the_insert(
    two: Two, team_id: str | None, change: str
) -> None:
    connection_id = await two.connect(two.there)
    read = await remembered(two, team_id)
    if change == "new tokens":  # a refresh in another process
        async with two.there.lock(connection_id) as locked:
            await locked.save_tokens(two.tokens("a2"), now=two.clock())
    elif change == "reconnected":  # a new consent, maybe as another Miro user
        await two.connect(two.there, access="a3")
    else:
        async with two.there.lock(connection_id) as locked:
            status = ConnectionStatus(change)
            await locked.set_status(status, "elsewhere", now=two.clock())
    with pytest.raises(StaleReadError):
        await two.claim(read)
    assert await two.operations_written() == 0
    # A fresh read decides on what is there now, and is not refused.
    fresh = await two.here.user_tokens(USER, team_id)
    assert all(found.guard is None for found in fresh)


async def test_a_second_live_team_refuses_a_read_of_all_the_users_teams(
    two: Two,
) -> None:
    await two.connect(two.there, TEAM_ONE)
    whole = await remembered(two)
    one_team = await remembered(two, "team-1")
    await two.connect(two.there, TEAM_TWO)
    # Which connection a read of all teams would choose may have changed: refused.
    with pytest.raises(StaleReadError):
        await two.claim(whole)
    # A read of one team still holds: that team's connection did not change.
    assert await two.claim(one_team, key="k2")


async def test_a_taken_key_with_a_stale_read_is_refused_too(two: Two) -> None:
    connection_id = await two.connect(two.there)
    (fresh,) = await two.here.user_tokens(USER)
    assert await two.claim(fresh)  # unguarded: the key is now taken
    read = await remembered(two)
    async with two.there.lock(connection_id) as locked:
        await locked.save_tokens(two.tokens("a2"), now=two.clock())
    # The insert finds nothing to do (the key, the guard): the row's own path checks
    # the guard again before it would take or replay the operation.
    with pytest.raises(StaleReadError):
        await two.claim(read)
    # While the read holds, a taken key goes the usual way (a repeat is not created).
    read = await remembered(two)
    assert not await two.claim(read)


async def test_a_change_in_this_process_forgets_the_read(two: Two) -> None:
    connection_id = await two.connect(two.here)
    await remembered(two)
    async with two.here.lock(connection_id) as locked:
        await locked.save_tokens(two.tokens("a2"), now=two.clock())
    with statements() as seen:
        (read,) = await two.here.user_tokens(USER, reuse=True)
    assert [statement_kind(s) for s in seen] == ["SELECT connections"]
    assert read.guard is None
    assert read.tokens is not None and read.tokens.access_token == "a2"


async def test_only_a_single_live_connection_is_remembered(two: Two) -> None:
    await two.connect(two.here, TEAM_ONE)
    await two.connect(two.here, TEAM_TWO)
    await two.here.user_tokens(USER)
    with statements() as seen:
        found = await two.here.user_tokens(USER, reuse=True)
    assert len(found) == 2 and all(f.guard is None for f in found)
    assert [statement_kind(s) for s in seen] == ["SELECT connections"]


async def test_a_remembered_read_is_used_for_reuse_for_seconds_at_most(
    two: Two,
) -> None:
    assert repository.REUSE_FOR == 60.0  # the default: a minute
    await two.connect(two.here)
    at_once = SQLStore(two.here.db, two.here.cipher, reuse_for=0.0)
    await at_once.user_tokens(USER)
    with statements() as seen:
        (read,) = await at_once.user_tokens(USER, reuse=True)
    assert read.guard is None  # read again: nothing is older than 0 seconds
    assert [statement_kind(s) for s in seen] == ["SELECT connections"]
    # A read too old to use is not kept either (a white-box look at the memory).
    assert not at_once._remembered
