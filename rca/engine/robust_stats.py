"""Robust statistics over whole blocks of series: NaN-aware quantiles, median/MAD/IQR location and scale, extremes, rolling medians.

Vectorized over a (points x series) array at once; :mod:`rca.engine.detect` builds its scores from them.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ['nan_quantiles', 'rolling_nanmedian', 'tail_scale']


_ROLLING_BLOCK = 4_000_000  # values sorted at once by rolling_nanmedian


_NETWORK_MAX_K = 8  # up to this run length rolling_nanmedian uses a sorting network


def nan_quantiles(a: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Column-wise quantiles ignoring NaN (linear interpolation, as numpy).

    One sort per call instead of ``np.nanpercentile``'s per-column loop.
    All-NaN columns give NaN.
    """
    srt = np.sort(a, axis=0)  # NaN sort last
    return _sorted_quantiles(srt, np.sum(~np.isnan(a), axis=0), qs)


def _sorted_quantiles(srt: np.ndarray, n: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """:func:`nan_quantiles` of columns already sorted (NaN last), ``n`` values in each."""
    cols = np.arange(srt.shape[1])
    out = []
    for q in qs:
        pos = q * np.fmax(n - 1, 0)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, np.fmax(n - 1, 0))
        frac = pos - lo
        v = srt[lo, cols] * (1 - frac) + srt[hi, cols] * frac if srt.shape[0] else np.full(srt.shape[1], np.nan)
        out.append(np.where(n > 0, v, np.nan))
    return out


