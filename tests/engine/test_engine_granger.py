"""Granger tests of :mod:`rca.engine.causal` against statsmodels and hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import grangercausalitytests

from rca.engine.causal import (
    benjamini_hochberg,
    granger_along_pairs,
    granger_fixed_lag,
    granger_tests,
    needs_differencing,
)
from rca.engine.config import GrangerConfig


def _pairs(rng: np.random.Generator, k: int = 5, t: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """K random pairs; row 0 is a pair where x truly drives y with lag 2."""
    x = rng.normal(size=(k, t))
    y = rng.normal(size=(k, t))
    y[0, 2:] += 0.8 * x[0, :-2]
    return x, y


def _statsmodels_ftest(x: np.ndarray, y: np.ndarray, lag: int) -> tuple[float, float, int]:
    res = grangercausalitytests(np.column_stack([y, x]), [lag])[lag][0]["ssr_ftest"]
    f, p, _df_denom, _df_num = res
    return float(f), float(p), int(_df_denom)


@pytest.mark.parametrize("lag", [1, 2, 3, 4])
def test_fixed_lag_matches_statsmodels(rng, lag):
    x, y = _pairs(rng)
    batch = granger_fixed_lag(x, y, lag)
    for k in range(x.shape[0]):
        f, p, df_denom = _statsmodels_ftest(x[k], y[k], lag)
        assert batch.f_stat[k] == pytest.approx(f, rel=1e-6, abs=1e-6)
        assert batch.p_value[k] == pytest.approx(p, rel=1e-6, abs=1e-6)
        assert batch.df_resid[k] == df_denom
        assert batch.lag[k] == lag


def test_fixed_lag_detects_true_cause_only(rng):
    x, y = _pairs(rng)
    batch = granger_fixed_lag(x, y, 2)
    assert batch.p_value[0] < 1e-6
    # the reverse direction carries no signal
    rev = granger_fixed_lag(y[:1], x[:1], 2)
    assert rev.p_value[0] > 0.01


def test_single_pair_accepts_1d_input(rng):
    x, y = _pairs(rng, k=1)
    one = granger_fixed_lag(x[0], y[0], 1)
    assert one.p_value.shape == (1,)
    assert one.p_value[0] == pytest.approx(_statsmodels_ftest(x[0], y[0], 1)[1], abs=1e-6)


def test_bic_selects_the_true_lag(rng):
    t = 300
    x = rng.normal(size=(3, t))
    y = 0.3 * rng.normal(size=(3, t))
    y[:, 3:] += 2.0 * x[:, :-3]
    batch = granger_tests(x, y, max_lag=6)
    assert batch.lag.tolist() == [3, 3, 3]
    assert np.all(batch.p_value < 1e-10)
    # the chosen lag is then tested exactly like a fixed-lag test
    fixed = granger_fixed_lag(x, y, 3)
    np.testing.assert_allclose(batch.p_value, fixed.p_value)


def test_needs_differencing_random_walk_not_white_noise(rng):
    walks = np.cumsum(rng.normal(size=(5, 200)), axis=1)
    noise = rng.normal(size=(5, 200))
    assert needs_differencing(walks).sum() >= 4
    assert needs_differencing(noise).sum() <= 1


def test_benjamini_hochberg_against_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.20, np.nan])
    # sorted: 0.01, 0.03, 0.04, 0.20 with m = 4
    # raw p*m/rank: 0.04, 0.06, 0.0533.., 0.20 ; then step-up minimum from the top
    expected = np.array([0.04, 0.16 / 3, 0.16 / 3, 0.20, np.nan])
    np.testing.assert_allclose(benjamini_hochberg(p), expected, equal_nan=True)


def test_benjamini_hochberg_from_scipy_equals_the_former_hand_written_one():
    """q-values the hand-written step-up procedure gave (before scipy.stats.false_discovery_control), to 1e-12."""
    nan = np.nan
    p = np.array([0.04916744239725702, 0.00791574306930773, 0.0006945266118005499, nan, 0.09691576223542887,
                  0.00791574306930773, 0.6175300653077616, nan, 0.00013610424216489538, 0.17127302283698706,
                  0.22416239885457692, 0.0001260627105136307])  # fmt: skip
    former = [0.08194573732876169, 0.01583148613861546, 0.002315088706001833, nan, 0.13845108890775554,
              0.01583148613861546, 0.6175300653077616, nan, 0.0006805212108244769, 0.21409127854623383,
              0.24906933206064105, 0.0006805212108244769]  # fmt: skip
    np.testing.assert_allclose(benjamini_hochberg(p), former, rtol=0, atol=1e-12, equal_nan=True)


def test_benjamini_hochberg_clips_and_handles_empty():
    np.testing.assert_allclose(benjamini_hochberg(np.array([0.9, 0.95])), [0.95, 0.95])
    assert np.isnan(benjamini_hochberg(np.array([np.nan, np.nan]))).all()
    assert benjamini_hochberg(np.array([])).size == 0


def _frame(columns: dict[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    t = len(next(iter(columns.values())))
    idx = pd.date_range("2024-05-01", periods=t, freq="1min", tz="UTC")
    frame = pd.DataFrame(columns, index=idx)
    frame.columns = pd.MultiIndex.from_tuples(list(columns), names=["service", "metric"])
    return frame


CAUSE, EFFECT = ("db", "latency"), ("api", "latency")


def test_along_pairs_records_q_values_and_significance(rng):
    t = 120
    x = rng.normal(size=t)
    y = 0.3 * rng.normal(size=t)
    y[1:] += 1.5 * x[:-1]
    noise = rng.normal(size=t)
    data = _frame({CAUSE: x, EFFECT: y, ("cache", "latency"): noise})
    pairs = [(CAUSE, EFFECT), (("cache", "latency"), ("db", "latency"))]
    out = granger_along_pairs(data, pairs, GrangerConfig(max_lag=3, difference="never"))
    assert len(out) == 2
    strong, weak = out
    assert (strong.cause_service, strong.effect_service) == ("db", "api")
    assert strong.skipped is None and strong.significant
    assert strong.lag == 1
    assert strong.q_value is not None and strong.q_value <= 0.05
    assert weak.skipped is None and not weak.significant
    q = benjamini_hochberg(np.array([strong.p_value, weak.p_value]))
    assert [strong.q_value, weak.q_value] == pytest.approx(q.tolist())
    assert strong.observations == t


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda rng: {CAUSE: rng.normal(size=6), EFFECT: rng.normal(size=6)}, "window too short"),
        (lambda rng: {CAUSE: np.full(60, 3.0), EFFECT: rng.normal(size=60)}, "constant series"),
        (
            lambda rng: {CAUSE: np.where(np.arange(60) % 3 == 0, rng.normal(size=60), np.nan), EFFECT: rng.normal(size=60)},
            "missing",
        ),
    ],
    ids=["too-short", "constant", "mostly-missing"],
)
def test_along_pairs_skips_with_reason(rng, make, reason):
    data = _frame(make(rng))
    (res,) = granger_along_pairs(data, [(CAUSE, EFFECT)], GrangerConfig())
    assert res.skipped is not None and reason in res.skipped
    assert res.p_value is None and res.q_value is None and not res.significant


def test_along_pairs_missing_column_and_empty_pairs(rng):
    data = _frame({CAUSE: rng.normal(size=40), EFFECT: rng.normal(size=40)})
    assert granger_along_pairs(data, [], GrangerConfig()) == []
    (res,) = granger_along_pairs(data, [(("ghost", "latency"), EFFECT)], GrangerConfig())
    assert res.skipped == "series not available"


def test_along_pairs_one_skipped_pair_does_not_abort_the_others(rng):
    t = 80
    x = rng.normal(size=t)
    y = rng.normal(size=t)
    y[2:] += x[:-2]
    data = _frame({CAUSE: x, EFFECT: y, ("flat", "cpu"): np.ones(t)})
    out = granger_along_pairs(data, [(("flat", "cpu"), EFFECT), (CAUSE, EFFECT)], GrangerConfig())
    assert out[0].skipped and out[1].p_value is not None and out[1].p_value < 0.01


def test_along_pairs_differences_random_walks(rng):
    t = 150
    x = np.cumsum(rng.normal(size=t))
    y = np.cumsum(rng.normal(size=t))
    data = _frame({CAUSE: x, EFFECT: y})
    (res,) = granger_along_pairs(data, [(CAUSE, EFFECT)], GrangerConfig(difference="auto"))
    assert res.differenced
    assert res.observations == t - 1
    (never,) = granger_along_pairs(data, [(CAUSE, EFFECT)], GrangerConfig(difference="never"))
    assert not never.differenced and never.observations == t


def test_ranks_keep_a_few_coincident_spikes_from_faking_causality(rng):
    t = 40
    x, y = rng.normal(size=t), rng.normal(size=t)
    for at in (10, 25):  # two spikes in the cause, echoed one step later by the effect
        x[at] += 40.0
        y[at + 1] += 40.0
    data = _frame({CAUSE: x, EFFECT: y})
    (raw,) = granger_along_pairs(data, [(CAUSE, EFFECT)], GrangerConfig(difference="never", ranks=False))
    (ranked,) = granger_along_pairs(data, [(CAUSE, EFFECT)], GrangerConfig(difference="never"))
    assert raw.significant and raw.p_value < 1e-6
    assert not ranked.significant


def test_gap_filling_matches_pandas_ffill_then_bfill() -> None:
    from rca.engine.causal import _fill_gaps

    rng = np.random.default_rng(7)
    for _ in range(200):
        a = rng.normal(size=(int(rng.integers(1, 25)), 5))
        a[rng.random(a.shape) < rng.random()] = np.nan
        a[:, 0] = np.nan  # an all-missing column stays missing
        expected = pd.DataFrame(a).ffill().bfill().to_numpy()
        assert np.array_equal(_fill_gaps(a), expected, equal_nan=True)


def test_the_batched_adf_decides_as_statsmodels_adfuller_does():
    """needs_differencing is adfuller(maxlag=1, autolag=None)'s p >= 0.05, row for row, on 200 series."""
    import warnings

    import numpy as np
    from statsmodels.tsa.stattools import adfuller

    from rca.engine.causal import needs_differencing

    rng = np.random.default_rng(1)
    rows = [rng.normal(size=60).cumsum() if i % 2 else rng.normal(size=60) + 0.3 * np.sin(np.arange(60))
            for i in range(200)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # adfuller's tuple-or-object return is changing
        expected = [adfuller(r, maxlag=1, autolag=None, regression="c")[1] >= 0.05 for r in rows]
    assert needs_differencing(np.array(rows)).tolist() == expected
    assert 50 < sum(expected) < 150  # both decisions are exercised
