"""Span events and per-service minute series from a span table.

Input: a span table with the columns of :func:`topology.io_spans.normalize_spans_csv` -- ``trace_id``,
``span_id``, ``parent_id`` (null, ``""`` or ``"root"`` for a root span), ``service``, ``start`` (tz-aware
UTC), ``duration_us`` -- and optionally ``operation`` and an error column (``error`` / ``is_error``: truthy
means failed; ``status_code`` / ``status``: an HTTP code >= 500 or a text containing ``ERROR``, as
OpenTelemetry's ``STATUS_CODE_ERROR``, means failed).

A span is an **incoming request** of its service when it is a root, or its parent span belongs to another
service, or its parent is not in the table (the caller was not sampled).  A span whose parent ran in another
service is one **call** ``parent's service -> child's service``; the parent is the caller's client span.

Series (one value per service and ``step``, the bucket of the span's start), named ``span:...`` so the evidence
says which operation or edge moved:

``span:<operation> latency p90`` (and ``p50``, ``p99``)
    latency percentiles (ms) of the service's incoming spans of that operation;
``span:<operation> requests``
    how many incoming spans of that operation (0 in a bucket with spans but none of these);
``span:<operation> errors``
    failed incoming spans of that operation (only with an error column; Nezha's span files have none);
``span:self latency p90``
    exclusive time (ms) of every span of the service: its duration minus its children's, at least 0;
``span:client <callee> latency p90``, ``span:client <callee> errors``
    latency (ms) and failures of the calls the service makes to ``<callee>``, seen from the caller;
``span:calls to <callee>``
    how many calls the service makes to ``<callee>``.

:func:`span_events` returns the same series as events (one row per span and series), which
:mod:`rca.engine.evidence.scoring` tests against the baseline's events.  Everything is a groupby over the whole
table: no Python loop per span or per series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidInputError

__all__ = ["EVENT_COLUMNS", "SPAN_PREFIX", "link_parents", "series_from_events", "span_events", "span_series"]

SPAN_PREFIX = "span:"
_REQUIRED = ("trace_id", "span_id", "parent_id", "service", "start", "duration_us")
_ERROR_COLUMNS = ("error", "is_error", "status_code", "status")
_ROOT_MARKERS = ("", "root", "0", "none", "null", "nan", "<na>")
_QUANTILES = (0.5, 0.9, 0.99)
_COLUMNS = ["timestamp", "service", "metric", "value"]
#: event columns: ``kind`` is ``"duration"`` (value in ms, tested by its distribution) or ``"count"`` (one
#: event per row, value 1, tested by its rate); ``flag`` marks a failed span
EVENT_COLUMNS = ("timestamp", "service", "metric", "kind", "value", "flag")


def _check(spans: pd.DataFrame, field: str) -> None:
    if not isinstance(spans, pd.DataFrame):
        raise InvalidInputError(f"{field} must be a pandas DataFrame, got {type(spans).__name__}", field=field)
    missing = [c for c in _REQUIRED if c not in spans.columns]
    if missing:
        raise InvalidInputError(
            f"{field} lack the column(s) {', '.join(missing)}; expected {', '.join(_REQUIRED)} "
            "(see topology.io_traces.normalize_spans_csv)",
            field=f"{field}.{missing[0]}",
        )


def _is_root(parent: pd.Series) -> pd.Series:
    text = parent.astype("str").str.strip().str.lower()
    return parent.isna() | text.isin(_ROOT_MARKERS)


def link_parents(spans: pd.DataFrame, *, field: str = "spans") -> pd.DataFrame:
    """The spans with ``parent_service``, ``parent_duration_us`` (null for roots and unknown parents),
    ``children_us`` (the summed duration of their children) and ``is_root``.

    Parents are looked up in the same trace.  Duplicate spans (same trace and span id, e.g. a trace present in
    two overlapping files) are kept once.
    """
    _check(spans, field)
    df = spans.drop_duplicates(["trace_id", "span_id"]).reset_index(drop=True)
    tid = df["trace_id"].astype("str").to_numpy()
    sid = df["span_id"].astype("str").to_numpy()
    root = _is_root(df["parent_id"]).to_numpy()
    pid = np.where(root, "", df["parent_id"].astype("str").to_numpy())
    # one integer key per (trace, span id) shared by both sides of the join
    keys = pd.Index(pd.MultiIndex.from_arrays([np.concatenate([tid, tid]), np.concatenate([sid, pid])]))
    codes, _ = pd.factorize(keys)
    own, parent = codes[: len(df)], codes[len(df):]
    pos = pd.Series(np.arange(len(df)), index=own)
    ppos = pos.reindex(parent).to_numpy()
    ppos = np.where(root, np.nan, ppos)
    has = ~np.isnan(ppos)
    pidx = np.where(has, ppos, 0).astype(np.int64)
    service = df["service"].astype("str").to_numpy(dtype=object)
    duration = pd.to_numeric(df["duration_us"], errors="coerce").to_numpy(dtype=float)
    df["parent_service"] = pd.array(np.where(has, service[pidx], None), dtype="str")
    df["parent_duration_us"] = np.where(has, duration[pidx], np.nan)
    children = np.bincount(pidx[has], weights=duration[has], minlength=len(df))
    df["children_us"] = children
    df["is_root"] = root
    return df


def _error_flags(spans: pd.DataFrame) -> np.ndarray | None:
    for col in _ERROR_COLUMNS:
        if col not in spans.columns:
            continue
        s = spans[col]
        if col in ("error", "is_error"):
            if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                return s.fillna(0).astype(bool).to_numpy()
            text = s.astype("str").str.strip().str.lower()
            return (text.isin(("true", "1", "yes", "error")) & s.notna()).to_numpy()
        num = pd.to_numeric(s, errors="coerce")
        text = s.astype("str").str.upper()
        return ((num >= 500) | text.str.contains("ERROR", regex=False)).fillna(False).astype(bool).to_numpy()
    return None


def _step(step: str | pd.Timedelta) -> pd.Timedelta:
    try:
        freq = pd.Timedelta(step)
    except (ValueError, TypeError):
        raise InvalidInputError(f"step must be a duration like '1min', got {step!r}", field="step") from None
    if freq <= pd.Timedelta(0):
        raise InvalidInputError(f"step must be positive, got {step!r}", field="step")
    return freq


def _events(ts: np.ndarray, service: np.ndarray, metric: np.ndarray, kind: str, value: np.ndarray,
            flag: np.ndarray | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "timestamp": ts, "service": service, "metric": metric, "kind": kind,
        "value": value.astype(float), "flag": np.zeros(len(ts), dtype=bool) if flag is None else flag,
    })


def span_events(spans: pd.DataFrame, step: str | pd.Timedelta = "1min", *, field: str = "spans") -> pd.DataFrame:
    """One row per span and series it feeds (see the module docstring), bucketed by ``step``.

    Columns: ``timestamp`` (bucket), ``service``, ``metric`` (``span:<operation> latency p90``...), ``kind``
    (``"duration"``: ``value`` in ms; ``"count"``: ``value`` 1) and ``flag`` (the span failed).  Latency
    events carry the ``p90`` name; :func:`span_series` derives p50/p99 from the same events.
    """
    freq = _step(step)
    df = link_parents(spans, field=field)
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    ts = pd.to_datetime(df["start"], utc=True).dt.floor(freq).to_numpy()
    service = df["service"].astype("str").to_numpy(dtype=object)
    op = (df["operation"].astype("str").fillna("") if "operation" in df else pd.Series("", index=df.index))
    op = op.str.replace(r"\s+", " ", regex=True).str.strip().replace("", "(unnamed)").to_numpy(dtype=object)
    ms = pd.to_numeric(df["duration_us"], errors="coerce").to_numpy(dtype=float) / 1000.0
    errors = _error_flags(df)
    parent = df["parent_service"].to_numpy(dtype=object)
    has_parent = pd.notna(df["parent_service"]).to_numpy()
    cross = has_parent & (parent != service)
    incoming = ~has_parent | cross
    prefix = np.full(len(df), SPAN_PREFIX, dtype=object)
    parts = []
    i = incoming
    parts.append(_events(ts[i], service[i], prefix[i] + op[i] + " latency p90", "duration", ms[i],
                         None if errors is None else errors[i]))
    parts.append(_events(ts[i], service[i], prefix[i] + op[i] + " requests", "count", np.ones(int(i.sum()))))
    if errors is not None:
        e = i & errors
        parts.append(_events(ts[e], service[e], prefix[e] + op[e] + " errors", "count", np.ones(int(e.sum()))))
    self_ms = np.fmax(ms - df["children_us"].to_numpy(dtype=float) / 1000.0, 0.0)
    parts.append(_events(ts, service, np.full(len(df), SPAN_PREFIX + "self latency p90", dtype=object),
                         "duration", self_ms))
    c = cross
    caller = parent[c]
    callee = service[c]
    client_ms = df["parent_duration_us"].to_numpy(dtype=float)[c] / 1000.0
    parts.append(_events(ts[c], caller, SPAN_PREFIX + "client " + callee + " latency p90", "duration", client_ms,
                         None if errors is None else errors[c]))
    parts.append(_events(ts[c], caller, SPAN_PREFIX + "calls to " + callee, "count", np.ones(int(c.sum()))))
    if errors is not None:
        ce = c & errors
        parts.append(_events(ts[ce], parent[ce], SPAN_PREFIX + "client " + service[ce] + " errors", "count",
                             np.ones(int(ce.sum()))))
    out = pd.concat(parts, ignore_index=True)
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True)
    return out.dropna(subset=["value"]).reset_index(drop=True)


def _empty_long() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                         zip(_COLUMNS, ["datetime64[ns, UTC]", "str", "str", float], strict=True)})


def series_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """Minute series of span or log events: percentiles of durations, zero-filled counts.

    A ``... p90`` duration series also yields its ``p50`` and ``p99`` siblings; counts are 0 (not missing) in
    every bucket that has events at all, for every series seen somewhere.
    """
    if events.empty:
        return _empty_long()
    buckets = np.sort(events["timestamp"].unique())
    parts = []
    dur = events[events["kind"] == "duration"]
    if not dur.empty:
        q = dur.groupby(["timestamp", "service", "metric"], sort=False)["value"].quantile(list(_QUANTILES))
        q = q.rename("value").reset_index()
        level = q.columns[3]
        suffix = q[level].map({0.5: " p50", 0.9: " p90", 0.99: " p99"})
        q["metric"] = q["metric"].str.slice(0, -4) + suffix
        parts.append(q[_COLUMNS])
    cnt = events[events["kind"] == "count"]
    if not cnt.empty:
        n = cnt.groupby(["service", "metric", "timestamp"], sort=False).size().astype(float)
        keys = n.index.droplevel("timestamp").unique()
        full = pd.MultiIndex.from_tuples(
            [(s, m, t) for (s, m) in keys for t in buckets], names=["service", "metric", "timestamp"]
        ) if len(keys) * len(buckets) < 2_000_000 else n.index
        n = n.reindex(full, fill_value=0.0).rename("value").reset_index()
        parts.append(n[_COLUMNS])
    out = pd.concat(parts, ignore_index=True)
    out["service"] = out["service"].astype("str")
    out["metric"] = out["metric"].astype("str")
    out["value"] = out["value"].astype(float)
    return out.sort_values(["timestamp", "service", "metric"], kind="stable").reset_index(drop=True)


def span_series(spans: pd.DataFrame, step: str | pd.Timedelta = "1min") -> pd.DataFrame:
    """Per-service request, latency, error, self-time and per-edge call series from spans.

    Parameters
    ----------
    spans : pandas.DataFrame
        Normalized spans (see the module docstring).
    step : str or Timedelta
        Bucket width (``"1min"``).

    Returns
    -------
    pandas.DataFrame
        Long format ``timestamp, service, metric, value``, sorted by time.

    Examples
    --------
    >>> t = pd.Timestamp("2024-01-01 00:00:10", tz="UTC")
    >>> spans = pd.DataFrame({
    ...     "trace_id": ["t", "t", "t"], "span_id": ["a", "b", "c"], "parent_id": ["root", "a", "b"],
    ...     "service": ["web", "web", "db"], "operation": ["GET /", "query", "SELECT"],
    ...     "start": [t, t, t], "duration_us": [30_000, 20_000, 10_000]})
    >>> m = span_series(spans).set_index(["service", "metric"])["value"]
    >>> float(m[("web", "span:GET / latency p90")]), float(m[("web", "span:calls to db")]), float(m[("web", "span:client db latency p90")])
    (30.0, 1.0, 20.0)
    >>> float(m[("web", "span:self latency p90")])  # the handler 10 ms and the client span 10 ms of its 30 ms
    10.0
    """
    return series_from_events(span_events(spans, step))
