"""How analysis inputs are kept: topology documents as canonical JSON, metrics as canonical gzip CSV.

The canonical metrics form is the CSV ``timestamp,service,metric,value`` sorted
by (service, metric, timestamp); its SHA-256 is the ``metrics_digest`` of an
analysis and its gzip is what a re-queued job runs on.  Used by the service
(requests in) and by the alert worker (metrics pulled from Prometheus).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidMetricsError
from topology import ServiceGraph

__all__ = [
    "graph_from_document",
    "document_of",
    "CanonicalMetrics",
    "canonicalise_metrics",
    "isoformat_timestamps",
    "read_canonical_metrics",
]


def graph_from_document(doc: Any) -> ServiceGraph:
    """The graph of a document in the ``ServiceGraph.to_dict`` form (the JSON loader's)."""
    from topology.io_json import graph_from_dict

    return graph_from_dict(doc, source="topology document")


def document_of(graph: ServiceGraph) -> str:
    """The canonical JSON text stored for a graph."""
    return json.dumps(graph.to_dict(), sort_keys=True, separators=(",", ":"))


def isoformat_timestamps(ts: pd.Series) -> pd.Series:
    """``t.isoformat()`` of every timestamp of ``ts``, at numpy speed when they are whole UTC seconds.

    A Prometheus fetch has tens of thousands of points; one ``isoformat`` call each took a fifth of the
    time to store an alert's analysis.  Other timestamps (sub-second, other zones) are rendered one by one.
    """
    if len(ts) and isinstance(ts.dtype, pd.DatetimeTZDtype) and str(ts.dtype.tz) == "UTC":
        naive = ts.dt.tz_localize(None).to_numpy()
        seconds = naive.astype("datetime64[s]")
        if bool((naive == seconds).all()):
            text = np.char.add(np.datetime_as_string(seconds, unit="s"), "+00:00")
            return pd.Series(text, index=ts.index)
    return ts.map(lambda t: t.isoformat())


@dataclass(frozen=True)
class CanonicalMetrics:
    """Metrics in canonical form: gzip of the CSV bytes, their SHA-256, the point count, the services."""

    csv_gz: bytes
    digest: str
    points: int
    services: frozenset[str]
    series: frozenset[tuple[str, str]]


def canonicalise_metrics(df: pd.DataFrame) -> CanonicalMetrics:
    """Sort, render as CSV, digest and compress."""
    if len(df) == 0:
        raise InvalidMetricsError("metrics are empty: send at least one point", field="metrics")
    out = df.copy()
    out["_ts"] = out["timestamp"].astype(str)
    out = out.sort_values(["service", "metric", "_ts"], kind="stable").drop(columns="_ts")
    csv = out.to_csv(index=False, lineterminator="\n").encode()
    services = frozenset(out["service"].unique().tolist())
    series = frozenset(out[["service", "metric"]].drop_duplicates().itertuples(index=False, name=None))
    return CanonicalMetrics(
        csv_gz=gzip.compress(csv, compresslevel=5),
        digest=hashlib.sha256(csv).hexdigest(),
        points=len(out),
        services=services,
        series=series,
    )


def read_canonical_metrics(csv_gz: bytes) -> pd.DataFrame:
    """The stored metrics back as the frame handed to ``rca.analyze``."""
    return pd.read_csv(io.BytesIO(gzip.decompress(csv_gz)), dtype={"service": str, "metric": str})
