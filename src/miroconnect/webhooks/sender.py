"""One webhook attempt: sign an event as Standard Webhooks says and POST it, once.

The specification (https://www.standardwebhooks.com/): the body is sent as stored, with
`webhook-id` (the event's id: receivers deduplicate on it), `webhook-timestamp` (UNIX
seconds at signing: receivers refuse old ones) and `webhook-signature` (`v1,` and the
base64 HMAC-SHA256 of `id.timestamp.body` under the secret's bytes). The secret is
`whsec_` and base64 of 24 to 64 random bytes; the `standardwebhooks` package signs.

An attempt is one POST with a short timeout on the whole of it. 2xx is delivered; any other
answer, a network error or the timeout is a failure. A redirect is never followed (it is
a failure): an event is only ever sent to the configured URL. The answer's body is never
read, so a receiver cannot make us buffer anything.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
from standardwebhooks import Webhook

from miroconnect.config import https_url_problem
from miroconnect.types import Clock, system_clock

__all__ = [
    "SEND_TIMEOUT",
    "Attempt",
    "WebhookSender",
    "new_webhook_secret",
    "webhook_secret_problem",
    "webhook_url_problem",
]

SECRET_PREFIX = "whsec_"  # noqa: S105  # the format's prefix, not a secret
# Seconds for one whole attempt: connect, send, the answer's headers.
SEND_TIMEOUT = 10.0
USER_AGENT = "miroconnect-webhooks"


def webhook_secret_problem(secret: str) -> str | None:
    """Why `secret` cannot sign webhooks, or `None`."""
    if not secret.startswith(SECRET_PREFIX):
        return "must start with whsec_"
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return "must be whsec_ followed by base64"
    if not 24 <= len(raw) <= 64:
        return "must hold 24 to 64 random bytes (after whsec_, in base64)"
    return None


def webhook_url_problem(url: str) -> str | None:
    """Why events cannot go to `url`, or `None`: an absolute https URL (plain http only
    on a loopback address), no fragment."""
    problem = https_url_problem(url)
    if problem is None and urlsplit(url).fragment:
        return "must have no #fragment"
    return problem


def new_webhook_secret() -> str:
    """A new signing secret: `whsec_` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Attempt:
    """How one attempt ended: delivered (2xx) or not, and what happened
    (`HTTP 204`, `HTTP 500`, `redirect 302 not followed`, `ConnectError`, `timeout`)."""

    delivered: bool
    detail: str


class WebhookSender:
    """Signs and POSTs events to one URL through `http` (its transport injectable).

    ```python
    sender = WebhookSender(url, "whsec_...", httpx2.AsyncClient())
    attempt = await sender.send("msg_...", '{"type": ...}')
    ```
    """

    def __init__(
        self,
        url: str,
        secret: str,
        http: httpx2.AsyncClient,
        *,
        clock: Clock = system_clock,
        timeout: float = SEND_TIMEOUT,
    ) -> None:
        self._url = url
        self._signer = Webhook(secret)
        self._http = http
        self._clock = clock
        self._timeout = timeout

    def headers(self, event_id: str, body: str) -> dict[str, str]:
        """The Standard Webhooks headers for `body`, signed now."""
        now = self._clock()
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(event_id, now, body),
        }

    async def send(self, event_id: str, body: str) -> Attempt:
        """One attempt; never raises for what the receiver or the network does."""
        headers = self.headers(event_id, body)
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._http.stream(
                    "POST",
                    self._url,
                    content=body.encode(),
                    headers=headers,
                    follow_redirects=False,
                    timeout=self._timeout,
                ) as response,
            ):
                status = response.status_code
        except TimeoutError:
            return Attempt(False, "timeout")
        except httpx2.HTTPError as exc:
            return Attempt(False, type(exc).__name__)
        if 200 <= status < 300:
            return Attempt(True, f"HTTP {status}")
        if 300 <= status < 400:
            return Attempt(False, f"redirect {status} not followed")
        return Attempt(False, f"HTTP {status}")
