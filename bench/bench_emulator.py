"""The Miro emulator under uvicorn: requests/s at concurrency 32 for GET board, POST board,
and, on a board holding the larger model (ITEMS sticky notes), GET a page of 50 items and
POST a sticky note. First it prints how many of the spec's 85 platform operations the
emulator routes (the coverage figure; the tests prove each one runs).

Starts `python -m miroconnect emulator` on a free loopback port, gets a token through the
OAuth flow, then loads it with wrk if installed, else with a keep-alive loop in Node (its
HTTP client is light enough to measure the server), else with a bounded httpx2 loop (which
measures the Python client more than the server). Each run lasts DURATION seconds; the
server is stopped at the end, whatever happens.

Rerun: `make bench` (all benchmarks) or `.venv/bin/python -m bench bench_emulator`.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2

__all__ = ["main"]

CONCURRENCY = 32
DURATION = 5
ITEMS = 1_000  # sticky notes on the "large" board
CLIENT_ID, SECRET, REDIRECT = (
    "3074457000000000001",
    "bench-secret",
    "http://127.0.0.1/cb",
)


@dataclass(frozen=True)
class Result:
    name: str
    requests_per_second: float
    tool: str
    errors: int


SPEC = Path(__file__).parents[1] / "tests" / "miro-openapi" / "spec.json"
# The spec's platform operations: those whose first tag is one of these.
PLATFORM_TAGS = {
    "Boards", "Board members", "Items", "items", "tags", "Connectors", "Card items",
    "App card items", "Document items", "documents", "Image items", "images",
    "Embed items", "groups", "Bulk operations", "doc formats", "Shape items",
    "Sticky note items", "Text items", "frames", "tokens",
}  # fmt: skip


def coverage() -> tuple[int, int]:
    """(routed, total): the spec's platform operations the emulator has a route for."""
    from starlette.routing import Match, Route

    from miroconnect.emulator import create_emulator

    app = create_emulator()
    total = routed = 0
    for path, methods in json.loads(SPEC.read_text())["paths"].items():
        for method, operation in methods.items():
            tag = (
                (operation.get("tags") or [""])[0]
                if isinstance(operation, dict)
                else ""
            )
            if tag not in PLATFORM_TAGS:
                continue
            total += 1
            url = re.sub(r"\{[^}]+\}", "3458764000000000001", path.rstrip("?"))
            scope = {"type": "http", "path": url, "method": method.upper()}
            routed += any(
                isinstance(r, Route) and r.matches(scope)[0] == Match.FULL
                for r in app.routes
            )
    return routed, total


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "miroconnect", "emulator", "--port", str(port),
        "--auto-approve", "--client", f"{CLIENT_ID}:{SECRET}:{REDIRECT}",
        "--credits", str(10**12),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the emulator did not start within 20 s")


def _token(base: str) -> str:
    with httpx2.Client(base_url=base) as http:
        location = http.get(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT,
            },
        ).headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        response = http.post(
            "/v1/oauth/token",
            data={
                "grant_type": "authorization_code", "client_id": CLIENT_ID,
                "client_secret": SECRET, "code": code, "redirect_uri": REDIRECT,
            },
        )  # fmt: skip
        return str(response.json()["access_token"])


