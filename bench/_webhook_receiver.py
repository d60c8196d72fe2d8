"""A host app's webhook endpoint for `bench/bench_webhooks.py`: verifies every delivery
with `standardwebhooks` (as a real receiver must) and keeps, per event id, how many times it
came and its lag (receipt minus the event's `timestamp`, same machine, same clock).

Configured by the environment: `RECEIVER_SECRET` (the `whsec_` secret). Serve it with
`python -m uvicorn bench._webhook_receiver:app --no-access-log`. `GET /stats` answers the
counts, the lags (seconds, first delivery of each event) and when the last event arrived.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import datetime

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["app"]

_SIGNER = Webhook(os.environ.get("RECEIVER_SECRET", "whsec_" + "A" * 32))
_SEEN: Counter[str] = Counter()
_LAGS: list[float] = []
_TYPES: Counter[str] = Counter()
_STATE = {"forged": 0, "last": 0.0}


async def hook(request: Request) -> Response:
    body = (await request.body()).decode()
    try:
        event = _SIGNER.verify(body, dict(request.headers))
    except WebhookVerificationError:
        _STATE["forged"] += 1
        return Response(status_code=400)
    now = time.time()
    event_id = request.headers["webhook-id"]
    _SEEN[event_id] += 1
    if _SEEN[event_id] == 1:
        stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        _LAGS.append(now - stamp.timestamp())
        _TYPES[event["type"]] += 1
        _STATE["last"] = now
    return Response(status_code=204)


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "events": len(_SEEN),
            "deliveries": sum(_SEEN.values()),
            "forged": _STATE["forged"],
            "last": _STATE["last"],
            "types": dict(_TYPES),
            "lags": _LAGS,
        }
    )


async def reset(request: Request) -> Response:
    """Forget the lags (the next phase measures its own); counts stay."""
    _LAGS.clear()
    return Response(json.dumps({"ok": True}), media_type="application/json")


app = Starlette(
    routes=[
        Route("/hooks", hook, methods=["POST"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
    ]
)
