"""Helpers of the CLI tests: a migrated database with connections made through the real
flow against the emulator, and the environment the commands read."""

from __future__ import annotations

import asyncio

import httpx2
import typer
from starlette.applications import Starlette

from miroconnect.emulator import emulator_transport
from miroconnect.oauth.outcomes import FlowOutcome
from miroconnect.oauth.tokens import Connection
from miroconnect.storage.migrate import upgrade
from support import CLIENT_ID, CLIENT_SECRET, FakeClock
from support.oauth import KEY1, MIRO, REDIRECT_URI, ProbeRunner, consent, open_stack

__all__ = ["API_KEY", "SECRET_KEY", "environment", "new_app", "seed"]

SECRET_KEY = "cookie-signing-secret-0123456789abcdef"
API_KEY = "service-api-key-5f4e3d2c1b"


def environment(database_url: str, *, keys: str = KEY1) -> dict[str, str]:
    """Every variable a deployment sets, pointing Miro at the emulator's host name."""
    return {
        "MIROCONNECT_DATABASE_URL": database_url,
        "MIROCONNECT_ENCRYPTION_KEYS": keys,
        "MIROCONNECT_MIRO_CLIENT_ID": CLIENT_ID,
        "MIROCONNECT_MIRO_CLIENT_SECRET": CLIENT_SECRET,
        "MIROCONNECT_MIRO_REDIRECT_URI": REDIRECT_URI,
        "MIROCONNECT_MIRO_AUTH_URL": f"{MIRO}/oauth/authorize",
        "MIROCONNECT_MIRO_API_URL": MIRO,
        "MIROCONNECT_SECRET_KEY": SECRET_KEY,
        "MIROCONNECT_API_KEYS": API_KEY,
    }


def new_app() -> typer.Typer:
    return typer.Typer(no_args_is_help=True, add_completion=False)


def seed(
    database_url: str,
    emulator: Starlette,
    clock: FakeClock,
    users: list[str],
    *,
    keys: str = KEY1,
    miro_users: list[str] | None = None,
) -> list[Connection]:
    """Migrate the database and connect each user through the real flow (at Miro as
    the matching one of `miro_users`, if given)."""

    async def run() -> list[Connection]:
        await upgrade(database_url)
        transport: httpx2.AsyncBaseTransport = emulator_transport(emulator)
        stack = open_stack(database_url, transport, clock, keys=keys)
        flow = stack.flow_with(ProbeRunner(transport))
        made = []
        try:
            for number, user in enumerate(users):
                start = await flow.start(user, None, "/")
                miro_user = miro_users[number] if miro_users else ""
                callback = await consent(
                    emulator, start.authorize_url, miro_user=miro_user
                )
                outcome = await flow.complete(
                    state=callback["state"],
                    code=callback["code"],
                    binding_cookie_value=start.binding_cookie_value,
                )
                assert isinstance(outcome, FlowOutcome)
                made.append(outcome.connection)
        finally:
            await stack.aclose()
        return made

    return asyncio.run(run())
