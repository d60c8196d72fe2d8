"""`/_emulator/*`: what tests and benchmarks use to set up, inspect and break the emulator.

Every `POST` here must say `Content-Type: application/json` (`415` otherwise), even those
without a body (send `{}`): a web page may send a cross-site POST without asking first only
as a form or `text/plain`, so any page a developer visits could otherwise reset or fault the
demo's Miro. A JSON POST from another site needs a CORS preflight, which the emulator never
grants. `DELETE` is preflighted already; `GET`s change nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from miroconnect.emulator.api import state_of
from miroconnect.emulator.state import EmulatorClient, Fault
from miroconnect.emulator.validate import (
    invalid,
    opt_bool,
    opt_enum,
    opt_number,
    opt_str,
)
from miroconnect.emulator.wire import APIError, iso, json_response, read_json_object

__all__ = ["routes"]

_ACTIONS = ("status", "delay", "drop_after_commit", "reset_before_commit")
_METHODS = ("*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _string_list(body: dict[str, Any], key: str, default: list[str]) -> list[str]:
    value = body.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise invalid(key, "must be a list of non-empty strings")
    return value


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json"


def _guard(handler: Any) -> Any:
    async def route(request: Request) -> Response:
        if request.method == "POST" and not _is_json(request):
            message = "Control requests must be sent as application/json."
            return json_response(
                {"status": 415, "code": "unsupportedMediaType", "message": message},
                415,
            )
        try:
            response: Response = await handler(request)
        except APIError as error:
            return json_response(error.body(), error.status)
        return response

    route.__name__ = handler.__name__
    return route


@_guard
async def add_client(request: Request) -> Response:
    """Register (or replace) an app, with the `name` its consent page shows. The secret is
    never echoed back."""
    body = await read_json_object(request, required=True)
    client_id = opt_str(body, "client_id", "client_id", min_length=1)
    name = opt_str(body, "name", "name", max_length=100) or ""
    secret = opt_str(body, "client_secret", "client_secret", min_length=1)
    if client_id is None or secret is None:
        raise invalid("client_id", "client_id and client_secret are required")
    redirect_uris = _string_list(body, "redirect_uris", [])
    if not redirect_uris:
        # Miro: "A client must have at least one registered redirect URL".
        raise invalid("redirect_uris", "at least one redirect URI is required")
    ttl = opt_number(body, "access_token_ttl", "access_token_ttl", minimum=2)
    expiring = opt_bool(body, "expiring", "expiring")
    client = EmulatorClient(
        client_id=client_id,
        client_secret=secret,
        redirect_uris=tuple(redirect_uris),
        expiring=True if expiring is None else expiring,
        access_token_ttl=int(ttl) if ttl is not None else 3600,
        scopes=tuple(_string_list(body, "scopes", ["boards:read", "boards:write"])),
        name=name.strip(),
    )
    state_of(request).clients[client.client_id] = client
    return json_response(
        {
            "client_id": client.client_id,
            "name": client.name,
            "redirect_uris": list(client.redirect_uris),
            "expiring": client.expiring,
            "access_token_ttl": client.access_token_ttl,
            "scopes": list(client.scopes),
        },
        201,
    )


async def stats(request: Request) -> Response:
    return json_response(state_of(request).snapshot())


async def boards(request: Request) -> Response:
    """Every board of every user, for duplicate checks."""
    return json_response(
        [
            {
                "id": b.id,
                "name": b.name,
                "ownerId": b.owner.id,
                "teamId": b.team.id,
                "createdAt": iso(b.created_at),
            }
            for b in state_of(request).boards.values()
        ]
    )


@_guard
async def add_fault(request: Request) -> Response:
    state = state_of(request)
    body = await read_json_object(request, required=True)
    action = opt_enum(body, "action", "action", _ACTIONS)
    if action is None:
        raise invalid("action", "is required: " + ", ".join(_ACTIONS))
    method = (opt_str(body, "method", "method") or "*").upper()
    if method not in _METHODS:
        raise invalid("method", "must be an HTTP method or *")
    path = opt_str(body, "path", "path") or "/"
    times = body.get("times")
    if times is not None and (
        isinstance(times, bool) or not isinstance(times, int) or times < 1
    ):
        raise invalid("times", "must be a positive integer or null")
    probability = opt_number(body, "probability", "probability", minimum=0, maximum=1)
    status = opt_number(body, "status", "status", minimum=100, maximum=599)
    if action == "status" and status is None:
        raise invalid("status", "is required for the status action")
    seconds = opt_number(body, "seconds", "seconds", minimum=0, maximum=600)
    if action == "delay" and seconds is None:
        raise invalid("seconds", "is required for the delay action")
    fault = Fault(
        id=state.ids.cursor_salt(),
        method=method,
        path=path,
        action=action,  # type: ignore[arg-type]  # checked against _ACTIONS above
        times=times,
        probability=1.0 if probability is None else probability,
        status=int(status or 500),
        body=body.get("body"),
        seconds=seconds or 0.0,
    )
    state.faults.append(fault)
    return json_response({"id": fault.id}, 201)


async def list_faults(request: Request) -> Response:
    return json_response(
        [
            {
                "id": f.id,
                "method": f.method,
                "path": f.path,
                "action": f.action,
                "times": f.times,
                "probability": f.probability,
            }
            for f in state_of(request).faults
        ]
    )


async def clear_faults(request: Request) -> Response:
    state_of(request).faults.clear()
    return Response(status_code=204)


@_guard
async def reset(request: Request) -> Response:
    """Forget everything; clients given to `create_emulator(clients=...)` come back."""
    state_of(request).reset()
    return Response(status_code=204)


@_guard
async def clock(request: Request) -> Response:
    """GET: the emulator's now. POST `{"advance_seconds": N}`: move time forward."""
    state = state_of(request)
    if request.method == "POST":
        body = await read_json_object(request, required=True)
        seconds = opt_number(body, "advance_seconds", "advance_seconds", minimum=0)
        if seconds is None:
            raise invalid("advance_seconds", "is required")
        state.offset += timedelta(seconds=seconds)
    return json_response({"now": iso(state.now())})


routes = [
    Route("/_emulator/clients", add_client, methods=["POST"]),
    Route("/_emulator/stats", stats, methods=["GET"]),
    Route("/_emulator/boards", boards, methods=["GET"]),
    Route("/_emulator/faults", add_fault, methods=["POST"]),
    Route("/_emulator/faults", list_faults, methods=["GET"]),
    Route("/_emulator/faults", clear_faults, methods=["DELETE"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/clock", clock, methods=["GET", "POST"]),
]
