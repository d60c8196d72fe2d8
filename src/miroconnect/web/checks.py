"""What `miroconnect serve` needs before it starts, with a message per missing setting."""

from __future__ import annotations

from urllib.parse import urlsplit

from miroconnect.config import Settings
from miroconnect.crypto import KeyRing
from miroconnect.errors import ConfigurationError
from miroconnect.oauth.miro import miro_url_problem
from miroconnect.webhooks.sender import webhook_secret_problem, webhook_url_problem

__all__ = [
    "MIN_API_KEY_LENGTH",
    "MIN_SECRET_KEY_LENGTH",
    "settings_problems",
    "webhook_problems",
]

MIN_SECRET_KEY_LENGTH = 32
MIN_API_KEY_LENGTH = 16

_WHAT = {
    "MIROCONNECT_DATABASE_URL": "the database, e.g. "
    "postgresql://user:password@host/miroconnect or sqlite:///./miroconnect.db",
    "MIROCONNECT_MIRO_CLIENT_ID": "your Miro app's client id",
    "MIROCONNECT_MIRO_CLIENT_SECRET": "your Miro app's client secret",
    "MIROCONNECT_MIRO_REDIRECT_URI": "this service's callback as registered at Miro, "
    "e.g. https://miroconnect.example.com/connect/callback",
    "MIROCONNECT_ENCRYPTION_KEYS": "token encryption keys; make one with "
    "`miroconnect keys generate`",
    "MIROCONNECT_SECRET_KEY": f"at least {MIN_SECRET_KEY_LENGTH} random characters "
    "that sign cookies, e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`",
    "MIROCONNECT_API_KEYS": "comma-separated keys your app sends as "
    "`Authorization: Bearer <key>`",
    "MIROCONNECT_WEBHOOK_SECRET": "the whsec_... secret that signs webhooks; make one "
    "with `miroconnect webhooks secret`",
}


def settings_problems(settings: Settings, *, service: bool = True) -> list[str]:
    """Every reason the service cannot start, one line each (empty: it can).

    `service=False`: what a host app embedding the library needs (no API keys: it has
    no service API of its own). Lines name the environment variable and what it should
    hold, never a value.
    """
    problems: list[str] = []

    def missing(name: str) -> None:
        problems.append(f"{name} is not set: {_WHAT[name]}")

    if "database_url" not in settings.model_fields_set:
        missing("MIROCONNECT_DATABASE_URL")
    if not settings.miro_client_id:
        missing("MIROCONNECT_MIRO_CLIENT_ID")
    if not settings.miro_client_secret.get_secret_value():
        missing("MIROCONNECT_MIRO_CLIENT_SECRET")
    if not settings.miro_redirect_uri:
        missing("MIROCONNECT_MIRO_REDIRECT_URI")
    else:
        parts = urlsplit(settings.miro_redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                "MIROCONNECT_MIRO_REDIRECT_URI must be an absolute http(s) URL"
            )
        elif not parts.path.startswith("/connect/"):
            problems.append(
                "MIROCONNECT_MIRO_REDIRECT_URI must be a path under /connect/ of this "
                "service, e.g. https://miroconnect.example.com/connect/callback"
            )
    keys = settings.encryption_keys.get_secret_value()
    if not keys:
        missing("MIROCONNECT_ENCRYPTION_KEYS")
    else:
        try:
            KeyRing.parse(keys)
        except ConfigurationError as exc:
            problems.append(str(exc))
    secret_key = settings.secret_key.get_secret_value()
    if not secret_key:
        missing("MIROCONNECT_SECRET_KEY")
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"MIROCONNECT_SECRET_KEY is too short: use at least "
            f"{MIN_SECRET_KEY_LENGTH} random characters"
        )
    api_keys = [
        k.strip() for k in settings.api_keys.get_secret_value().split(",") if k.strip()
    ]
    if not api_keys:
        if service:
            missing("MIROCONNECT_API_KEYS")
    elif any(len(key) < MIN_API_KEY_LENGTH for key in api_keys):
        problems.append(
            f"MIROCONNECT_API_KEYS: every key needs at least {MIN_API_KEY_LENGTH} "
            "characters"
        )
    for name, url in (
        ("MIROCONNECT_MIRO_AUTH_URL", settings.miro_auth_url),
        ("MIROCONNECT_MIRO_API_URL", settings.miro_api_url),
    ):
        problem = miro_url_problem(url)
        if problem:
            problems.append(f"{name} {problem}")
    for entry in settings.allowed_return_urls:
        parts = urlsplit(entry)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                "MIROCONNECT_ALLOWED_RETURN_URLS: each entry is an origin such as "
                "https://app.example.com"
            )
            break
    return problems + webhook_problems(settings)


def webhook_problems(settings: Settings) -> list[str]:
    """What is wrong with the webhook settings (none set is fine: no webhooks)."""
    url = settings.webhook_url
    secret = settings.webhook_secret.get_secret_value()
    if not url:
        if secret:
            return [
                "MIROCONNECT_WEBHOOK_SECRET is set but MIROCONNECT_WEBHOOK_URL is "
                "not: set both (webhooks on) or neither"
            ]
        return []
    problems = []
    url_problem = webhook_url_problem(url)
    if url_problem:
        problems.append(f"MIROCONNECT_WEBHOOK_URL {url_problem}")
    secret_problem = webhook_secret_problem(secret) if secret else None
    if not secret:
        problems.append(
            "MIROCONNECT_WEBHOOK_SECRET is not set: "
            + _WHAT["MIROCONNECT_WEBHOOK_SECRET"]
        )
    elif secret_problem:
        problems.append(
            f"MIROCONNECT_WEBHOOK_SECRET {secret_problem}: "
            + _WHAT["MIROCONNECT_WEBHOOK_SECRET"]
        )
    return problems
