"""FastAPI dependencies shared by the routers, as `Annotated` aliases."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from miroconnect.errors import (
    CSRFRejectedError,
    DatabaseNotReadyError,
    SignInRequiredError,
)
from miroconnect.web.accounts import Account
from miroconnect.web.context import WebContext
from miroconnect.web.problems import ProblemError
from miroconnect.web.security import CSRF_FIELD, FORM_LIMITS, cross_site

__all__ = [
    "APIKeyRoute",
    "CSRFDep",
    "context_of",
    "database_ready",
    "OptionalAccountDep",
    "reference_app_user_id",
]


def context_of(request: Request) -> WebContext:
    """The app's `WebContext`: routes and dependencies take the `Request` and read it
    here. (Not a `Depends`: FastAPI solves each dependency on every request, 2 % of a
    board's instructions in `bench_instructions`.)"""
    context: WebContext = request.app.state.miroconnect
    return context


async def database_ready(request: Request) -> None:
    """`DatabaseNotReadyError` until the database is found at this version's tables
    (one check per app; `miroconnect serve` checks before it starts, a host app
    embedding the connect routes may not). A database that does not answer raises the
    driver's error, answered as any outage is, and is checked again next time."""
    context = context_of(request)
    if context.schema.ready:
        return
    from miroconnect.storage.migrate import schema_behind

    problem = await schema_behind(context.database.url)
    if problem is not None:
        raise DatabaseNotReadyError(problem)
    context.schema.ready = True


async def verify_csrf(request: Request) -> None:
    """Refuse a form post whose `csrf_token` does not match the browser's cookie."""
    context = context_of(request)
    # Parsed already when the route has form fields (with the router's limits).
    form = await request.form(
        max_files=FORM_LIMITS["max_files"],
        max_fields=FORM_LIMITS["max_fields"],
        max_part_size=FORM_LIMITS["max_part_size"],
    )
    token = form.get(CSRF_FIELD)
    if cross_site(request):
        raise CSRFRejectedError
    if not context.csrf.check(request, token if isinstance(token, str) else None):
        raise CSRFRejectedError


CSRFDep = Depends(verify_csrf)


async def optional_account(request: Request) -> Account | None:
    """The signed-in reference-app account, or `None` (one read: session and account)."""
    context = context_of(request)
    found = await context.sessions.account(request)
    return None if found is None else Account(id=found[0], username=found[1])


OptionalAccountDep = Annotated[Account | None, Depends(optional_account)]


async def reference_app_user_id(account: OptionalAccountDep) -> str:
    """The app user id of the signed-in account; the connect router's dependency in
    the reference app."""
    if account is None:
        raise SignInRequiredError
    return account.app_user_id


def require_api_key(request: Request) -> None:
    """Accept only `Authorization: Bearer <key>` with one of the configured keys.

    Every configured key is compared, in constant time, so the answer time does not say
    how much of a key was right or which key matched.
    """
    context = context_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="miroconnect"'}
    if scheme.lower() != "bearer" or not presented.strip():
        raise ProblemError(
            401,
            "send the service API key as `Authorization: Bearer <key>`",
            reason="missing_api_key",
            headers=challenge,
        )
    candidate = presented.strip().encode()
    matched = False
    for key in context.api_keys:
        matched |= hmac.compare_digest(candidate, key)
    if not matched:
        raise ProblemError(
            401, "the API key is not valid", reason="invalid_api_key", headers=challenge
        )


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class APIKeyRoute(APIRoute):
    """A route of the service API: the caller's API key is checked first.

    Give it to a router (`APIRouter(route_class=APIKeyRoute)`): every route of that
    router checks the key (`require_api_key`) before anything else runs for it, so no
    route can leave it out, and a caller without a key is refused before its body is
    read or parsed, or any dependency solved. (A router-level dependency would run only
    after FastAPI had read and parsed the body, and cost a dependency solve a request.)
    """

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def keyed(request: Request) -> Response:
            require_api_key(request)
            return await handler(request)

        return keyed
