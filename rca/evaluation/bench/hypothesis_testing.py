"""A regression-based hypothesis-testing yardstick, after PyRCA's ``HT``.

The idea (Liu et al., PyRCA, 2023; the "HT" method there): in normal
operation a service's metric is explained by the metrics of what it depends
on; during a fault the root cause's metric departs from that explanation
while its callers' metrics still follow theirs.  So, for every
``(service, metric)`` series:

1. fit a ridge regression of the series on every series of the service's
   callees (its dependencies) over the normal data; a service without
   dependencies is regressed on a constant;
2. score the incident window by the largest absolute residual, in units of
   the residual spread of the normal data (a robust z);
3. a service's score is its largest series score; services rank by score.

This is what a user would pick if not this engine: simple, topology-aware and
strong on linear-SEM data.  It is a yardstick for ``rca bench``, not part of
the engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rca.evaluation.datasets.base import BenchCase

__all__ = ["ht_scores"]

_RIDGE = 1e-3  # relative ridge penalty: keeps the fit defined when features are collinear or few points
_MIN_POINTS = 5


def _grid(long: pd.DataFrame) -> pd.DataFrame:
    wide = long.pivot_table(index="timestamp", columns=["service", "metric"], values="value", aggfunc="mean", observed=True)
    return wide.sort_index()


def _fit_score(y_b: np.ndarray, x_b: np.ndarray, y_w: np.ndarray, x_w: np.ndarray) -> float:
    """Largest robust |residual| z of the window under the normal data's regression of y on x."""
    ok = ~np.isnan(y_b)
    if ok.sum() < _MIN_POINTS or not np.isfinite(y_w).any():
        return np.nan
    xb, yb = x_b[ok], y_b[ok]
    mu, sd = xb.mean(axis=0), xb.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    xb_s = np.column_stack([np.ones(len(xb)), (xb - mu) / sd])
    xw_s = np.column_stack([np.ones(len(x_w)), (x_w - mu) / sd])
    penalty = _RIDGE * len(xb) * np.eye(xb_s.shape[1])
    penalty[0, 0] = 0.0
    coef = np.linalg.solve(xb_s.T @ xb_s + penalty, xb_s.T @ yb)
    resid_b = yb - xb_s @ coef
    med = np.median(resid_b)
    mad = 1.4826 * np.median(np.abs(resid_b - med))
    scale = mad if mad > 0 else (resid_b.std() if resid_b.std() > 0 else max(abs(np.median(yb)) * 0.01, 1e-9))
    resid_w = y_w - xw_s @ coef
    return float(np.nanmax(np.abs(resid_w - med)) / scale)


def ht_scores(case: BenchCase, long_metrics: pd.DataFrame, long_baseline: pd.DataFrame | None) -> pd.Series:
    """Per-service HT score (largest series score), sorted descending, ties by name."""
    inc = case.incident
    ts = long_metrics["timestamp"]
    window_rows = ts >= inc.start
    if inc.end is not None:
        window_rows &= ts <= inc.end
    base_long = long_metrics[ts < inc.start] if long_baseline is None else long_baseline
    base, window = _grid(base_long), _grid(long_metrics[window_rows])
    cols = base.columns.intersection(window.columns)
    if not len(cols):
        return pd.Series(dtype=float, name="score")
    base, window = base[cols], window[cols]
    fill = base.median()
    b_filled, w_filled = base.fillna(fill).to_numpy(), window.fillna(fill).to_numpy()
    b_raw, w_raw = base.to_numpy(), window.to_numpy()
    services = np.asarray(cols.get_level_values(0).astype(str))
    graph = case.graph
    scores: dict[str, float] = {}
    for j, (svc, _metric) in enumerate(cols):
        deps = set(graph.callees(svc)) if svc in graph else set()
        feats = np.flatnonzero(np.isin(services, [str(d) for d in deps])) if deps else np.array([], dtype=int)
        s = _fit_score(b_raw[:, j], b_filled[:, feats], w_raw[:, j], w_filled[:, feats])
        if np.isfinite(s):
            scores[str(svc)] = max(scores.get(str(svc), -np.inf), s)
    out = pd.Series(scores, name="score", dtype=float)
    frame = out.rename_axis("service").reset_index().sort_values(["score", "service"], ascending=[False, True])
    return frame.set_index("service")["score"]
