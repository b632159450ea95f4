"""Causal: batched Granger-causality tests along call edges.

Faults travel against the call arrows, so for an edge ``caller -> callee`` we
test whether the **callee's** series Granger-causes the **caller's**.

All pairs of one analysis share a time window, so their regressions are
stacked into 3-D arrays and solved together with batched QR (one numpy call
per lag) instead of one statsmodels call per pair.  The F statistic and
p-value are exactly those of
``statsmodels.tsa.stattools.grangercausalitytests`` (``ssr_ftest``); the
agreement is checked in the tests to 1e-6.

Per pair: the lag is chosen by BIC among ``1..max_lag`` on a common sample;
series that look non-stationary (a batched ADF regression) are differenced;
constant series and windows too short for a test are skipped with the reason
recorded.  p-values are corrected with Benjamini–Hochberg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tsa.adfvalues import mackinnoncrit

from rca.engine.config import GrangerConfig
from rca.engine.types import GrangerTest

__all__ = [
    "GrangerBatch",
    "granger_fixed_lag",
    "granger_tests",
    "benjamini_hochberg",
    "needs_differencing",
    "granger_along_pairs",
]

# MacKinnon's asymptotic 5 % critical value for the ADF test with a constant, from statsmodels (-2.8615):
# adfuller's p-value (mackinnonp) falls below 0.05 exactly where the t-statistic falls below it, so the batched
# test below decides as adfuller(x, maxlag=1, autolag=None) does, without a Python call per series.
_ADF_CRITICAL_5PCT = float(mackinnoncrit(N=1, regression="c", nobs=np.inf)[1])


@dataclass(frozen=True)
class GrangerBatch:
    """Results for K pairs: arrays of length K (NaN where not computed)."""

    f_stat: np.ndarray
    p_value: np.ndarray
    lag: np.ndarray
    df_resid: np.ndarray


def _lags(a: np.ndarray, p: int, start: int) -> list[np.ndarray]:
    """Lagged copies a[:, start-j : T-j] for j = 1..p (each (K, T-start))."""
    t = a.shape[1]
    return [a[:, start - j : t - j] for j in range(1, p + 1)]


def _ssr(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Residual sum of squares of K least-squares fits at once (batched QR)."""
    q, _ = np.linalg.qr(design)
    coef = np.einsum("knm,kn->km", q, target)
    resid = target - np.einsum("knm,km->kn", q, coef)
    return np.einsum("kn,kn->k", resid, resid)


