"""Prometheus metrics: requests by route, errors by code, submissions, and the queue and workers.

One registry per app, so several apps in one process (tests) never collide.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.store import JobStore, StoreUnavailable


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rewardedit_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rewardedit_http_request_duration_seconds",
            "time to answer an HTTP request (server-sent event streams: their whole life)",
            ["method", "route"],
            registry=self.registry,
        )
        self.errors = Counter(
            "rewardedit_errors_total", "error responses by error code", ["code"], registry=self.registry
        )
        self.submitted = Counter("rewardedit_jobs_submitted_total", "jobs created", registry=self.registry)
        self.queued = Gauge("rewardedit_jobs_queued", "jobs waiting for a worker", registry=self.registry)
        self.workers = Gauge(
            "rewardedit_workers_alive", "workers announcing themselves", registry=self.registry
        )

    def render(self, store: JobStore) -> bytes:
        """The exposition text, with the queue and worker gauges read from the store now."""
        try:
            self.queued.set(store.queue_length())
            self.workers.set(len(store.workers()))
        except StoreUnavailable:
            self.workers.set(0)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every request under its route template (not its path: ids are unbounded)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)
