"""The ingest of rca.engine before #19 (commit 4d97353), frozen: the reference the block-wise ingest must equal.

Only the wide path differed in method (``DataFrame.stack``); it is kept here
verbatim so tests/engine/test_engine_ingest_scale.py can compare old and new
frame for frame and issue for issue.  Not used by the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidMetricsError
from rca.engine.types import DataIssue

__all__ = ["LONG_COLUMNS", "load_metrics", "read_metrics_file", "series_codes"]

LONG_COLUMNS = ("timestamp", "service", "metric", "value")
_MetricsInput = pd.DataFrame | str | Path


def read_metrics_file(path: str | Path, *, field: str = "metrics") -> pd.DataFrame:
    """Read a CSV or Parquet file of metrics (long or wide) into a DataFrame."""
    p = Path(path)
    if not p.exists():
        raise InvalidMetricsError(f"{field}: file not found: {p}", field=field)
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if suffix in (".csv", ".txt", ".gz"):
            head = pd.read_csv(p, nrows=0)
            cols = {c.strip().lower() for c in head.columns}
            if cols & set(LONG_COLUMNS):
                # Some long-format column names: read it as long, so a
                # missing or misnamed column is named in the error.
                return pd.read_csv(p)
            wide = pd.read_csv(p, header=[0, 1], index_col=0)
            return wide
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InvalidMetricsError(f"{field}: cannot read {p.name}: {exc}", field=field) from None
    raise InvalidMetricsError(
        f"{field}: unsupported file type {suffix!r} ({p.name}); use .csv or .parquet", field=field
    )


def _parse_timestamps(values: pd.Series | pd.Index, *, field: str) -> pd.DatetimeIndex:
    """Parse timestamps of any accepted kind into a UTC DatetimeIndex."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype) or (dtype is not None and dtype.kind == "M"):
        # Datetimes already: nothing to parse, only NaT to refuse and the zone and unit to settle.
        idx = pd.DatetimeIndex(values)
        if idx.hasnans:
            raise InvalidMetricsError(f"{field}: {int(idx.isna().sum())} missing timestamp(s)", field=field)
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        return idx.as_unit("ns")
    if isinstance(values, pd.Index):
        values = values.to_series(index=None)
    values = pd.Series(values).reset_index(drop=True)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        idx = pd.DatetimeIndex(values)
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = values.astype("float64")
        finite = num[np.isfinite(num)]
        if finite.empty:
            raise InvalidMetricsError(f"{field}: no valid timestamps", field=field)
        mag = float(np.nanmedian(np.abs(finite)))
        unit = "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
        idx = pd.DatetimeIndex(pd.to_datetime(num, unit=unit, errors="coerce"))
    else:
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(values.astype("string"), utc=True, errors="coerce", format="mixed"))
        except (ValueError, TypeError):
            idx = pd.DatetimeIndex(pd.to_datetime(values.astype("string"), utc=True, errors="coerce"))
    bad = idx.isna() & pd.Series(values).notna().to_numpy()
    if bad.any():
        first = values[np.flatnonzero(bad)[0]]
        raise InvalidMetricsError(
            f"{field}: {int(bad.sum())} timestamp(s) could not be parsed, e.g. {first!r}; "
            "use ISO 8601 or unix seconds",
            field=field,
        )
    if idx.isna().any():
        raise InvalidMetricsError(f"{field}: {int(idx.isna().sum())} missing timestamp(s)", field=field)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    else:
        idx = idx.tz_convert("UTC")
    return idx.as_unit("ns")


def _from_wide(frame: pd.DataFrame, *, field: str) -> pd.DataFrame:
    cols = frame.columns
    if not isinstance(cols, pd.MultiIndex) or cols.nlevels != 2:
        raise InvalidMetricsError(
            f"{field}: expected a long frame with columns {list(LONG_COLUMNS)} "
            "or a wide frame with (service, metric) column pairs; "
            f"got columns {list(map(str, cols[:6]))}",
            field=field,
        )
    ts = _parse_timestamps(frame.index, field=f"{field}.index")
    wide = frame.copy()
    wide.index = ts
    wide.index.name = "timestamp"
    wide.columns = pd.MultiIndex.from_tuples(
        [(str(s), str(m)) for s, m in cols], names=["service", "metric"]
    )
    long = wide.stack(level=[0, 1], future_stack=True).rename("value").reset_index()
    return long


