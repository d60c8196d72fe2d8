"""Fuzz Miro's callback (`GET /connect/callback`) with Hypothesis.

Each case builds a query string from `code`, `state`, `error`, `error_description`,
`client_id`, `team_id` and stray parameters, in any order, repeated, percent-encoded in odd
ways (invalid UTF-8, `+`, raw `;`), sometimes huge, and a `Cookie` header that is missing,
random, someone else's binding cookie, or the right one. The states and codes are drawn
from real flows started before the run (so a forged state comes with a code Miro would
accept), mutated ones, and random ones. For every case:

* no 5xx, and no stack trace in the page;
* a token grant at the emulator, or a new connection or held consent, only for a state we
  issued, not yet used, presented with its own binding cookie (anything else is a forged
  or replayed state, or another browser's, which must not burn it either);
* at the end, no secret handed out during the run appears in any log line.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import cookie_parser

from .harness import EXAMPLES, Service, running_service

POOL = 24  # flows started before the run

pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    yield from running_service(database_url, flows=POOL)


# -- values ---------------------------------------------------------------------------

_odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
)
_huge = st.builds(
    lambda n, c: c * n, st.integers(2_000, 60_000), st.sampled_from("A%=&é\x00")
)


def _encode(value: str, how: str) -> str:
    """`value` in a query string, in one of several ways a sender might encode it."""
    if how == "utf8":
        return quote(value, safe="")
    if how == "plus":
        return quote(value, safe=" ").replace(" ", "+")
    if how == "latin1":  # not UTF-8 at all
        return quote(value.encode("latin-1", "replace"), safe="")
    if how == "raw_bytes":  # arbitrary bytes, invalid UTF-8 included
        return "".join(f"%{b:02X}" for b in value.encode("utf-8")[:1] + b"\xff\xfe")
    return "".join(
        ch for ch in value if ch.isascii() and ch.isprintable() and ch not in "#& "
    )


_encodings = st.sampled_from(["utf8", "plus", "latin1", "raw_bytes", "bare"])


def _mutate(value: str, how: int) -> str:
    if how == 0:
        return value[:-1]
    if how == 1:
        return value + "A"
    if how == 2:
        return value.upper()
    if how == 3:
        return value[:-1] + ("B" if value[-1] != "B" else "C")
    return " " + value


@st.composite
def _case(draw: st.DrawFn) -> tuple[list[tuple[str, str]], str | None, int | None]:
    """(query parameters as (name, raw encoded value), cookie header, pool index used)."""
    index = draw(st.integers(0, POOL - 1))
    params: list[tuple[str, str]] = []

    state_kind = draw(
        st.sampled_from(["pool", "pool", "mutated", "random", "huge", "none", "empty"])
    )
    if state_kind in ("pool", "mutated"):
        state = f"{{pool:{index}}}"
        if state_kind == "mutated":
            state = f"{{mutated:{index}:{draw(st.integers(0, 4))}}}"
        params.append(("state", state))
    elif state_kind == "random":
        params.append(("state", _encode(draw(_odd_text), draw(_encodings))))
    elif state_kind == "huge":
        params.append(("state", quote(draw(_huge), safe="")))
    elif state_kind == "empty":
        params.append(("state", ""))

    code_kind = draw(st.sampled_from(["pool", "other_pool", "random", "huge", "none"]))
    if code_kind == "pool":
        params.append(("code", f"{{code:{index}}}"))
    elif code_kind == "other_pool":
        params.append(("code", f"{{code:{draw(st.integers(0, POOL - 1))}}}"))
    elif code_kind == "random":
        params.append(("code", _encode(draw(_odd_text), draw(_encodings))))
    elif code_kind == "huge":
        params.append(("code", quote(draw(_huge), safe="")))

    for name in ("error", "error_description", "client_id", "team_id"):
        kind = draw(st.sampled_from(["none", "none", "random", "known", "huge"]))
        if kind == "random":
            params.append((name, _encode(draw(_odd_text), draw(_encodings))))
        elif kind == "huge":
            params.append((name, quote(draw(_huge), safe="")))
        elif kind == "known":
            known = {
                "error": "access_denied",
                "error_description": "The+user+has+denied+access",
                "client_id": "3458764500000077",
                "team_id": "3458764517517819000",
            }
            params.append((name, known[name]))

    # Repeats and strays: the same names again (first or last wins?), unknown names.
    extra_names = st.sampled_from(
        ["state", "code", "error", "client_id", "team_id", "x", "state[]", "", "%00"]
    )
    extras = draw(
        st.lists(
            st.tuples(
                extra_names,
                st.one_of(
                    st.just(f"{{pool:{index}}}"),
                    _odd_text.map(lambda v: quote(v, safe="")),
                ),
            ),
            max_size=3,
        )
    )
    params.extend(extras)
    params = draw(st.permutations(params))

    cookie_kind = draw(
        st.sampled_from(
            ["none", "own", "own", "other", "random", "garbage", "twice", "many"]
        )
    )
    other = draw(st.integers(0, POOL - 1))
    cookie: str | None = {
        "none": None,
        "own": f"mc_flow={{cookie:{index}}}",
        "other": f"mc_flow={{cookie:{other}}}",
        "random": "mc_flow=" + quote(draw(_odd_text), safe=""),
        "garbage": draw(
            st.text(
                alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF),
                max_size=80,
            )
        ),
        "twice": f"mc_flow=forged; mc_flow={{cookie:{index}}}",
        "many": "; ".join(f"c{i}=v{i}" for i in range(draw(st.integers(0, 300))))
        + f"; mc_flow={{cookie:{index}}}",
    }[cookie_kind]
    return params, cookie, index


def _fill(text: str, service: Service) -> str:
    """Replace `{pool:i}`, `{mutated:i:how}`, `{code:i}`, `{cookie:i}` with real values."""
    while "{" in text:
        start = text.index("{")
        end = text.find("}", start)
        if end < 0:  # a stray `{` of random text ("}{" used to crash the test itself)
            break
        kind, *rest = text[start + 1 : end].split(":")
        if kind not in ("pool", "mutated", "code", "cookie") or not rest:
            break
        flow = service.flows[int(rest[0])]
        value = {
            "pool": flow.state,
            "mutated": _mutate(flow.state, int(rest[-1])),
            "code": flow.code,
            "cookie": flow.cookie,
        }[kind]
        text = text[:start] + value + text[end + 1 :]
    return text


class Counts:
    cases = 0
    grants = 0
    by_status: dict[int, int] = {}


def test_callback_fuzz(service: Service) -> None:
    issued = {flow.state: flow.cookie for flow in service.flows}
    used: set[str] = set()
    counts = Counts()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_case())
    def check(case: tuple[list[tuple[str, str]], str | None, int | None]) -> None:
        params, cookie, _ = case
        query = "&".join(
            f"{_fill(name, service)}={_fill(value, service)}" for name, value in params
        )
        cookie = _fill(cookie, service) if cookie is not None else None
        headers = [(b"cookie", cookie.encode("latin-1"))] if cookie is not None else []
        raw_query = query.encode("latin-1", "replace")
        grants, connections = service.grants(), service.connections()

        answer = service.request(
            "GET", b"/connect/callback", query=raw_query, headers=headers
        )

        counts.cases += 1
        counts.by_status[answer.status] = counts.by_status.get(answer.status, 0) + 1
        assert answer.status < 500, (answer.status, answer.body[:500])
        assert b"Traceback" not in answer.body
        # What the app saw: Starlette's parse of the query (the last value of a repeated
        # name wins) and of the Cookie header.
        seen = dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True))
        state = seen.get("state")
        cookies = cookie_parser(cookie) if cookie is not None else {}
        legit = (
            state is not None
            and state in issued
            and state not in used
            and cookies.get("mc_flow") == issued[state]
        )
        if legit and state is not None:
            used.add(state)  # only the flow's own browser can use (and so burn) it
        new_grants = service.grants() - grants
        new_connections = service.connections() - connections
        if new_grants or new_connections:
            service.remember_miro_secrets()
            counts.grants += new_grants
        if not legit:
            assert (new_grants, new_connections) == (0, 0), (query[:300], cookie)
        assert new_grants <= 1

    check()
    # The detector can see a grant: a legitimate flow, completed now, makes one.
    fresh = service.start_flow("fz-control")
    before = service.grants()
    assert service.finish_flow(fresh).status == 303
    assert service.grants() == before + 1

    logged = service.logs.getvalue()
    leaked = sorted(
        secret[:6] + "..." for secret in service.secrets if secret in logged
    )
    assert not leaked, f"secrets in the logs: {leaked}"
    assert logged.count("\n") > counts.cases  # every case logged something
    print(
        f"\ncallback fuzz: {counts.cases} cases, statuses {sorted(counts.by_status.items())}, "
        f"{counts.grants} legitimate grants, {len(service.secrets)} secrets searched in "
        f"{logged.count(chr(10))} log lines"
    )