def _robust_location_scale(
    b: np.ndarray, bounded: np.ndarray | None = None, fallback_level: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Median and a robust scale per column, never zero (see :func:`_location_scale_sorted`)."""
    med, scale, _, _, _ = _location_scale_sorted(b, bounded, fallback_level)
    return med, scale


def _location_scale_sorted(
    b: np.ndarray, bounded: np.ndarray | None = None, fallback_level: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median and a robust scale per column, never zero; and the two sorts they took.

    Also returns ``b`` sorted per column, ``|b - median|`` sorted per column
    (NaN last in both) and the count of values per column, so the
    baseline's extremes can be read off them instead of sorting again.

    The scale floor is a fraction of the series' level that shrinks with the
    baseline length (26 % of the level for one point, ~1 % for hundreds):
    a handful of points cannot tell noise from signal, so small relative
    moves must not look like large deviations.  A baseline that is all zero
    has no level to take a fraction of; ``fallback_level`` (the incident
    window's) stands in, so 0 -> 5 calls is a large move, not an infinite one.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = np.sum(~np.isnan(b), axis=0)
        srt = np.sort(b, axis=0)
        med, q75, q25 = _sorted_quantiles(srt, n, (0.5, 0.75, 0.25))
        srt_dev = np.sort(np.abs(b - med), axis=0)
        mad = 1.4826 * _sorted_quantiles(srt_dev, n, (0.5,))[0]
        iqr = (q75 - q25) / 1.349
        level = np.fmax(np.abs(med), np.nanmean(np.abs(b), axis=0))
        scale = np.fmax(mad, iqr)
        flat = ~(scale > 0)  # the standard deviation only where both robust scales are zero (or NaN)
        if flat.any():
            scale[flat] = np.nanstd(b[:, flat], axis=0)
    if fallback_level is not None:
        level = np.where(np.nan_to_num(level) > 0, level, fallback_level)
    frac = 0.01 + 0.25 / np.fmax(n, 1)
    floor = np.fmax(frac * np.nan_to_num(level), 1e-9)
    # A series of non-negative whole numbers is a count (requests, errors,
    # restarts in a step): a count of about L events varies by sqrt(L) by
    # chance alone (Poisson), so no smaller spread is believed, however
    # constant its baseline happened to be.  0 -> 3 calls is then chance, 0 -> 300 is not.
    with np.errstate(invalid="ignore"):
        counts = (n > 0) & np.all(np.isnan(b) | ((b >= 0) & (b == np.round(b))), axis=0)
    if counts.any():
        floor = np.where(counts, np.fmax(floor, np.sqrt(np.fmax(np.nan_to_num(level), 1.0))), floor)
    if bounded is not None and bounded.any():
        # Percentages and fractions: the level that matters is the distance
        # from the bound (99.9 % available is 0.1 % errors); the smallest move
        # worth a unit of deviation is half a percent of the range for a
        # one-point baseline, shrinking as the baseline grows.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            top = np.nanmax(b, axis=0)
        cap = np.where(np.nan_to_num(top) > 1.0, 100.0, 1.0)
        dist = np.fmin(np.abs(cap - np.nan_to_num(med)), np.abs(np.nan_to_num(med)))
        bfloor = np.fmax(frac * dist, 0.02 * frac * cap)
        floor = np.where(bounded, bfloor, floor)
    scale = np.fmax(np.nan_to_num(scale), floor)
    return med, scale, srt, srt_dev, n


_EXTREME_Q = 0.99


_EXTREME_MIN = 100  # values from which the extreme is the p99, not the maximum


def _extreme(dev: np.ndarray) -> np.ndarray:
    """Per column, the extreme of baseline deviations ``dev``: their p99 from
    100 values on (one outlier must not set it), else their maximum."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        count = np.sum(~np.isnan(dev), axis=0)
        out = np.nanmax(dev, axis=0)
        many = count >= _EXTREME_MIN
        full = many & (count == dev.shape[0])
        if full.any():
            # Columns without a gap: the two order statistics by selection, not a sort
            # (the same values and interpolation as nan_quantiles).
            pos = _EXTREME_Q * (dev.shape[0] - 1)
            lo = int(np.floor(pos))
            hi = min(lo + 1, dev.shape[0] - 1)
            part = np.partition(dev[:, full], [lo, hi], axis=0)
            out[full] = part[lo] * (1 - (pos - lo)) + part[hi] * (pos - lo)
        gappy = many & ~full
        if gappy.any():
            out[gappy] = nan_quantiles(dev[:, gappy], (_EXTREME_Q,))[0]
        return out


def _extreme_of_sorted(
    srt: np.ndarray, srt_dev: np.ndarray, n: np.ndarray, med: np.ndarray, scale: np.ndarray, sign: np.ndarray
) -> np.ndarray:
    """:func:`_extreme` of ``_directional((b - med) / scale, sign)``, read off :func:`_location_scale_sorted`'s sorts.

    Scaling is monotone, so the p99 (or maximum) of the upward deviations is
    that of ``b``, of the downward ones that of ``-b`` (``b``'s p1 or
    minimum), and of absolute ones that of ``|b - med|``.
    """
    with np.errstate(all="ignore"):
        top = np.take_along_axis(srt, np.fmax(n - 1, 0)[None, :], axis=0)[0] if srt.shape[0] else np.full(len(n), np.nan)
        top_dev = np.take_along_axis(srt_dev, np.fmax(n - 1, 0)[None, :], axis=0)[0] if srt.shape[0] else top
        q_hi, q_lo = _sorted_quantiles(srt, n, (_EXTREME_Q, 1 - _EXTREME_Q))
        (q_dev,) = _sorted_quantiles(srt_dev, n, (_EXTREME_Q,))
        many = n >= _EXTREME_MIN
        up = np.where(many, q_hi, top)
        down = np.where(many, q_lo, srt[0] if srt.shape[0] else top)
        both = np.where(many, q_dev, top_dev)
        out = np.where(sign > 0, (up - med) / scale, np.where(sign < 0, (med - down) / scale, both / scale))
    return np.where(n > 0, out, np.nan)


def rolling_nanmedian(a: np.ndarray, k: int, min_count: int = 1, *, stride: int = 1) -> np.ndarray:
    """Medians of runs of ``k`` consecutive rows, per column, ignoring NaN.

    Row ``i`` of the result covers rows ``i*stride .. i*stride+k-1`` of
    ``a``; a run with fewer than ``min_count`` values gives NaN.  One sort
    of a strided view per block of columns (blocks keep the sorted copy near
    ``_ROLLING_BLOCK`` values however long the series), no per-column loop.
    """
    if a.shape[0] < k:
        return np.full((0, a.shape[1]), np.nan)
    if k <= _NETWORK_MAX_K:
        return _small_rolling_nanmedian(a, k, min_count, stride)
    view = np.lib.stride_tricks.sliding_window_view(a, k, axis=0)[::stride]
    per_col = view.shape[0] * k
    step = max(1, _ROLLING_BLOCK // max(per_col, 1))
    out = np.empty(view.shape[:2])
    for c0 in range(0, a.shape[1], step):
        runs = np.sort(view[:, c0:c0 + step], axis=-1)  # NaN last
        count = np.sum(~np.isnan(runs), axis=-1)
        lo = np.take_along_axis(runs, np.fmax((count - 1) // 2, 0)[..., None], axis=-1)[..., 0]
        hi = np.take_along_axis(runs, np.fmax(count // 2, 0)[..., None], axis=-1)[..., 0]
        out[:, c0:c0 + step] = np.where(count >= max(min_count, 1), (lo + hi) / 2, np.nan)
    return out


def _small_rolling_nanmedian(a: np.ndarray, k: int, min_count: int, stride: int) -> np.ndarray:
    """:func:`rolling_nanmedian` for short runs: a sorting network over whole arrays.

    ``np.sort`` along a handful of values pays its per-row overhead once
    per run and column; here each compare-exchange is one vectorized
    min/max over all runs at once (odd-even transposition, NaN as +inf so
    it sorts last, as in ``np.sort``).  A run without NaN (most of them)
    has its median in the middle; only runs with gaps pick theirs by count.
    """
    n_runs = (a.shape[0] - k) // stride + 1
    span = (n_runs - 1) * stride + 1
    nan = np.isnan(a)
    gappy = bool(nan.any())
    src = np.where(nan, np.inf, a) if gappy else a
    rows = [src[j:j + span:stride] for j in range(k)]
    for rnd in range(k):
        for j in range(rnd % 2, k - 1, 2):
            lo = np.minimum(rows[j], rows[j + 1])
            rows[j + 1] = np.maximum(rows[j], rows[j + 1])
            rows[j] = lo
    med = (rows[(k - 1) // 2] + rows[k // 2]) / 2
    if not gappy:
        return med
    n_nan = np.zeros((a.shape[0] + 1, a.shape[1]), dtype=np.int64)
    np.cumsum(nan, axis=0, out=n_nan[1:])
    count = k - (n_nan[k:k + span:stride] - n_nan[0:span:stride])
    part = np.nonzero(count < k)
    if part[0].size > count.size // 4:
        # Gaps everywhere: one pass per possible count beats gathering them.
        med = np.where(count >= max(min_count, 1), med, np.nan)
        for c in range(max(min_count, 1), k):
            med = np.where(count == c, (rows[(c - 1) // 2] + rows[c // 2]) / 2, med)
    elif part[0].size:
        c = count[part]
        runs = np.stack([r[part] for r in rows])  # (k, runs with gaps), valid values first
        at = np.arange(c.size)
        lo, hi = runs[np.fmax((c - 1) // 2, 0), at], runs[np.fmax(c // 2, 0), at]
        med[part] = np.where(c >= max(min_count, 1), (lo + hi) / 2, np.nan)
    return med


_TAIL_Q = 0.90  # the tail's slope is read between this quantile and the extreme


def extreme_exceedance(n: np.ndarray) -> np.ndarray:
    """Share of normal points beyond :func:`_extreme` of ``n`` baseline values: 1/n for the maximum, 1 % for the p99."""
    n = np.asarray(n, dtype="float64")
    return np.where(n >= _EXTREME_MIN, 1.0 - _EXTREME_Q, 1.0 / np.fmax(n, 1.0))


def tail_scale(
    srt: np.ndarray, srt_dev: np.ndarray, n: np.ndarray, med: np.ndarray, scale: np.ndarray, sign: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """Slope of the baseline's upper tail: deviation gained per factor ``e`` of rarer exceedance.

    An exponential tail fitted through two points of the baseline's own
    directional deviations, the p90 and the extreme ``hi`` (:func:`_extreme`):
    ``(hi - d90) / ln(0.10 / q)`` with ``q`` the extreme's exceedance share.
    It says how much further than ``hi`` normal data reaches when it is
    given more chances (a longer window), without assuming a Gaussian.
    NaN where the baseline has fewer than 10 values.
    """
    with np.errstate(all="ignore"):
        q_hi, q_lo = _sorted_quantiles(srt, n, (_TAIL_Q, 1 - _TAIL_Q))
        (q_dev,) = _sorted_quantiles(srt_dev, n, (_TAIL_Q,))
        d90 = np.where(sign > 0, (q_hi - med) / scale, np.where(sign < 0, (med - q_lo) / scale, q_dev / scale))
        span = np.log((1.0 - _TAIL_Q) / extreme_exceedance(n))
        beta = np.fmax(hi - d90, 0.0) / np.where(span > 0, span, np.nan)
    return np.where(n >= 10, beta, np.nan)
