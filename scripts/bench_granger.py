"""Benchmark: the engine's batched Granger tests against statsmodels, pair by pair.

Generates K pairs of series of T points where half the pairs have a real
lagged effect (x drives y), then times

- ``rca.engine.causal.granger_tests(x, y, max_lag)`` — all K pairs at once, the lag
  chosen per pair by BIC among 1..max_lag;
- ``statsmodels.tsa.stattools.grangercausalitytests`` called once per pair with
  ``maxlag=max_lag`` (which also fits every lag 1..max_lag),

and prints both times, the speed-up, and the largest absolute difference of
the SSR F-test p-values (statsmodels' value taken at the lag the engine chose).
The same comparison at a fixed lag (``granger_fixed_lag``) is printed when the
engine has it.  The issue's target is a speed-up of at least 50×.

Usage::

    .venv/bin/python scripts/bench_granger.py                 # 500 pairs x 60 points, lag 2
    .venv/bin/python scripts/bench_granger.py --pairs 2000 --points 120 --max-lag 3
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


def make_pairs(pairs: int, points: int, lag: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of shape (pairs, points); y follows x with ``lag`` in every other pair."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(pairs, points))
    noise = rng.normal(size=(pairs, points))
    y = noise.copy()
    coupled = np.arange(pairs) % 2 == 0
    y[coupled, lag:] += 0.8 * x[coupled, :-lag]
    y[:, 1:] += 0.3 * noise[:, :-1]  # some own dynamics
    return x, y


def _best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def statsmodels_pvalues(x: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """SSR F-test p-values per pair and lag, shape (pairs, max_lag)."""
    from statsmodels.tsa.stattools import grangercausalitytests

    out = np.full((x.shape[0], max_lag), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' verbose/FutureWarning chatter
        for k in range(x.shape[0]):
            # column 2 Granger-causes column 1
            res = grangercausalitytests(np.column_stack([y[k], x[k]]), max_lag)
            for lag in range(1, max_lag + 1):
                out[k, lag - 1] = res[lag][0]["ssr_ftest"][1]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=500, help="number of series pairs (default 500)")
    parser.add_argument("--points", type=int, default=60, help="points per series (default 60)")
    parser.add_argument("--max-lag", type=int, default=2, help="largest lag (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="best-of repeats for the batched call (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.points < 3 * args.max_lag + 6 or args.max_lag < 1:
        parser.error("need --pairs >= 1, --max-lag >= 1 and --points >= 3 * max-lag + 6")

    try:
        from rca import causal
    except ImportError as exc:
        print(f"rca.engine.causal is not available yet ({exc}); nothing to benchmark.", file=sys.stderr)
        return 1
    granger_tests = getattr(causal, "granger_tests", None)
    if granger_tests is None:
        print("rca.engine.causal has no granger_tests(x, y, max_lag) yet; nothing to benchmark.", file=sys.stderr)
        return 1
    fixed = getattr(causal, "granger_fixed_lag", None)

    x, y = make_pairs(args.pairs, args.points, args.max_lag, args.seed)
    print(f"{args.pairs} pairs x {args.points} points, max lag {args.max_lag} (seed {args.seed})")

    granger_tests(x[:2], y[:2], args.max_lag)  # warm-up (imports, BLAS threads)
    t_batch, batch = _best_time(lambda: granger_tests(x, y, args.max_lag), args.repeat)
    t_sm, sm = _best_time(lambda: statsmodels_pvalues(x, y, args.max_lag), 1)

    lags = np.asarray(batch.lag, dtype=int)
    sm_at_chosen = sm[np.arange(args.pairs), lags - 1]
    diff = np.abs(np.asarray(batch.p_value, dtype=float) - sm_at_chosen)
    print(f"batched granger_tests (BIC lag):   {t_batch * 1e3:10.2f} ms")
    print(f"statsmodels, one call per pair:    {t_sm * 1e3:10.2f} ms")
    print(f"speed-up:                          {t_sm / t_batch:10.1f}x   (target >= 50x)")
    print(f"max |p - p_statsmodels|:           {np.nanmax(diff):10.2e}   (at the lag the engine chose)")
    print(f"pairs not computed (NaN p):        {int(np.isnan(diff).sum()):10d}")

    if fixed is not None:
        t_fixed, res = _best_time(lambda: fixed(x, y, args.max_lag), args.repeat)
        d_fixed = np.abs(np.asarray(res.p_value, dtype=float) - sm[:, args.max_lag - 1])
        print(f"batched granger_fixed_lag (lag {args.max_lag}): {t_fixed * 1e3:8.2f} ms, "
              f"max |p - p_statsmodels| {np.nanmax(d_fixed):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
