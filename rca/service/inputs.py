"""Decoding of request inputs: topology documents and metric tables, checked at the door.

No analysis happens here: inputs are parsed and checked so that a job that is
accepted can run; :mod:`rca.store.documents` then keeps them in canonical form.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

import topology
from rca.engine.errors import InvalidMetricsError
from rca.engine.ingest import LONG_COLUMNS
from rca.service.errors import ApiError
from topology import ServiceGraph, TopologyError

__all__ = ["TOPOLOGY_FORMATS", "topology_format_for", "load_topology", "metrics_from_records", "metrics_from_upload"]

# The loaders' format names.
TOPOLOGY_FORMATS: tuple[str, ...] = tuple(topology.FORMATS)

_CONTENT_TYPES = {
    "application/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "text/csv": "edges-csv",
}


_SNIFFED_MEDIA = {"", "application/octet-stream", "text/plain"}
_JSON_FAMILY = {"json", "otlp", "jaeger", "zipkin", "servicenow-cmdb"}


def topology_format_for(content_type: str | None, explicit: str | None, data: bytes = b"") -> str:
    """The loader format named by ``?format=``, else by the content type (JSON flavours and
    untyped bodies are told apart by :func:`topology.sniff_format`)."""
    if explicit:
        if explicit not in TOPOLOGY_FORMATS:
            raise ApiError(
                422,
                "unsupported_format",
                f"unknown topology format {explicit!r}; use one of: {', '.join(TOPOLOGY_FORMATS)}",
                field="format",
            )
        return explicit
    media = (content_type or "").split(";")[0].strip().lower()
    if media in _SNIFFED_MEDIA:
        return _sniff(data)
    fmt = _CONTENT_TYPES.get(media)
    if fmt is None:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"cannot tell the topology format from content type {media!r}; "
            f"send application/json, application/yaml or text/csv, or pass ?format= "
            f"(one of: {', '.join(TOPOLOGY_FORMATS)})",
            field="format",
        )
    if fmt == "json":  # a trace export is JSON too
        try:
            sniffed = _sniff(data)
        except TopologyError:
            sniffed = "json"
        fmt = sniffed if sniffed in _JSON_FAMILY else "json"
    return fmt


def _sniff(data: bytes) -> str:
    try:
        return str(topology.sniff_format(data))
    except TopologyError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:
        raise TopologyError(f"cannot tell the format ({type(exc).__name__}); pass ?format=") from None


def load_topology(data: bytes, fmt: str, edges: str = "calls") -> ServiceGraph:
    """Parse a topology document with the ``topology`` loaders (``edges`` as :func:`topology.loads`)."""
    graph = topology.loads(data, fmt, source="request body", edges=edges)
    if len(graph) == 0:
        raise TopologyError("the topology has no services", field="services")
    return graph


def metrics_from_records(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A long-format frame from already type-checked JSON records."""
    return pd.DataFrame.from_records(records, columns=list(LONG_COLUMNS))


def metrics_from_upload(data: bytes, *, filename: str | None, content_type: str | None) -> pd.DataFrame:
    """A long-format frame from an uploaded CSV or Parquet file."""
    name = (filename or "").lower()
    media = (content_type or "").split(";")[0].strip().lower()
    is_parquet = data[:4] == b"PAR1" or name.endswith(".parquet") or "parquet" in media
    try:
        if is_parquet:
            df = pd.read_parquet(io.BytesIO(data))
        else:
            df = pd.read_csv(io.BytesIO(data))
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        kind = "Parquet" if is_parquet else "CSV"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidMetricsError(f"the metrics file is not readable {kind}: {first}", field="metrics") from None
    missing = [c for c in LONG_COLUMNS if c not in df.columns]
    if missing:
        raise InvalidMetricsError(
            f"the metrics file lacks column(s) {missing}; long format needs {list(LONG_COLUMNS)}, "
            f"got {[str(c) for c in df.columns]}",
            field="metrics",
        )
    df = df[list(LONG_COLUMNS)]
    for col in ("service", "metric"):
        bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise InvalidMetricsError(f"{col} is empty in row {row + 1}", field=f"metrics[{row}].{col}")
        df[col] = df[col].astype(str)
    if df["timestamp"].isna().any():
        row = int(df["timestamp"].isna().to_numpy().nonzero()[0][0])
        raise InvalidMetricsError(f"timestamp is empty in row {row + 1}", field=f"metrics[{row}].timestamp")
    values = pd.to_numeric(df["value"], errors="coerce")
    bad = values.isna() & df["value"].notna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InvalidMetricsError(
            f"value must be a number, got {df['value'].iloc[row]!r} in row {row + 1}", field=f"metrics[{row}].value"
        )
    df["value"] = values.astype(float)
    if pd.api.types.is_datetime64_any_dtype(df["timestamp"]):
        ts = df["timestamp"]
        if getattr(ts.dt, "tz", None) is None:
            ts = ts.dt.tz_localize("UTC")
        df["timestamp"] = ts.dt.tz_convert("UTC").map(lambda t: t.isoformat())
    return df