def _designs(x: np.ndarray, y: np.ndarray, p: int, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k, t = y.shape
    n = t - start
    ones = np.ones((k, n))
    own = np.stack(_lags(y, p, start) + [ones], axis=2)
    joint = np.stack(_lags(y, p, start) + _lags(x, p, start) + [ones], axis=2)
    return own, joint, y[:, start:]


def granger_fixed_lag(x: np.ndarray, y: np.ndarray, lag: int) -> GrangerBatch:
    """SSR F-test that each row of ``x`` Granger-causes the same row of ``y``.

    Identical to ``grangercausalitytests(np.column_stack([y[k], x[k]]), [lag])``
    ``[lag][0]["ssr_ftest"]`` for every row k.

    Parameters
    ----------
    x, y : ndarray of shape (K, T)
        K pairs of complete (no NaN) series.
    lag : int
    """
    x = np.atleast_2d(np.asarray(x, dtype="float64"))
    y = np.atleast_2d(np.asarray(y, dtype="float64"))
    k, t = y.shape
    own, joint, target = _designs(x, y, lag, lag)
    ssr_r = _ssr(own, target)
    ssr_u = _ssr(joint, target)
    df_resid = (t - lag) - (2 * lag + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (ssr_r - ssr_u) / ssr_u / lag * df_resid
    f = np.where(np.isfinite(f), np.fmax(f, 0.0), np.nan)
    p = stats.f.sf(f, lag, df_resid)
    return GrangerBatch(f, p, np.full(k, lag), np.full(k, df_resid))


def granger_tests(x: np.ndarray, y: np.ndarray, max_lag: int) -> GrangerBatch:
    """Granger tests with the lag chosen per pair by BIC in ``1..max_lag``.

    The candidate lags are compared on the common sample that drops the first
    ``max_lag`` points; the chosen lag is then tested on its full sample.
    """
    x = np.atleast_2d(np.asarray(x, dtype="float64"))
    y = np.atleast_2d(np.asarray(y, dtype="float64"))
    k, t = y.shape
    n0 = t - max_lag
    bics = []
    for p in range(1, max_lag + 1):
        _, joint, target = _designs(x, y, p, max_lag)
        ssr = _ssr(joint, target)
        with np.errstate(divide="ignore"):
            bics.append(n0 * np.log(np.fmax(ssr, 1e-300) / n0) + (2 * p + 1) * np.log(n0))
    chosen = np.argmin(np.stack(bics, axis=1), axis=1) + 1
    f = np.full(k, np.nan)
    pv = np.full(k, np.nan)
    dfr = np.zeros(k)
    for p in np.unique(chosen):
        rows = np.flatnonzero(chosen == p)
        res = granger_fixed_lag(x[rows], y[rows], int(p))
        f[rows], pv[rows], dfr[rows] = res.f_stat, res.p_value, res.df_resid
    return GrangerBatch(f, pv, chosen, dfr)


def needs_differencing(a: np.ndarray) -> np.ndarray:
    """Batched ADF regression (constant, one lagged difference) per row.

    True where a unit root is not rejected at 5 %: the t-statistic is not
    below MacKinnon's critical value, i.e. ``adfuller(row, maxlag=1,
    autolag=None)``'s p-value is 0.05 or more (statsmodels; pinned by a test).
    """
    a = np.atleast_2d(np.asarray(a, dtype="float64"))
    da = np.diff(a, axis=1)
    target = da[:, 1:]
    k, n = target.shape
    design = np.stack([np.ones((k, n)), a[:, 1:-1], da[:, :-1]], axis=2)
    xtx = np.einsum("kni,knj->kij", design, design)
    xty = np.einsum("kni,kn->ki", design, target)
    try:
        inv = np.linalg.inv(xtx)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(xtx)
    beta = np.einsum("kij,kj->ki", inv, xty)
    resid = target - np.einsum("kni,ki->kn", design, beta)
    sigma2 = np.einsum("kn,kn->k", resid, resid) / max(n - 3, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = beta[:, 1] / np.sqrt(sigma2 * inv[:, 1, 1])
    return ~(tstat < _ADF_CRITICAL_5PCT)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values, :func:`scipy.stats.false_discovery_control`); NaN stays NaN.

    The untestable pairs (NaN) are not counted among the tests.
    """
    p = np.asarray(p, dtype="float64")
    q = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = stats.false_discovery_control(p[ok], method="bh")
    return q


def min_points(lag: int) -> int:
    """Fewest points a lag-``lag`` test needs to leave 5 residual degrees of freedom."""
    return max(10, 3 * lag + 6)


def _fill_gaps(a: np.ndarray) -> np.ndarray:
    """Columns of ``a`` with each NaN replaced by the last value before it, or
    else the first after it (pandas' ``ffill().bfill()``); all-NaN columns stay NaN."""
    if not a.size:
        return a.copy()
    rows = np.arange(len(a))[:, None]
    cols = np.arange(a.shape[1])
    last = np.maximum.accumulate(np.where(np.isnan(a), 0, rows), axis=0)
    out = a[last, cols]
    nxt = np.minimum.accumulate(np.where(np.isnan(out), len(a) - 1, rows)[::-1], axis=0)[::-1]
    return out[nxt, cols]


def granger_along_pairs(
    data: pd.DataFrame,
    pairs: Sequence[tuple[tuple[str, str], tuple[str, str]]],
    config: GrangerConfig,
) -> list[GrangerTest]:
    """Run Granger tests for ``(cause_column, effect_column)`` pairs of ``data``.

    ``data`` is the test window (grid rows x ``(service, metric)`` columns).
    Gaps are filled forward/backward (and, with ``config.ranks``, values
    replaced by their ranks); a pair is skipped (with the reason) when a
    series is mostly missing or constant, or the window is too short.
    """
    if not pairs:
        return []
    t_total = len(data)
    results: list[GrangerTest | None] = [None] * len(pairs)
    used = list(dict.fromkeys(col for pair in pairs for col in pair))
    where = data.columns.get_indexer(pd.MultiIndex.from_tuples(used)) if isinstance(data.columns, pd.MultiIndex) else (
        data.columns.get_indexer(used)
    )
    position = {col: j for j, col in enumerate(used)}
    raw = data.to_numpy(dtype="float64")[:, np.fmax(where, 0)]
    raw[:, where < 0] = np.nan
    missing_share = np.isnan(raw).mean(axis=0) if t_total else np.ones(len(used))
    filled = _fill_gaps(raw)
    if config.ranks:
        filled = stats.rankdata(filled, axis=0) / max(t_total, 1)  # a column with NaN stays NaN
    constant = ~(np.ptp(filled, axis=0) > 0) if t_total else np.ones(len(used), dtype=bool)
    usable: list[int] = []
    xs, ys = [], []
    max_lag = config.max_lag
    while max_lag > 1 and t_total < min_points(max_lag):
        max_lag -= 1
    for i, (c, e) in enumerate(pairs):
        reason = None
        jc, je = position[c], position[e]
        if t_total < min_points(1):
            reason = f"window too short: {t_total} points, a lag-1 test needs at least {min_points(1)}"
        elif where[jc] < 0 or where[je] < 0:
            reason = "series not available"
        elif missing_share[jc] > 0.2 or missing_share[je] > 0.2:
            reason = "more than 20% of the window is missing"
        elif constant[jc] or constant[je]:
            reason = "constant series in the test window"
        if reason:
            results[i] = GrangerTest(c[0], c[1], e[0], e[1], observations=t_total, skipped=reason)
            continue
        usable.append(i)
        xs.append(filled[:, jc])
        ys.append(filled[:, je])
    if usable:
        x = np.vstack(xs)
        y = np.vstack(ys)
        diffed = np.zeros(len(usable), dtype=bool)
        if config.difference != "never" and t_total - 1 >= min_points(1):
            if config.difference == "always":
                diffed[:] = True
            else:
                diffed = needs_differencing(x) | needs_differencing(y)
        dx = np.where(diffed[:, None], np.diff(x, axis=1, prepend=x[:, :1]), x)[:, 1:] if diffed.any() else x
        dy = np.where(diffed[:, None], np.diff(y, axis=1, prepend=y[:, :1]), y)[:, 1:] if diffed.any() else y
        # Rows that were not differenced keep their first point dropped too only when
        # any row was differenced (all rows share one length); that loses one point.
        flat = (np.ptp(dx, axis=1) == 0) | (np.ptp(dy, axis=1) == 0)
        batch = granger_tests(dx, dy, max_lag)
        for j, i in enumerate(usable):
            c, e = pairs[i]
            if flat[j] or not np.isfinite(batch.p_value[j]):
                results[i] = GrangerTest(
                    c[0], c[1], e[0], e[1], observations=dx.shape[1], differenced=bool(diffed[j]),
                    skipped="degenerate regression (constant after differencing)",
                )
                continue
            results[i] = GrangerTest(
                c[0], c[1], e[0], e[1],
                lag=int(batch.lag[j]),
                f_stat=float(batch.f_stat[j]),
                p_value=float(batch.p_value[j]),
                observations=dx.shape[1],
                differenced=bool(diffed[j]),
            )
    pvals = np.array([r.p_value if r is not None and r.p_value is not None else np.nan for r in results])
    qvals = benjamini_hochberg(pvals)
    out: list[GrangerTest] = []
    for r, qv in zip(results, qvals, strict=True):
        if r is None:  # unreachable: every pair got a result above
            continue
        if r.p_value is not None:
            r = GrangerTest(
                r.cause_service, r.cause_metric, r.effect_service, r.effect_metric,
                lag=r.lag, f_stat=r.f_stat, p_value=r.p_value, q_value=float(qv),
                significant=bool(qv <= config.alpha), observations=r.observations,
                differenced=r.differenced,
            )
        out.append(r)
    return out
