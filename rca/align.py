"""Align: put every series on one regular UTC time grid.

The grid step is given (``AlignConfig.step``) or inferred as the median
spacing of each series' timestamps (the median over series).  Points falling
into one grid cell are aggregated (``AlignConfig.aggregation``); gaps of at
most ``fill_limit`` points are interpolated, longer gaps stay missing.  Every
series that is empty, constant, or belongs to a service absent from the graph
is reported as a :class:`~rca.types.DataIssue`, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rca.config import AlignConfig
from rca.errors import InvalidMetricsError
from rca.types import DataIssue

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


def _gap_lengths(missing: np.ndarray) -> np.ndarray:
    """For every missing cell, the length of the run of missing cells it is in (0 elsewhere)."""
    t = missing.shape[0]
    rows = np.arange(t)[:, None]
    last_valid = np.maximum.accumulate(np.where(~missing, rows, -1), axis=0)
    next_valid = np.minimum.accumulate(np.where(~missing, rows, t)[::-1], axis=0)[::-1]
    return np.where(missing, next_valid - last_valid - 1, 0)


def infer_step(long: pd.DataFrame) -> pd.Timedelta:
    """Median spacing between consecutive timestamps, taken per series."""
    ts = long["timestamp"].astype("int64").to_numpy()  # ns
    key = pd.factorize(long["service"] + "\x00" + long["metric"])[0]
    order = np.lexsort((ts, key))
    ts, key = ts[order], key[order]
    d = np.diff(ts)
    same = np.diff(key) == 0
    d = d[same & (d > 0)]
    if d.size == 0:
        raise InvalidMetricsError(
            "metrics: cannot infer the time step (every series has a single timestamp); "
            "give AlignConfig.step",
            field="metrics.timestamp",
        )
    step_ns = float(np.median(d))
    return pd.Timedelta(int(round(step_ns / 1e9)) or 1, unit="s") if step_ns >= 1e9 else pd.Timedelta(int(step_ns), unit="ns")


def align_metrics(
    long: pd.DataFrame,
    config: AlignConfig | None = None,
    *,
    known_services: Container[str] | None = None,
    step: pd.Timedelta | None = None,
) -> AlignedMetrics:
    """Align a long frame (from :func:`rca.ingest.load_metrics`) to a grid.

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
        svc = long["service"]
        unknown = sorted(set(svc.unique()) - {s for s in svc.unique() if s in known_services})
        if unknown:
            for s in unknown:
                issues.append(
                    DataIssue("unknown_service", f"{s}: not in the topology; its metrics are ignored", s)
                )
            long = long[~svc.isin(unknown)]
        if long.empty:
            raise InvalidMetricsError(
                "metrics: none of the metric services is in the topology "
                f"(e.g. {unknown[:3]}); check service names",
                field="metrics.service",
            )
    if step is None:
        step = pd.Timedelta(config.step) if config.step else infer_step(long)
    bucket = long["timestamp"].dt.floor(step)
    grouped = long.assign(timestamp=bucket).groupby(["timestamp", "service", "metric"], sort=False)["value"]
    agg = grouped.agg(config.aggregation)
    wide = agg.unstack(["service", "metric"]).sort_index()
    wide = wide.reindex(columns=wide.columns.sort_values())
    grid = pd.date_range(wide.index.min(), wide.index.max(), freq=step)
    wide = wide.reindex(grid)
    wide.index.name = "timestamp"
    wide.columns.names = ["service", "metric"]

    missing_before = wide.isna()
    if config.fill_limit > 0 and len(wide) > 2:
        short = _gap_lengths(missing_before.to_numpy()) <= config.fill_limit
        filled = wide.interpolate(method="linear", limit_area="inside")
        # Only whole gaps of at most fill_limit points are filled; a longer gap
        # stays missing entirely (so aligning twice changes nothing).
        wide = wide.mask(missing_before & short, filled)
    still = wide.isna() & missing_before
    # Report series with unfilled interior gaps.
    first = wide.notna().idxmax()
    last = wide.notna()[::-1].idxmax()
    for col in wide.columns[still.any().to_numpy()]:
        inner = still[col][(still.index > first[col]) & (still.index < last[col])]
        n = int(inner.sum())
        if n:
            issues.append(
                DataIssue("gap", f"{col[0]}/{col[1]}: {n} point(s) missing beyond the fill limit ({config.fill_limit})", col[0], col[1])
            )
    values = wide.to_numpy()
    with np.errstate(invalid="ignore"):
        n_valid = np.sum(~np.isnan(values), axis=0)
        vmin = np.nanmin(np.where(np.isnan(values), np.inf, values), axis=0)
        vmax = np.nanmax(np.where(np.isnan(values), -np.inf, values), axis=0)
    for col, n, lo, hi in zip(wide.columns, n_valid, vmin, vmax, strict=True):
        if n == 0:
            issues.append(DataIssue("empty", f"{col[0]}/{col[1]}: no values", col[0], col[1]))
        elif lo == hi:
            issues.append(DataIssue("constant", f"{col[0]}/{col[1]}: constant ({lo:g}); it cannot show an anomaly", col[0], col[1]))
    empty_cols = wide.columns[n_valid == 0]
    if len(empty_cols):
        wide = wide.drop(columns=empty_cols)
    return AlignedMetrics(frame=wide, step=step, issues=tuple(issues))
