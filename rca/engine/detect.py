"""Detect: how anomalous is each series in the incident window?

For every ``(service, metric)`` series the incident window is compared with a
baseline — the separate normal data when given, else the window before the
incident.  The score is robust and direction-aware:

1. deviation ``d = (x - median) / scale`` in the metric's *bad* direction
   (latency and errors up, availability and success rate down, traffic
   either way), ``scale`` = max(MAD, IQR) of the baseline, falling back to the
   standard deviation and then to a small fraction of the level;
2. normalized by the baseline's own extreme deviation (at least 3), so a
   score above 1 means "beyond anything the baseline shows" whether the
   series is Gaussian or spiky;
3. when the baseline comes from another period, a series must also have
   changed against the points just before the incident (so a level shift
   that predates the incident is not blamed on it);
4. on windows of four or more points an anomaly must last two consecutive
   points to count fully; a one-point spike counts a quarter (at that
   resolution it is mostly noise, but a huge one still says something);
5. a level score catches shifts held for many points of which none alone
   is extreme (see ``_level_scorer``).

The onset is the first point whose score crosses the threshold.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rca.engine.columns import names_of, per_name
from rca.engine.config import DetectConfig
from rca.engine.errors import InvalidIncidentError
from rca.engine.metric_semantics import (
    is_bounded_metric,
    metric_direction,
    metric_weight,
)
from rca.engine.robust_stats import (
    _extreme,
    _extreme_of_sorted,
    _location_scale_sorted,
    _robust_location_scale,
    extreme_exceedance,
    nan_quantiles,
    rolling_nanmedian,
    tail_scale,
)
from rca.engine.types import DataIssue, Incident, SeriesAnomaly

__all__ = [
    "IncidentWindows",
    "AnomalyScores",
    "incident_windows",
    "score_anomalies",
]

_MIN_NORM = DetectConfig.min_norm  # the default; analyses pass their DetectConfig.min_norm
_MIN_PRE = 3  # recent points needed to call the normal data's level stale
_MIN_LEVEL_POINTS = 3  # window points for a level-shift score
_SUSTAIN_MIN = 4  # window points from which an anomaly must last two consecutive points (DetectConfig.single_point)
_MAX_LEVEL_SPAN = 60  # longest rolling-median span (the whole-window median covers longer shifts)
_INCIDENT_MIN_POINTS = 10  # symptom baseline points needed to tell earlier incidents from its normal range
_INCIDENT_MAX_SHARE = 0.25  # flagged runs covering more than this are the series' normal behaviour












@dataclass(frozen=True)
class IncidentWindows:
    """Grid timestamps delimiting the analysis."""

    start: pd.Timestamp
    end: pd.Timestamp
    baseline_start: pd.Timestamp | None
    baseline_end: pd.Timestamp | None
    separate_baseline: bool


@dataclass(frozen=True)
class AnomalyScores:
    """Scores of every series, plus the per-point score matrix of the window."""

    series: tuple[SeriesAnomaly, ...]
    table: pd.DataFrame  # index (service, metric): score, z, direction, weight, onset
    points: pd.DataFrame  # window rows x (service, metric) per-point scores
    issues: tuple[DataIssue, ...]

    def of(self, service: str, metric: str) -> SeriesAnomaly | None:
        for s in self.series:
            if s.service == service and s.metric == metric:
                return s
        return None


def incident_windows(
    frame: pd.DataFrame,
    step: pd.Timedelta,
    incident: Incident,
    config: DetectConfig,
    *,
    baseline: pd.DataFrame | None = None,
) -> IncidentWindows:
    """Locate the incident window (and the pre-incident baseline) on the grid."""
    idx = frame.index
    start = incident.start.floor(step)
    if incident.end is not None:
        end = incident.end
    elif config.window:
        end = incident.start + pd.Timedelta(config.window)
    elif config.horizon:
        end = min(idx.max(), start + (config.horizon - 1) * step)
    else:
        end = idx.max()
    in_window = (idx >= start) & (idx <= end)
    if not in_window.any():
        raise InvalidIncidentError(
            f"no metric data in the incident window {start.isoformat()} .. {end.isoformat()} "
            f"(data covers {idx.min().isoformat()} .. {idx.max().isoformat()})",
            field="incident.start",
        )
    if baseline is not None and len(baseline):
        return IncidentWindows(start, end, baseline.index.min(), baseline.index.max(), True)
    before = idx[idx < start]
    if config.baseline:
        before = before[before >= start - pd.Timedelta(config.baseline)]
    if len(before) == 0:
        return IncidentWindows(start, end, None, None, False)
    return IncidentWindows(start, end, before.min(), before.max(), False)


def _directional(dev: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Deviation in the bad direction: sign +1 up, -1 down, 0 both (absolute)."""
    return np.where(sign == 0, np.abs(dev), dev * np.where(sign == 0, 1.0, sign))














