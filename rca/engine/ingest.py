"""Ingest: accept metrics in the shapes users have and normalize them.

Output is always the **long** frame ``timestamp, service, metric, value`` with
tz-aware UTC timestamps, string service/metric names (categoricals with
sorted categories) and float values.
Accepted inputs:

* a long DataFrame (columns ``timestamp, service, metric, value``, any order,
  case-insensitive);
* a wide DataFrame whose columns are ``(service, metric)`` pairs (a two-level
  MultiIndex) and whose index holds the timestamps;
* a path to a CSV or Parquet file holding either shape (a wide CSV has two
  header rows: service, then metric).

Timestamps may be ISO strings, datetimes or unix epochs in seconds,
milliseconds, microseconds or nanoseconds (told apart by magnitude).
Timestamps without a zone are read in ``timezone`` (default UTC) and reported
(``naive_timestamps_read_as_utc`` / ``naive_timestamps_read_in_timezone``).
Non-finite values are treated as missing and reported; nothing is dropped
silently.

Every step works on whole arrays, never series by series: a wide frame on a
clean time index is cut straight from its value block
(:func:`_load_wide_grid`), any other is laid out row by row in one pass
(:func:`_from_wide`); a long frame listed series by series is ordered by
moving whole runs (:func:`_run_order`), its name columns hashed once per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import re

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
            first = pd.read_csv(p, header=None, nrows=2, usecols=[0], dtype=str).iloc[:, 0].str.strip().str.lower()
            # pandas writes a wide frame's level names first: "service" above "metric".
            wide_levels = list(first) == ["service", "metric"]
            if cols & set(LONG_COLUMNS) and not wide_levels:
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


# A time of day followed by a zone: "Z", an offset (+08:00, -0500, +08) or a UTC/GMT name.
_ZONED = re.compile(r":\d{2}(?:[.,]\d+)?\s*(?:z|[+-]\d{2}(?::?\d{2})?|utc|gmt)\s*$", re.IGNORECASE)


def _localize(idx: pd.DatetimeIndex, timezone: str | None, *, field: str) -> pd.DatetimeIndex:
    """Naive times read as wall-clock times of ``timezone`` (UTC when None), in UTC."""
    try:
        return idx.tz_localize(timezone or "UTC").tz_convert("UTC")
    except (ValueError, TypeError) as exc:  # a wall-clock time a DST change skips or repeats
        raise InvalidMetricsError(
            f"{field}: a time without a zone is ambiguous or does not exist in {timezone} ({exc}); "
            "give the timestamps with their UTC offset",
            field=field,
        ) from None


def _naive_strings(values: pd.Series) -> np.ndarray:
    """Which of the (non-missing) timestamp strings name no zone."""
    text = values.astype("string")
    uniques = pd.unique(text.dropna())
    naive = uniques[~pd.Series(uniques, dtype="string").str.contains(_ZONED).to_numpy(dtype=bool)]
    return text.isin(naive).to_numpy(dtype=bool) if len(naive) else np.zeros(len(text), dtype=bool)


def _parse_timestamps(
    values: pd.Series | pd.Index, *, field: str, timezone: str | None = None, naive: list[int] | None = None
) -> pd.DatetimeIndex:
    """Parse timestamps of any accepted kind into a UTC DatetimeIndex.

    Times without a zone are read in ``timezone`` (UTC when None); their number
    is appended to ``naive`` when given.
    """
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype) or (dtype is not None and dtype.kind == "M"):
        # Datetimes already: nothing to parse, only NaT to refuse and the zone and unit to settle.
        idx = pd.DatetimeIndex(values)
        if idx.hasnans:
            raise InvalidMetricsError(f"{field}: {int(idx.isna().sum())} missing timestamp(s)", field=field)
        if idx.tz is None and naive is not None:
            naive.append(len(idx))
        idx = _localize(idx, timezone, field=field) if idx.tz is None else idx.tz_convert("UTC")
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
        zone_less = _naive_strings(values)
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(values.astype("string"), utc=True, errors="coerce", format="mixed"))
        except (ValueError, TypeError):
            idx = pd.DatetimeIndex(pd.to_datetime(values.astype("string"), utc=True, errors="coerce"))
        if zone_less.any():
            if naive is not None:
                naive.append(int(zone_less.sum()))
            if timezone is not None:  # parsed as UTC wall-clock times: read them in the zone instead
                ns = idx.as_unit("ns").asi8.copy()
                ns[zone_less] = _localize(idx[zone_less].tz_localize(None), timezone, field=field).as_unit("ns").asi8
                idx = pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC")
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
    if idx.tz is None:  # unix epochs: absolute times
        idx = idx.tz_localize("UTC")
    else:
        idx = idx.tz_convert("UTC")
    return idx.as_unit("ns")


def _naive_issue(field: str, count: int, timezone: str | None) -> DataIssue:
    if timezone is None:
        return DataIssue(
            "naive_timestamps_read_as_utc",
            f"{field}: {count} timestamp(s) have no time zone and were read as UTC; give them an offset "
            "(2024-05-01T13:00:00+08:00) or the zone they are in (align.timezone, rca analyze --tz)",
        )
    return DataIssue(
        "naive_timestamps_read_in_timezone", f"{field}: {count} timestamp(s) without a time zone were read in {timezone}"
    )


def _wide_parts(
    frame: pd.DataFrame, *, field: str, timezone: str | None = None, naive: list[int] | None = None
) -> tuple[pd.DatetimeIndex, pd.Series, pd.Series]:
    """A wide frame's parsed timestamps and the plain service and metric name of every column."""
    cols = frame.columns
    if not isinstance(cols, pd.MultiIndex) or cols.nlevels != 2:
        raise InvalidMetricsError(
            f"{field}: expected a long frame with columns {list(LONG_COLUMNS)} "
            "or a wide frame with (service, metric) column pairs; "
            f"got columns {list(map(str, cols[:6]))}",
            field=field,
        )
    ts = _parse_timestamps(frame.index, field=f"{field}.index", timezone=timezone, naive=naive)
    names = []
    for level in (0, 1):
        # str() of every name, as the columns of a stacked frame were; once per distinct name.
        level_names = [str(n) for n in cols.levels[level]]
        codes = np.asarray(cols.codes[level])
        if len(set(level_names)) == len(level_names):
            per_column = pd.Categorical.from_codes(codes, categories=pd.Index(level_names, dtype=object))
        else:  # distinct names with one str() (1 and "1"): merge them
            per_column = pd.Categorical(np.asarray(level_names, dtype=object)[codes])
        names.append(pd.Series(per_column))
    return ts, names[0], names[1]


