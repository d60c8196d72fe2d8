"""One OS process of the refresh race (run by `test_refresh_race.py`, not by pytest).

Usage: `python race_worker.py <database_url> <miro_url> <connection_id> <calls> <clock_offset_s>`

Opens its own vault on the shared database, says `ready`, waits for `go` on stdin, then
makes `calls` concurrent calls: token from the vault, raw `GET /v1/oauth-token` with it, one
retry through `after_rejection` on a 401. Prints a JSON line with the statuses and how many
refreshes this process sent to Miro.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta

import httpx2

from miroconnect.assembly import build_stack
from miroconnect.config import Settings
from miroconnect.types import system_clock

__all__: list[str] = []


async def main(
    database_url: str,
    miro: str,
    connection_id: str,
    calls: int,
    offset: float,
    keys: str,
) -> None:
    def clock() -> datetime:
        return system_clock() + timedelta(seconds=offset)

    settings = Settings(
        database_url=database_url,
        encryption_keys=keys,
        miro_client_id=sys.argv[7],
        miro_client_secret=sys.argv[8],
        miro_redirect_uri=sys.argv[9],
        miro_auth_url=f"{miro}/oauth/authorize",
        miro_api_url=miro,
    )
    stack = build_stack(settings, clock=clock)
    source = stack.vault.token_source(connection_id)
    limits = httpx2.Limits(max_connections=calls)
    async with httpx2.AsyncClient(base_url=miro, limits=limits, timeout=30) as http:
        await stack.storage.connections.load_tokens(
            connection_id
        )  # warm the pool, no refresh

        async def call() -> int:
            token = await source.access_token()
            headers = {"Authorization": f"Bearer {token}"}
            response = await http.get("/v1/oauth-token", headers=headers)
            if response.status_code == 401:
                token = await source.after_rejection(token)
                headers = {"Authorization": f"Bearer {token}"}
                response = await http.get("/v1/oauth-token", headers=headers)
            return response.status_code

        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        statuses = await asyncio.gather(
            *(call() for _ in range(calls)), return_exceptions=True
        )
    await stack.aclose()
    print(
        json.dumps(
            {
                "statuses": [
                    s if isinstance(s, int) else f"{type(s).__name__}: {s}"
                    for s in statuses
                ],
                "refreshes": stack.vault.refresh_count,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    url, miro, connection_id, calls, offset, keys = sys.argv[1:7]
    asyncio.run(main(url, miro, connection_id, int(calls), float(offset), keys))