def _deseasonalize(b: pd.DataFrame, w: pd.DataFrame, period: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Remove an STL seasonal component estimated on the baseline from both."""
    from statsmodels.tsa.seasonal import STL

    b, w = b.copy(), w.copy()
    for col in b.columns:
        s = b[col].interpolate(limit_direction="both")
        if s.isna().any() or s.nunique() < 3:
            continue
        seasonal = STL(s.to_numpy(), period=period, robust=True).fit().seasonal
        last = seasonal[-period:]
        b[col] = b[col].to_numpy() - seasonal
        reps = np.resize(last, len(w))
        w[col] = w[col].to_numpy() - reps
    return b, w








def _reference(
    b: np.ndarray,
    sign: np.ndarray,
    bounded: np.ndarray,
    w: np.ndarray | None = None,
    false_alarm: float | None = None,
    min_norm: float = _MIN_NORM,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Location, scale, extreme-deviation normalizer and raw extreme of baseline rows ``b``.

    The normalizer is the raw extreme (:func:`_extreme`) floored at
    ``_MIN_NORM``.  ``w`` (the incident window) lends its level to all-zero
    baselines, and its length to the normalizer when ``false_alarm`` is set:
    a window of ``N`` points has ``N`` chances to pass the baseline's
    extreme, which normal data passes on a share ``q`` of its points (1/M
    for the maximum of M points, 1 % for the p99).  Where ``N * q`` exceeds
    ``false_alarm``, the extreme is raised along the baseline's own tail
    (:func:`tail_scale`) to where ``N`` normal points would pass it with
    that probability only: ``hi + beta * ln(N * q / false_alarm)``.  Long
    windows against short baselines then stop flagging noise, and short
    windows against long baselines are judged as before.
    """
    if not b.shape[0]:
        n = b.shape[1]
        return np.full(n, np.nan), np.ones(n), np.full(n, min_norm), np.full(n, np.nan)
    fallback = None
    if w is not None and w.shape[0]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fallback = np.nan_to_num(np.nanmean(np.abs(w), axis=0))
    med, scale, srt, srt_dev, n = _location_scale_sorted(b, bounded, fallback)
    hi = _extreme_of_sorted(srt, srt_dev, n, med, scale, sign)
    reach = hi
    if false_alarm and w is not None and w.shape[0]:
        chances = np.sum(~np.isnan(w), axis=0) * extreme_exceedance(n)
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = tail_scale(srt, srt_dev, n, med, scale, sign, hi) * np.log(np.fmax(chances / false_alarm, 1.0))
        reach = hi + np.nan_to_num(lift, nan=0.0)
    norm = np.fmax(np.nan_to_num(reach, nan=min_norm), min_norm)
    return med, scale, norm, hi






def _earlier_incidents(y: np.ndarray, sign: float, bounded: bool, z: float) -> np.ndarray:
    """Rows of the symptom's baseline ``y`` that belong to an earlier incident.

    ``sign`` is the symptom's bad direction as :func:`_directional` takes
    it (+1 up, -1 down, 0 both) and ``bounded`` whether it is a percentage
    or fraction.

    An incident is a run of two or more consecutive points beyond ``z``
    robust deviations in the bad direction (a lone spike is noise).  When
    such runs would cover more than a quarter of the points, they are what
    the series normally does, and nothing is flagged.
    """
    n = int(np.sum(~np.isnan(y)))
    if n < _INCIDENT_MIN_POINTS:
        return np.zeros(len(y), dtype=bool)
    col = y[:, None]
    med, scale = _robust_location_scale(col, np.array([bounded]))
    beyond = np.nan_to_num(_directional((col - med) / scale, np.array([sign]))[:, 0], nan=0.0) > z
    pair = beyond[1:] & beyond[:-1]
    run = np.zeros(len(y), dtype=bool)
    run[1:] |= pair
    run[:-1] |= pair
    return run if run.sum() <= _INCIDENT_MAX_SHARE * n else np.zeros(len(y), dtype=bool)


def _incident_issue(symptom: tuple[str, str], stamps: pd.DatetimeIndex, z: float) -> DataIssue:
    """The report of baseline rows left out as earlier incidents, with their time spans."""
    ns = stamps.as_unit("ns").asi8
    gaps = np.diff(ns)
    step = gaps.min() if len(gaps) else 0  # runs hold two points or more: their spacing is the grid step
    breaks = np.flatnonzero(gaps > step)
    firsts, lasts = np.r_[0, breaks + 1], np.r_[breaks, len(ns) - 1]
    one_day = stamps[0].date() == stamps[-1].date()
    clock = "%H:%M" if step >= 60 * 10**9 else "%H:%M:%S"  # seconds only for sub-minute grids
    spans = []
    for k, (a, b) in enumerate(zip(firsts.tolist(), lasts.tolist(), strict=True)):
        head = stamps[a].strftime(clock if one_day and k else f"%Y-%m-%d {clock}")
        spans.append(head if a == b else f"{head}–{stamps[b].strftime(clock)}")
    shown = ", ".join(spans[:5]) + (f" and {len(spans) - 5} more" if len(spans) > 5 else "")
    return DataIssue(
        "baseline_incident",
        f"{symptom[0]}/{symptom[1]} was itself beyond {z:g} robust deviations at {shown}: those "
        f"{len(stamps)} baseline point(s) are an earlier incident, left out of every series' baseline",
        symptom[0],
        symptom[1],
    )


def _shorten_empty_stretches(b: np.ndarray, keep: int) -> np.ndarray:
    """``b`` with every stretch of more than ``keep`` all-missing rows cut to ``keep`` rows.

    Normal data may come in pieces days apart; the empty grid rows between
    them carry nothing but would be scanned by every statistic.  Kept at
    ``keep`` (the longest rolling-median span), no run of consecutive rows
    joins values the gap used to separate.
    """
    empty = np.isnan(b).all(axis=1)
    if empty.sum() <= keep:
        return b
    # Position of each row within its stretch of empty rows (0 for a row with values).
    idx = np.arange(len(b))
    last_full = np.maximum.accumulate(np.where(~empty, idx, -1))
    return b[~empty | (idx - last_full <= keep)]


def _level_norm(
    b: np.ndarray, k: int, med: np.ndarray, scale: np.ndarray, sign: np.ndarray, min_norm: float = _MIN_NORM
) -> np.ndarray:
    """Extreme directional deviation of the baseline's own k-point medians.

    The reference a window's *median* is judged against: calibrated on the
    baseline itself, so autocorrelated series (whose medians wander more
    than ``1/sqrt(k)`` predicts) are not overrated.  NaN where the baseline
    is shorter than ``2k`` points.
    """
    n = np.sum(~np.isnan(b), axis=0)
    meds = rolling_nanmedian(b, k, (k + 1) // 2, stride=max(1, k // 4))
    if not meds.shape[0]:
        return np.full(b.shape[1], np.nan)
    hi = _extreme(_directional((meds - med) / scale, sign))
    norm = np.fmax(np.nan_to_num(hi, nan=0.0), min_norm / np.sqrt(k))
    return np.where(n >= 2 * k, norm, np.nan)


def _level_scorer(
    b: np.ndarray,
    w: np.ndarray,
    med: np.ndarray,
    scale: np.ndarray,
    sign: np.ndarray,
    hi_1: np.ndarray,
    config: DetectConfig | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """``ref -> level score`` of the window ``w`` against baseline rows ``b``.

    ``hi_1`` is the raw extreme of the baseline's single-point deviations
    (from :func:`_reference`).

    Two spans: rolling medians of ``k`` points, ``k`` capped so the baseline
    holds ten of them (its own k-medians then show how far such a median
    wanders, slow load swings included); and, for a longer window, the whole
    window's median, against a normalizer extrapolated from how the
    baseline's extremes shrink from single points to k-medians (by
    ``(k / K) ** alpha``, ``alpha`` measured, at most the 0.5 of independent
    noise).  The rolling part carries a margin, as the window's maximum is
    taken over many positions; a window only ``k`` points long is one median,
    and the whole-window median is one statistic: they need none.  NaN where the window or baseline is too short.
    """
    cfg = config or DetectConfig()
    n_cols = w.shape[1]
    big_k = w.shape[0]
    k = min(big_k, max(_MIN_LEVEL_POINTS, b.shape[0] // 10), _MAX_LEVEL_SPAN)
    if big_k < _MIN_LEVEL_POINTS or not b.shape[0]:
        return lambda ref: np.full(n_cols, np.nan)
    norm_k = _level_norm(b, k, med, scale, sign, cfg.min_norm)
    w_meds = rolling_nanmedian(w, k, k, stride=max(1, k // 4))
    norm_all = None
    if big_k > k:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            alpha = np.clip(np.log(hi_1 / norm_k) / np.log(k), 0.0, 0.5)
            norm_all = np.fmax(norm_k * (k / big_k) ** alpha, cfg.min_norm / np.sqrt(big_k))
            w_med = np.nanmedian(w, axis=0)

    def score(ref: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            margin = cfg.level_margin if w_meds.shape[0] > 1 else 1.0
            out = np.nanmax(_directional((w_meds - ref) / scale, sign), axis=0) / (margin * norm_k)
            if norm_all is not None:
                whole = _directional((w_med - ref) / scale, sign) / norm_all
                out = np.fmax(out, whole)  # fmax: a NaN side yields the other
        return out

    return score


def score_anomalies(
    frame: pd.DataFrame,
    windows: IncidentWindows,
    config: DetectConfig,
    *,
    baseline: pd.DataFrame | None = None,
    symptom: tuple[str, str] | None = None,
    bounded_names: frozenset[str] = frozenset(),
) -> AnomalyScores:
    """Score every column of ``frame`` in the incident window.

    Parameters
    ----------
    frame : DataFrame
        Aligned metrics (grid index, ``(service, metric)`` columns) holding the
        incident window and possibly the time before it.
    windows : IncidentWindows
    config : DetectConfig
    baseline : DataFrame, optional
        Aligned separate normal data (same column layout).
    symptom : (service, metric), optional
        The incident's symptom series: baseline rows where it was itself in
        an incident are left out (``DetectConfig.baseline_incident_z``).
    bounded_names : frozenset of str
        Metric names to score as percentages or fractions beside those whose
        name says so (:func:`rca.engine.symptom_semantics.learned_bounded`).
    """
    issues: list[DataIssue] = []
    cols = frame.columns
    if frame.index.is_monotonic_increasing:  # an aligned grid: the window and the time before it are slices
        first = frame.index.searchsorted(windows.start, "left")
        window = frame.iloc[first:frame.index.searchsorted(windows.end, "right")]
        pre = frame.iloc[:first]
    else:
        window = frame.loc[(frame.index >= windows.start) & (frame.index <= windows.end)]
        pre = frame.loc[frame.index < windows.start]
    if windows.separate_baseline and baseline is not None:
        base = baseline if baseline.columns.equals(cols) else baseline.reindex(columns=cols)
    else:
        base = pre.loc[pre.index >= windows.baseline_start] if windows.baseline_start is not None else pre.iloc[0:0]
    if config.seasonal_period and len(base) >= 2 * config.seasonal_period:
        base, window = _deseasonalize(base, window, config.seasonal_period)

    directions = per_name(cols, 1, lambda m: metric_direction(m, config.directions), dtype=str)
    sign = np.where(directions == "up", 1.0, np.where(directions == "down", -1.0, 0.0))
    bounded = per_name(cols, 1, lambda m: m in bounded_names or is_bounded_metric(m), dtype=bool)
    b = base.to_numpy(dtype="float64")
    if config.baseline_incident_z and symptom is not None and symptom in cols:
        j = cols.get_loc(symptom)
        earlier = _earlier_incidents(b[:, j], sign[j], bounded[j], config.baseline_incident_z)
        if earlier.any():
            issues.append(_incident_issue(symptom, base.index[earlier], config.baseline_incident_z))
            b = b[~earlier]
    if windows.separate_baseline and b.size:
        b = _shorten_empty_stretches(b, _MAX_LEVEL_SPAN)
    w = window.to_numpy(dtype="float64")
    n_base = np.sum(~np.isnan(b), axis=0) if b.size else np.zeros(len(cols), dtype=int)

    med, scale, norm, hi = _reference(b, sign, bounded, w, config.false_alarm, config.min_norm)
    z_pts = _directional((w - med) / scale, sign)
    pts = z_pts / norm
    # A sustained shift: no single point beyond the baseline's extremes, but
    # a level the baseline never holds for as long.
    level_against = _level_scorer(b, w, med, scale, sign, hi, config)
    level = level_against(med)
    if windows.separate_baseline and len(pre):
        # Normal data from another period may not match the level just before
        # the incident.  Where most of the recent points (at least three)
        # deviate from it the reference is stale: judge the window against
        # those points instead (with the wide scale a few points deserve);
        # elsewhere the series must also have changed against them.
        p = pre.to_numpy(dtype="float64")[-max(1, min(len(pre), 12)):]
        n_pre = np.sum(~np.isnan(p), axis=0)
        enough = n_pre >= _MIN_PRE
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pre_dev = nan_quantiles(np.abs(p - med) / scale, (0.5,))[0] / norm
        stale = (np.nan_to_num(pre_dev) > config.threshold) & enough
        if stale.any():
            pmed, pscale, pnorm, _ = _reference(p, sign, bounded, w, config.false_alarm, config.min_norm)
            local_pts = _directional((w - pmed) / pscale, sign) / pnorm
            pts = np.where(stale & ~np.isnan(local_pts), local_pts, pts)
            z_pts = np.where(stale, _directional((w - pmed) / pscale, sign), z_pts)
            med = np.where(stale, pmed, med)
            # The reference is now those few points: they, not the normal
            # data, bound how much the score can be trusted.
            n_base = np.where(stale, np.sum(~np.isnan(p), axis=0), n_base)
        # Against the most normal of the recent points: a shift that predates
        # the incident moved them all, a fault that began a step or two
        # before the alert left the earlier ones alone.
        dev = _directional((p - med) / scale, sign)
        dev = np.where(np.isnan(dev), np.inf, dev)
        pre_level = p[np.argmin(dev, axis=0), np.arange(p.shape[1])]
        local = _directional((w - pre_level) / scale, sign) / norm
        pts = np.where(np.isnan(local) | stale, pts, np.fmin(pts, local))
        local_level = level_against(pre_level)
        level = np.where(stale, np.nan, np.where(np.isnan(local_level), level, np.fmin(level, local_level)))

    pts = np.where(np.isnan(pts), -np.inf, pts)
    if pts.shape[0] >= _SUSTAIN_MIN:
        sustained = np.fmin(pts[:-1], pts[1:])
        score = np.fmax(sustained.max(axis=0), config.single_point * pts.max(axis=0))
    else:
        score = pts.max(axis=0)
    score = np.fmax(score, np.nan_to_num(level, nan=-np.inf))
    worst = np.argmax(pts, axis=0)
    z = z_pts[worst, np.arange(len(cols))] if w.size else np.full(len(cols), np.nan)
    value = w[worst, np.arange(len(cols))] if w.size else np.full(len(cols), np.nan)
    crossed = pts > config.threshold
    has_onset = crossed.any(axis=0)
    onset_idx = np.argmax(crossed, axis=0)

    too_short = n_base < config.min_baseline_points
    no_window = ~np.isfinite(score)
    score = np.where(too_short | no_window, 0.0, score)
    score = np.fmax(score, 0.0)
    if too_short.any():
        for col in cols[too_short]:
            issues.append(
                DataIssue(
                    "short_baseline",
                    f"{col[0]}/{col[1]}: fewer than {config.min_baseline_points} baseline points; not scored",
                    col[0],
                    col[1],
                )
            )

    weights = per_name(cols, 1, lambda m: metric_weight(metric_direction(m, config.directions), m), dtype=float)
    stamps = window.index.to_list()  # boxed once, not once per series
    onsets = [
        stamps[i] if ok and s > config.threshold else None
        for i, ok, s in zip(onset_idx, has_onset, score, strict=True)
    ]
    # Plain Python numbers in one conversion per array, not one per value.
    series = tuple(
        map(
            SeriesAnomaly,
            names_of(cols, 0),
            names_of(cols, 1),
            score.astype(float).tolist(),
            np.where(np.isfinite(z), z, np.nan).astype(float).tolist(),
            directions.astype(str).tolist(),
            onsets,
            np.asarray(med, dtype=float).tolist(),
            np.asarray(value, dtype=float).tolist(),
            np.asarray(n_base).astype(int).tolist(),
        )
    )
    table = pd.DataFrame(
        {
            "score": score,
            "z": z,
            "direction": directions,
            "weight": weights,
            "points": n_base,
            "onset": onsets,
        },
        index=cols,
    )
    points = pd.DataFrame(np.where(np.isfinite(pts), pts, np.nan), index=window.index, columns=cols)
    return AnomalyScores(series=series, table=table, points=points, issues=tuple(issues))
