"""`safe_view_link`: only an https link on one of Miro's web origins reaches an `href`."""

from __future__ import annotations

import pytest

from miroconnect.web.replies import safe_view_link

ORIGINS = ("https://miro.com", "http://127.0.0.1:8765")


@pytest.mark.parametrize(
    "link",
    [
        "https://miro.com/app/board/uXjVO=/",
        "http://127.0.0.1:8765/app/board/b1/",
    ],
)
def test_a_link_on_an_allowed_origin_is_kept(link: str) -> None:
    assert safe_view_link(link, ORIGINS) == link


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "https://evil.example/app/board/x/",
        "http://miro.com/app/board/x/",  # plain http to Miro
        "https://miro.com:444/app/board/x/",
        "https://user@miro.com/app/board/x/",
        "https://miro.com/app/board/x /",
        "https://miro.com/app/board/\tx/",
        "https://miro.com/app/board/x/\x7f",
        "https://miro.com/app/board/x/\x00",
        "https://miro.com:99999/",
        "https://miro.com/" + "a" * 2048,
        None,
    ],
)
def test_any_other_link_is_dropped(link: object) -> None:
    assert safe_view_link(link, ORIGINS) == ""
