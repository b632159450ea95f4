"""Ingest (:func:`rca.engine.ingest.load_metrics`) and alignment (:func:`rca.engine.align.align_metrics`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rca.engine.align import align_metrics, infer_step
from rca.engine.config import AlignConfig
from rca.engine.errors import InvalidMetricsError
from rca.engine.ingest import load_metrics

T0 = pd.Timestamp("2024-05-01T12:00:00Z")
EXPECTED_TS = pd.DatetimeIndex([T0, T0 + pd.Timedelta("1min"), T0 + pd.Timedelta("2min")])


def _long(ts, values=(1.0, 2.0, 3.0), service="api", metric="latency") -> pd.DataFrame:
    return pd.DataFrame({"timestamp": list(ts), "service": service, "metric": metric, "value": list(values)})


def _kinds(issues) -> list[str]:
    return [i.kind for i in issues]


# -- shapes -------------------------------------------------------------------
def test_long_frame_any_column_order_and_case():
    df = _long(EXPECTED_TS)[["value", "metric", "service", "timestamp"]]
    df.columns = ["Value", "METRIC", " service ", "Timestamp"]
    long, issues = load_metrics(df)
    assert list(long.columns) == ["timestamp", "service", "metric", "value"]
    assert list(long["timestamp"]) == list(EXPECTED_TS)
    assert long["value"].dtype == np.float64
    assert issues == []


def test_wide_multiindex_frame_is_the_same_as_long():
    cols = pd.MultiIndex.from_tuples([("api", "latency"), ("db", "cpu")])
    wide = pd.DataFrame([[1.0, 0.1], [2.0, 0.2], [3.0, 0.3]], index=EXPECTED_TS, columns=cols)
    long, _ = load_metrics(wide)
    expected, _ = load_metrics(pd.concat([_long(EXPECTED_TS), _long(EXPECTED_TS, (0.1, 0.2, 0.3), "db", "cpu")]))
    pd.testing.assert_frame_equal(long, expected)


def test_wide_frame_without_multiindex_is_rejected():
    wide = pd.DataFrame({"latency": [1.0, 2.0]}, index=EXPECTED_TS[:2])
    with pytest.raises(InvalidMetricsError, match="missing column") as exc:
        load_metrics(wide)
    assert exc.value.field.startswith("metrics.")


def test_csv_long_wide_and_parquet_files(tmp_path):
    df = _long(EXPECTED_TS)
    expected, _ = load_metrics(df)
    csv = tmp_path / "m.csv"
    df.assign(timestamp=df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(csv, index=False)
    pq = tmp_path / "m.parquet"
    df.to_parquet(pq)
    wide_csv = tmp_path / "wide.csv"
    wide = pd.DataFrame(
        {("api", "latency"): [1.0, 2.0, 3.0]}, index=pd.Index(EXPECTED_TS.strftime("%Y-%m-%dT%H:%M:%SZ"), name="ts")
    )
    wide.to_csv(wide_csv)
    for path in (csv, pq, wide_csv, str(csv)):
        long, _ = load_metrics(path)
        pd.testing.assert_frame_equal(long, expected)


def test_file_errors(tmp_path):
    with pytest.raises(InvalidMetricsError, match="file not found") as exc:
        load_metrics(tmp_path / "nope.csv")
    assert exc.value.field == "metrics"
    other = tmp_path / "m.xlsx"
    other.write_text("x")
    with pytest.raises(InvalidMetricsError, match="unsupported file type"):
        load_metrics(other)
    with pytest.raises(InvalidMetricsError, match="DataFrame or a path"):
        load_metrics([1, 2, 3])  # type: ignore[arg-type]


# -- timestamps ------------------------------------------------------------------
EPOCH_S = ((EXPECTED_TS - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")).to_numpy()


@pytest.mark.parametrize(
    "ts",
    [
        EPOCH_S,
        EPOCH_S * 1000,
        EPOCH_S * 10**9,
        EPOCH_S.astype(float),
        ["2024-05-01T12:00:00Z", "2024-05-01T12:01:00Z", "2024-05-01T12:02:00Z"],
        ["2024-05-01T14:00:00+02:00", "2024-05-01T14:01:00+02:00", "2024-05-01T14:02:00+02:00"],
        EXPECTED_TS.tz_convert("America/New_York"),
        EXPECTED_TS.tz_localize(None),  # naive = UTC
    ],
    ids=["epoch-s", "epoch-ms", "epoch-ns", "epoch-s-float", "iso-z", "iso-offset", "tz-aware", "naive"],
)
def test_every_timestamp_kind_gives_the_same_utc_times(ts):
    long, _ = load_metrics(_long(ts))
    got = pd.DatetimeIndex(long["timestamp"])
    assert str(got.tz) == "UTC"
    assert list(got) == list(EXPECTED_TS)


# -- errors -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("frame", "match", "field"),
    [
        (pd.DataFrame(columns=["timestamp", "service", "metric", "value"]), "empty", "metrics"),
        (pd.DataFrame({"timestamp": [0], "service": ["a"], "value": [1.0]}), r"missing column\(s\) \['metric'\]", "metrics.metric"),
        (pd.DataFrame({"time": [0], "service": ["a"], "metric": ["m"], "value": [1.0]}), "missing column", "metrics.timestamp"),
        (_long(["2024-05-01", "yesterday-ish", "2024-05-01T00:02"]), "could not be parsed.*yesterday-ish", "metrics.timestamp"),
        (_long(EXPECTED_TS, (1.0, "fast", 3.0)), "not numbers.*'fast'", "metrics.value"),
        (_long(EXPECTED_TS, (np.nan, np.nan, np.nan)), "no finite values", "metrics.value"),
        (_long(EXPECTED_TS, (np.inf, -np.inf, np.nan)), "no finite values", "metrics.value"),
        (_long(EXPECTED_TS).assign(service=["a", None, "a"]), "have no service", "metrics.service"),
    ],
    ids=["empty", "missing-metric", "missing-timestamp", "bad-timestamp", "non-numeric", "all-nan", "all-inf", "no-service"],
)
def test_invalid_metrics(frame, match, field):
    with pytest.raises(InvalidMetricsError, match=match) as exc:
        load_metrics(frame)
    assert exc.value.field == field


def test_field_prefix_names_the_baseline():
    with pytest.raises(InvalidMetricsError, match="^baseline") as exc:
        load_metrics(_long(EXPECTED_TS, (1.0, "x", 2.0)), field="baseline")
    assert exc.value.field == "baseline.value"


# -- repairs reported as DataIssues ------------------------------------------------
def test_infinite_values_become_missing_and_are_reported():
    long, issues = load_metrics(_long(EXPECTED_TS, (1.0, np.inf, 3.0)))
    assert len(long) == 2
    assert _kinds(issues) == ["non_finite"]
    assert (issues[0].service, issues[0].metric) == ("api", "latency")


def test_duplicate_timestamps_reported_and_aggregated():
    ts = [EXPECTED_TS[0], EXPECTED_TS[0], EXPECTED_TS[1], EXPECTED_TS[2]]
    long, issues = load_metrics(_long(ts, (1.0, 3.0, 5.0, 6.0)))
    assert _kinds(issues) == ["duplicate_timestamps"]
    aligned = align_metrics(long)
    assert aligned.frame[("api", "latency")].tolist() == [2.0, 5.0, 6.0]


def test_unknown_services_reported_and_dropped():
    long, _ = load_metrics(pd.concat([_long(EXPECTED_TS), _long(EXPECTED_TS, service="ghost")]))
    aligned = align_metrics(long, known_services={"api"})
    assert aligned.services == ["api"]
    unknown = [i for i in aligned.issues if i.kind == "unknown_service"]
    assert [i.service for i in unknown] == ["ghost"]
    with pytest.raises(InvalidMetricsError, match="none of the metric services") as exc:
        align_metrics(long, known_services={"elsewhere"})
    assert exc.value.field == "metrics.service"


def test_constant_series_reported_but_kept():
    long, _ = load_metrics(pd.concat([_long(EXPECTED_TS), _long(EXPECTED_TS, (5.0, 5.0, 5.0), "db", "cpu")]))
    aligned = align_metrics(long)
    constant = [i for i in aligned.issues if i.kind == "constant"]
    assert [(i.service, i.metric) for i in constant] == [("db", "cpu")]
    assert ("db", "cpu") in aligned.frame.columns


def _gappy(gap: int, fill_limit: int):
    ts = pd.date_range(T0, periods=12, freq="1min")
    values = np.arange(12.0)
    keep = np.ones(12, dtype=bool)
    keep[4 : 4 + gap] = False
    long, _ = load_metrics(_long(ts[keep], values[keep]))
    return values, align_metrics(long, AlignConfig(step="1min", fill_limit=fill_limit))


@pytest.mark.parametrize(("gap", "fill_limit"), [(1, 3), (2, 3), (3, 3), (5, 5)])
def test_gaps_up_to_fill_limit_are_interpolated(gap, fill_limit):
    values, aligned = _gappy(gap, fill_limit)
    col = aligned.frame[("api", "latency")]
    assert len(col) == 12
    np.testing.assert_allclose(col.to_numpy(), values)  # linear data, linear fill
    assert [i for i in aligned.issues if i.kind == "gap"] == []


def test_no_filling_with_fill_limit_zero():
    _, aligned = _gappy(1, 0)
    assert aligned.frame[("api", "latency")].isna().sum() == 1


def test_gaps_are_reported_with_fill_limit_zero():
    _, aligned = _gappy(2, 0)
    gaps = [i for i in aligned.issues if i.kind == "gap"]
    assert len(gaps) == 1 and "2 point(s)" in gaps[0].message


def test_gap_longer_than_fill_limit_is_reported():
    _, aligned = _gappy(4, 3)
    gaps = [i for i in aligned.issues if i.kind == "gap"]
    assert len(gaps) == 1 and gaps[0].service == "api" and "fill limit (3)" in gaps[0].message


def test_gap_longer_than_fill_limit_stays_missing_entirely():
    _, aligned = _gappy(4, 3)
    assert aligned.frame[("api", "latency")].isna().sum() == 4


@pytest.mark.parametrize("step", ["10s", "1min", "5min", "1h"])
def test_step_inference(step):
    ts = pd.date_range(T0, periods=20, freq=step)
    long, _ = load_metrics(_long(ts, np.arange(20.0)))
    assert infer_step(long) == pd.Timedelta(step)
    assert align_metrics(long).step == pd.Timedelta(step)


def test_step_inference_uses_the_median_spacing_and_needs_two_points():
    ts = list(pd.date_range(T0, periods=10, freq="1min")) + [T0 + pd.Timedelta("1h")]
    long, _ = load_metrics(_long(ts, np.arange(11.0)))
    assert infer_step(long) == pd.Timedelta("1min")
    single, _ = load_metrics(_long([T0], [1.0]))
    with pytest.raises(InvalidMetricsError, match="cannot infer the time step"):
        infer_step(single)


def test_aligned_grid_is_regular_and_aggregates_within_a_cell():
    ts = [T0, T0 + pd.Timedelta("20s"), T0 + pd.Timedelta("1min"), T0 + pd.Timedelta("3min")]
    long, _ = load_metrics(_long(ts, (1.0, 3.0, 4.0, 8.0)))
    aligned = align_metrics(long, AlignConfig(step="1min", aggregation="max", fill_limit=1))
    frame = aligned.frame
    assert (np.diff(frame.index.asi8) == 60 * 10**9).all()
    assert frame[("api", "latency")].tolist() == [3.0, 4.0, 6.0, 8.0]


# -- properties -----------------------------------------------------------------------------
_values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=4, max_size=30)


@st.composite
def long_frames(draw):
    n_series = draw(st.integers(1, 3))
    parts = []
    for k in range(n_series):
        vals = draw(_values)
        ts = pd.date_range(T0, periods=len(vals), freq="1min")
        keep = draw(st.lists(st.booleans(), min_size=len(vals), max_size=len(vals)))
        keep[0] = keep[-1] = True
        parts.append(_long(ts[np.array(keep)], np.array(vals)[np.array(keep)], f"svc{k}", "latency"))
    return pd.concat(parts, ignore_index=True)


def _aligned_to_long(frame: pd.DataFrame) -> pd.DataFrame:
    stacked = frame.stack(level=[0, 1], future_stack=True).rename("value").reset_index().dropna(subset=["value"])
    return stacked[["timestamp", "service", "metric", "value"]]


_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(long_frames(), st.sampled_from([0, 1, 3, 10_000]))
def test_aligning_an_aligned_frame_is_idempotent(df, fill_limit):
    long, _ = load_metrics(df)
    cfg = AlignConfig(step="1min", fill_limit=fill_limit)
    once = align_metrics(long, cfg)
    again_long, _ = load_metrics(_aligned_to_long(once.frame))
    twice = align_metrics(again_long, cfg)
    pd.testing.assert_frame_equal(twice.frame, once.frame)
    assert twice.step == once.step


@_settings
@given(long_frames(), st.randoms(use_true_random=False))
def test_row_order_does_not_change_the_aligned_frame(df, rnd):
    order = list(range(len(df)))
    rnd.shuffle(order)
    a = align_metrics(load_metrics(df)[0])
    b = align_metrics(load_metrics(df.iloc[order])[0])
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.step == b.step
    assert sorted(map(repr, a.issues)) == sorted(map(repr, b.issues))


def test_aligning_is_idempotent_with_a_gap_longer_than_the_fill_limit():
    long, _ = load_metrics(_long([T0, T0 + pd.Timedelta("5min")], (0.0, 5.0)))
    cfg = AlignConfig(step="1min", fill_limit=3)
    once = align_metrics(long, cfg)
    twice = align_metrics(load_metrics(_aligned_to_long(once.frame))[0], cfg)
    pd.testing.assert_frame_equal(twice.frame, once.frame)


def test_csv_with_a_misnamed_column_names_it(tmp_path):
    csv = tmp_path / "m.csv"
    _long(["2024-05-01T12:00:00Z", "2024-05-01T12:01:00Z", "2024-05-01T12:02:00Z"]).rename(
        columns={"timestamp": "time"}
    ).to_csv(csv, index=False)
    with pytest.raises(InvalidMetricsError, match="missing column") as exc:
        load_metrics(csv)
    assert exc.value.field == "metrics.timestamp"
