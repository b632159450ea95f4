"""Call graphs from the metrics a service mesh or a tracing pipeline already exports.

Two sources, both read with one instant query:

* Istio: ``istio_requests_total`` with ``reporter="destination"`` only (each
  request is reported by both sidecars; mixing reporters counts edges twice),
  edges ``source_workload -> destination_service_name``.
* OpenTelemetry Collector ``servicegraph`` connector:
  ``traces_service_graph_request_total``, edges ``client -> server``.

Edge ``A -> B`` means A calls B, as everywhere in :mod:`topology`; the edge
weight is the observed request rate (requests per second).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rca.engine.errors import InvalidConfigError
from rca.engine.types import TimeLike
from rca.sources.prometheus import PrometheusClient
from topology import ServiceGraph

__all__ = ["TOPOLOGY_QUERIES", "topology_query", "load_topology_from_prometheus"]

# kind -> (query template, caller label, callee label)
TOPOLOGY_QUERIES: dict[str, tuple[str, str, str]] = {
    "istio": (
        'sum by (source_workload, destination_service_name) '
        '(rate(istio_requests_total{{reporter="destination"}}[{window}]))',
        "source_workload",
        "destination_service_name",
    ),
    "servicegraph": (
        "sum by (client, server) (rate(traces_service_graph_request_total[{window}]))",
        "client",
        "server",
    ),
}
_WINDOW = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
# Istio names callers it cannot identify (no sidecar, ingress) "unknown".
_UNKNOWN = frozenset({"", "unknown"})


def topology_query(kind: str, window: str = "5m") -> tuple[str, str, str]:
    """``(PromQL, caller label, callee label)`` for ``kind`` (``istio`` or ``servicegraph``)."""
    if kind not in TOPOLOGY_QUERIES:
        raise InvalidConfigError(
            f"unknown topology source {kind!r}; use one of {sorted(TOPOLOGY_QUERIES)}", field="kind"
        )
    if not _WINDOW.match(window):
        raise InvalidConfigError(f"window must be a Prometheus duration such as '5m', got {window!r}", field="window")
    template, caller, callee = TOPOLOGY_QUERIES[kind]
    return template.format(window=window), caller, callee


def load_topology_from_prometheus(
    client: PrometheusClient,
    kind: str = "istio",
    *,
    at: TimeLike | None = None,
    window: str = "5m",
    min_rate: float = 0.0,
    ignore: Iterable[str] = _UNKNOWN,
) -> ServiceGraph:
    """Build the call graph seen by Prometheus over ``window`` ending at ``at`` (default now).

    Edges with a rate <= ``min_rate`` and endpoints named in ``ignore``
    (default: Istio's ``unknown``) are left out; self-calls are kept.

    Examples
    --------
    >>> g = load_topology_from_prometheus(PrometheusClient("http://127.0.0.1:9090"), "istio")  # doctest: +SKIP
    """
    query, caller_label, callee_label = topology_query(kind, window)
    skip = set(ignore)
    graph = ServiceGraph()
    for labels, rate in client.query(query, at):
        a, b = labels.get(caller_label, ""), labels.get(callee_label, "")
        if a in skip or b in skip or not rate > min_rate:
            continue
        graph.add_call(a, b, weight=rate)
    return graph
