"""Shared helpers of the plot modules: lazy matplotlib, safe text, colours, data access."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rca.engine.errors import InvalidMetricsError
from rca.engine.types import RCAResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

# Service and metric names come from users: never let matplotlib read "$...$"
# in them as mathtext.
TEXT: dict[str, Any] = {"parse_math": False}

CAUSE_COLOR = "#b2182b"
PATH_COLOR = "#d6604d"
SYMPTOM_COLOR = "#2166ac"
INCIDENT_SHADE = "#f4a582"
BASELINE_SHADE = "#d1e5f0"
SCORE_CMAP = "YlOrRd"


def require_matplotlib() -> None:
    """Import matplotlib or explain how to install it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "rca.views.plot needs matplotlib; install it with: pip install 'rca-engine[plot]'"
        ) from exc


def new_figure(width: float, height: float) -> Figure:
    """A figure outside pyplot's registry (no backend, no show(), no leaks)."""
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def shorten(text: str, limit: int = 24) -> str:
    """Cut long names with an ellipsis; drop control characters."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def service_scores(result: RCAResult) -> dict[str, float]:
    """Worst anomaly score per service over all its scored series."""
    out: dict[str, float] = {}
    for a in result.anomalies:
        s = a.score
        if s is None or not math.isfinite(float(s)):
            continue
        out[a.service] = max(out.get(a.service, float("-inf")), float(s))
    return out


def check_result(result: object) -> RCAResult:
    """The result, type-checked; also the first thing every plot does, so check matplotlib here."""
    require_matplotlib()
    if not isinstance(result, RCAResult):
        raise TypeError(f"result must be an RCAResult (from rca.analyze), got {type(result).__name__}")
    return result


def check_metrics(metrics: object) -> pd.DataFrame:
    """The long metrics table, with UTC timestamps; errors name the missing column."""
    if not isinstance(metrics, pd.DataFrame):
        raise InvalidMetricsError(
            f"metrics must be a pandas DataFrame with columns timestamp, service, metric, value; "
            f"got {type(metrics).__name__}",
            field="metrics",
        )
    missing = [c for c in ("timestamp", "service", "metric", "value") if c not in metrics.columns]
    if missing:
        raise InvalidMetricsError(
            f"metrics is missing the column {missing[0]!r}; expected timestamp, service, metric, value "
            f"(got {list(map(str, metrics.columns))})",
            field=f"metrics.{missing[0]}",
        )
    return metrics


def to_utc_index(values: pd.Series) -> pd.DatetimeIndex:
    """Timestamps as UTC; numbers are unix seconds (as everywhere in the engine)."""
    if pd.api.types.is_numeric_dtype(values):
        idx = pd.to_datetime(values.astype("float64"), unit="s", utc=True)
    else:
        idx = pd.to_datetime(values, utc=True, format="ISO8601")
    return pd.DatetimeIndex(idx)


def series(metrics: pd.DataFrame, service: str, metric: str) -> pd.Series:
    """One (service, metric) series, time-sorted, duplicates averaged, index naive UTC."""
    sel = metrics[(metrics["service"] == service) & (metrics["metric"] == metric)]
    if sel.empty:
        return pd.Series(dtype="float64")
    idx = to_utc_index(sel["timestamp"]).tz_convert("UTC").tz_localize(None)
    vals = pd.to_numeric(sel["value"], errors="coerce").to_numpy(dtype="float64")
    s = pd.Series(vals, index=idx)
    s = s[~s.index.isna()]
    s = s.groupby(level=0).mean().sort_index()
    return s.replace([np.inf, -np.inf], np.nan)


def naive(ts: pd.Timestamp | None) -> pd.Timestamp | None:
    """Drop the UTC tz so matplotlib's date axis gets plain UTC datetimes."""
    if ts is None:
        return None
    ts = pd.Timestamp(ts)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
