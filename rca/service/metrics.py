"""Prometheus metrics, hand-written exposition (text format 0.0.4) served at ``/metrics``.

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

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Registry", "MetricsMiddleware", "render"]

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ANALYSIS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, v: float) -> None:
        for i, b in enumerate(self.buckets):
            if v <= b:
                self.counts[i] += 1
        self.total += 1
        self.sum += v


class Registry:
    """The process's metrics; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.finished: dict[str, int] = defaultdict(int)
        self.analysis_duration = _Histogram(ANALYSIS_BUCKETS)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, str(status))] += 1
            h = self.latency.get((method, route))
            if h is None:
                h = self.latency[(method, route)] = _Histogram(HTTP_BUCKETS)
            h.observe(seconds)

    def observe_analysis(self, status: str, seconds: float | None) -> None:
        with self._lock:
            self.finished[status] += 1
            if seconds is not None:
                self.analysis_duration.observe(seconds)

    def render(self, analyses_by_status: Mapping[str, int]) -> str:
        with self._lock:
            lines: list[str] = []
            lines += _header("rca_http_requests_total", "counter", "HTTP requests by method, route template and status.")
            for (m, r, s), n in sorted(self.requests.items()):
                lines.append(f"rca_http_requests_total{_labels(method=m, route=r, status=s)} {n}")
            lines += _header("rca_http_request_duration_seconds", "histogram", "HTTP request latency.")
            for (m, r), h in sorted(self.latency.items()):
                lines += _histogram_lines("rca_http_request_duration_seconds", h, {"method": m, "route": r})
            lines += _header("rca_analyses", "gauge", "Analyses in the database by status.")
            for status in ("queued", "running", "succeeded", "failed"):
                lines.append(f"rca_analyses{_labels(status=status)} {analyses_by_status.get(status, 0)}")
            lines += _header("rca_analyses_finished_total", "counter", "Analyses finished by this process, by status.")
            for status in ("succeeded", "failed"):
                lines.append(f"rca_analyses_finished_total{_labels(status=status)} {self.finished.get(status, 0)}")
            lines += _header("rca_analysis_duration_seconds", "histogram", "Engine run time of one analysis.")
            lines += _histogram_lines("rca_analysis_duration_seconds", self.analysis_duration, {})
            return "\n".join(lines) + "\n"


def render(registry: Registry, analyses_by_status: Mapping[str, int]) -> str:
    return registry.render(analyses_by_status)


def _header(name: str, kind: str, help_: str) -> list[str]:
    return [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**kv: str) -> str:
    return _label_str(kv.items())


def _label_str(items: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in items)
    return "{" + inner + "}" if inner else ""


def _fmt(b: float) -> str:
    return repr(float(b))


def _histogram_lines(name: str, h: _Histogram, labels: dict[str, str]) -> list[str]:
    out = []
    for b, c in zip(h.buckets, h.counts, strict=True):
        out.append(f"{name}_bucket{_label_str([*labels.items(), ('le', _fmt(b))])} {c}")
    out.append(f"{name}_bucket{_label_str([*labels.items(), ('le', '+Inf')])} {h.total}")
    out.append(f"{name}_sum{_label_str(labels.items())} {h.sum!r}")
    out.append(f"{name}_count{_label_str(labels.items())} {h.total}")
    return out


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
