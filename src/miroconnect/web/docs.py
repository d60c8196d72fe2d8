"""`/docs`: Swagger UI for the service's API, from files installed with the package.

FastAPI's own `/docs` loads Swagger UI from a CDN and starts it with an inline script: a
blank page offline, and a Content-Security-Policy that must allow inline scripts. Here
Swagger UI's files come from the `fastapi-offline` wheel (a dependency, mounted at
`/static/swagger-ui`) and our `static/docs.js` starts it, so the page works with no network
and its policy allows scripts from this service only. ReDoc is not served.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

__all__ = ["DOCS_ASSETS", "DOCS_CSP", "install_docs"]

DOCS_ASSETS = "/static/swagger-ui"
SWAGGER_UI_DIR = Path(fastapi_offline.__file__).parent / "static"

# Nothing inline, nothing from elsewhere: Swagger UI sets styles through the DOM (which
# `style-src` does not restrict), draws its icons as data: images and fetches only
# `/openapi.json` (tests/e2e/test_docs.py sees no violation).
DOCS_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


def _page(root: str, title: str) -> str:
    root = escape(root)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="icon" href="{root}/static/favicon.svg" type="image/svg+xml">'
        f'<link rel="stylesheet" href="{root}{DOCS_ASSETS}/swagger-ui.css">'
        f'</head><body><div id="swagger-ui" data-openapi-url="{root}/openapi.json">'
        "</div>"
        f'<script src="{root}{DOCS_ASSETS}/swagger-ui-bundle.js"></script>'
        f'<script src="{root}/static/docs.js"></script>'
        "</body></html>"
    )


def install_docs(app: FastAPI) -> None:
    """Serve `/docs` and Swagger UI's files; call before mounting `/static`, which
    would otherwise answer for `/static/swagger-ui` too. The app must be built with
    `docs_url=None` and `redoc_url=None`."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        return HTMLResponse(
            _page(root, f"{app.title} API"), headers={"cache-control": "no-cache"}
        )
