"""The event tests: exact tails, tolerance, references, and their scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from rca.engine.evidence.scoring import combine_references, name_new_templates, score_events
from rca.engine.evidence.significance import rate_change_z, share_change_z, z_to_odds_score

T = pd.Timestamp("2024-05-01 13:00", tz="UTC")


def _events(service: str, metric: str, kind: str, values, minute: int = 0) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    return pd.DataFrame({"timestamp": T + pd.Timedelta(minutes=minute), "service": service, "metric": metric,
                         "kind": kind, "value": values, "flag": False})


def test_rate_test_matches_scipy_binomtest() -> None:
    z, sign = rate_change_z(np.array([15.0]), np.array([100.0]), np.array([5.0]), np.array([100.0]))
    p = binomtest(15, 20, 0.5, alternative="greater").pvalue
    from scipy.stats import norm
    assert abs(z[0] - norm.isf(p)) < 1e-9 and sign[0] == 1
    z2, sign2 = rate_change_z(np.array([0.0]), np.array([100.0]), np.array([30.0]), np.array([100.0]), two_sided=True)
    assert z2[0] > 4 and sign2[0] == -1  # a call that stopped
    # tolerance 2: twice the rate is not evidence, four times is
    assert rate_change_z(np.array([20.0]), np.array([1.0]), np.array([10.0]), np.array([1.0]), tolerance=2.0)[0][0] == 0.0
    assert rate_change_z(np.array([80.0]), np.array([1.0]), np.array([10.0]), np.array([1.0]), tolerance=2.0)[0][0] > 3


def test_share_test_is_cautious_on_few_events() -> None:
    assert share_change_z(np.array([3.0]), np.array([3.0]), np.array([10.0]), np.array([100.0]))[0] < 3.5
    assert share_change_z(np.array([300.0]), np.array([300.0]), np.array([10.0]), np.array([100.0]))[0] > 10


def test_odds_score_is_monotone_and_one_at_the_edge() -> None:
    z = np.linspace(0, 12, 50)
    s = z_to_odds_score(z, 500)
    assert np.all(np.diff(s) > 0)
    from scipy.stats import norm
    edge = norm.isf(np.exp(-1) / 500)
    assert abs(z_to_odds_score(np.array([edge]), 500)[0] - 1.0) < 1e-6


def test_a_slower_operation_and_a_new_error_template_score_high(rng=np.random.default_rng(7)) -> None:
    base = pd.concat([
        _events("api", "span:GET latency p90", "duration", rng.lognormal(3, 0.3, 400), -1),
        _events("db", "span:SELECT latency p90", "duration", rng.lognormal(1, 0.3, 400), -1),
        _events("api", "log:lines", "count", np.ones(200), -1),
        _events("api", "log:info ok", "count", np.ones(200), -1),
    ])
    window = pd.concat([
        _events("api", "span:GET latency p90", "duration", rng.lognormal(3, 0.3, 400)),
        _events("db", "span:SELECT latency p90", "duration", rng.lognormal(2.5, 0.3, 400)),  # 4.5 x slower
        _events("api", "log:lines", "count", np.ones(220)),
        _events("api", "log:info ok", "count", np.ones(200)),
        _events("api", "log:error boom <*>", "count", np.ones(20)),
    ])
    t = name_new_templates(score_events(window, base))
    assert t.loc[("db", "span:SELECT latency p90"), "score"] > 10
    assert t.loc[("db", "span:SELECT latency p90"), "direction"] == "up"
    assert t.loc[("api", "span:GET latency p90"), "score"] < 1
    assert t.loc[("api", "log:new error boom <*>"), "score"] > 1
    assert t.loc[("api", "log:info ok"), "score"] < 1


def test_a_change_must_show_against_both_references() -> None:
    idx = pd.MultiIndex.from_tuples([("a", "m"), ("b", "m")], names=["service", "metric"])
    cols = dict(z=[5.0, 5.0], direction=["up", "up"], points=[10.0, 10.0], baseline_value=[1.0, 1.0],
                window_value=[2.0, 2.0], new=[True, True])
    normal = pd.DataFrame({"score": [9.0, 9.0], **cols}, index=idx)
    recent = pd.DataFrame({"score": [0.5], **{k: v[:1] for k, v in cols.items()}}, index=idx[:1])
    recent["new"] = False
    both = combine_references(normal, recent)
    assert both.loc[("a", "m"), "score"] == 0.5 and not both.loc[("a", "m"), "new"]
    assert both.loc[("b", "m"), "score"] == 9.0  # tested against one reference only
