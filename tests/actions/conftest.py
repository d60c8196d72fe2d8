"""The runners' world: the emulator in process, a database, fake time, a runner."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx2
import pytest
from sqlalchemy import insert

from miroconnect.actions import MiroActionRunner
from miroconnect.client import CreditPacer, MiroClient, RetryPolicy, StaticTokenSource
from miroconnect.emulator import create_emulator, emulator_transport
from miroconnect.oauth.pending import ActionContext
from miroconnect.storage.db import Database
from miroconnect.storage.models import OperationRow
from miroconnect.storage.operations import OperationStore
from support import FakeTime, connect, create_tables, emulator_app_client

BASE = "http://miro.test"


@dataclass
class World:
    http: httpx2.AsyncClient
    db: Database
    time: FakeTime
    runner: MiroActionRunner
    context: ActionContext

    def new_runner(self) -> MiroActionRunner:
        """Another runner on the same database: another request, worker or process."""
        return make_runner(self.db, self.http, self.time)

    async def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.http.get(f"{BASE}/_emulator/stats")).json()
        return body

    async def boards(self) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = (
            await self.http.get(f"{BASE}/_emulator/boards")
        ).json()
        return body

    async def fault(self, **rule: Any) -> None:
        answer = await self.http.post(f"{BASE}/_emulator/faults", json=rule)
        assert answer.status_code in (200, 201), answer.text

    async def sent_operation(
        self, key: str, kind: str, params: dict[str, Any], *, lease: timedelta
    ) -> None:
        """An operation another worker committed `sent` now, its lease `lease` long
        (a worker that died, or one still running)."""
        started = self.time.now()
        async with self.db.session() as session, session.begin():
            await session.execute(
                insert(OperationRow).values(
                    id=uuid4().hex,
                    app_user_id=self.context.app_user_id,
                    idempotency_key=key,
                    kind=kind,
                    params=params,
                    connection_id=self.context.connection_id,
                    miro_user_id=self.context.miro_user_id,
                    miro_team_id=self.context.miro_team_id,
                    state="sent",
                    attempts=1,
                    lease_owner="another-worker",
                    lease_until=started + lease,
                    started_at=started,
                    updated_at=started,
                )
            )

    def client(self) -> MiroClient:
        return MiroClient(
            self.http,
            self.context.tokens,
            base_url=BASE,
            pacer=CreditPacer(clock=self.time.now, sleep=self.time.sleep),
            sleep=self.time.sleep,
        )


def make_runner(
    db: Database, http: httpx2.AsyncClient, time: FakeTime
) -> MiroActionRunner:
    return MiroActionRunner(
        OperationStore(db, clock=time.now),
        http,
        base_url=BASE,
        pacer=CreditPacer(clock=time.now, sleep=time.sleep),
        retry=RetryPolicy(rng=random.Random(3)),  # noqa: S311 (jitter)
        clock=time.now,
        sleep=time.sleep,
        attempts=10,
    )


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    time = FakeTime()
    app = create_emulator(
        clock=time.now,
        auto_approve=True,
        clients=[emulator_app_client()],
        seed=11,
        credits=10_000_000,
    )
    db = await create_tables(database_url)
    async with httpx2.AsyncClient(transport=emulator_transport(app)) as http:
        grant = await connect(http, BASE)
        context = ActionContext(
            app_user_id="app-user-1",
            connection_id="conn-1",
            miro_user_id=grant.user_id,
            miro_team_id=grant.team_id,
            tokens=StaticTokenSource(grant.access_token, key=grant.user_id),
        )
        yield World(http, db, time, make_runner(db, http, time), context)
    await db.dispose()