def _numeric_block(frame: pd.DataFrame) -> np.ndarray | None:
    """The frame's values as one float64 array, or None when a column is not numeric."""
    dtypes = frame.dtypes
    if all(pd.api.types.is_float_dtype(d) or (pd.api.types.is_integer_dtype(d) and not pd.api.types.is_bool_dtype(d))
           for d in dict.fromkeys(dtypes)):
        return frame.to_numpy(dtype=np.float64, na_value=np.nan)
    return None


def _from_wide(
    frame: pd.DataFrame, *, field: str, timezone: str | None = None, naive: list[int] | None = None
) -> dict[str, Any]:
    """The long columns of a wide frame, row by row then column by column (as ``DataFrame.stack`` gives).

    Built over whole blocks: the names once per column, the values in one
    ``to_numpy`` call.  Used when the frame is not on a clean time index
    (:func:`_load_wide_grid` handles that case without any long step).
    """
    ts, service, metric = _wide_parts(frame, field=field, timezone=timezone, naive=naive)
    n_rows, n_cols = frame.shape
    long: dict[str, Any] = {"timestamp": ts.repeat(n_cols)}
    for col, per_column in (("service", service), ("metric", metric)):
        plain = _plain_names(per_column)
        codes = np.tile(plain.cat.codes.to_numpy(), n_rows)
        long[col] = pd.Series(pd.Categorical.from_codes(codes, dtype=plain.dtype), name=col)
    block = _numeric_block(frame)
    long["value"] = pd.Series(block.ravel() if block is not None else frame.to_numpy(dtype=object).ravel())
    return long