def _plain_names(names: pd.Series) -> pd.Series:
    """``names`` stripped, as a categorical whose categories are sorted strings.

    Names repeat (a service per metric, a metric per service), so each
    distinct one is converted once, and every later step (ordering, grouping,
    aligning) works on the integer codes instead of factorizing strings again.
    """
    if isinstance(names.dtype, pd.CategoricalDtype):
        codes, uniques = names.cat.codes.to_numpy(), names.cat.categories
        if uniques.is_monotonic_increasing and all(type(u) is str and u and u == u.strip() for u in uniques):
            return names  # already plain (as load_metrics and the dataset loaders leave them)
    else:
        codes, uniques = pd.factorize(names)
    stripped = [str(u).strip() for u in uniques]
    categories = sorted(set(stripped))
    position = {name: i for i, name in enumerate(categories)}
    remap = np.array([position[name] for name in stripped], dtype=np.int32)
    plain = pd.Categorical.from_codes(remap[codes], categories=pd.Index(categories, dtype=object))
    return pd.Series(plain, index=names.index, name=names.name)


def _name_codes(names: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``names`` and the sorted names they index.

    Codes order like the names, so sorting codes sorts names.  Free for the
    columns :func:`load_metrics` returns (sorted categoricals); other columns
    are factorized.
    """
    if isinstance(names.dtype, pd.CategoricalDtype) and names.cat.categories.is_monotonic_increasing:
        return names.cat.codes.to_numpy(dtype=np.int64), names.cat.categories
    codes, uniques = names.factorize(sort=True)
    return codes.astype(np.int64), uniques


def series_codes(service: pd.Series, metric: pd.Series) -> tuple[np.ndarray, pd.Index, pd.Index]:
    """One integer per ``(service, metric)`` series, ordered like the pairs, and the sorted names.

    The code is ``service_code * len(metric_names) + metric_code``: both
    parts are sorted, so ordering codes orders the pairs.
    """
    svc_codes, svc_names = _name_codes(service)
    met_codes, met_names = _name_codes(metric)
    return svc_codes * len(met_names) + met_codes, svc_names, met_names


def _sort_order_and_duplicates(series: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable order by series code, then timestamp, and which rows share both.

    ``series`` are :func:`series_codes` (ordered like the names), ``ts``
    int64 nanoseconds.  The duplicate mask is in the rows' given order.
    Once sorted, rows sharing a key are neighbours, so no hashing is needed.
    """
    d_series, d_ts = np.diff(series), np.diff(ts)
    if (d_series >= 0).all() and ((d_series > 0) | (d_ts > 0)).all():
        # Sorted by series, then strictly by time (as load_metrics leaves it): nothing to do.
        return np.arange(len(series)), np.zeros(len(series), dtype=bool)
    if (d_ts >= 0).all():
        # Already in time order (as exported data usually is): a stable sort
        # by series keeps it, and integer codes this small sort by radix.
        order = np.argsort(series.astype(np.min_scalar_type(series.max(initial=0))), kind="stable")
    else:
        order = np.lexsort((ts, series))  # stable, last key first
    same = (np.diff(series[order]) == 0) & (np.diff(ts[order]) == 0)
    dup_sorted = np.zeros(len(order), dtype=bool)
    dup_sorted[1:] |= same
    dup_sorted[:-1] |= same
    dup = np.empty_like(dup_sorted)
    dup[order] = dup_sorted
    return order, dup


def load_metrics(
    data: _MetricsInput, *, field: str = "metrics"
) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Normalize metrics to the long frame ``timestamp, service, metric, value``.

    Parameters
    ----------
    data : DataFrame or path
        Long or wide metrics, or a CSV/Parquet file with either.
    field : str
        Name used in error messages (``"metrics"`` or ``"baseline"``).

    Returns
    -------
    frame : DataFrame
        Long frame sorted by service, metric, timestamp; missing values removed.
    issues : list of DataIssue
        What was repaired (non-finite values, duplicate timestamps).

    Raises
    ------
    InvalidMetricsError
        Empty input, missing columns, unparseable timestamps or values.

    Examples
    --------
    >>> df = pd.DataFrame({"timestamp": [0, 60], "service": "a", "metric": "latency", "value": [1.0, 2.0]})
    >>> load_metrics(df)[0]["timestamp"].iloc[1].isoformat()
    '1970-01-01T00:01:00+00:00'
    """
    issues: list[DataIssue] = []
    if isinstance(data, (str, Path)):
        data = read_metrics_file(data, field=field)
    if not isinstance(data, pd.DataFrame):
        raise InvalidMetricsError(
            f"{field} must be a pandas DataFrame or a path to a CSV/Parquet file, got {type(data).__name__}",
            field=field,
        )
    if data.empty:
        raise InvalidMetricsError(f"{field} are empty: no rows", field=field)

    lower = {str(c).strip().lower(): c for c in data.columns} if not isinstance(data.columns, pd.MultiIndex) else {}
    if set(LONG_COLUMNS) <= set(lower):
        # The columns as they are: every step below works on their arrays.
        long: dict[str, Any] = {k: data[lower[k]] for k in LONG_COLUMNS}
        long["timestamp"] = _parse_timestamps(long["timestamp"], field=f"{field}.timestamp")
    elif isinstance(data.columns, pd.MultiIndex):
        stacked = _from_wide(data, field=field)
        long = {k: stacked[k] for k in LONG_COLUMNS}
    else:
        missing = [c for c in LONG_COLUMNS if c not in lower]
        raise InvalidMetricsError(
            f"{field}: missing column(s) {missing}; a long frame needs {list(LONG_COLUMNS)}",
            field=f"{field}.{missing[0]}",
        )

    for col in ("service", "metric"):
        s = long[col]
        if s.isna().any():
            raise InvalidMetricsError(
                f"{field}.{col}: {int(s.isna().sum())} row(s) have no {col}", field=f"{field}.{col}"
            )
        long[col] = _plain_names(s)
        if "" in long[col].cat.categories:
            raise InvalidMetricsError(f"{field}.{col}: empty {col} name", field=f"{field}.{col}")

    raw = long["value"]
    if pd.api.types.is_float_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    else:
        numeric = pd.to_numeric(raw, errors="coerce")
        bad = numeric.isna() & raw.notna()
        if bad.any():
            example = raw[bad].iloc[0]
            raise InvalidMetricsError(
                f"{field}.value: {int(bad.sum())} value(s) are not numbers, e.g. {example!r}",
                field=f"{field}.value",
            )
        values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    nonfinite = np.isinf(values)
    if nonfinite.any():
        rows = pd.DataFrame({c: long[c].to_numpy()[nonfinite] for c in ("service", "metric")}).drop_duplicates()
        for svc, met in rows.itertuples(index=False):
            issues.append(
                DataIssue("non_finite", f"{svc}/{met}: infinite values treated as missing", svc, met)
            )
        values[nonfinite] = np.nan
    kept = np.flatnonzero(~np.isnan(values))
    if not kept.size:
        raise InvalidMetricsError(f"{field}: no finite values at all", field=f"{field}.value")

    service, metric = long["service"], long["metric"]
    series = series_codes(service, metric)[0][kept]
    ts = long["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64")[kept]
    order, dup = _sort_order_and_duplicates(series, ts)
    if dup.any():
        at = kept[dup]
        pairs = pd.DataFrame({"service": service.take(at).to_numpy(), "metric": metric.take(at).to_numpy()})
        for svc, met in pairs.drop_duplicates().itertuples(index=False):
            issues.append(
                DataIssue(
                    "duplicate_timestamps",
                    f"{svc}/{met}: several values share a timestamp; they are aggregated",
                    svc,
                    met,
                )
            )
    rows = kept[order]
    out = pd.DataFrame(
        {
            "timestamp": long["timestamp"].array.take(rows),
            "service": service.array.take(rows),
            "metric": metric.array.take(rows),
            "value": values[rows],
        }
    )
    return out, issues
