"""Sending one call: pacing, authentication, retries, and Miro's errors as exceptions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx2

from miroconnect.client.auth import MiroAuth
from miroconnect.client.pacing import CREDITS_BY_LEVEL, CreditPacer, Sleep
from miroconnect.client.retry import RetryPolicy
from miroconnect.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    MiroAPIError,
    MiroServerError,
    MiroTransportError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
)
from miroconnect.logs import log_event
from miroconnect.oauth.source import TokenSource

__all__ = [
    "FilePart",
    "Files",
    "Params",
    "Requester",
    "api_error",
    "credits_for",
    "path_id",
    "transport_error",
]

_ERRORS: Mapping[int, type[MiroAPIError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}

# Request ids Miro or a proxy in front of it may send back.
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-miro-request-id")

Params = Mapping[str, str | int]
FilePart = tuple[str | None, bytes, str]
"""One multipart part: (filename or None for a plain field, content, content type)."""
Files = Sequence[tuple[str, FilePart]]
"""A multipart body's parts by field name, in order (a name may repeat)."""

logger = logging.getLogger(__name__)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _log_call(
    method: str,
    path: str,
    *,
    started: float,
    attempt: int,
    response: httpx2.Response | None = None,
    error: BaseException | None = None,
) -> None:
    """`miro.call`: one event per HTTP request to Miro (each retry is its own).

    Method, path (never a query: it may carry values the caller passed), status,
    duration, attempt and the credits Miro says are left. Never a header or a body: the
    token travels in one, and revoke's JSON carries it too.
    """
    status = response.status_code if response is not None else None
    log_event(
        logger,
        "miro.call",
        level=logging.INFO if status is not None and status < 500 else logging.WARNING,
        method=method,
        path=path.split("?", 1)[0],
        status_code=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        attempt=attempt,
        rate_limit_remaining=(
            _int(response.headers.get("x-ratelimit-remaining"))
            if response is not None
            else None
        ),
        error_type=type(error).__name__ if error is not None else None,
    )


def path_id(value: str) -> str:
    """An id as one path segment: verbatim (`=` stays), only `/ ? # %` escaped.

    Board ids such as `uXjVOD6LSME=` must round-trip unchanged in paths; in query strings
    httpx percent-encodes them.
    """
    if not value:
        raise ValueError("an id must not be empty")
    return quote(value, safe="=!$&'()*+,;:@-._~")


def api_error(response: httpx2.Response) -> MiroAPIError:
    """The exception for an error answer, with Miro's `code`, message and context."""
    status = response.status_code
    code: str | None = None
    message = response.reason_phrase or "error"
    context: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        if isinstance(body.get("message"), str):
            message = body["message"]
        context = body.get("context")
    request_id = next(
        (response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers),
        None,
    )
    cls = _ERRORS.get(status, MiroServerError if status >= 500 else MiroAPIError)
    error = cls(status, code, message, context=context, request_id=request_id)
    if isinstance(error, RateLimitedError):
        error.reset_at = _float(response.headers.get("x-ratelimit-reset"))
    return error


def transport_error(
    exc: httpx2.TransportError, method: str, path: str
) -> MiroTransportError:
    """A network failure as `MiroTransportError`, saying whether the call may have run."""
    # Only a connection that was never opened proves the request never reached Miro.
    unsent = isinstance(
        exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout
    )
    return MiroTransportError(
        f"{method} {path}: {type(exc).__name__}", maybe_processed=not unsent
    )


def credits_for(level: int | None, units: int = 1) -> int:
    """The credits a call of rate-limit `level` (None: not metered) books, charged
    `units` times."""
    if units < 1:
        raise ValueError("a call costs at least one unit of its level")
    return CREDITS_BY_LEVEL[level] * units if level is not None else 0


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Requester:
    """Sends calls for one connection through a shared `httpx2.AsyncClient`."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        tokens: TokenSource,
        *,
        base_url: str,
        pacer: CreditPacer,
        retry: RetryPolicy,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = http
        self._key = tokens.key
        self._auth = MiroAuth(tokens)
        self._base_url = base_url.rstrip("/")
        self._pacer = pacer
        self._retry = retry
        self._sleep = sleep

    @property
    def key(self) -> str:
        """The connection key calls are paced under (the token source's key)."""
        return self._key

    async def send(
        self,
        method: str,
        path: str,
        *,
        level: int | None,
        idempotent: bool,
        params: Params | None = None,
        json: Any = None,
        files: Files | None = None,
        auth: bool = True,
        units: int = 1,
    ) -> httpx2.Response:
        """Send one call and return its 2xx answer, or raise.

        `level` is the endpoint's rate-limit level (None: not metered), and `units` how
        many times Miro charges it (bulk create costs "Level 2 per item"). `idempotent`
        calls are repeated after 5xx answers and network errors; every call is repeated
        after a 429, once the credits are back. `files` sends a multipart body (bytes in
        memory, so a repeat sends the same body).
        """
        url = self._base_url + path

        def build() -> httpx2.Request:
            return self._http.build_request(
                method, url, params=params, json=json, files=files
            )

        response = await self.exchange(
            build, credits=credits_for(level, units), idempotent=idempotent, auth=auth
        )
        if response.status_code >= 400:
            raise api_error(response)
        return response

    async def exchange(
        self,
        build: Callable[[], httpx2.Request],
        *,
        credits: int,
        idempotent: bool,
        auth: bool = True,
        stream: bool = False,
    ) -> httpx2.Response:
        """Send the request `build()` makes (a new one per attempt) and return Miro's
        final answer, whatever its status; raise `MiroTransportError` if none came.

        The loop of `send`: credits booked before each attempt and settled from the
        answer's headers; a 429 sent again once the credits are back; an `idempotent`
        request sent again after a 5xx or a network error. `stream=True` leaves the
        final answer's body unread (close it); answers dropped for a retry are closed
        here. Redirects are never followed: the token goes to `build()`'s URL only.
        """
        retries = 0
        limited = 0
        while True:
            request = build()
            method, path = request.method, request.url.path
            ticket = await self._pacer.acquire(self._key, credits)
            answered = False
            attempt = retries + limited + 1
            started = time.perf_counter()
            try:
                response = await self._http.send(
                    request,
                    auth=self._auth if auth else None,
                    stream=stream,
                    follow_redirects=False,
                )
                answered = True
            except httpx2.TransportError as exc:
                _log_call(method, path, started=started, attempt=attempt, error=exc)
                error = transport_error(exc, method, path)
                if idempotent and retries + 1 < self._retry.attempts:
                    await self._sleep(self._retry.backoff(retries))
                    retries += 1
                    continue
                raise error from exc
            finally:
                if not answered:
                    await self._pacer.settle(ticket, None, None)
            _log_call(method, path, started=started, attempt=attempt, response=response)
            await self._pacer.settle(ticket, response.headers, response.status_code)
            status = response.status_code
            if status == 429 and limited + 1 < self._retry.rate_limited_attempts:
                await response.aclose()
                limited += 1
                reset_at = _float(response.headers.get("x-ratelimit-reset"))
                retry_after = _float(response.headers.get("retry-after"))
                if retry_after is not None:
                    await self._sleep(retry_after)
                elif not await self._pacer.wait_for_reset(self._key, reset_at):
                    await self._sleep(self._retry.backoff(limited - 1))
                continue
            if status >= 500 and idempotent and retries + 1 < self._retry.attempts:
                await response.aclose()
                await self._sleep(self._retry.backoff(retries))
                retries += 1
                continue
            return response
