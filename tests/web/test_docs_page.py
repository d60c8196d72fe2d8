"""`/docs` names no other site: the page and every file it loads come from this service
(the Chromium test in tests/e2e/test_docs.py renders it with the network blocked)."""

from __future__ import annotations

import re

from .conftest import Harness


async def test_docs_load_only_files_of_this_service(harness: Harness) -> None:
    page = await harness.browser.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith(
        "default-src 'none'; script-src 'self'; style-src 'self';"
    )
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/static/swagger-ui/swagger-ui-bundle.js" in assets
    assert "/static/docs.js" in assets
    for asset in assets:
        assert asset.startswith("/"), asset  # no CDN, no other origin
        answer = await harness.browser.get(asset)
        assert answer.status_code == 200, asset
    assert "<script>" not in page.text  # nothing inline
    assert (await harness.browser.get("/redoc")).status_code == 404
