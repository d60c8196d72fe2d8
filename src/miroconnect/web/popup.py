"""How a service-mode flow ends in the browser: a redirect, or the popup's last page.

With `"display": "popup"` a single-page app opens `authorize_url` in a popup
(`/static/miroconnect.js`). At the callback the service then answers a small page instead
of redirecting to `return_url`: its one inline script posts `{miro_result}` or
`{miro_error}` to `window.opener`, targeted at the exact origin of the flow's `return_url`
(never `*`: a page of any other origin that opened the popup receives nothing), and closes
the popup. The host page hands the result to its backend, which confirms it exactly as
after a redirect: the same one-time value, worth nothing without the API key and only to
the flow's own user.

The page's policy allows that one script by its hash and nothing else. A popup keeps its
opener only if no page on its way says `Cross-Origin-Opener-Policy: same-origin`, so the
launch redirect and this page say `unsafe-none` (every other page of ours keeps
`same-origin`). Without an opener (the link was opened in a tab) the page links on to
`return_url` with the result, as the redirect would have.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from miroconnect.web.context import WebContext
from miroconnect.web.replies import with_query

__all__ = ["POPUP_SCRIPT", "back_to_app", "keep_opener", "origin_of", "popup_page"]

# Fixed: the page's data sits in attributes of `#miroconnect-popup`, so this text, and
# the hash the policy allows, never change.
POPUP_SCRIPT = """
(function () {
  "use strict";
  var page = document.getElementById("miroconnect-popup");
  var result = page.getAttribute("data-miro-result");
  var message = result
    ? { miro_result: result }
    : { miro_error: page.getAttribute("data-miro-error") };
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage(message, page.getAttribute("data-origin"));
    window.close();
  }
})();
"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(POPUP_SCRIPT.encode()).digest()).decode()
POPUP_CSP = "; ".join(
    [
        "default-src 'none'",
        f"script-src 'sha256-{_SCRIPT_HASH}'",
        "style-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


def origin_of(url: str) -> str | None:
    """The serialized origin of an absolute http(s) `url` (`https://app.example`, the
    default port left out), or `None` for a path or anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme}://{host}{suffix}"


def keep_opener(response: Response) -> Response:
    """Let a popup on its way through this response keep its opener (see the module)."""
    response.headers["cross-origin-opener-policy"] = "unsafe-none"
    return response


def popup_page(
    context: WebContext, request: Request, return_url: str, **result: str
) -> Response:
    """The popup's last page: `result` (`miro_result=...` or `miro_error=...`) posted to
    the opener at `return_url`'s origin. `return_url` must be absolute."""
    origin = origin_of(return_url)
    if origin is None:
        raise ValueError("a popup's return URL must be absolute")
    response = context.render(
        request,
        "popup.html",
        {
            "origin": origin,
            "miro_result": result.get("miro_result"),
            "miro_error": result.get("miro_error"),
            "fallback_url": with_query(return_url, **result),
            "script": POPUP_SCRIPT,
        },
    )
    response.headers["content-security-policy"] = POPUP_CSP
    response.headers["cache-control"] = "no-store"
    return keep_opener(response)


def back_to_app(
    context: WebContext,
    request: Request,
    return_url: str,
    display: str,
    **result: str,
) -> Response:
    """Where a flow that ends on the host's side goes with its `result`: the popup page
    for a popup flow with an absolute return URL, else a 303 to `return_url`."""
    if display == "popup" and origin_of(return_url) is not None:
        return popup_page(context, request, return_url, **result)
    return RedirectResponse(with_query(return_url, **result), status_code=303)
