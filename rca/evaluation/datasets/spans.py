"""Per-service metrics derived from spans, in the long metrics format.

Input: a span table with the columns of
:func:`topology.io_traces.normalize_spans_csv` -- ``trace_id``, ``span_id``,
``parent_id`` (null, ``""`` or ``"root"`` for a root span), ``service``,
``start`` (tz-aware UTC), ``duration_us`` -- and optionally an error column
(``error`` / ``is_error``: truthy means failed; ``status_code`` / ``status``:
an HTTP code >= 500 or a text containing ``ERROR``, as OpenTelemetry's
``STATUS_CODE_ERROR``, means failed).

A span is an **incoming request** of its service when it is a root, or when
its parent span belongs to another service, or when its parent span is not in
the table (the caller was not sampled).  Spans whose parent is in the same
service are internal work and are not counted.

Metrics, per service per ``step`` (the bucket of the span's start time):

``span_requests``
    number of incoming requests;
``span_latency_p50``, ``span_latency_p90``, ``span_latency_p99``
    percentiles (linear interpolation) of the incoming spans' durations, in
    **milliseconds**;
``span_errors``
    number of failed incoming requests -- only when the table has an error
    column (Nezha's span files have none, so it is omitted there);
``span_outgoing``
    number of calls the service makes to *other* services (child spans in
    another service, bucketed by the child's start).

Counts are 0 (not missing) in a bucket that has spans but none for that
service, for every service that has such spans somewhere in the table;
percentiles exist only where there are spans.  Buckets without any span are
absent: span files are usually a sample of the day, and the engine reports
the gaps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidInputError

__all__ = ["SPAN_METRICS", "span_metrics", "link_parents"]

#: The metric names :func:`span_metrics` can produce.
SPAN_METRICS = (
    "span_requests",
    "span_latency_p50",
    "span_latency_p90",
    "span_latency_p99",
    "span_errors",
    "span_outgoing",
)
_REQUIRED = ("trace_id", "span_id", "parent_id", "service", "start", "duration_us")
_ERROR_COLUMNS = ("error", "is_error", "status_code", "status")
_ROOT_MARKERS = ("", "root", "0", "none", "null", "nan")
_QUANTILES = ((0.5, "span_latency_p50"), (0.9, "span_latency_p90"), (0.99, "span_latency_p99"))
_COLUMNS = ["timestamp", "service", "metric", "value"]


def _check(spans: pd.DataFrame) -> None:
    if not isinstance(spans, pd.DataFrame):
        raise InvalidInputError(f"spans must be a pandas DataFrame, got {type(spans).__name__}", field="spans")
    missing = [c for c in _REQUIRED if c not in spans.columns]
    if missing:
        raise InvalidInputError(
            f"spans lack the column(s) {', '.join(missing)}; expected {', '.join(_REQUIRED)} "
            "(see topology.io_traces.normalize_spans_csv)",
            field="spans",
        )


def _is_root(parent: pd.Series) -> pd.Series:
    text = parent.astype("str").str.strip().str.lower()
    return parent.isna() | text.isin(_ROOT_MARKERS)


def link_parents(spans: pd.DataFrame) -> pd.DataFrame:
    """The spans with ``parent_service`` (null for roots and unknown parents) and ``is_root``.

    Parents are looked up in the same trace.  Duplicate spans (same trace and
    span id, e.g. a trace present in two overlapping files) are kept once.
    """
    _check(spans)
    df = spans.drop_duplicates(["trace_id", "span_id"]).reset_index(drop=True)
    parents = df[["trace_id", "span_id", "service"]].rename(
        columns={"span_id": "parent_id", "service": "parent_service"}
    )
    # parent_id may be typed differently from span_id (e.g. all-"root"); compare as text
    left = df.assign(_pid=df["parent_id"].astype("str"), _tid=df["trace_id"].astype("str"))
    right = parents.assign(_pid=parents["parent_id"].astype("str"), _tid=parents["trace_id"].astype("str"))
    merged = left.merge(right[["_tid", "_pid", "parent_service"]], on=["_tid", "_pid"], how="left", validate="many_to_one")
    merged = merged.drop(columns=["_pid", "_tid"])
    merged["is_root"] = _is_root(merged["parent_id"]).to_numpy()
    merged.loc[merged["is_root"], "parent_service"] = np.nan
    return merged


def _error_flags(spans: pd.DataFrame) -> pd.Series | None:
    for col in _ERROR_COLUMNS:
        if col not in spans.columns:
            continue
        s = spans[col]
        if col in ("error", "is_error"):
            if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                return s.fillna(0).astype(bool)
            text = s.astype("str").str.strip().str.lower()
            return text.isin(("true", "1", "yes", "error")) & s.notna()
        num = pd.to_numeric(s, errors="coerce")
        text = s.astype("str").str.upper()
        return ((num >= 500) | text.str.contains("ERROR", regex=False)).fillna(False).astype(bool)
    return None


def _long(wide: pd.DataFrame) -> pd.DataFrame:
    """(timestamp, service) x metric columns -> long rows without NaN."""
    out = wide.reset_index().melt(id_vars=["timestamp", "service"], var_name="metric", value_name="value")
    out = out.dropna(subset=["value"])
    out["value"] = out["value"].astype(float)
    return out[_COLUMNS]


def span_metrics(spans: pd.DataFrame, step: str | pd.Timedelta = "1min") -> pd.DataFrame:
    """Per-service request, latency, error and outgoing-call metrics from spans.

    Parameters
    ----------
    spans : pandas.DataFrame
        Normalized spans (see the module docstring).
    step : str or Timedelta
        Bucket width (``"1min"``).

    Returns
    -------
    pandas.DataFrame
        Long format ``timestamp, service, metric, value`` (see the module
        docstring for the metric definitions), sorted by time.

    Examples
    --------
    >>> t = pd.Timestamp("2024-01-01 00:00:10", tz="UTC")
    >>> spans = pd.DataFrame({
    ...     "trace_id": ["t", "t", "t"], "span_id": ["a", "b", "c"],
    ...     "parent_id": ["root", "a", "b"], "service": ["web", "web", "db"],
    ...     "start": [t, t, t], "duration_us": [30_000, 20_000, 10_000]})
    >>> m = span_metrics(spans)
    >>> m[m.metric == "span_requests"].set_index("service")["value"].to_dict()
    {'db': 1.0, 'web': 1.0}
    >>> m[(m.service == "web") & (m.metric == "span_outgoing")]["value"].item()
    1.0
    """
    try:
        freq = pd.Timedelta(step)
    except (ValueError, TypeError):
        raise InvalidInputError(f"step must be a duration like '1min', got {step!r}", field="step") from None
    if freq <= pd.Timedelta(0):
        raise InvalidInputError(f"step must be positive, got {step!r}", field="step")
    df = link_parents(spans)
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(_COLUMNS, ["datetime64[ns, UTC]", "str", "str", float], strict=True)})
    start = pd.to_datetime(df["start"], utc=True)
    df["timestamp"] = start.dt.floor(freq)
    df["service"] = df["service"].astype("str")
    errors = _error_flags(df)
    incoming_mask = (df["parent_service"].isna() | (df["parent_service"] != df["service"])).to_numpy()
    inc = df.loc[incoming_mask, ["timestamp", "service", "duration_us"]].copy()
    inc["ms"] = pd.to_numeric(inc["duration_us"], errors="coerce").astype(float) / 1000.0
    if errors is not None:
        inc["err"] = errors.to_numpy()[incoming_mask].astype(float)
    calls = df.loc[df["parent_service"].notna() & (df["parent_service"] != df["service"]), ["timestamp", "parent_service"]]
    calls = calls.rename(columns={"parent_service": "service"})
    calls["service"] = calls["service"].astype("str")

    buckets = pd.Index(np.sort(df["timestamp"].unique()), name="timestamp")
    g = inc.groupby(["timestamp", "service"], sort=True)
    wide = pd.DataFrame({"span_requests": g.size().astype(float)})
    q = g["ms"].quantile([p for p, _ in _QUANTILES]).unstack(-1)
    q.columns = [name for _, name in _QUANTILES]
    wide = wide.join(q)
    if errors is not None:
        wide["span_errors"] = g["err"].sum()
    counts = ["span_requests"] + (["span_errors"] if errors is not None else [])
    # zero-fill the counts over every bucket that has spans, for services that have incoming spans
    grid = pd.MultiIndex.from_product([buckets, sorted(inc["service"].unique())], names=["timestamp", "service"])
    wide = wide.reindex(grid)
    wide[counts] = wide[counts].fillna(0.0)
    parts = [_long(wide)]
    if not calls.empty:
        outgoing = calls.groupby(["timestamp", "service"]).size().astype(float)
        grid_out = pd.MultiIndex.from_product(
            [buckets, sorted(calls["service"].unique())], names=["timestamp", "service"]
        )
        outgoing = outgoing.reindex(grid_out, fill_value=0.0).rename("span_outgoing").to_frame()
        parts.append(_long(outgoing))
    result = pd.concat(parts, ignore_index=True)
    result["service"] = result["service"].astype("str")
    result["metric"] = result["metric"].astype("str")
    return result.sort_values(["timestamp", "service", "metric"], kind="stable").reset_index(drop=True)
