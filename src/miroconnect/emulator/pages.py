"""The emulator's HTML: the consent page, error pages, and the board pages that
`viewLink` points at. Plain string templates; every value goes through `html.escape`."""

from __future__ import annotations

from html import escape

from miroconnect.emulator.canvas import board_svg
from miroconnect.emulator.model import Board, Team, User
from miroconnect.emulator.state import EmulatorClient

__all__ = ["FAVICON_SVG", "board_page", "consent_page", "error_page"]

# The emulator's icon (a yellow square, as Miro's): served at /favicon.ico and linked.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="7" fill="#ffd02f"/>'
    '<path d="M9 24 13 8h3l-4 16zm6 0 4-16h3l-4 16z" fill="#050038"/></svg>'
)

# What each scope lets the app do, in words (Miro lists them on its consent page).
_SCOPE_WORDS = {
    "boards:read": "See your boards and what is on them",
    "boards:write": "Create boards and change what is on them",
}

_ARROW = (
    "url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' "
    "viewBox='0 0 12 8'%3E%3Cpath d='M1 1l5 5 5-5' fill='none' stroke='%23050038' "
    "stroke-width='2'/%3E%3C/svg%3E\")"
)

_STYLE = (
    """
body{font-family:system-ui,sans-serif;background:#f2f2f7;margin:0;padding:2rem 1rem;
color:#050038}
main{max-width:32rem;margin:auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 2px 12px #0002}
h1{font-size:1.3rem;line-height:1.35;overflow-wrap:anywhere}
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:8px;
border:1px solid #4262ff;margin-right:.5rem;cursor:pointer}
.primary{background:#4262ff;color:#fff}.secondary{background:#fff;color:#4262ff}
.muted{color:#555;font-size:.9rem}li{margin:.2rem 0}input{font-size:1rem;padding:.3rem}
.banner{background:#ffd02f;padding:.3rem .6rem;border-radius:6px;font-size:.8rem}
.app{display:flex;align-items:center;gap:.75rem;margin:1rem 0}
.icon{flex:none;width:3rem;height:3rem;border-radius:10px;background:#4262ff;color:#fff;
display:grid;place-items:center;font-weight:700;font-size:1.4rem}
.field{display:grid;gap:.35rem;margin:1.25rem 0;font-weight:600}
select{font:inherit;font-weight:400;width:100%;padding:.6rem 2.2rem .6rem .75rem;
border:1px solid #c7c7d9;border-radius:8px;background:#fff """
    + _ARROW
    + """ no-repeat right .8rem center/.75rem;appearance:none;color:#050038;cursor:pointer}
select:focus{outline:2px solid #4262ff;outline-offset:1px}
.scopes{padding-left:1.2rem}.scopes code{font-size:.8rem;color:#555}
.signin{border-top:1px solid #e0e0ea;margin-top:1.5rem;padding-top:1rem}
"""
)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<link rel="icon" href="/favicon.ico" type="image/svg+xml">'
        f"<style>{_STYLE}</style></head>"
        f"<body><main><p><span class=banner>Miro emulator</span></p>{body}</main>"
        "</body></html>"
    )


def error_page(title: str, message: str) -> str:
    """A page for authorize-time errors that must not redirect."""
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")


def consent_page(
    *,
    client: EmulatorClient,
    user: User,
    redirect_uri: str,
    state: str | None,
    team: Team,
    sign_in_next: str,
) -> str:
    """ "Install & authorize", as Miro shows it: the app by name, what it may do, a team
    picker, the two buttons; and who is signed in, with "Not you?"."""
    options = "".join(
        f'<option value="{escape(t.id)}"{" selected" if t.id == team.id else ""}>'
        f"{escape(t.name)}</option>"
        for t in user.teams
    )
    scopes = "".join(
        f"<li>{escape(_SCOPE_WORDS.get(s, s))} <code>{escape(s)}</code></li>"
        for s in client.scopes
    )
    hidden = (
        f'<input type=hidden name=client_id value="{escape(client.client_id)}">'
        f'<input type=hidden name=redirect_uri value="{escape(redirect_uri)}">'
    )
    if state is not None:
        hidden += f'<input type=hidden name=state value="{escape(state)}">'
    name = escape(client.display_name)
    return _page(
        "Install & authorize",
        f"<div class=app><span class=icon aria-hidden=true>"
        f"{escape(client.display_name[:1].upper())}</span>"
        f'<h1 id="app-name"><strong>{name}</strong> wants to access your Miro account'
        "</h1></div>"
        f"<p>It will be able to:</p><ul class=scopes>{scopes}</ul>"
        f'<form method=post action="/oauth/authorize">{hidden}'
        f"<label class=field>Install the app in team <select name=team_id>{options}"
        "</select></label>"
        f"<button class=primary type=submit name=decision value=approve>"
        f"Install &amp; authorize</button>"
        f"<button class=secondary type=submit name=decision value=cancel>Cancel</button>"
        f"</form>"
        f'<div class="signin muted"><p>Signed in as '
        f'<strong id="signed-in-user">{escape(user.name)}</strong> '
        f"(user id {escape(user.id)})</p>"
        f'<form method=post action="/oauth/signin">'
        f'<input type=hidden name=next value="{escape(sign_in_next)}">'
        f"<label>Not you? Sign in as <input name=name required maxlength=60></label> "
        f"<button class=secondary type=submit>Sign in</button></form></div>",
    )


_BOARD_STYLE = """
body{font-family:system-ui,sans-serif;background:#f2f2f7;margin:0;color:#050038}
header{padding:.6rem 1rem;background:#fff;border-bottom:1px solid #e0e0ea}
h1{font-size:1.1rem;margin:.2rem 0;overflow-wrap:anywhere}.muted{color:#555;font-size:.85rem;margin:0}
.banner{background:#ffd02f;padding:.1rem .5rem;border-radius:6px;font-size:.75rem}
#board{display:block;width:100%;height:calc(100vh - 5.5rem);background:#fafafc}
details{padding:.3rem 1rem;font-size:.85rem}
"""


def board_page(board: Board, base: str) -> str:
    """What "Open in Miro" and the live embed show offline: the board drawn as SVG
    (items where they are, connectors as lines), and a plain list of its items."""
    listed = "".join(
        f"<li><code>{escape(item.type)}</code> "
        f"{escape(str(item.data.get('content') or item.data.get('title') or ''))}</li>"
        for item in board.items.values()
    )
    count = f"{len(board.items)} items, {len(board.connectors)} connectors"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(board.name)}</title><style>{_BOARD_STYLE}</style></head><body>"
        f"<header><span class=banner>Miro emulator</span><h1>{escape(board.name)}</h1>"
        f"<p class=muted>{escape(board.description)}</p>"
        f"<p class=muted>Team {escape(board.team.name)} · owner "
        f"{escape(board.owner.name)} · {count}</p></header>"
        f"{board_svg(board, base)}"
        f"<details><summary>Items</summary><ul id=items>"
        f"{listed or '<li class=muted>No items yet</li>'}</ul></details>"
        "</body></html>"
    )