def _wrk(name: str, url: str, token: str, script: str | None) -> Result:
    wrk = shutil.which("wrk")
    assert wrk is not None
    with tempfile.TemporaryDirectory() as folder:
        command = [
            wrk, "-t1", f"-c{CONCURRENCY}", f"-d{DURATION}s",
            "-H", f"Authorization: Bearer {token}",
        ]  # fmt: skip
        if script is not None:
            path = Path(folder) / "script.lua"
            path.write_text(script)
            command += ["-s", str(path)]
        output = subprocess.run(  # noqa: S603
            [*command, url], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(r"Socket errors:.*", output)
    errors = int(bad.group(1)) if bad else 0
    if sock:
        errors += sum(int(n) for n in re.findall(r"\d+", sock.group(0)))
    assert rate is not None, output
    return Result(name, float(rate.group(1)), "wrk -t1 -c32", errors)


# 32 keep-alive requests in flight for DURATION seconds; prints {"done", "errors", "s"}.
_NODE_LOADER = """
const http = require('http');
const [url, method, token, body, conc, secs] = process.argv.slice(1);
const agent = new http.Agent({keepAlive: true, maxSockets: Number(conc)});
const target = new URL(url);
const payload = body ? Buffer.from(body) : null;
const headers = {Authorization: 'Bearer ' + token};
if (payload) Object.assign(headers, {'Content-Type': 'application/json',
                                     'Content-Length': payload.length});
let done = 0, errors = 0;
const stop = Date.now() + Number(secs) * 1000;
const one = () => new Promise((resolve) => {
  const req = http.request({agent, host: target.hostname, port: target.port,
    path: target.pathname + target.search, method, headers}, (res) => {
    res.resume();
    res.on('end', () => { done++; if (res.statusCode >= 400) errors++; resolve(); });
  });
  req.on('error', () => { errors++; resolve(); });
  if (payload) req.write(payload);
  req.end();
});
const worker = async () => { while (Date.now() < stop) await one(); };
const start = Date.now();
Promise.all(Array.from({length: Number(conc)}, worker)).then(() => {
  console.log(JSON.stringify({done, errors, s: (Date.now() - start) / 1000}));
  agent.destroy();
});
"""


def _node_load(
    name: str, method: str, url: str, token: str, body: dict[str, object] | None
) -> Result:
    node = shutil.which("node")
    assert node is not None
    payload = json.dumps(body) if body is not None else ""
    command = [node, "-e", _NODE_LOADER, url, method, token, payload]
    output = subprocess.run(  # noqa: S603  # node from PATH, our own loader
        [*command, str(CONCURRENCY), str(DURATION)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    rate = result["done"] / result["s"]
    return Result(name, rate, "node keep-alive loop, 32 sockets", result["errors"])


async def _python_load(
    name: str, method: str, url: str, token: str, body: dict[str, object] | None
) -> Result:
    """Fallback without wrk: 32 workers on one httpx2 client, for DURATION seconds."""
    headers = {"Authorization": f"Bearer {token}"}
    done = errors = 0
    stop = time.monotonic() + DURATION
    limits = httpx2.Limits(max_connections=CONCURRENCY)
    async with httpx2.AsyncClient(limits=limits, headers=headers) as http:

        async def worker() -> None:
            nonlocal done, errors
            while time.monotonic() < stop:
                response = await http.request(method, url, json=body)
                done += 1
                errors += response.status_code >= 400

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - started
    return Result(name, done / elapsed, "httpx2 loop, 32 tasks", errors)


def _large_board(base: str, token: str) -> str:
    """A board with ITEMS sticky notes: the larger model the item GETs run against."""
    with httpx2.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        board = str(http.post("/v2/boards", json={"name": "large"}).json()["id"])
        for i in range(ITEMS):
            note = {"data": {"content": f"note {i}"}, "position": {"x": i, "y": 0}}
            http.post(f"/v2/boards/{board}/sticky_notes", json=note).raise_for_status()
    return board


def _post_script(body: dict[str, object]) -> str:
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = '{json.dumps(body)}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )


def main() -> None:
    routed, total = coverage()
    print(f"platform operations routed: {routed}/{total}")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(port)
    try:
        token = _token(base)
        board = httpx2.post(
            f"{base}/v2/boards",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["id"]
        large = _large_board(base, token)
        note: dict[str, object] = {"data": {"content": "bench"}}
        runs: list[tuple[str, str, str, dict[str, object] | None]] = [
            ("GET /v2/boards/{id}", "GET", f"{base}/v2/boards/{board}", None),
            ("POST /v2/boards", "POST", f"{base}/v2/boards", {"name": "bench"}),
            (
                f"GET items?limit=50 ({ITEMS})",
                "GET",
                f"{base}/v2/boards/{large}/items?limit=50",
                None,
            ),
            (
                f"POST sticky_note ({ITEMS}+)",
                "POST",
                f"{base}/v2/boards/{large}/sticky_notes",
                note,
            ),
        ]
        if shutil.which("wrk"):
            results = [
                _wrk(name, url, token, None if body is None else _post_script(body))
                for name, _, url, body in runs
            ]
        elif shutil.which("node"):
            results = [
                _node_load(name, method, url, token, body)
                for name, method, url, body in runs
            ]
        else:
            results = [
                asyncio.run(_python_load(name, method, url, token, body))
                for name, method, url, body in runs
            ]
    finally:
        process.terminate()
        process.wait(timeout=10)
    for result in results:
        print(
            f"{result.name:<30} {result.requests_per_second:>9.0f} req/s  "
            f"({result.tool}, {DURATION} s, errors {result.errors})"
        )
    print(json.dumps({r.name: round(r.requests_per_second) for r in results}))


if __name__ == "__main__":
    main()