def _load_wide_grid(
    frame: pd.DataFrame, *, field: str, timezone: str | None = None, naive: list[int] | None = None
) -> tuple[pd.DataFrame, list[DataIssue]] | None:
    """:func:`load_metrics` of a wide frame with numeric columns, distinct pairs and strictly rising timestamps.

    The usual wide frame (a pivot, a Prometheus range query): nothing needs
    sorting row by row or aggregating, so the long frame is cut straight
    from the value block, columns in name order, missing points left out.
    None when the frame is not of that kind (the general path takes it).
    """
    ts, service, metric = _wide_parts(frame, field=field, timezone=timezone, naive=naive)
    if not (ts.is_monotonic_increasing and ts.is_unique):
        return None
    block = _numeric_block(frame)
    if block is None:
        return None
    service, metric = _plain_names(service), _plain_names(metric)
    for col, names in (("service", service), ("metric", metric)):
        if names.isna().any():
            raise InvalidMetricsError(
                f"{field}.{col}: {int(names.isna().sum())} column(s) have no {col}", field=f"{field}.{col}"
            )
        if "" in names.cat.categories:
            raise InvalidMetricsError(f"{field}.{col}: empty {col} name", field=f"{field}.{col}")
    series = series_codes(service, metric)[0]
    if len(np.unique(series)) != len(series):
        return None  # a pair in several columns: its points are aggregated on the general path
    issues: list[DataIssue] = []
    infinite = np.isinf(block)
    if infinite.any():
        # In the order the points come row by row, as the general path reports them.
        which = np.flatnonzero(infinite.any(axis=0))
        first = infinite[:, which].argmax(axis=0)
        for j in which[np.lexsort((which, first))].tolist():
            svc, met = str(service.iat[j]), str(metric.iat[j])
            issues.append(DataIssue("non_finite", f"{svc}/{met}: infinite values treated as missing", svc, met))
        block = np.where(infinite, np.nan, block)
    order = np.argsort(series, kind="stable")
    present = ~np.isnan(block[:, order])
    if not present.any():
        raise InvalidMetricsError(f"{field}: no finite values at all", field=f"{field}.value")
    # Column-major: every point of the first column (in name order), then of the next ...
    keep = present.ravel(order="F")
    n_rows = len(ts)
    rows = np.flatnonzero(keep)
    out = pd.DataFrame(
        {
            "timestamp": ts.take(rows % n_rows),
            "service": service.array.take(np.repeat(order, n_rows)[keep]),
            "metric": metric.array.take(np.repeat(order, n_rows)[keep]),
            "value": block[:, order].ravel(order="F")[keep],
        },
        copy=False,
    )
    return out, issues


def _factorize_runs(names: pd.Series) -> tuple[np.ndarray, Any]:
    """``pd.factorize(names)``, hashing each run of equal neighbours once.

    Long exports list a series' points together, so a name column is a few
    thousand runs of one name: comparing neighbours is a cheap pass, hashing
    every string is not.  Many short runs: plain factorize.
    """
    n = len(names)
    if n < 1024:
        return pd.factorize(names)
    array = names.array
    if isinstance(names.dtype, pd.StringDtype) or hasattr(array, "__arrow_array__"):
        import pyarrow as pa
        import pyarrow.compute as pc

        data = pa.array(array)  # arrow-backed strings (pandas' default): no copy
        heads_mask = np.ones(n, dtype=bool)
        differs = pc.fill_null(pc.not_equal(data[1:], data[:-1]), True)
        heads_mask[1:] = differs.to_numpy(zero_copy_only=False)
    elif names.dtype == object:
        values = names.to_numpy()
        heads_mask = np.ones(n, dtype=bool)
        heads_mask[1:] = values[1:] != values[:-1]
    else:
        return pd.factorize(names)
    heads = np.flatnonzero(heads_mask)
    if len(heads) > n // 8:
        return pd.factorize(names)
    run_codes, uniques = pd.factorize(names.take(heads))
    return np.repeat(run_codes, np.diff(np.append(heads, n))), uniques


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
        codes, uniques = _factorize_runs(names)
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
        return names.cat.codes.to_numpy(), names.cat.categories
    codes, uniques = names.factorize(sort=True)
    return codes, uniques


