"""Prometheus metrics served at ``/metrics`` (``prometheus_client``, text format 0.0.4).

========================================  =========  ==================================
metric                                    type       labels
========================================  =========  ==================================
``rca_http_requests_total``               counter    method, route, status
``rca_http_request_duration_seconds``     histogram  method, route
``rca_analyses``                          gauge      status (all analyses in the database)
``rca_analyses_finished_total``           counter    status (finished by this process)
``rca_analysis_duration_seconds``         histogram  (engine run time, this process)
========================================  =========  ==================================

``route`` is the route template (``/v1/analyses/{analysis_id}``), never the raw
path, so label cardinality stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Registry", "MetricsMiddleware", "render"]

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ANALYSIS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
ANALYSIS_STATUSES = ("queued", "running", "succeeded", "failed")

disable_created_metrics()  # the series above, without prometheus_client's extra ``*_created`` ones


class Registry:
    """The process's metrics (:mod:`prometheus_client`, one registry per app); every method is thread-safe."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("rca_http_requests", "HTTP requests by method, route template and status.",
                                ["method", "route", "status"], registry=self.registry)  # fmt: skip
        self.latency = Histogram("rca_http_request_duration_seconds", "HTTP request latency.", ["method", "route"],
                                 buckets=HTTP_BUCKETS, registry=self.registry)  # fmt: skip
        self.analyses = Gauge("rca_analyses", "Analyses in the database by status.", ["status"], registry=self.registry)
        self.finished = Counter("rca_analyses_finished", "Analyses finished by this process, by status.", ["status"],
                                registry=self.registry)  # fmt: skip
        self.analysis_duration = Histogram("rca_analysis_duration_seconds", "Engine run time of one analysis.",
                                           buckets=ANALYSIS_BUCKETS, registry=self.registry)  # fmt: skip
        for status in ("succeeded", "failed"):
            self.finished.labels(status=status)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.latency.labels(method=method, route=route).observe(seconds)

    def observe_analysis(self, status: str, seconds: float | None) -> None:
        self.finished.labels(status=status).inc()
        if seconds is not None:
            self.analysis_duration.observe(seconds)

    def render(self, analyses_by_status: Mapping[str, int]) -> str:
        """The text exposition format, with the database's analysis counts as of now."""
        for status in ANALYSIS_STATUSES:
            self.analyses.labels(status=status).set(analyses_by_status.get(status, 0))
        return generate_latest(self.registry).decode()


def render(registry: Registry, analyses_by_status: Mapping[str, int]) -> str:
    return registry.render(analyses_by_status)


class MetricsMiddleware:
    """Count and time every HTTP request (pure ASGI: no buffering of bodies)."""

    def __init__(self, app: ASGIApp, registry: Registry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.registry.observe_request(scope["method"], template, status, time.perf_counter() - start)
