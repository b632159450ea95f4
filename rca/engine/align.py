"""Align: put every series on one regular UTC time grid.

The grid step is given (``AlignConfig.step``) or inferred as the median
spacing of each series' timestamps (the median over series).  Points falling
into one grid cell are aggregated (``AlignConfig.aggregation``); gaps of at
most ``fill_limit`` points are interpolated, longer gaps stay missing.  Every
series that is empty, constant, or belongs to a service absent from the graph
is reported as a :class:`~rca.engine.types.DataIssue`, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rca.engine.config import AlignConfig
from rca.engine.errors import InvalidMetricsError
from rca.engine.ingest import series_codes
from rca.engine.types import DataIssue

__all__ = ["AlignedMetrics", "infer_step", "align_metrics"]


@dataclass(frozen=True)
class AlignedMetrics:
    """Series on one grid.

    ``frame`` has a UTC DatetimeIndex with constant spacing ``step`` and
    columns ``(service, metric)``; values are float64 with NaN for gaps.
    """

    frame: pd.DataFrame
    step: pd.Timedelta
    issues: tuple[DataIssue, ...]

    @property
    def services(self) -> list[str]:
        return list(dict.fromkeys(self.frame.columns.get_level_values(0)))


def _series_columns(service: pd.Series, metric: pd.Series) -> tuple[np.ndarray, pd.MultiIndex]:
    """Column of every row and the sorted ``(service, metric)`` columns they index."""
    pair, svc_names, met_names = series_codes(service, metric)
    n_pairs = len(svc_names) * len(met_names)
    if n_pairs <= 4 * len(pair) + 1_000_000:
        # Small code space: a presence table numbers the pairs in order, no hashing.
        present = np.zeros(n_pairs, dtype=bool)
        present[pair] = True
        number = np.cumsum(present) - 1
        col, pairs = number[pair], np.flatnonzero(present)
    else:
        col, pairs = pd.factorize(pair, sort=True)
    # The codes are known: building the index from them skips factorizing the names again.
    columns = pd.MultiIndex(
        levels=[svc_names, met_names],
        codes=[pairs // len(met_names), pairs % len(met_names)],
        names=["service", "metric"],
        verify_integrity=False,
    )
    return col, columns


def _median_step(ts: np.ndarray, key: np.ndarray) -> pd.Timedelta:
    """Median positive spacing of ``ts`` (int64 ns) between points of one series (same ``key``)."""
    key_step, d = np.diff(key), np.diff(ts)
    if (key_step < 0).any() or ((key_step == 0) & (d < 0)).any():
        # Not ordered by series, then time, as load_metrics leaves it: sort.
        order = np.lexsort((ts, key))
        ts, key = ts[order], key[order]
        key_step, d = np.diff(key), np.diff(ts)
    same = key_step == 0
    d = d[same & (d > 0)]
    if d.size == 0:
        raise InvalidMetricsError(
            "metrics: cannot infer the time step (every series has a single timestamp); "
            "give AlignConfig.step",
            field="metrics.timestamp",
        )
    # The median by sorting: spacings are mostly equal, and np.median's
    # partition is many times slower on such data than a sort.
    d = np.sort(d)
    step_ns = (float(d[(d.size - 1) // 2]) + float(d[d.size // 2])) / 2
    return pd.Timedelta(int(round(step_ns / 1e9)) or 1, unit="s") if step_ns >= 1e9 else pd.Timedelta(int(step_ns), unit="ns")


def infer_step(long: pd.DataFrame) -> pd.Timedelta:
    """Median spacing between consecutive timestamps, taken per series."""
    ts = long["timestamp"].astype("int64").to_numpy()  # ns
    return _median_step(ts, _series_columns(long["service"], long["metric"])[0])


def _unknown_services(
    service: pd.Series, known_services: Container[str]
) -> tuple[list[str], list[DataIssue]]:
    """Services absent from ``known_services`` (sorted) and one issue for each."""
    if isinstance(service.dtype, pd.CategoricalDtype):
        names = service.cat.categories
        if all(s in known_services for s in names):  # the usual case: no row needs looking at
            return [], []
        codes = service.cat.codes.to_numpy()
        used = names[np.bincount(codes[codes >= 0], minlength=len(names)) > 0]
    else:
        used = service.unique()
    unknown = sorted(str(s) for s in used if s not in known_services)
    issues = [DataIssue("unknown_service", f"{s}: not in the topology; its metrics are ignored", s) for s in unknown]
    return unknown, issues


_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")


def _grid_cells(
    timestamp: pd.Series, col: np.ndarray, n_cols: int, step: pd.Timedelta
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The regular grid spanning ``timestamp`` and every row's flat cell ``row * n_cols + col``."""
    # Each point goes to the *nearest* grid time, not the one at or before it:
    # clocks that sit a little off the grid (a scrape at 12:04:58 for 12:05)
    # then keep one point per cell instead of two in one and none in the next.
    if timestamp.dtype != _UTC_NS:  # not from load_metrics: let pandas round it
        bucket = (timestamp + step / 2).dt.floor(step)
        start = bucket.min()
        grid = pd.date_range(start, bucket.max(), freq=step, name="timestamp")
        row = ((bucket - start) // step).to_numpy(dtype=np.int64)
        return grid, row * n_cols + col
    # Integer nanoseconds since the epoch (UTC): the same rounding as above, half a step up.
    step_ns = int(step.value)
    ns = timestamp.astype("int64").to_numpy() + step_ns // 2
    bucket = ns - np.mod(ns, step_ns)
    start, end = int(bucket.min()), int(bucket.max())
    grid = pd.date_range(pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"), freq=step, name="timestamp")
    row = (bucket - start) // step_ns
    return grid, row * n_cols + col


def _aggregate_cells(values: np.ndarray, cell: np.ndarray, n_cells: int, aggregation: str) -> np.ndarray:
    """Flat array of ``n_cells`` holding ``aggregation`` of the values of each cell (NaN if none)."""
    out = np.full(n_cells, np.nan)
    single = np.bincount(cell, minlength=n_cells).max(initial=0) <= 1
    if single and not (aggregation == "sum" and np.isnan(values).any()):
        # One value per cell, the usual case: each aggregation gives it back
        # (except that a sum of nothing is 0, as pandas has it).
        out[cell] = values
        return out
    # pandas' grouped kernels, so NaN, -0.0 and sums behave as a groupby does.
    agg = pd.Series(values, copy=False).groupby(cell, sort=False).agg(aggregation)
    out[agg.index.to_numpy()] = agg.to_numpy(dtype=np.float64)
    return out


def _short_interior_gaps(missing: np.ndarray, fill_limit: int) -> np.ndarray:
    """Missing cells in a run of at most ``fill_limit`` of them with a value on both sides."""
    t = missing.shape[0]
    rows = np.arange(t)[:, None]
    last_valid = np.maximum.accumulate(np.where(~missing, rows, -1), axis=0)
    next_valid = np.minimum.accumulate(np.where(~missing, rows, t)[::-1], axis=0)[::-1]
    interior = (last_valid >= 0) & (next_valid < t)
    return missing & interior & (next_valid - last_valid - 1 <= fill_limit)


def _fill_short_gaps(values: np.ndarray, fill_limit: int) -> None:
    """Interpolate linearly, in place, the short interior gaps of every column.

    Only whole gaps of at most ``fill_limit`` points are filled; a longer gap
    stays missing entirely (so aligning twice changes nothing).  The numbers
    are those of ``DataFrame.interpolate(method="linear")``, which calls
    ``np.interp`` per column with positions as x: here one call does all
    columns laid end to end (x = column * rows + row), since the neighbours
    of an interior gap are in its own column.
    """
    with_gaps = np.flatnonzero(np.isnan(values).any(axis=0))
    if not with_gaps.size:
        return
    if with_gaps.size < values.shape[1]:
        # Only the columns with a missing point need the gap search; filled, they go back in place.
        part = values[:, with_gaps]
        _fill_short_gaps(part, fill_limit)
        values[:, with_gaps] = part
        return
    missing = np.isnan(values)
    fill = _short_interior_gaps(missing, fill_limit)
    if not fill.any():
        return
    t = values.shape[0]
    x = np.flatnonzero(fill.T)
    known = ~missing.T
    values[x % t, x // t] = np.interp(x, np.flatnonzero(known), values.T[known])


def _names(columns: pd.MultiIndex, which: np.ndarray) -> list[tuple[str, str]]:
    """``(service, metric)`` of the columns at positions ``which``, as plain strings."""
    return list(zip(columns.get_level_values(0)[which].tolist(), columns.get_level_values(1)[which].tolist()))


def _gap_issues(values: np.ndarray, columns: pd.MultiIndex, fill_limit: int) -> list[DataIssue]:
    """One issue per column with missing points between its first and last value."""
    t = values.shape[0]
    valid = ~np.isnan(values)
    n_valid = valid.sum(axis=0)
    first = valid.argmax(axis=0)  # 0 for an empty column, as idxmax gives
    last = t - 1 - valid[::-1].argmax(axis=0)
    # Points strictly between first and last, minus the values among them
    # (first and last are values unless the column is empty; then all its
    # inner points count, as the per-column formulation counted them).
    n_missing = np.maximum(last - first - 1, 0) - np.maximum(n_valid - 2, 0)
    which = np.flatnonzero(n_missing > 0)
    return [
        DataIssue("gap", f"{s}/{m}: {n} point(s) missing beyond the fill limit ({fill_limit})", s, m)
        for (s, m), n in zip(_names(columns, which), n_missing[which].tolist(), strict=True)
    ]


def _value_issues(values: np.ndarray, columns: pd.MultiIndex) -> tuple[list[DataIssue], np.ndarray]:
    """Issues for empty and constant columns, and the mask of non-empty columns."""
    missing = np.isnan(values)
    n_valid = (~missing).sum(axis=0)
    vmin = np.where(missing, np.inf, values).min(axis=0)
    vmax = np.where(missing, -np.inf, values).max(axis=0)
    which = np.flatnonzero((n_valid == 0) | (vmin == vmax))
    issues = [
        DataIssue("constant", f"{s}/{m}: constant ({lo:g}); it cannot show an anomaly", s, m)
        if n else DataIssue("empty", f"{s}/{m}: no values", s, m)
        for (s, m), n, lo in zip(_names(columns, which), n_valid[which].tolist(), vmin[which].tolist(), strict=True)
    ]
    return issues, n_valid > 0


def align_metrics(
    long: pd.DataFrame,
    config: AlignConfig | None = None,
    *,
    known_services: Container[str] | None = None,
    step: pd.Timedelta | None = None,
) -> AlignedMetrics:
    """Align a long frame (from :func:`rca.engine.ingest.load_metrics`) to a grid.

    Vectorized throughout: rows are mapped to flat ``(grid row, column)``
    cells, aggregated in one grouped pass, gaps interpolated in one
    ``np.interp`` call; only the issues found are built one by one.

    Parameters
    ----------
    long : DataFrame
        ``timestamp, service, metric, value``.
    config : AlignConfig
    known_services : container of str, optional
        Services of the graph; series of other services are dropped and
        reported (``unknown_service``).
    step : Timedelta, optional
        Force this step (used to align a baseline on the metrics' grid).
    """
    config = config or AlignConfig()
    issues: list[DataIssue] = []
    if known_services is not None:
        unknown, issues = _unknown_services(long["service"], known_services)
        if unknown:
            long = long[~long["service"].isin(unknown)]
        if long.empty:
            raise InvalidMetricsError(
                "metrics: none of the metric services is in the topology "
                f"(e.g. {unknown[:3]}); check service names",
                field="metrics.service",
            )
    col, columns = _series_columns(long["service"], long["metric"])
    if step is None:
        if config.step:
            step = pd.Timedelta(config.step)
        else:
            step = _median_step(long["timestamp"].astype("int64").to_numpy(), col)
    grid, cell = _grid_cells(long["timestamp"], col, len(columns), step)
    flat = _aggregate_cells(long["value"].to_numpy(dtype=np.float64), cell, len(grid) * len(columns), config.aggregation)
    values = flat.reshape(len(grid), len(columns))

    if config.fill_limit > 0 and len(grid) > 2:
        _fill_short_gaps(values, config.fill_limit)
    issues += _gap_issues(values, columns, config.fill_limit)
    value_issues, non_empty = _value_issues(values, columns)
    issues += value_issues
    frame = pd.DataFrame(values[:, non_empty], index=grid, columns=columns[non_empty])
    return AlignedMetrics(frame=frame, step=step, issues=tuple(issues))
