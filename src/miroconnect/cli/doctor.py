"""`miroconnect doctor`: is this deployment ready? One line per check, non-zero on failure.

The checks, in order (a check whose prerequisite failed is skipped, and says why):

1. settings: every `MIROCONNECT_*` setting is set and well-formed (the rules `miroconnect
   serve` applies before it starts); missing `MIROCONNECT_API_KEYS` is only a warning,
   since `serve` alone needs them (a host app embedding the library has no service API);
2. database: `MIROCONNECT_DATABASE_URL` answers `SELECT 1`;
3. migrations: the database's Alembic revision against this version's head;
4. encryption keys: `MIROCONNECT_ENCRYPTION_KEYS` parses; every key id found on a stored
   ciphertext is configured, and opens one of its rows (rows counted by key id);
5. Miro authorization URL and 6. Miro API URL answer over HTTP (a plain GET with no
   credentials: no client secret, no token leaves this process); a host that is not
   Miro's (`miro.com`, `api.miro.com`) passes with a warning, since client secrets and
   tokens go there: right for the emulator, wrong in production;
7. webhooks: off, or where events go (no secret shown) and how many wait or are dead
   (nothing is sent: a check must not post events to the host app).

Output never shows a secret: settings are named, not printed, and the database URL is shown
with its password hidden.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

import httpx2
import typer

from miroconnect.config import Settings

__all__ = ["Check", "register", "run_checks"]

CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    """One check's outcome: `ok` True (passed), False (failed) or None (skipped);
    `warn`: passed, with something an operator should look at."""

    name: str
    ok: bool | None
    detail: str
    warn: bool = False


def _describe(exc: BaseException) -> str:
    from miroconnect.storage.outage import describe_error

    return describe_error(exc)


async def _database(settings: Settings) -> Check:
    from miroconnect.storage.db import probe, shown_url, sqlite_file

    shown = shown_url(settings.database_url)
    path = sqlite_file(settings.database_url)
    if path is not None and not path.parent.is_dir():
        # Checked up front: a failed aiosqlite connect leaves its thread racing the loop.
        return Check(
            "database", False, f"{shown}: the folder {path.parent} does not exist"
        )
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            dialect = await probe(settings.database_url)
    except Exception as exc:
        return Check("database", False, f"{shown} does not answer: {_describe(exc)}")
    return Check("database", True, f"{shown} answers ({dialect})")


async def _migrations(settings: Settings) -> Check:
    from miroconnect.storage.migrate import revision_state

    try:
        state = await revision_state(settings.database_url)
    except Exception as exc:
        return Check("migrations", False, f"cannot read the revision: {_describe(exc)}")
    current, head = state.current, state.head
    if current == head:
        return Check("migrations", True, f"at head ({head})")
    if current is None:
        return Check(
            "migrations",
            False,
            f"the database is empty, this version needs {head}: "
            "run `miroconnect db upgrade`",
        )
    if not state.known:
        return Check(
            "migrations",
            False,
            f"the database is at {current}, which this version does not know "
            f"(migrated by a newer version?); this version needs {head}",
        )
    return Check(
        "migrations",
        False,
        f"the database is at {current}, this version needs {head}: "
        "run `miroconnect db upgrade`",
    )


async def _keys(settings: Settings, *, database_ready: bool) -> Check:
    from miroconnect.cli.keys import stored_key_problems
    from miroconnect.crypto import KeyRing, TokenCipher
    from miroconnect.errors import MiroConnectError
    from miroconnect.storage.db import Database
    from miroconnect.storage.repository import SQLStore

    value = settings.encryption_keys.get_secret_value()
    if not value:
        return Check(
            "encryption keys",
            False,
            "MIROCONNECT_ENCRYPTION_KEYS is not set: `miroconnect keys generate`",
        )
    try:
        ring = KeyRing.parse(value)
    except MiroConnectError as exc:
        return Check("encryption keys", False, str(exc))
    configured = f"{len(ring.key_ids)} key(s), primary {ring.primary}"
    if not database_ready:
        return Check(
            "encryption keys",
            False,
            f"{configured}; stored ciphertexts not checked: the database is not ready",
        )
    db = Database(settings.database_url)
    try:
        counts, problems = await stored_key_problems(SQLStore(db, TokenCipher(ring)))
    except Exception as exc:
        return Check("encryption keys", False, f"{configured}; {_describe(exc)}")
    finally:
        await db.dispose()
    by_key = ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "no rows"
    detail = f"{configured}; rows by key id: {by_key}"
    if problems:
        return Check("encryption keys", False, f"{detail}; " + "; ".join(problems))
    old = [k for k in counts if k != ring.primary]
    if old:
        detail += (
            f"; run `miroconnect keys rotate` to move {', '.join(old)} to the primary"
        )
    unused = [k for k in ring.key_ids if k != ring.primary and k not in counts]
    if unused:
        detail += f"; {', '.join(unused)} encrypt(s) nothing and may be removed"
    return Check("encryption keys", True, detail)


async def _webhooks(settings: Settings, *, database_ready: bool) -> Check:
    from urllib.parse import urlsplit

    from miroconnect.storage.db import Database
    from miroconnect.storage.outbox import WebhookQueue
    from miroconnect.web.checks import webhook_problems

    if not settings.webhook_url and not settings.webhook_secret.get_secret_value():
        return Check("webhooks", True, "off (MIROCONNECT_WEBHOOK_URL is not set)")
    problems = webhook_problems(settings)
    if problems:
        return Check("webhooks", False, "\n".join(problems))
    parts = urlsplit(settings.webhook_url)
    # Origin and path only: a query may carry the receiver's own token.
    detail = f"events go to {parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    detail += f"{parts.path}, signed with the whsec_ secret"
    if not database_ready:
        return Check("webhooks", True, f"{detail}; queue not read: database not ready")
    db = Database(settings.database_url)
    try:
        _, counts = await WebhookQueue(db).list_events(limit=1)
    except Exception as exc:
        return Check("webhooks", False, f"{detail}; {_describe(exc)}")
    finally:
        await db.dispose()
    waiting = counts.get("pending", 0) + counts.get("sending", 0)
    dead = counts.get("dead", 0)
    detail += f"; {waiting} waiting, {dead} dead"
    if dead:
        detail += (
            ": `miroconnect webhooks list --status dead`, then `webhooks retry ID`"
        )
    return Check("webhooks", True, detail, warn=bool(dead))


async def _reachable(
    name: str,
    url: str,
    http: httpx2.AsyncClient,
    *,
    miro_host: str,
    path: str = "",
) -> Check:
    from urllib.parse import urlsplit

    from miroconnect.oauth.miro import miro_url_problem

    problem = miro_url_problem(url)
    if problem:
        return Check(name, False, f"{url} {problem}")
    target = url.rstrip("/") + path if path else url
    try:
        response = await http.get(target)
    except httpx2.HTTPError as exc:
        return Check(name, False, f"{target} does not answer ({type(exc).__name__})")
    if response.status_code >= 500:
        return Check(name, False, f"{target} answered {response.status_code}")
    detail = f"{target} answers (HTTP {response.status_code})"
    host = urlsplit(url).hostname
    if host != miro_host:
        return Check(
            name,
            True,
            f"{detail}; {host} is not Miro ({miro_host}): the client secret and "
            "tokens go there (right for the emulator, not in production)",
            warn=True,
        )
    return Check(name, True, detail)


async def run_checks(
    settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None
) -> list[Check]:
    """Every check, in order; `transport` reaches Miro (the emulator in tests)."""
    from miroconnect.web.checks import settings_problems

    results: list[Check] = []
    problems = settings_problems(settings, service=False)
    if problems:
        results.append(Check("settings", False, "\n".join(problems)))
    elif not any(k.strip() for k in settings.api_keys.get_secret_value().split(",")):
        results.append(
            Check(
                "settings",
                True,
                "every required setting is set; MIROCONNECT_API_KEYS is not: "
                "`miroconnect serve` needs it (a host app using the library does not)",
                warn=True,
            )
        )
    else:
        results.append(Check("settings", True, "every required setting is set"))
    database = await _database(settings)
    results.append(database)
    if database.ok:
        migrations = await _migrations(settings)
    else:
        migrations = Check("migrations", None, "skipped: the database does not answer")
    results.append(migrations)
    results.append(await _keys(settings, database_ready=bool(migrations.ok)))
    async with httpx2.AsyncClient(
        transport=transport, timeout=CHECK_TIMEOUT, follow_redirects=False
    ) as http:
        checks: list[Awaitable[Check]] = [
            _reachable(
                "Miro authorization URL",
                settings.miro_auth_url,
                http,
                miro_host="miro.com",
            ),
            _reachable(
                "Miro API URL",
                settings.miro_api_url,
                http,
                miro_host="api.miro.com",
                path="/v1/oauth-token",
            ),
        ]
        results.extend(await asyncio.gather(*checks))
    results.append(await _webhooks(settings, database_ready=bool(migrations.ok)))
    return results


_MARK = {True: "ok  ", False: "FAIL", None: "skip"}


def register(
    app: typer.Typer, *, transport: httpx2.AsyncBaseTransport | None = None
) -> None:
    """Add `doctor`; `transport` reaches Miro (tests pass the emulator)."""

    @app.command("doctor")
    def doctor() -> None:
        """Check settings, database, migrations, keys, Miro and webhooks; non-zero on
        failure."""
        settings = Settings()
        results = asyncio.run(run_checks(settings, transport=transport))
        width = max(len(check.name) for check in results)
        indent = " " * (len(_MARK[True]) + width + 4)
        for check in results:
            first, *more = check.detail.split("\n")
            mark = "warn" if check.warn else _MARK[check.ok]
            typer.echo(f"{mark}  {check.name:<{width}}  {first}")
            for line in more:  # several problems: one line each
                typer.echo(f"{indent}{line}")
        failed = [check.name for check in results if check.ok is False]
        if failed:
            typer.echo(f"{len(failed)} check(s) failed: {', '.join(failed)}", err=True)
            raise typer.Exit(1)
        typer.echo("all checks passed")
