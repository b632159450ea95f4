"""Anomaly scoring of :mod:`rca.engine.detect`: directions, scores, onsets, baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rca.engine.config import DetectConfig
from rca.engine.detect import incident_windows, score_anomalies
from rca.engine.errors import InvalidIncidentError
from rca.engine.metric_semantics import metric_direction, metric_weight
from rca.engine.robust_stats import rolling_nanmedian
from rca.engine.types import Incident

T0 = pd.Timestamp("2024-05-01T12:00:00Z")
STEP = pd.Timedelta("1min")


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("latency", "up"),
        ("latency_p99", "up"),
        ("p95", "up"),
        ("request_duration_seconds", "up"),
        ("error_rate", "up"),
        ("http_5xx", "up"),
        ("cpu", "up"),
        ("memory", "up"),
        ("availability", "down"),
        ("Availability", "down"),
        ("success_rate", "down"),
        ("cache_hit_ratio", "down"),
        ("requests", "both"),
        ("throughput", "both"),
        ("err", "up"),
        ("http_errs", "up"),
        ("rt", "up"),
        ("mrt_ms", "up"),
        ("start_time", "both"),  # "rt" only as a word of its own
        ("alert_count", "both"),
        ("stderr_lines", "both"),
    ],
)
def test_metric_directions(metric, direction):
    assert metric_direction(metric) == direction


def test_direction_overrides_win():
    assert metric_direction("queue_depth") == "up"
    assert metric_direction("queue_depth", {"queue": "down"}) == "down"
    assert metric_direction("requests", {r"^req": "down"}) == "down"
    assert metric_direction("latency", {"nomatch": "down"}) == "up"


def test_metric_weights():
    assert metric_weight("up", "latency") == 1.0
    assert metric_weight("down", "availability") == 1.0
    assert metric_weight("both", "requests") < 1.0
    assert metric_weight("up", "client_latency") < metric_weight("up", "latency")


# -- scoring -------------------------------------------------------------------------------
def _frame(columns: dict[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    t = len(next(iter(columns.values())))
    frame = pd.DataFrame(columns, index=pd.date_range(T0, periods=t, freq=STEP))
    frame.columns = pd.MultiIndex.from_tuples(list(columns), names=["service", "metric"])
    return frame


def _score(frame, start, *, config=None, baseline=None, end=None, metric="latency"):
    config = config or DetectConfig()
    inc = Incident("api", metric, start, end)
    windows = incident_windows(frame, STEP, inc, config, baseline=baseline)
    return windows, score_anomalies(frame, windows, config, baseline=baseline)


FAULT = 60  # incident at step 60 of 90


@pytest.fixture
def shifted_and_flat(rng):
    base = 100 + rng.normal(0, 2, size=90)
    shifted = base.copy()
    shifted[FAULT:] += 40
    flat = 50 + rng.normal(0, 2, size=90)
    return _frame({("api", "latency"): shifted, ("db", "latency"): flat})


def test_shifted_series_scores_above_one_stationary_below(shifted_and_flat):
    start = shifted_and_flat.index[FAULT]
    _, scores = _score(shifted_and_flat, start)
    shifted = scores.of("api", "latency")
    flat = scores.of("db", "latency")
    assert shifted.score > 1.0
    assert flat.score < 1.0
    assert shifted.onset == start
    assert flat.onset is None
    assert shifted.direction == "up"
    assert shifted.baseline_points == FAULT
    assert shifted.baseline_median == pytest.approx(100, abs=2)
    assert scores.table.loc[("api", "latency"), "score"] == shifted.score
    assert scores.points.shape == (30, 2)
    assert scores.of("nope", "latency") is None


def test_onset_is_the_time_of_the_shift_not_the_incident_start(rng):
    values = 100 + rng.normal(0, 2, size=90)
    values[70:] += 40  # the series shifts 10 steps into the window
    frame = _frame({("api", "latency"): values})
    _, scores = _score(frame, frame.index[FAULT])
    assert scores.of("api", "latency").onset == frame.index[70]


def test_a_drop_in_latency_is_not_anomalous_but_a_drop_in_availability_is(rng):
    lat = 100 + rng.normal(0, 2, size=90)
    lat[FAULT:] -= 40
    req = 100 + rng.normal(0, 2, size=90)
    req[FAULT:] -= 40
    frame = _frame({("api", "latency"): lat, ("api", "requests"): req})
    _, scores = _score(frame, frame.index[FAULT])
    assert scores.of("api", "latency").score < 1.0  # good news is not an anomaly
    assert scores.of("api", "requests").score > 1.0  # traffic: either way


def test_bounded_availability_metric(rng):
    # 99.9 % available with tiny noise, then a dip to 99.0 %: small in absolute
    # terms, large against the distance from the bound.
    avail = np.clip(99.9 + rng.normal(0, 0.02, size=90), 0, 100)
    avail[FAULT:] = 99.0 + rng.normal(0, 0.02, size=30)
    up = avail.copy()
    up[FAULT:] = 99.95
    steady = np.clip(99.9 + rng.normal(0, 0.02, size=90), 0, 100)
    frame = _frame({("api", "availability"): avail, ("db", "availability"): up, ("web", "availability"): steady})
    _, scores = _score(frame, frame.index[FAULT], metric="availability")
    dip = scores.of("api", "availability")
    assert dip.direction == "down"
    assert dip.score > 1.0
    assert dip.onset == frame.index[FAULT]
    assert scores.of("db", "availability").score < 1.0  # better availability is fine
    assert scores.of("web", "availability").score < 1.0


def test_bounded_fraction_metric_near_zero(rng):
    # error rate as a fraction: 0.1 % errors, then a burst to 5 %
    err = np.abs(0.001 + rng.normal(0, 0.0002, size=90))
    err[FAULT:] = 0.05
    frame = _frame({("api", "error_rate"): err})
    _, scores = _score(frame, frame.index[FAULT], metric="error_rate")
    assert scores.of("api", "error_rate").score > 1.0


def test_stale_separate_baseline_does_not_blame_an_old_level_shift(rng):
    # Normal data from yesterday sits at 100; the level moved to 150 hours ago
    # and stays there through the incident: not this incident's anomaly.
    baseline = _frame({("api", "latency"): 100 + rng.normal(0, 2, size=120), ("db", "latency"): 50 + rng.normal(0, 1, size=120)})
    baseline.index = baseline.index - pd.Timedelta("1D")
    db = 50 + rng.normal(0, 1, size=90)
    db[FAULT:] += 30  # a real change at the incident
    frame = _frame({("api", "latency"): 150 + rng.normal(0, 2, size=90), ("db", "latency"): db})
    windows, scores = _score(frame, frame.index[FAULT], baseline=baseline)
    assert windows.separate_baseline
    assert windows.baseline_start == baseline.index.min()
    assert scores.of("api", "latency").score < 1.0
    assert scores.of("db", "latency").score > 1.0
    # without the pre-incident points the old shift would look like an anomaly
    _, naive = _score(frame.iloc[FAULT:], frame.index[FAULT], baseline=baseline)
    assert naive.of("api", "latency").score > 1.0


def test_pre_incident_baseline_length(rng):
    values = 100 + rng.normal(0, 2, size=90)
    frame = _frame({("api", "latency"): values})
    windows, scores = _score(frame, frame.index[FAULT], config=DetectConfig(baseline="10min"))
    assert windows.baseline_start == frame.index[FAULT - 10]
    assert windows.baseline_end == frame.index[FAULT - 1]
    assert scores.of("api", "latency").baseline_points == 10


def test_window_config_and_explicit_end(rng):
    frame = _frame({("api", "latency"): 100 + rng.normal(0, 2, size=90)})
    start = frame.index[FAULT]
    windows, _ = _score(frame, start, config=DetectConfig(window="5min"))
    assert windows.end == start + pd.Timedelta("5min")
    windows, scores = _score(frame, start, end=frame.index[FAULT + 2])
    assert windows.end == frame.index[FAULT + 2]
    assert len(scores.points) == 3
    windows, _ = _score(frame, start)
    assert windows.end == frame.index[-1]


def test_short_baseline_is_reported_and_not_scored(rng):
    values = 100 + rng.normal(0, 2, size=90)
    values[FAULT:] += 40
    frame = _frame({("api", "latency"): values})
    _, scores = _score(frame, frame.index[FAULT], config=DetectConfig(min_baseline_points=100))
    assert scores.of("api", "latency").score == 0.0
    assert [i.kind for i in scores.issues] == ["short_baseline"]


def test_no_baseline_at_all(rng):
    frame = _frame({("api", "latency"): 100 + rng.normal(0, 2, size=30)})
    windows, scores = _score(frame, frame.index[0])
    assert windows.baseline_start is None
    assert scores.of("api", "latency").score == 0.0
    assert [i.kind for i in scores.issues] == ["short_baseline"]


@pytest.mark.parametrize("offset", [pd.Timedelta("2h"), pd.Timedelta("-3h")])
def test_incident_window_without_data(rng, offset):
    frame = _frame({("api", "latency"): 100 + rng.normal(0, 2, size=90)})
    start = frame.index[0] + offset
    end = start + pd.Timedelta("10min")
    with pytest.raises(InvalidIncidentError, match="no metric data in the incident window") as exc:
        _score(frame, start, end=end)
    assert exc.value.field == "incident.start"


def test_sustained_modest_shift_is_anomalous_though_no_point_is_extreme(rng):
    # 2.5 sd for the whole window: few single points leave the baseline's
    # range, but the window's level plainly has.
    values = 100 + rng.normal(0, 2, size=200)
    values[160:] += 5
    frame = _frame({("api", "latency"): values, ("api", "same"): 100 + rng.normal(0, 2, size=200)})
    _, scores = _score(frame, frame.index[160])
    assert scores.of("api", "latency").score > 1.5
    assert scores.of("api", "same").score < 1.0


def test_a_window_one_level_span_long_is_one_median_and_needs_no_margin(rng):
    # 490 normal points, then 10 at a level 1.4 sd up: the window is a single
    # 10-point median, not the largest of many, so it is judged against the
    # baseline's own 10-point medians as they are.  Half that shift is noise.
    values = 100 + rng.normal(0, 2, size=500)
    values[490:] = 100 + 1.4 * 2
    half = values.copy()
    half[490:] = 100 + 0.7 * 2
    frame = _frame({("api", "latency"): values, ("api", "half"): half})
    _, scores = _score(frame, frame.index[490])
    assert scores.of("api", "latency").score > 1.2
    assert scores.of("api", "half").score < 0.8


def test_unknown_metrics_count_fully_traffic_less():
    assert metric_weight("both", "signal") == 1.0
    assert metric_weight("both", "network_receive_bytes") < 1.0
    assert metric_weight("both", "PodWorkload(Ops)") < 1.0


def test_one_point_spike_is_not_sustained(rng):
    values = 100 + rng.normal(0, 2, size=90)
    values[FAULT + 5] += 12  # six baseline sd: a clear outlier, but one point
    frame = _frame({("api", "latency"): values})
    _, scores = _score(frame, frame.index[FAULT])
    assert scores.of("api", "latency").score < 1.0


def test_a_huge_one_point_spike_counts_a_quarter(rng):
    values = 100 + rng.normal(0, 2, size=90)
    values[FAULT + 5] += 80
    frame = _frame({("api", "latency"): values})
    _, scores = _score(frame, frame.index[FAULT])
    peak = float(np.nanmax(scores.points[("api", "latency")]))
    assert scores.of("api", "latency").score == pytest.approx(peak / 4)
    held = values.copy()
    held[FAULT + 6] += 80  # the same spike held for two points counts fully
    _, scores2 = _score(_frame({("api", "latency"): held}), frame.index[FAULT])
    assert scores2.of("api", "latency").score > 3 * scores.of("api", "latency").score


@pytest.mark.parametrize(("k", "min_count"), [(1, 1), (3, 2), (4, 2), (5, 5), (8, 3), (9, 4), (12, 1), (20, 20)])
def test_rolling_nanmedian_matches_pandas(rng, k, min_count):
    a = rng.normal(size=(50, 7))
    a[rng.random(a.shape) < 0.2] = np.nan
    expected = pd.DataFrame(a).rolling(k, min_periods=min_count).median().to_numpy()[k - 1:]
    np.testing.assert_allclose(rolling_nanmedian(a, k, min_count), expected, equal_nan=True)
    assert rolling_nanmedian(a[:2], 3).shape == (0, 7)
    np.testing.assert_allclose(rolling_nanmedian(a, k, min_count, stride=3), expected[::3], equal_nan=True)


def test_rolling_nanmedian_in_column_blocks_matches_one_block(rng, monkeypatch):
    import rca.engine.robust_stats as robust_stats

    a = rng.normal(size=(40, 9))
    k = robust_stats._NETWORK_MAX_K + 4  # long runs: the sorting path, which works in blocks
    whole = rolling_nanmedian(a, k)
    monkeypatch.setattr(robust_stats, "_ROLLING_BLOCK", 80)  # a couple of columns per block
    np.testing.assert_array_equal(rolling_nanmedian(a, k), whole)


@pytest.mark.parametrize("k", range(1, 9))
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_rolling_nanmedian_network_matches_sorting(rng, monkeypatch, k, stride):
    import rca.engine.robust_stats as robust_stats

    a = rng.normal(size=(37, 6))
    a[rng.random(a.shape) < 0.3] = np.nan
    a[:, 0] = np.nan  # an empty column
    a[:5, 1] = 2.0  # ties
    network = rolling_nanmedian(a, k, (k + 1) // 2, stride=stride)
    monkeypatch.setattr(robust_stats, "_NETWORK_MAX_K", 0)
    np.testing.assert_array_equal(network, rolling_nanmedian(a, k, (k + 1) // 2, stride=stride))


@pytest.mark.parametrize("rows", [30, 400])  # the maximum below 100 values, the p99 from 100 on
def test_extremes_read_off_the_scale_sorts_equal_a_fresh_sort(rng, rows):
    from rca.engine.detect import _directional
    from rca.engine.robust_stats import (
        _extreme,
        _extreme_of_sorted,
        _location_scale_sorted,
    )

    b = np.exp(rng.normal(0, 1, size=(rows, 7))) * 10
    b[rng.random(b.shape) < 0.1] = np.nan
    b[:, 5] = np.nan  # an empty column
    b[:, 6] = 4.0  # a constant one: its scale is the floor
    sign = np.array([1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0])
    bounded = np.zeros(7, dtype=bool)
    med, scale, srt, srt_dev, n = _location_scale_sorted(b, bounded)
    expected = _extreme(_directional((b - med) / scale, sign))
    np.testing.assert_allclose(_extreme_of_sorted(srt, srt_dev, n, med, scale, sign), expected, rtol=1e-12)
    assert np.isnan(expected[5])


def test_long_empty_stretches_in_a_baseline_are_shortened_not_joined():
    from rca.engine.detect import _shorten_empty_stretches

    b = np.arange(20.0).reshape(10, 2)
    b[2:9] = np.nan  # 7 empty rows
    out = _shorten_empty_stretches(b, 3)
    assert out.shape == (6, 2)
    np.testing.assert_array_equal(out[:2], b[:2])
    assert np.isnan(out[2:5]).all()  # 3 empty rows kept: runs of up to 4 never join the pieces
    np.testing.assert_array_equal(out[5], b[9])
    short = b[[0, 1, 2, 9]]
    assert _shorten_empty_stretches(short, 3) is short  # nothing longer than 3: untouched


# -- earlier incidents in the baseline ------------------------------------------------------
def _earlier(y, direction="up", bounded=False, z=5.0):
    from rca.engine.detect import _earlier_incidents

    sign = {"up": 1.0, "down": -1.0, "both": 0.0}[direction]
    return _earlier_incidents(np.asarray(y, dtype=float), sign, bounded, z)


def test_a_run_beyond_the_fence_is_an_earlier_incident_a_lone_spike_is_not(rng):
    y = 100 + rng.normal(0, 1, size=60)
    y[20:24] += 30  # four points: an incident
    y[40] += 30  # one point: noise
    flagged = _earlier(y)
    assert np.flatnonzero(flagged).tolist() == [20, 21, 22, 23]


def test_earlier_incidents_follow_the_bad_direction(rng):
    y = 100 + rng.normal(0, 1, size=60)
    y[20:24] -= 30
    assert not _earlier(y, "up").any()  # latency falling is no incident
    avail = 99.5 + rng.normal(0, 0.1, size=60)
    avail[30:33] = 60.0
    assert np.flatnonzero(_earlier(avail, "down", bounded=True)).tolist() == [30, 31, 32]


def test_runs_covering_more_than_a_quarter_are_normal_behaviour_and_short_baselines_are_left_alone(rng):
    y = 100 + rng.normal(0, 1, size=60)
    y[::4] += 30
    y[1::4] += 30  # half the points, in pairs: that is how this series behaves
    assert not _earlier(y).any()
    short = np.r_[100 + rng.normal(0, 1, size=6), [140.0, 140.0]]
    assert not _earlier(short).any()  # 8 points cannot tell an incident from the normal range


def test_an_earlier_incident_in_the_baseline_does_not_mask_the_same_fault_now(rng):
    """The normal data holds an unlabelled incident where the symptom and its dependency both
    went bad; the same dependency fault now must still stand out, and the exclusion is reported."""
    n = 90
    api = 100 + rng.normal(0, 2, size=n)
    db = 20 + rng.normal(0, 1, size=n)
    api[20:26] += 60
    db[20:26] += 15  # the earlier incident, in the baseline
    api[FAULT:] += 60
    db[FAULT:] += 15  # the fault being analysed
    frame = _frame({("api", "latency"): api, ("db", "latency"): db})
    start = frame.index[FAULT]

    def db_score(config):
        windows = incident_windows(frame, STEP, Incident("api", "latency", start), config)
        scores = score_anomalies(frame, windows, config, symptom=("api", "latency"))
        return scores.table.loc[("db", "latency"), "score"], scores.issues

    with_rule, issues = db_score(DetectConfig())
    without, _ = db_score(DetectConfig(baseline_incident_z=None))
    assert with_rule > 3 and without < 1.5
    (issue,) = [i for i in issues if i.kind == "baseline_incident"]
    assert (issue.service, issue.metric) == ("api", "latency")
    assert "12:20–12:25" in issue.message and "6 baseline point(s)" in issue.message


def test_baseline_incident_z_is_validated():
    from rca.engine.errors import InvalidConfigError

    with pytest.raises(InvalidConfigError) as err:
        DetectConfig(baseline_incident_z=-1.0)
    assert err.value.field == "detect.baseline_incident_z"


def test_earlier_incident_spans_are_readable_at_any_step():
    from rca.engine.detect import _incident_issue

    minutes = pd.DatetimeIndex(
        [T0 + pd.Timedelta(minutes=m) for m in (20, 21, 22, 40, 41)] + [T0 + pd.Timedelta(days=1, minutes=5), T0 + pd.Timedelta(days=1, minutes=6)]
    )
    msg = _incident_issue(("api", "latency"), minutes, 5.0).message
    assert "at 2024-05-01 12:20–12:22, 2024-05-01 12:40–12:41, 2024-05-02 12:05–12:06:" in msg
    seconds = pd.DatetimeIndex([T0 + pd.Timedelta(seconds=x) for x in (10, 11, 12, 30, 31)])
    msg = _incident_issue(("api", "latency"), seconds, 5.0).message
    assert "at 2024-05-01 12:00:10–12:00:12, 12:00:30–12:00:31: those 5 baseline point(s)" in msg
