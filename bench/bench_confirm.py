"""The host's confirm, by itself: CPU per decision of a held consent, in one process.

Service mode's confirm (`SQLConsentStore.decide_consent`) is one locked transaction: the
held consent read, the user's first connection inserted, the consent marked confirmed. This
times that transaction alone, with nothing else in the process: `CONSENTS` consents held
first (each a new app user), then each confirmed once for its own user, and the CPU of the
confirms (`time.process_time()`, every thread of the process: SQLite's driver thread too)
divided by their number. On a fresh SQLite file and, if it answers, a fresh PostgreSQL
database (`MIROCONNECT_BENCH_PG_URL`'s server; dropped at the end).

Rerun: `.venv/bin/python -m bench bench_confirm` (about 15 s). Scale with
`MIROCONNECT_BENCH_CONFIRM_CONSENTS` (2000).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._stack import DEFAULT_PG_SERVER, create_database, drop_database, env_int
from miroconnect.crypto import KeyRing, TokenCipher, generate_key
from miroconnect.oauth.pending import PendingAction
from miroconnect.oauth.store import ConsentStatus, HeldConsent, NewHeldConsent
from miroconnect.oauth.tokens import MiroIdentity, TokenSet
from miroconnect.storage.consents import SQLConsentStore
from miroconnect.storage.db import Database
from miroconnect.storage.migrate import upgrade

__all__ = ["main", "run"]

WARM = 100  # confirms before the timed ones: statements compiled, caches filled


def _consent(number: int, now: datetime) -> NewHeldConsent:
    user = f"m{number}"
    return NewHeldConsent(
        id=secrets.token_hex(16),
        result_hash=secrets.token_hex(32),
        flow_id=secrets.token_hex(16),
        app_user_id=f"user-{number}",
        action=PendingAction("create_board", {"name": "Plan"}, idempotency_key="k"),
        identity=MiroIdentity(
            user_id=user,
            team_id="team-1",
            user_name="A user",
            team_name="A team",
            scopes=("boards:read", "boards:write"),
        ),
        tokens=TokenSet(
            access_token=secrets.token_urlsafe(32),
            refresh_token=secrets.token_urlsafe(32),
            expires_at=now + timedelta(hours=1),
            scopes=("boards:read", "boards:write"),
            team_id="team-1",
            user_id=user,
        ),
        created_at=now,
        expires_at=now + timedelta(minutes=10),
    )


def _confirm(consent: HeldConsent) -> ConsentStatus:
    return ConsentStatus.CONFIRMED


async def run(url: str, consents: int) -> float:
    """CPU (ms) per confirm decision on the database at `url`."""
    await upgrade(url)
    db = Database(url)
    store = SQLConsentStore(db, TokenCipher(KeyRing.parse(generate_key("k1"))))
    try:
        now = datetime.now(UTC)
        held = [_consent(number, now) for number in range(WARM + consents)]
        for consent in held:
            await store.hold_consent(consent)
        for consent in held[:WARM]:
            await store.decide_consent(consent.result_hash, _confirm, now=now)
        began = time.process_time()
        for consent in held[WARM:]:
            decided = await store.decide_consent(consent.result_hash, _confirm, now=now)
            if decided is None or decided.connection is None:
                raise RuntimeError("a held consent was not confirmed")
        return 1000 * (time.process_time() - began) / consents
    finally:
        await db.dispose()


async def _both(consents: int) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        sqlite = f"sqlite+aiosqlite:///{Path(folder) / 'confirm.db'}"
        results["sqlite"] = await run(sqlite, consents)
    try:
        name, url = await create_database(DEFAULT_PG_SERVER, "bench_confirm")
    except OSError as exc:
        print(f"PostgreSQL skipped: {exc}", flush=True)
        return results
    try:
        results["postgres"] = await run(url, consents)
    finally:
        await drop_database(DEFAULT_PG_SERVER, name)
    return results


def main() -> None:
    consents = env_int("CONFIRM", "CONSENTS", 2000)
    print(
        f"confirm: {consents} held consents confirmed one after another, one process; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for side, cpu in asyncio.run(_both(consents)).items():
        print(f"| {side} | {cpu:.3f} ms of CPU per confirm |", flush=True)


if __name__ == "__main__":
    main()
