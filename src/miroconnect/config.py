"""Settings, read from the environment once, at the edge.

`Settings()` is built by the command line or by `create_app`; nothing else in the
package reads the environment, and nothing is built at import time. Library classes take
small typed arguments, not the whole `Settings`.

Every variable has the prefix `MIROCONNECT_`, e.g. `MIROCONNECT_DATABASE_URL`.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "https_url_problem", "is_loopback"]


def _split_list(value: object) -> object:
    """`"a, b"` -> `["a", "b"]`: list settings are comma-separated."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]


class Settings(BaseSettings):
    """Every setting of miroconnect; see the README for what each is for."""

    model_config = SettingsConfigDict(env_prefix="MIROCONNECT_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./miroconnect.db"
    # PostgreSQL connections each process keeps open (plus 4 more under bursts); size it so
    # processes x (pool + 4) stays under the server's `max_connections`.
    database_pool_size: int = Field(default=16, ge=1, le=500)

    miro_client_id: str = ""
    miro_client_secret: SecretStr = SecretStr("")
    miro_redirect_uri: str = ""
    miro_auth_url: str = "https://miro.com/oauth/authorize"
    miro_api_url: str = "https://api.miro.com"

    # Comma-separated `key_id:base64url(32 bytes)` pairs; the first is the primary key.
    encryption_keys: SecretStr = SecretStr("")
    # Signs session cookies and CSRF tokens.
    secret_key: SecretStr = SecretStr("")
    # Comma-separated service API keys.
    api_keys: SecretStr = SecretStr("")
    allowed_return_urls: CommaList = Field(default_factory=list)
    # Host names this service answers to (e.g. `miroconnect.example.com`); empty: any.
    # Requests for other hosts get a 400 before anything else runs.
    allowed_hosts: CommaList = Field(default_factory=list)

    # Webhooks to the host app (`miroconnect.webhooks`): the URL events are POSTed to
    # (https; http only on loopback) and the `whsec_...` secret that signs them (Standard
    # Webhooks). No URL: no events are recorded.
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")

    # Logs (miroconnect.logs): `json` (one object per line) or `text`, and the level.
    log_format: str = "json"
    log_level: str = "INFO"


def is_loopback(host: str) -> bool:
    """`localhost` (or a name under it) and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def https_url_problem(url: str) -> str | None:
    """Why `url` cannot be sent secrets, or `None`: it must be an absolute https URL;
    plain http only on loopback (the emulator, a receiver on the same machine)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  # raises for a port that is not one
    except ValueError:
        return "is not a URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host and is_loopback(host):
        return None
    return "must be an https URL (plain http only on a loopback address)"
