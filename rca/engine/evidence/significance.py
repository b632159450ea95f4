"""Significance of a change between the incident window's events and the baseline's, as anomaly scores.

Span and log series are made of many events per minute (thousands of spans, hundreds of log lines), but their
normal data is often short: a few minutes.  A minute-level robust z against three points says little, while the
events themselves say a lot.  The two tests here judge the events, vectorized over every series at once:

* :func:`rate_change_z`: counts ``k_w`` per exposure ``e_w`` against ``k_b`` per ``e_b`` (Poisson rates,
  the exact conditional binomial test).  A template never seen in the baseline yet logged a dozen times in
  the window is an event no normal minute shows.
* :func:`share_change_z`: the share of the window's events beyond a baseline quantile against the share of
  the baseline's own (exact binomial tail): durations that moved, whatever their level.

Exact tails rather than normal approximations: a handful of events must not claim more than they can.

:func:`z_to_score` maps a z-score onto the engine's anomaly-score scale (1.0 = the detection threshold): the
critical value is Bonferroni-corrected over the series tested, so a handful of true changes stand out of
thousands of series tested at once.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom, norm

__all__ = ["critical_z", "rate_change_z", "share_change_z", "z_to_score", "z_to_odds_score"]


def _z_of_tail(p: np.ndarray) -> np.ndarray:
    """The one-sided normal z of a tail probability (0 for p >= 0.5)."""
    return np.fmax(norm.isf(np.clip(p, 1e-300, 1.0)), 0.0)


def rate_change_z(k_w: np.ndarray, e_w: np.ndarray, k_b: np.ndarray, e_b: np.ndarray, *, two_sided: bool = False,
                  tolerance: float | np.ndarray = 1.0):
    """z of "the window's events per unit of exposure differ from the baseline's", and its sign.

    ``e_w``, ``e_b`` are the exposures (minutes covered, or the count of a denominator such as the service's log
    lines or requests).  Given ``n = k_w + k_b``, ``k_w`` is binomial with ``p = e_w / (e_w + e_b)`` under
    "same rate" (the conditional test for two Poisson rates); the exact tail is turned into a z-score.  Returns
    ``(z, sign)``: ``sign`` +1 for more events, -1 for fewer (only tested when ``two_sided``).
    ``tolerance`` r makes the null "the rate changed by at most a factor r" (more events: against
    ``r * e_w``; fewer: against ``e_w / r``), so that with thousands of events a change too small to matter is
    not significant.

    >>> z, s = rate_change_z(np.array([12.0]), np.array([3.0]), np.array([0.0]), np.array([3.0]))
    >>> bool(z[0] > 3), int(s[0])
    (True, 1)
    >>> float(rate_change_z(np.array([10.0]), np.array([1.0]), np.array([10.0]), np.array([1.0]))[0][0])
    0.0
    """
    k_w, e_w, k_b, e_b = (np.asarray(a, dtype=float) for a in (k_w, e_w, k_b, e_b))
    n = k_w + k_b
    r = np.asarray(tolerance, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where((e_w > 0) & (e_b > 0), r * e_w / (r * e_w + e_b), 1.0)
        p_down = np.where((e_w > 0) & (e_b > 0), e_w / r / (e_w / r + e_b), 1.0)
    # no exposure on one side (a service with no line or request in the window): nothing to compare
    exposed = (n > 0) & (e_w > 0) & (e_b > 0)
    up = np.where(exposed, _z_of_tail(binom.sf(k_w - 1, n, p)), 0.0)
    if not two_sided:
        return up, np.ones_like(up)
    down = np.where(exposed, _z_of_tail(binom.cdf(k_w, n, p_down)), 0.0)
    return np.fmax(up, down), np.where(down > up, -1.0, 1.0)


def share_change_z(k_w: np.ndarray, n_w: np.ndarray, k_b: np.ndarray, n_b: np.ndarray,
                   tolerance: float = 1.0) -> np.ndarray:
    """z of "more of the window's ``n_w`` events are marked than the baseline's share ``k_b / n_b``".

    Exact binomial tail of ``k_w`` out of ``n_w`` at the baseline share, smoothed as ``(k_b + 1) / (n_b + 2)``
    (Laplace), so a short baseline does not claim a share of exactly 0, and multiplied by ``tolerance`` (the
    null: "at most that many times the baseline's share").

    >>> float(share_change_z(np.array([50.0]), np.array([100.0]), np.array([10.0]), np.array([100.0]))[0]) > 5
    True
    >>> float(share_change_z(np.array([3.0]), np.array([3.0]), np.array([30.0]), np.array([300.0]))[0]) < 3.5
    True
    """
    k_w, n_w, k_b, n_b = (np.asarray(a, dtype=float) for a in (k_w, n_w, k_b, n_b))
    p = np.clip(tolerance * (k_b + 1.0) / (n_b + 2.0), 0.0, 1.0)
    z = _z_of_tail(binom.sf(k_w - 1, n_w, p))
    return np.where((n_w > 0) & (n_b > 0), z, 0.0)


def critical_z(n_tests: int, alpha: float = 0.01) -> float:
    """One-sided normal critical value at family-wise level ``alpha`` over ``n_tests`` (Bonferroni).

    >>> round(critical_z(1, 0.05), 2), round(critical_z(1000), 2)
    (1.64, 4.26)
    """
    return float(norm.isf(alpha / max(int(n_tests), 1)))


def z_to_score(z: np.ndarray, z_crit: float) -> np.ndarray:
    """Anomaly score of a z-score: ``z / z_crit`` (1.0 at the critical value, 0 for no or opposite change)."""
    return np.fmax(np.asarray(z, dtype=float), 0.0) / max(z_crit, 1e-9)


def z_to_odds_score(z: np.ndarray, n_tests: int) -> np.ndarray:
    """Anomaly score whose log-odds (``2 log score``, :func:`rca.engine.rank.anomaly_log_odds`) is the test's evidence.

    The one-sided p-value of ``z``, Bonferroni-adjusted over ``n_tests``, bounds the Bayes factor against
    "no change" by ``1 / (-e p log p)`` for ``p < 1/e`` (Sellke, Bayarri & Berger, "Calibration of p values
    for testing precise null hypotheses", The American Statistician 2001): the most a p-value can say.  Its
    log is the score's log-odds, so ``score = exp(log BF / 2)``, 1.0 (the threshold) at ``p = 1/e``; below
    that, ``z`` over the z of ``p = 1/e`` (under 1).

    >>> [round(float(x), 2) for x in z_to_odds_score(np.array([0.0, 3.0, 5.0, 7.0]), 1000)]
    [0.0, 0.89, 12.54, 3746.72]
    """
    z = np.fmax(np.asarray(z, dtype=float), 0.0)
    m = max(int(n_tests), 1)
    log_p = norm.logsf(z) + np.log(m)  # log of the adjusted p-value (may exceed 0: no evidence)
    z_edge = float(norm.isf(np.exp(-1.0) / m))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        log_bf = -(1.0 + log_p + np.log(np.fmax(-log_p, 1e-300)))  # -log(-e p log p)
        strong = np.exp(np.fmin(log_bf, 600.0) / 2.0)
    return np.where(log_p < -1.0, strong, z / z_edge)
