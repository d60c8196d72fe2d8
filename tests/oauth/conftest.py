"""Fixtures of the flow and vault tests: clock, emulator, a migrated vault stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from starlette.applications import Starlette

from miroconnect.assembly import Stack
from miroconnect.emulator import emulator_transport
from miroconnect.oauth.flow import ConnectFlow
from miroconnect.storage.migrate import upgrade
from support import FakeClock
from support.oauth import ProbeRunner, make_emulator, open_stack


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Starlette:
    return make_emulator(clock)


@pytest.fixture
def transport(emulator: Starlette) -> httpx2.AsyncBaseTransport:
    return emulator_transport(emulator)


@pytest.fixture
async def stack(
    database_url: str, transport: httpx2.AsyncBaseTransport, clock: FakeClock
) -> AsyncIterator[Stack]:
    await upgrade(database_url)
    stack = open_stack(database_url, transport, clock)
    try:
        yield stack
    finally:
        await stack.aclose()


@pytest.fixture
def runner(transport: httpx2.AsyncBaseTransport) -> ProbeRunner:
    return ProbeRunner(transport)


@pytest.fixture
def flow(stack: Stack, runner: ProbeRunner) -> ConnectFlow:
    return stack.flow_with(runner, allowed_return_urls=["https://app.example.com"])
