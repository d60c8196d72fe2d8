"""Encryption at rest in the store: key rotation, moved ciphertexts, missing keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from miroconnect.cli import build_app
from miroconnect.crypto import KeyRing, TokenCipher, key_id_of
from miroconnect.errors import DecryptionError, EncryptionKeyNotFoundError
from miroconnect.oauth.store import NewHeldConsent
from miroconnect.oauth.tokens import MiroIdentity, TokenSet
from miroconnect.storage.consents import SQLConsentStore
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.models import ConnectionRow
from miroconnect.storage.repository import SQLStore
from miroconnect.storage.rotation import count_by_key, rotate_keys
from support.oauth import KEY1, KEY2

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def store_with(db: Database, keys: str) -> SQLStore:
    return SQLStore(db, TokenCipher(KeyRing.parse(keys)))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def add_connections(store: SQLStore, count: int) -> dict[str, TokenSet]:
    saved = {}
    for n in range(count):
        tokens = TokenSet(
            access_token=f"access-{n}-secret",
            refresh_token=f"refresh-{n}-secret",
            expires_at=NOW + timedelta(hours=1),
        )
        connection = await store.save_connection(
            app_user_id=f"user-{n}",
            identity=MiroIdentity(user_id=f"m{n}", team_id="t1"),
            tokens=tokens,
            now=NOW,
        )
        saved[connection.id] = tokens
    return saved


async def test_rotation_reencrypts_and_the_old_key_can_go(db: Database) -> None:
    saved = await add_connections(store_with(db, KEY1), 25)
    rotating = store_with(db, f"{KEY2},{KEY1}")
    assert await count_by_key(rotating) == {"k1": 25}
    seen: list[tuple[int, int]] = []
    report = await rotate_keys(
        rotating, progress=lambda done, total: seen.append((done, total)), batch_size=7
    )
    assert report.rotated == 25 and report.primary_key_id == "k2"
    assert seen[0] == (0, 25) and seen[-1] == (25, 25)
    assert await count_by_key(rotating) == {"k2": 25}
    async with db.session() as session:
        for row in await session.scalars(select(ConnectionRow)):
            assert row.access_token_ciphertext is not None
            assert key_id_of(row.access_token_ciphertext) == "k2"
    only_new = store_with(db, KEY2)  # k1 removed from the configuration
    for connection_id, tokens in saved.items():
        stored = await only_new.load_tokens(connection_id)
        assert stored is not None and stored.tokens is not None
        assert stored.tokens.access_token == tokens.access_token
        assert stored.tokens.refresh_token == tokens.refresh_token
    assert (await rotate_keys(only_new)).rotated == 0


async def test_removing_a_key_too_early_names_it(db: Database) -> None:
    saved = await add_connections(store_with(db, KEY1), 1)
    with pytest.raises(EncryptionKeyNotFoundError, match="'k1'"):
        await store_with(db, KEY2).load_tokens(next(iter(saved)))
    with pytest.raises(EncryptionKeyNotFoundError, match="'k1'"):
        await rotate_keys(store_with(db, KEY2))


async def test_ciphertext_copied_to_another_row_fails(db: Database) -> None:
    store = store_with(db, KEY1)
    first, second = list(await add_connections(store, 2))
    async with db.session() as session, session.begin():
        source = await session.get(ConnectionRow, first)
        assert source is not None
        await session.execute(
            update(ConnectionRow)
            .where(ConnectionRow.id == second)
            .values(access_token_ciphertext=source.access_token_ciphertext)
        )
    with pytest.raises(DecryptionError, match="'k1'"):
        await store.load_tokens(second)
    # Swapping fields inside one row fails the same way.
    async with db.session() as session, session.begin():
        row = await session.get(ConnectionRow, first)
        assert row is not None
        row.access_token_ciphertext = row.refresh_token_ciphertext
    with pytest.raises(DecryptionError):
        await store.load_tokens(first)


@pytest.mark.parametrize(
    "change",
    [
        {"app_user_id": "user-1"},  # the other row's owner
        {"miro_user_id": "m-attacker"},
        {"miro_team_id": "t-other"},
    ],
)
async def test_a_row_repointed_to_another_owner_fails(
    db: Database, change: dict[str, str]
) -> None:
    # Someone with write access to the database re-points user-0's connection to
    # another app user (or Miro user, or team): the tokens must not open for them.
    store = store_with(db, KEY1)
    first, _second = list(await add_connections(store, 2))
    async with db.session() as session, session.begin():
        await session.execute(
            update(ConnectionRow)
            .where(ConnectionRow.id == first)
            .values(
                **(
                    {"app_user_id": "user-x"}
                    if change.get("app_user_id") == "user-1"
                    else change
                )
            )
        )
    with pytest.raises(DecryptionError):
        await store.load_tokens(first)


async def test_rotation_covers_held_consents(db: Database) -> None:
    store = store_with(db, KEY1)
    consents = SQLConsentStore(db, store.cipher)
    await consents.hold_consent(
        NewHeldConsent(
            id="c" * 32,
            result_hash="h" * 64,
            flow_id="f" * 32,
            app_user_id="user-9",
            action=None,
            identity=MiroIdentity(user_id="m9", team_id="t1"),
            tokens=TokenSet("access-held", "refresh-held", NOW + timedelta(hours=1)),
            created_at=NOW,
            expires_at=NOW + timedelta(minutes=10),
        )
    )
    await add_connections(store, 2)
    rotating = store_with(db, f"{KEY2},{KEY1}")
    assert await count_by_key(rotating) == {"k1": 3}
    assert (await rotate_keys(rotating)).rotated == 3
    assert await count_by_key(rotating) == {"k2": 3}
    only_new = SQLConsentStore(db, store_with(db, KEY2).cipher)
    decided = await only_new.decide_consent("h" * 64, lambda consent: None, now=NOW)
    assert decided is not None and decided.consent.tokens is not None
    assert decided.consent.tokens.access_token == "access-held"


def test_keys_cli_generate_rotate_and_status(database_url: str) -> None:
    import asyncio

    asyncio.run(upgrade(database_url))

    async def seed() -> None:
        database = Database(database_url)
        try:
            await add_connections(store_with(database, KEY1), 3)
        finally:
            await database.dispose()

    asyncio.run(seed())
    cli = CliRunner()
    generated = cli.invoke(build_app(), ["keys", "generate", "--key-id", "k3"])
    assert generated.exit_code == 0
    new_key = generated.output.strip()
    assert new_key.startswith("k3:")
    env = {
        "MIROCONNECT_DATABASE_URL": database_url,
        "MIROCONNECT_ENCRYPTION_KEYS": f"{new_key},{KEY1}",
    }
    rotated = cli.invoke(build_app(), ["keys", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert "3 row(s) re-encrypted under k3" in rotated.output
    env["MIROCONNECT_ENCRYPTION_KEYS"] = new_key
    status = cli.invoke(build_app(), ["keys", "status"], env=env)
    assert status.exit_code == 0 and status.output.strip() == "k3: 3"
    # The old key still configured shows at 0: it may go.
    env["MIROCONNECT_ENCRYPTION_KEYS"] = f"{new_key},{KEY1}"
    both = cli.invoke(build_app(), ["keys", "status"], env=env)
    assert both.exit_code == 0 and both.output.split("\n")[:2] == ["k1: 0", "k3: 3"]
    env["MIROCONNECT_ENCRYPTION_KEYS"] = KEY2
    unconfigured = cli.invoke(build_app(), ["keys", "status"], env=env)
    assert unconfigured.exit_code == 1
    assert "k3: 3" in unconfigured.output
    assert "3 row(s) under key 'k3', which is not configured" in unconfigured.output
    missing = cli.invoke(build_app(), ["keys", "rotate"], env=env)
    assert missing.exit_code == 1
    assert "3 row(s) under key 'k3', which is not configured" in missing.output
    assert new_key.split(":")[1] not in missing.output
