"""Why a catalog entry selected no series, told with the closest names Prometheus has.

An entry's query can come back empty because a metric name is misspelt (or
the exporter is not scraped), because no series carries the requested
services in the entry's service label, or because a matcher or an operator of
the query selects nothing in the window (no 5xx responses in an unguarded
error ratio).  :func:`no_series_message` asks Prometheus' label-values API
which of these it is and names the closest valid names (difflib).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from rca.engine.errors import did_you_mean
from rca.sources.catalog import MetricsCatalog

if TYPE_CHECKING:
    from rca.sources.prometheus import PrometheusClient

__all__ = ["no_series_message", "selector_names"]

# A metric name in a selector: `name{...}` (catalog queries always select services with a matcher).
_SELECTOR = re.compile(r'(?<![A-Za-z0-9_:"\\])([A-Za-z_:][A-Za-z0-9_:]*)\s*\{')


def selector_names(query: str) -> list[str]:
    """The metric names a PromQL query selects, in order of appearance.

    >>> selector_names('sum by (job) (rate(a_total{job=~"x"}[1m])) / sum(b{job=~"x"})')
    ['a_total', 'b']
    """
    return list(dict.fromkeys(_SELECTOR.findall(query)))


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(x) for x in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _hint(
    client: PrometheusClient, query: str, label: str, services: Sequence[str], start: pd.Timestamp, end: pd.Timestamp
) -> str:
    from rca.sources.prometheus import PrometheusError

    try:
        known = set(client.label_values("__name__", start, end))
        for name in selector_names(query):
            if name not in known:
                return f"Prometheus has no metric {name!r} in that window{did_you_mean(name, known)}"
        for name in selector_names(query):
            values = sorted(client.label_values(label, start, end, match=name))
            if not values:
                return f"no series of {name!r} has the label {label!r} (service_label of the entry)"
            if not set(services) & set(values):
                close = [
                    f"{s!r} -> {m[0]!r}" for s in services if (m := difflib.get_close_matches(s, values, n=1, cutoff=0.6))
                ]
                return (
                    f"{name!r} has {label}={_names(values)}, none of them a requested service"
                    + (f" (closest: {', '.join(close)})" if close else "")
                )
    except PrometheusError:
        return ""
    return "its metrics and services exist, so a matcher or an operator of the query selects nothing in that window"


def no_series_message(
    client: PrometheusClient,
    catalog: MetricsCatalog,
    metric: str,
    query: str,
    services: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> str:
    """One line: the entry, the window, the query, and why it is empty (when Prometheus can tell)."""
    label = catalog.metrics[metric].service_label
    hint = _hint(client, query, label, services, start, end)
    return (
        f"metrics catalog {catalog.source!r}: entry {metric!r} matched no series of the {len(services)} services "
        f"({_names(list(services))}) between {start.isoformat()} and {end.isoformat()}"
        + (f"; {hint}" if hint else "")
        + f"; query: {query}"
    )
