"""The README's "Try it against the emulator" block works as written: its exports and
`db upgrade` run in bash, `serve --with-emulator` starts with those settings (on free ports),
and the README's requests make one board through consent and the host's confirm."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from support.processes import free_port, running

from .conftest import form_fields
from .test_cli import clean_env

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- readme-service-block -->\n```sh\n"
MIROCONNECT = str(Path(sys.executable).with_name("miroconnect"))


def readme_block() -> list[str]:
    text = README.read_text()
    start = text.index(MARKER) + len(MARKER)
    return text[start : text.index("\n```", start)].splitlines()


def environment_of(block: list[str], folder: Path) -> dict[str, str]:
    """The environment after the block's exports and `db upgrade`, run by bash."""
    exports = [line for line in block if line.startswith("export ")]
    commands = [line for line in block if not line.startswith("export ")]
    assert commands == [
        ".venv/bin/miroconnect db upgrade",
        ".venv/bin/miroconnect serve --with-emulator",
    ]
    script = "\n".join(["set -e", *exports, commands[0], "env -0 > env.bin"])
    script = script.replace(".venv/bin/miroconnect", shlex.quote(MIROCONNECT))
    done = subprocess.run(  # noqa: S603 - bash running the README's own lines
        ["/bin/bash", "-c", script],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "database sqlite+aiosqlite:///./service.db is at revision" in done.stdout
    pairs = (folder / "env.bin").read_bytes().decode().split("\0")
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


@contextmanager
def serving(folder: Path, *options: str) -> Iterator[tuple[str, dict[str, str], Path]]:
    """The README block's `serve --with-emulator` (with `options`), on free ports."""
    block = readme_block()
    env = environment_of(block, folder)
    port, miro_port = free_port(), free_port()
    args = shlex.split(block[-1])[1:]  # `serve --with-emulator`
    base = f"http://127.0.0.1:{port}"
    log = folder / "serve.log"
    with running(
        [*args, *options, "--port", str(port), "--emulator-port", str(miro_port)],
        env=env,
        log=log,
        cwd=folder,
        ready=f"{base}/readyz",
    ):
        yield base, env, log


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    with serving(tmp_path) as served:
        yield served


def test_the_readme_block_connects_and_creates_a_board(
    service: tuple[str, dict[str, str], Path],
) -> None:
    base, env, log = service
    readme = README.read_text()
    key = env["MIROCONNECT_API_KEYS"]
    return_url = f"{env['MIROCONNECT_ALLOWED_RETURN_URLS']}/back"
    # The README's requests use these very values.
    assert f"Bearer {key}" in readme and f'"return_url": "{return_url}"' in readme
    api = httpx2.Client(base_url=base, headers={"authorization": f"Bearer {key}"})
    browser = httpx2.Client(follow_redirects=False)
    with api, browser:
        boards = "/api/v1/users/user-42/boards"
        asked = api.post(boards, json={"name": "Sprint 12", "return_url": return_url})
        assert asked.status_code == 202, asked.text
        launch = browser.get(asked.json()["authorize_url"])
        consent_url = launch.headers["location"]
        consent = browser.get(consent_url)
        assert "<strong>miroconnect service</strong> wants to access" in consent.text
        miro = f"{urlsplit(consent_url).scheme}://{urlsplit(consent_url).netloc}"
        fields = form_fields(consent.text, "/oauth/authorize") | {"decision": "approve"}
        callback = browser.post(f"{miro}/oauth/authorize", data=fields)
        assert callback.headers["location"].startswith(f"{base}/connect/callback?")
        landed = browser.get(callback.headers["location"])
        target = landed.headers["location"]
        assert target.startswith(f"{return_url}?miro_result=")
        result = parse_qs(urlsplit(target).query)["miro_result"][0]
        confirmed = api.post(
            "/api/v1/users/user-42/connection/confirm", json={"result": result}
        )
        assert confirmed.status_code == 201, confirmed.text
        assert confirmed.json()["board"]["name"] == "Sprint 12"
        again = api.post(boards, json={"name": "Sprint 13", "return_url": return_url})
        assert again.status_code == 201, again.text
    said = log.read_text()
    assert "serve.emulator" in said and f"redirect_uri={base}/connect/callback" in said
    # Two servers in one process: the emulator's uvicorn lines say whose they are.
    started = [line for line in said.splitlines() if "Started server process" in line]
    assert len(started) == 2 and sum("server=emulator" in s for s in started) == 1
    assert "Traceback" not in said


def test_without_a_browser_auto_approve_hands_the_result_to_curl(
    tmp_path: Path,
) -> None:
    # The README's headless path: `--auto-approve`, then one curl that keeps the launch
    # link's cookie and stops at the address the browser would land on.
    readme = README.read_text()
    assert "serve --with-emulator --auto-approve" in readme
    assert "-L --max-redirs 2" in readme
    with serving(tmp_path, "--auto-approve") as (base, env, log):
        key = env["MIROCONNECT_API_KEYS"]
        return_url = f"{env['MIROCONNECT_ALLOWED_RETURN_URLS']}/back"
        api = httpx2.Client(base_url=base, headers={"authorization": f"Bearer {key}"})
        with api, httpx2.Client(follow_redirects=True, max_redirects=2) as curl:
            boards = "/api/v1/users/user-44/boards"
            asked = api.post(
                boards, json={"name": "No browser", "return_url": return_url}
            )
            assert asked.status_code == 202, asked.text
            with pytest.raises(httpx2.TooManyRedirects) as stopped:
                curl.get(asked.json()["authorize_url"])
            target = stopped.value.request.url  # where the third redirect would go
            assert str(target).startswith(f"{return_url}?miro_result=")
            result = parse_qs(target.query.decode())["miro_result"][0]
            confirmed = api.post(
                "/api/v1/users/user-44/connection/confirm", json={"result": result}
            )
            assert confirmed.status_code == 201, confirmed.text
        assert "Traceback" not in log.read_text()
