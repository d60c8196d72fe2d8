"""Connect-flow helpers: the emulator with our app registered, settings, a stack, consent
at the emulator as a browser would give it, and a probe action runner."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
from starlette.applications import Starlette

from miroconnect.assembly import Stack, build_stack
from miroconnect.config import Settings
from miroconnect.emulator import EmulatorClient, create_emulator, emulator_transport
from miroconnect.errors import MiroAPIError
from miroconnect.oauth.pending import ActionContext, ActionResult, PendingAction
from support import CLIENT_ID, CLIENT_SECRET, FakeClock

__all__ = [
    "KEY1",
    "KEY2",
    "MIRO",
    "ProbeRunner",
    "REDIRECT_URI",
    "consent",
    "make_emulator",
    "make_settings",
    "open_stack",
]

MIRO = "https://miro.test"
REDIRECT_URI = "http://app.test/connect/callback"
KEY1 = "k1:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
KEY2 = "k2:" + base64.urlsafe_b64encode(bytes(range(32, 64))).decode().rstrip("=")


def make_emulator(
    clock: FakeClock | None = None, *, auto_approve: bool = True, expiring: bool = True
) -> Starlette:
    return create_emulator(
        clock=clock,
        auto_approve=auto_approve,
        clients=[
            EmulatorClient(CLIENT_ID, CLIENT_SECRET, (REDIRECT_URI,), expiring=expiring)
        ],
    )


def make_settings(
    database_url: str,
    *,
    keys: str = KEY1,
    miro: str = MIRO,
    redirect_uri: str = REDIRECT_URI,
    **changes: Any,
) -> Settings:
    """Settings with our app registered at the emulator (`make_emulator`), Miro at
    `miro`, and `changes` on top (any `Settings` field)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "encryption_keys": keys,
        "miro_client_id": CLIENT_ID,
        "miro_client_secret": CLIENT_SECRET,
        "miro_redirect_uri": redirect_uri,
        "miro_auth_url": f"{miro}/oauth/authorize",
        "miro_api_url": miro,
    }
    values.update(changes)
    return Settings.model_validate(values)


def open_stack(
    database_url: str,
    transport: httpx2.AsyncBaseTransport,
    clock: FakeClock,
    *,
    keys: str = KEY1,
) -> Stack:
    return build_stack(
        make_settings(database_url, keys=keys), miro_transport=transport, clock=clock
    )


async def consent(
    emulator: Starlette, authorize_url: str, *, miro_user: str = "", **form: str
) -> dict[str, str]:
    """Play the browser at Miro, signed in as `miro_user` (default: the emulator's
    default user): open the authorize URL (auto-approve), or post the consent form when
    `form` is given; return the callback's query parameters."""
    cookies = {"miro_emulator_user": miro_user} if miro_user else None
    async with httpx2.AsyncClient(
        transport=emulator_transport(emulator), base_url=MIRO, cookies=cookies
    ) as browser:
        if form:
            query = dict(parse_qsl(urlsplit(authorize_url).query))
            response = await browser.post(
                "/oauth/authorize",
                data={
                    "client_id": query["client_id"],
                    "redirect_uri": query["redirect_uri"],
                    "state": query["state"],
                    **form,
                },
            )
        else:
            response = await browser.get(authorize_url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(parse_qsl(urlsplit(location).query))


@dataclass
class ProbeRunner:
    """A test `ActionRunner`: calls `GET /v1/oauth-token` with the connection's token
    (retrying once after a 401, as the real client does) and records each run."""

    transport: httpx2.AsyncBaseTransport
    runs: list[tuple[PendingAction, ActionContext]] = field(default_factory=list)

    async def run(self, action: PendingAction, context: ActionContext) -> ActionResult:
        async with httpx2.AsyncClient(transport=self.transport, base_url=MIRO) as http:
            token = await context.tokens.access_token()
            response = await http.get(
                "/v1/oauth-token", headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code == 401:
                token = await context.tokens.after_rejection(token)
                response = await http.get(
                    "/v1/oauth-token", headers={"Authorization": f"Bearer {token}"}
                )
        if response.status_code != 200:
            raise MiroAPIError(response.status_code, None, "probe failed")
        self.runs.append((action, context))
        body: Mapping[str, Any] = response.json()
        return ActionResult(
            kind=action.kind,
            data={"miro_user_id": body["user"]["id"], **dict(action.params)},
        )