def series_codes(service: pd.Series, metric: pd.Series) -> tuple[np.ndarray, pd.Index, pd.Index]:
    """One integer per ``(service, metric)`` series, ordered like the pairs, and the sorted names.

    The code is ``service_code * len(metric_names) + metric_code``: both
    parts are sorted, so ordering codes orders the pairs.
    """
    svc_codes, svc_names = _name_codes(service)
    met_codes, met_names = _name_codes(metric)
    # The narrowest integers that hold every code: these arrays have a row per point.
    dtype = np.int32 if len(svc_names) * max(len(met_names), 1) < 2**31 else np.int64
    return svc_codes.astype(dtype) * len(met_names) + met_codes.astype(dtype), svc_names, met_names


def _run_order(series: np.ndarray, d_series: np.ndarray, d_ts: np.ndarray) -> np.ndarray | None:
    """The sorting order when every series is one run of rows in strict time order, else None.

    That is how a wide frame's columns come out and how most long exports are
    laid out (series by series, whatever the order of the names): the runs
    are put in order whole, which costs one pass instead of a sort of every row.
    """
    change = np.flatnonzero(d_series != 0) + 1
    if not ((d_ts > 0) | (d_series != 0)).all():
        return None
    starts = np.concatenate(([0], change))
    keys = series[starts]
    by_key = np.argsort(keys, kind="stable")
    if (np.diff(keys[by_key]) == 0).any():  # a series in several runs: not this layout
        return None
    lengths = np.diff(np.append(starts, len(series)))
    moved_starts, moved_lengths = starts[by_key], lengths[by_key]
    # Row k of the output is row (start of its run) + (k - where its run begins in the output).
    begin = np.cumsum(moved_lengths) - moved_lengths
    return np.repeat(moved_starts - begin, moved_lengths) + np.arange(len(series))


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
    runs = _run_order(series, d_series, d_ts)
    if runs is not None:
        return runs, np.zeros(len(series), dtype=bool)
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
    data: _MetricsInput, *, field: str = "metrics", timezone: str | None = None
) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Normalize metrics to the long frame ``timestamp, service, metric, value``.

    Parameters
    ----------
    data : DataFrame or path
        Long or wide metrics, or a CSV/Parquet file with either.
    field : str
        Name used in error messages (``"metrics"`` or ``"baseline"``).
    timezone : str, optional
        IANA zone in which timestamps without a zone are read (default UTC).

    Returns
    -------
    frame : DataFrame
        Long frame sorted by service, metric, timestamp; missing values removed.
    issues : list of DataIssue
        What was repaired or assumed (non-finite values, duplicate
        timestamps, timestamps without a zone).

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

    naive: list[int] = []
    lower = {str(c).strip().lower(): c for c in data.columns} if not isinstance(data.columns, pd.MultiIndex) else {}
    if set(LONG_COLUMNS) <= set(lower):
        # The columns as they are: every step below works on their arrays.
        long: dict[str, Any] = {k: data[lower[k]] for k in LONG_COLUMNS}
        long["timestamp"] = _parse_timestamps(long["timestamp"], field=f"{field}.timestamp", timezone=timezone, naive=naive)
    elif isinstance(data.columns, pd.MultiIndex):
        on_grid = _load_wide_grid(data, field=field, timezone=timezone, naive=naive)
        if on_grid is not None:
            frame, grid_issues = on_grid
            return frame, ([_naive_issue(field, naive[0], timezone)] if naive else []) + list(grid_issues)
        naive.clear()  # the general path parses the index again
        long = _from_wide(data, field=field, timezone=timezone, naive=naive)
    else:
        missing = [c for c in LONG_COLUMNS if c not in lower]
        raise InvalidMetricsError(
            f"{field}: missing column(s) {missing}; a long frame needs {list(LONG_COLUMNS)}",
            field=f"{field}.{missing[0]}",
        )

    if naive:
        issues.append(_naive_issue(field, naive[0], timezone))
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
    series = series_codes(service, metric)[0]
    ts = long["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64")
    if kept.size < len(values):  # else every row stays: no copy
        series, ts = series[kept], ts[kept]
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
    rows = kept[order] if kept.size < len(values) else order
    out = pd.DataFrame(
        {
            "timestamp": long["timestamp"].array.take(rows),
            "service": service.array.take(rows),
            "metric": metric.array.take(rows),
            "value": values[rows],
        },
        copy=False,  # every column is a fresh array already
    )
    return out, issues
