"""Settings, read from the environment once, at the edge.

`Settings()` is built by the command line or by `create_app`; nothing else in the
package reads the environment, and nothing is built at import time. Library classes take
small typed arguments, not the whole `Settings`.

Every variable has the prefix `MIROCONNECT_`, e.g. `MIROCONNECT_DATABASE_URL`.

Database URLs may name the async driver or not: `postgresql://` and `postgres://` become
`postgresql+asyncpg://`, `sqlite:///` becomes `sqlite+aiosqlite:///` (the drivers
miroconnect ships with), so the URL a hosting provider hands out works as it is.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "async_database_url",
    "DEFAULT_DATABASE_URL",
    "https_url_problem",
    "is_loopback",
    "Settings",
]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./miroconnect.db"

# A URL without a driver (or with the sync default) -> the async driver we ship.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def _split_list(value: object) -> object:
    """`"a, b"` -> `["a", "b"]`: list settings are comma-separated."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]


def async_database_url(url: str) -> str:
    """`url` with the async driver miroconnect uses when it names none:
    `postgresql://u@h/db` -> `postgresql+asyncpg://u@h/db`, `sqlite:///x.db` ->
    `sqlite+aiosqlite:///x.db`. Other URLs are returned as they are."""
    scheme, separator, rest = url.strip().partition("://")
    driver = _ASYNC_DRIVERS.get(scheme.lower()) if separator else None
    return f"{driver}://{rest}" if driver else url.strip()


class Settings(BaseSettings):
    """Every setting of miroconnect; see the README for what each is for."""

    model_config = SettingsConfigDict(env_prefix="MIROCONNECT_", extra="ignore")

    # Default when unset: `./miroconnect.db` in the working directory (the CLI says so).
    database_url: str = DEFAULT_DATABASE_URL
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
    # The largest body the proxy to Miro (`/api/v1/users/{id}/miro/...`) takes: Miro's
    # largest file upload (6 MB) and room for the multipart framing and `data` part.
    # Every other route takes 64 KiB.
    proxy_max_body: int = Field(
        default=6 * 1024 * 1024 + 64 * 1024, ge=64 * 1024, le=64 * 1024 * 1024
    )
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

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return async_database_url(value)

    @property
    def database_url_is_default(self) -> bool:
        """Whether `database_url` was left unset (so `./miroconnect.db` is used)."""
        return "database_url" not in self.model_fields_set


def is_loopback(host: str) -> bool:
    """`localhost` and loopback addresses (127.0.0.0/8, ::1). Not a name under
    `localhost` (`x.localhost`): resolvers may send it to DNS, and wherever it points
    would get plain-http secrets."""
    host = host.strip("[]").lower()
    if host == "localhost":
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
