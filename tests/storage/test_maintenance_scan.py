"""The maintenance scan reads only the rows it can pick, through `ix_connections_due`.

With a plain index on `refresh_issued_at` the scan walked every needs_reauth row first (150 ms
at 1M connections, `bench/bench_scale.py`). On PostgreSQL the partial index only matches when
the query writes the status into its SQL: the generic plan of a prepared statement cannot prove
the index's predicate from a bound parameter, and without the old index it falls back to a
sequential scan (checked: binding the status makes this test fail). So the plan is checked for
the statement exactly as `SQLStore` sends it, on a forced generic plan.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from miroconnect.crypto import KeyRing, TokenCipher, generate_key
from miroconnect.oauth.tokens import ConnectionStatus, MiroIdentity, TokenSet
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade
from miroconnect.storage.repository import SQLStore

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _sql_value(value: object) -> str:
    """A test's own parameter (a datetime or an int) written as SQL."""
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    return str(int(value))  # type: ignore[call-overload]


async def _connect(store: SQLStore, user: str, issued: datetime) -> str:
    connection = await store.save_connection(
        app_user_id=user,
        identity=MiroIdentity(user_id="3074457", team_id="3458764"),
        tokens=TokenSet(
            access_token=f"access-{user}",
            refresh_token=f"refresh-{user}",
            expires_at=issued + timedelta(hours=1),
        ),
        now=issued,
    )
    return connection.id


async def test_due_scan_skips_dead_rows_and_uses_the_partial_index(
    database_url: str,
) -> None:
    await upgrade(database_url)
    db = Database(database_url)
    store = SQLStore(db, TokenCipher(KeyRing.parse(generate_key("k1"))))
    sent: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        statement, parameters = args[2], args[3]
        if "refresh_issued_at <" in statement:
            sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        old = NOW - timedelta(days=55)
        due = await _connect(store, "due", old)
        dead = await _connect(store, "dead", old - timedelta(days=30))
        await _connect(store, "fresh", NOW)
        async with store.lock(dead) as locked:
            await locked.set_status(ConnectionStatus.NEEDS_REAUTH, "test", now=NOW)

        found = await store.due_for_maintenance(
            refresh_issued_before=NOW - timedelta(days=50), limit=10
        )
        assert list(found) == [due]

        statement, parameters = sent[-1]
        async with db.engine.connect() as connection:
            if db.is_postgresql:
                # A server-side prepared statement, planned once for any parameters.
                await connection.exec_driver_sql("SET enable_seqscan = off")
                await connection.exec_driver_sql(
                    "SET plan_cache_mode = force_generic_plan"
                )
                await connection.exec_driver_sql(f"PREPARE due_scan AS {statement}")
                values = ", ".join(_sql_value(value) for value in parameters)
                rows = await connection.exec_driver_sql(
                    f"EXPLAIN EXECUTE due_scan({values})"
                )
            else:
                rows = await connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                )
            plan = "\n".join(str(row[-1]) for row in rows)
        assert "ix_connections_due" in plan, plan
    finally:
        await db.dispose()
