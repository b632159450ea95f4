"""The vectorized ingest and alignment against a plain pandas reference.

:func:`rca.engine.align.align_metrics` maps rows to flat grid cells, interpolates all
columns with one ``np.interp`` call and counts gaps arithmetically;
:func:`rca.engine.ingest.load_metrics` sorts and finds duplicates on factorized
codes.  The references below are the direct, per-column pandas formulation of
the same rules; both must give identical frames and issues.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rca.engine.align import align_metrics, infer_step
from rca.engine.config import AlignConfig
from rca.engine.ingest import load_metrics
from rca.engine.types import DataIssue

T0 = pd.Timestamp("2024-05-01T12:00:00Z")
_AGGREGATIONS = ["mean", "median", "max", "min", "sum", "last"]


def _reference_align(long: pd.DataFrame, config: AlignConfig, step: pd.Timedelta) -> tuple[pd.DataFrame, list]:
    """Group, unstack, ``DataFrame.interpolate`` and per-column gap counts."""
    bucket = (long["timestamp"] + step / 2).dt.floor(step)  # nearest grid time
    agg = long.assign(timestamp=bucket).groupby(["timestamp", "service", "metric"])["value"].agg(config.aggregation)
    wide = agg.unstack(["service", "metric"]).sort_index()
    wide = wide.reindex(columns=wide.columns.sort_values())
    grid = pd.date_range(wide.index.min(), wide.index.max(), freq=step, name="timestamp")
    wide = wide.reindex(grid)
    wide.columns.names = ["service", "metric"]
    missing = wide.isna()
    if config.fill_limit > 0 and len(wide) > 2:
        filled = wide.interpolate(method="linear", limit_area="inside")
        for col in wide.columns:
            run_id = (~missing[col]).cumsum()
            run_len = missing[col].groupby(run_id).transform("sum")
            wide[col] = wide[col].mask(missing[col] & (run_len <= config.fill_limit), filled[col])
    issues = []
    for col in wide.columns:
        present = np.flatnonzero(wide[col].notna().to_numpy())
        inside = wide[col].iloc[present[0] + 1 : present[-1]] if len(present) else wide[col].iloc[1:-1]
        n = int(inside.isna().sum())
        if n:
            msg = f"{col[0]}/{col[1]}: {n} point(s) missing beyond the fill limit ({config.fill_limit})"
            issues.append(DataIssue("gap", msg, *col))
    for col in wide.columns:
        values = wide[col].dropna()
        if values.empty:
            issues.append(DataIssue("empty", f"{col[0]}/{col[1]}: no values", *col))
        elif values.min() == values.max():
            msg = f"{col[0]}/{col[1]}: constant ({values.min():g}); it cannot show an anomaly"
            issues.append(DataIssue("constant", msg, *col))
    return wide.dropna(axis=1, how="all"), issues


@st.composite
def raw_frames(draw):
    """Long frames with gaps, several points per grid cell, constant and NaN series, any row order."""
    rows = []
    for k in range(draw(st.integers(1, 3))):
        for metric in draw(st.sampled_from([["cpu"], ["cpu", "latency"]])):
            n = draw(st.integers(1, 25))
            seconds = draw(st.lists(st.integers(0, 40 * 60), min_size=n, max_size=n))
            kind = draw(st.sampled_from(["random", "constant", "with_nan"]))
            for i, s in enumerate(seconds):
                value = 2.0 if kind == "constant" else float(draw(st.integers(-50, 50))) / 4
                if kind == "with_nan" and i % 3 == 0:
                    value = np.nan
                rows.append((T0 + pd.Timedelta(seconds=s), f"svc{k}", metric, value))
    order = draw(st.permutations(range(len(rows))))
    df = pd.DataFrame([rows[i] for i in order], columns=["timestamp", "service", "metric", "value"])
    return df.assign(timestamp=df["timestamp"].dt.as_unit("ns"))  # as load_metrics leaves it


_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


_LONE_NAN_SUM = pd.DataFrame(
    {
        "timestamp": pd.date_range("2024-05-01T12:00:00Z", periods=4, freq="1min"),
        "service": "svc0",
        "metric": "cpu",
        "value": [np.nan, 0.0, 0.0, np.nan],
    }
)


@_settings
@given(raw_frames(), st.sampled_from(_AGGREGATIONS), st.sampled_from([0, 1, 3]), st.sampled_from(["1min", "3min"]))
@example(_LONE_NAN_SUM, "sum", 0, "1min")  # one missing value alone in its cell sums to 0, as in pandas
def test_align_matches_the_pandas_reference(df, aggregation, fill_limit, step):
    config = AlignConfig(step=step, aggregation=aggregation, fill_limit=fill_limit)
    aligned = align_metrics(df, config)
    frame, issues = _reference_align(df, config, pd.Timedelta(step))
    pd.testing.assert_frame_equal(aligned.frame, frame, check_exact=True)
    assert list(aligned.issues) == issues


@_settings
@given(raw_frames())
def test_inferred_step_does_not_depend_on_row_order(df):
    df = df.dropna(subset=["value"])
    assume(not df.empty)
    in_order = load_metrics(df)[0]
    assume(in_order.groupby(["service", "metric"])["timestamp"].nunique().max() >= 2)
    assert infer_step(df) == infer_step(in_order)
    assert align_metrics(df).step == align_metrics(in_order).step == infer_step(in_order)


@_settings
@given(raw_frames())
def test_load_metrics_sorts_and_reports_duplicates_like_pandas(df):
    assume(df["value"].notna().any())
    df = df.assign(timestamp=df["timestamp"].dt.floor("5min"))  # many duplicates
    long, issues = load_metrics(df)
    kept = df.dropna(subset=["value"])
    dup = kept.duplicated(subset=["timestamp", "service", "metric"], keep=False)
    expected_issues = [
        (svc, met) for svc, met in kept.loc[dup, ["service", "metric"]].drop_duplicates().itertuples(index=False)
    ]
    assert [(i.service, i.metric) for i in issues if i.kind == "duplicate_timestamps"] == expected_issues
    expected = kept.sort_values(["service", "metric", "timestamp"], kind="stable").reset_index(drop=True)
    for col in ("service", "metric"):  # names come back as categoricals with sorted categories
        assert isinstance(long[col].dtype, pd.CategoricalDtype)
        assert long[col].cat.categories.is_monotonic_increasing
    plain = long.astype({"service": expected["service"].dtype, "metric": expected["metric"].dtype})
    pd.testing.assert_frame_equal(plain, expected, check_exact=True)


@pytest.mark.parametrize("aggregation", _AGGREGATIONS)
def test_a_cell_of_one_negative_zero_aggregates_like_pandas(aggregation):
    df = pd.DataFrame(
        {"timestamp": [T0, T0 + pd.Timedelta("1min")], "service": "a", "metric": "m", "value": [-0.0, 1.0]}
    )
    aligned = align_metrics(df, AlignConfig(step="1min", aggregation=aggregation))
    expected = pd.Series([-0.0]).groupby([0]).agg(aggregation).iloc[0]
    assert np.signbit(aligned.frame.iloc[0, 0]) == np.signbit(expected)
