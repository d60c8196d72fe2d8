"""One webhook attempt: signed as Standard Webhooks says (checked with the
`standardwebhooks` package's own verifier), no redirect followed, the answer's body never
read, a time budget on the whole attempt; and the settings' checks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine

import httpx2
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from miroconnect.webhooks.sender import (
    WebhookSender,
    new_webhook_secret,
    webhook_secret_problem,
    webhook_url_problem,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # Standard Webhooks' own example
URL = "https://hooks.app.example/miro"
BODY = json.dumps({"type": "board.created", "timestamp": "x", "data": {"a": 1}})


class Receiver:
    """Answers every request with `status` (and `headers`), keeping the requests."""

    def __init__(self, status: int = 204, headers: dict[str, str] | None = None):
        self.status = status
        self.headers = headers or {}
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(self.status, headers=self.headers)


Handler = (
    Callable[[httpx2.Request], httpx2.Response]
    | Callable[[httpx2.Request], Coroutine[None, None, httpx2.Response]]
)


def sender(handler: Handler, *, timeout: float = 10.0) -> WebhookSender:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return WebhookSender(URL, SECRET, http, timeout=timeout)


async def test_the_signature_verifies_with_standardwebhooks() -> None:
    receiver = Receiver()
    attempt = await sender(receiver).send("msg_1", BODY)
    assert attempt.delivered and attempt.detail == "HTTP 204"
    [request] = receiver.requests
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_1"
    body = request.content.decode()
    assert body == BODY
    assert Webhook(SECRET).verify(body, dict(request.headers)) == json.loads(BODY)
    # Another secret, another body or another id: refused by the receiver.
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(body, dict(request.headers))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace("1", "2"), dict(request.headers))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, dict(request.headers) | {"webhook-id": "msg_2"})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_a_failure_and_is_not_followed(status: int) -> None:
    receiver = Receiver(status, {"location": "https://elsewhere.example/steal"})
    attempt = await sender(receiver).send("msg_1", BODY)
    assert not attempt.delivered
    assert attempt.detail == f"redirect {status} not followed"
    assert [str(r.url) for r in receiver.requests] == [URL]


@pytest.mark.parametrize(
    ("status", "delivered"), [(200, True), (299, True), (400, False), (500, False)]
)
async def test_2xx_is_delivered_anything_else_is_not(
    status: int, delivered: bool
) -> None:
    attempt = await sender(Receiver(status)).send("msg_1", BODY)
    assert attempt.delivered is delivered and attempt.detail == f"HTTP {status}"


async def test_the_answer_body_is_never_read() -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:  # a receiver answering 200 and then streaming forever
            yield b"x" * 65536
            await asyncio.sleep(0)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=endless())

    attempt = await asyncio.wait_for(sender(handler, timeout=5).send("msg_1", BODY), 5)
    assert attempt.delivered


async def test_a_receiver_that_never_answers_costs_one_timeout() -> None:
    async def handler(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    attempt = await sender(handler, timeout=0.2).send("msg_1", BODY)
    assert not attempt.delivered and attempt.detail == "timeout"


async def test_a_network_error_is_a_failed_attempt() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    attempt = await sender(handler).send("msg_1", BODY)
    assert not attempt.delivered and attempt.detail == "ConnectError"


def test_secrets() -> None:
    made = new_webhook_secret()
    assert made.startswith("whsec_") and webhook_secret_problem(made) is None
    assert webhook_secret_problem(SECRET) is None
    assert new_webhook_secret() != made
    Webhook(made)  # the package takes it
    assert (
        webhook_secret_problem("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        == "must start with whsec_"
    )
    assert (
        webhook_secret_problem("whsec_not base64!")
        == "must be whsec_ followed by base64"
    )
    assert "24 to 64" in (webhook_secret_problem("whsec_c2hvcnQ=") or "")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.app.example/miro", True),
        ("https://hooks.app.example:8443/miro?token=x", True),
        ("http://127.0.0.1:9000/hooks", True),
        ("http://localhost/hooks", True),
        ("http://[::1]:9000/hooks", True),
        ("http://evil.localhost/hooks", False),  # a name DNS may answer for
        ("http://hooks.app.example/miro", False),
        ("ftp://hooks.app.example/miro", False),
        ("https:///miro", False),
        ("https://hooks.app.example/miro#part", False),
        ("https://hooks.app.example:99999/", False),
        ("/relative", False),
    ],
)
def test_webhook_urls(url: str, ok: bool) -> None:
    assert (webhook_url_problem(url) is None) is ok
