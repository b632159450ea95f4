"""What a metric's name says: its bad direction, whether it is traffic, measured on the calling side, or bounded (a rate or share).

Detection scores deviations in the bad direction (:mod:`rca.engine.detect`); ranking
weighs client-side measurements less (:mod:`rca.engine.rank`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

__all__ = ['CLIENT_SIDE_WEIGHT', 'is_bounded_metric', 'is_client_side', 'is_traffic_name', 'metric_direction', 'metric_weight']


_DOWN = re.compile(r"avail|success|apdex|uptime|hit_?rat")


_UP = re.compile(
    r"latenc|duration|response|error|fail|fault|5xx|timeout|exception|cpu|mem|saturat|utiliz"
    r"|queue|backlog|gc_|restart|drop|loss|retr(y|ies)|(^|_)p(50|75|90|95|99)($|_)"
    r"|(^|_)errs?($|_)|(^|_)m?rt($|_)"  # short forms: err, errs; rt / mrt (mean response time)
)


def metric_direction(metric: str, overrides: Mapping[str, str] | None = None) -> str:
    """The bad direction of a metric: ``"up"``, ``"down"`` or ``"both"``.

    ``overrides`` maps regular expressions (searched in the lower-cased
    metric name) to directions and wins over the built-in rules.

    Examples
    --------
    >>> metric_direction("latency_p99"), metric_direction("availability"), metric_direction("requests")
    ('up', 'down', 'both')
    """
    name = metric.lower()
    for pattern, direction in (overrides or {}).items():
        if re.search(pattern, name):
            return direction
    return _builtin_direction(name)


@lru_cache(maxsize=65536)  # metric names repeat across services: classify each once
def _builtin_direction(name: str) -> str:
    if _DOWN.search(name):
        return "down"
    if _UP.search(name):
        return "up"
    return "both"


_TRAFFIC = re.compile(
    r"request|(^|_)(rps|qps|tps)($|_)|throughput|workload|call|count|bytes|network|packet|connection|session"
    r"|traffic|syscall|(^|_)ops($|_)|span_"
)


def is_traffic_name(metric: str) -> bool:
    """Whether the name says the metric counts load (requests, throughput, bytes, connections ...).

    >>> is_traffic_name("requests_per_s"), is_traffic_name("m03")
    (True, False)
    """
    return bool(_TRAFFIC.search(metric.lower()))


_CLIENT_SIDE = re.compile(r"client|outgoing|downstream|upstream_rq|egress")


CLIENT_SIDE_WEIGHT = 0.3  # a measurement taken on the calling side says this much about the callee


def is_client_side(metric: str) -> bool:
    """Whether ``metric`` is measured on the calling side (the calls a service makes).

    >>> is_client_side("client_latency_p90"), is_client_side("latency_p90")
    (True, False)
    """
    return bool(_CLIENT_SIDE.search(metric.lower()))


@lru_cache(maxsize=65536)
def metric_weight(direction: str, metric: str = "") -> float:
    """How much a metric's anomaly says about a fault *in* its service.

    Metrics with a known bad direction are direct symptoms; traffic
    metrics (requests, throughput, bytes... whose direction is ``both``)
    also move when a caller or callee changes its load, so they count less.
    A metric of unknown meaning counts fully.  Client-side measurements (latency of the calls a
    service makes) describe its dependencies more than the service itself.
    """
    w = 0.6 if direction == "both" and _TRAFFIC.search(metric.lower()) else 1.0
    if is_client_side(metric):
        w *= CLIENT_SIDE_WEIGHT
    return w


_BOUNDED = re.compile(r"avail|success|error_?rate|err_?rate|fail\w*_?rate|percent|ratio|_pct|uptime")


def is_bounded_metric(metric: str) -> bool:
    """Whether a metric is a percentage or a fraction (availability, success or error rate...).

    Examples
    --------
    >>> is_bounded_metric("availability"), is_bounded_metric("error_rate"), is_bounded_metric("latency")
    (True, True, False)
    """
    return bool(_BOUNDED.search(metric.lower()))
