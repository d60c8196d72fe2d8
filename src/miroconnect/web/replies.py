"""What the web routes share when they answer: error pages, return URLs, board records.

`safe_view_link` is the one check a board link from Miro's answer passes before it is put
into an `href` or handed to the host app (`board_record` and every list of boards use it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import Response

from miroconnect.oauth.pending import ActionResult
from miroconnect.storage.boards import BoardRecord
from miroconnect.web.context import WebContext
from miroconnect.web.reasons import failure_text

__all__ = [
    "csrf_token",
    "error_page",
    "board_record",
    "safe_view_link",
    "with_query",
]


def csrf_token(request: Request) -> str:
    """The CSRF token a host app's form posting to the connect routes must carry
    (as the `csrf_token` field)."""
    context: WebContext = request.app.state.miroconnect
    return context.csrf.token_for(request)


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query string."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in params] + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def error_page(
    context: WebContext,
    request: Request,
    reason: str,
    *,
    status_code: int = 400,
    back_url: str | None = None,
) -> Response:
    """The page for one failure reason: what happened and what to do, and a link back to
    the app: `back_url` (a checked return URL), else the app's home (`context.home_url`;
    no link on the service, which does not know where its users came from)."""
    return context.render(
        request,
        "error.html",
        {
            "reason": reason,
            "text": failure_text(reason),
            "back_url": back_url or context.home_url,
        },
        status_code=status_code,
    )


_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


@functools.lru_cache(maxsize=64)
def _origin_parts(origin: str) -> SplitResult:
    return urlsplit(origin)


def safe_view_link(link: object, origins: Iterable[str]) -> str:
    """`link` if it is an https link on one of Miro's web `origins` (or the configured
    emulator's, which is the only origin that may be plain http), else `""`.

    A board's `viewLink` comes from Miro's answer and goes into an `href`: a
    `javascript:` or foreign link must never get there.
    """
    if not isinstance(link, str) or len(link) > 2048:
        return ""
    try:
        parts = urlsplit(link)
        port = parts.port
    except ValueError:
        return ""
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return ""
    if _CONTROL_OR_SPACE.search(link):
        return ""
    for origin in origins:
        allowed = _origin_parts(origin)
        if (
            parts.scheme == allowed.scheme
            and parts.hostname == allowed.hostname
            and port == allowed.port
        ):
            return link
    return ""


def board_record(
    context: WebContext, result: ActionResult, name: str
) -> BoardRecord | None:
    """The board an action made, as the API and the pages show it (`None` if none was
    made): its link checked, its time the operation's end, so a repeat of the action
    answers exactly what the first run did. The board itself was recorded with its
    operation (`OperationStore.finish`)."""
    board_id = result.data.get("board_id")
    if not isinstance(board_id, str) or not board_id:
        return None
    context.metrics.actions.labels(result.kind, "done").inc()
    return BoardRecord(
        board_id,
        str(result.data.get("name") or name),
        safe_view_link(result.data.get("view_link"), context.miro_origins),
        result.finished_at or context.clock(),
    )
