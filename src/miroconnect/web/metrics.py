"""Prometheus metrics of one app, in a registry of its own.

Each `create_app` gets a fresh `CollectorRegistry`, so two apps in one process (tests,
or the service beside the reference app) never mix their counts. Miro calls are counted
by `MeteredTransport`, which wraps the transport every Miro-facing component shares, so
the flow, the vault and the client are measured without knowing about metrics.
"""

from __future__ import annotations

import time

import httpx2
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "MeteredTransport", "Metrics"]


class Metrics:
    """The counters and histograms `/metrics` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.flows_started = Counter(
            "miroconnect_flows_started",
            "Connect flows sent to Miro's consent page.",
            registry=self.registry,
        )
        self.flows_completed = Counter(
            "miroconnect_flows_completed",
            "Connect flows that came back with a stored connection.",
            registry=self.registry,
        )
        self.flows_failed = Counter(
            "miroconnect_flows_failed",
            "Connect flows that failed, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.actions = Counter(
            "miroconnect_actions",
            "Actions (e.g. create_board) run, by kind and outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.refreshes = Counter(
            "miroconnect_token_refreshes",
            "Token refresh requests sent to Miro, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.miro_requests = Counter(
            "miroconnect_miro_requests",
            "Requests sent to Miro, by endpoint and HTTP status (0: no answer).",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.miro_latency = Histogram(
            "miroconnect_miro_request_duration_seconds",
            "Time until Miro's answer, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "miroconnect_http_request_duration_seconds",
            "Time to answer requests to this app, by route.",
            ["route", "method"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def _endpoint(request: httpx2.Request) -> str:
    """A low-cardinality label: the path with ids replaced, e.g. `/v2/boards/{id}`."""
    parts = [part for part in request.url.path.split("/") if part]
    shown: list[str] = []
    for index, part in enumerate(parts):
        keep = index == 0 or (part.isalpha() and len(part) < 20)
        shown.append(part if keep else "{id}")
    return "/" + "/".join(shown)


def _is_refresh(request: httpx2.Request) -> bool:
    if not request.url.path.endswith("/oauth/token"):
        return False
    try:
        body = request.content
    except httpx2.RequestNotRead:
        return False
    return b"grant_type=refresh_token" in body


class MeteredTransport(httpx2.AsyncBaseTransport):
    """Wraps a transport to Miro and counts every request, its status and latency."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        endpoint = _endpoint(request)
        started = time.perf_counter()
        status = "0"
        try:
            response = await self._inner.handle_async_request(request)
            status = str(response.status_code)
            return response
        finally:
            self._metrics.miro_latency.labels(endpoint).observe(
                time.perf_counter() - started
            )
            self._metrics.miro_requests.labels(endpoint, status).inc()
            if _is_refresh(request):
                self._metrics.refreshes.labels(status).inc()

    async def aclose(self) -> None:
        await self._inner.aclose()
