"""Block-wise ingest (#19): the same frames and issues as the former implementation, wide equal to long, at speed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rca
from rca.engine.ingest import load_metrics
from rca.evaluation.datasets import load_cases
from rca.evaluation.datasets.synthetic.scale import scale_case
import ingest_reference  # noqa: E402  (tests/engine is on sys.path, as for the other helpers)

PETSHOP_FIXTURE = Path(__file__).resolve().parents[1] / "evaluation" / "datasets" / "fixtures" / "petshop"


def _same_as_reference(data) -> tuple[pd.DataFrame, list]:
    new, new_issues = load_metrics(data)
    old, old_issues = ingest_reference.load_metrics(data)
    pd.testing.assert_frame_equal(new, old)
    assert new_issues == old_issues
    return new, new_issues


@pytest.fixture(scope="module")
def case():
    return scale_case(300, seed=2)


def _variants(wide: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Wide frames off the fast path's happy case: every branch of the general one."""
    out = {"plain": wide, "columns reversed": wide.iloc[:, ::-1]}
    holed = wide.copy()
    holed.iloc[3, 5] = np.nan
    holed.iloc[:, 7] = np.nan
    holed.iloc[9, 2] = np.inf
    holed.iloc[2, 100] = -np.inf
    holed.iloc[2, 50] = np.inf
    holed.iloc[20, 50] = np.inf
    out["nan, all-nan column, infinities"] = holed
    out["infinities, rows reversed"] = holed.iloc[::-1]
    out["repeated timestamps"] = pd.concat([wide.iloc[:50], wide.iloc[40:60]])
    out["int and text columns"] = wide.astype({wide.columns[0]: "int64", wide.columns[1]: object})
    epoch = wide.copy()
    epoch.index = epoch.index.as_unit("s").asi8
    out["epoch seconds index"] = epoch
    spaced = wide.copy()
    spaced.columns = pd.MultiIndex.from_tuples([(f" {s}", m) for s, m in wide.columns])
    out["names with spaces"] = spaced
    return out


@pytest.mark.parametrize(
    "variant",
    ["plain", "columns reversed", "nan, all-nan column, infinities", "infinities, rows reversed",
     "repeated timestamps", "int and text columns", "epoch seconds index", "names with spaces"],
)
def test_wide_frames_ingest_as_before(case, variant):
    _same_as_reference(_variants(case.wide)[variant])


@pytest.mark.parametrize("order", ["as generated", "shuffled", "series reversed"])
def test_long_frames_ingest_as_before(case, order):
    long = case.long
    if order == "shuffled":
        long = long.sample(frac=1.0, random_state=3)
    elif order == "series reversed":
        long = long.iloc[::-1].iloc[np.argsort(np.arange(len(long)) // 180 * -1, kind="stable")]
    _same_as_reference(long)


def test_petshop_ingests_as_before_wide_and_long():
    (petshop,) = [c for c in load_cases(f"petshop:{PETSHOP_FIXTURE}") if c.baseline is not None][:1]
    for frame in (petshop.metrics, petshop.baseline):
        long, _ = _same_as_reference(frame)
        wide = frame.pivot_table(index="timestamp", columns=["service", "metric"], values="value", observed=True)
        _same_as_reference(wide)


def test_a_pair_in_two_columns_is_aggregated_and_reported(case):
    # The former ingest failed on this with pandas' "duplicate values are not supported in stack".
    wide = case.wide.iloc[:, :6].copy()
    wide.columns = pd.MultiIndex.from_tuples([("svc-0", "latency")] * 2 + list(wide.columns[2:]))
    long, issues = load_metrics(wide)
    assert [(i.kind, i.service, i.metric) for i in issues] == [("duplicate_timestamps", "svc-0", "latency")]
    assert (long["service"].astype(str) + "/" + long["metric"].astype(str)).value_counts()["svc-0/latency"] == 360


def test_wide_and_long_give_the_same_frame_and_the_same_answer(case):
    from_wide, _ = load_metrics(case.wide)
    from_long, _ = load_metrics(case.long)
    pd.testing.assert_frame_equal(from_wide, from_long)
    a = rca.analyze(case.graph, case.wide, case.incident)
    b = rca.analyze(case.graph, case.long, case.incident)
    assert a.top.service == b.top.service == case.root
    assert a.to_dict()["causes"] == b.to_dict()["causes"]


@pytest.mark.parametrize("shape", ["wide", "long"])
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_files_of_either_shape_give_the_same_frame(case, tmp_path, shape, suffix):
    frame = case.wide if shape == "wide" else case.long
    path = tmp_path / f"m.{suffix}"
    if suffix == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=shape == "wide")
    from_file, _ = load_metrics(path)
    expected, _ = load_metrics(case.long)
    pd.testing.assert_frame_equal(from_file, expected, check_exact=suffix == "parquet", rtol=1e-12)
    if suffix == "csv" and shape == "wide":
        # pandas' own wide CSV starts with the level names "service" / "metric": the former reader took it for long.
        with pytest.raises(rca.InvalidMetricsError, match="missing column"):
            ingest_reference.load_metrics(path)
    else:
        _same_as_reference(path)


def test_a_large_wide_frame_costs_no_more_than_its_long_form():
    big = scale_case(3000, seed=1)  # 9,000 series: the former wide ingest took seconds here
    cpu = {}
    for shape, frame in (("wide", big.wide), ("long", big.long)):
        start = time.process_time()
        load_metrics(frame)
        cpu[shape] = time.process_time() - start
    assert cpu["wide"] <= 1.5 * cpu["long"] + 0.05, cpu
