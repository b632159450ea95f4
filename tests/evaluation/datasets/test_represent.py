"""Re-presenting a case changes how the data is handed over, never the incident or its truth."""

from __future__ import annotations

import pandas as pd
import pytest

import rca
from rca.engine.errors import InvalidInputError
from rca.evaluation.bench.methods import get_method
from rca.evaluation.datasets.represent import (
    DEFAULT_ROBUSTNESS,
    represent,
    represent_all,
)
from rca.evaluation.datasets.synthetic import generate_case


@pytest.fixture(scope="module")
def case():
    return generate_case("layered", 20, seed=3)


def _stamps(frame: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(frame["timestamp"]).unique()).sort_values()


def test_every_default_presentation_keeps_the_truth_and_names_the_dataset(case):
    out = represent_all([case])
    assert len(out) == len(DEFAULT_ROBUSTNESS)
    for variation, c in zip(DEFAULT_ROBUSTNESS, out, strict=True):
        assert c.dataset == f"{case.dataset}[{variation}]"
        assert c.root_causes == case.root_causes and c.case_id == case.case_id


def test_wide_and_long_give_the_same_answer(case):
    (wide,) = represent([case], "wide")
    assert isinstance(wide.metrics.columns, pd.MultiIndex)
    a = rca.analyze(case.graph, case.metrics, case.incident)
    b = rca.analyze(wide.graph, wide.metrics, wide.incident)
    assert [c.service for c in a.ranking] == [c.service for c in b.ranking]
    assert [round(c.confidence, 12) for c in a.ranking] == [round(c.confidence, 12) for c in b.ranking]


def test_window_and_baseline_cut_points(case):
    (short,) = represent([case], "window=5")
    after = _stamps(short.metrics)[_stamps(short.metrics) >= case.incident.start]
    assert len(after) == 5
    (base,) = represent([case], "baseline=10")
    before = _stamps(base.metrics)[_stamps(base.metrics) < case.incident.start]
    assert len(before) == 10


def test_borrowed_baseline_comes_from_another_month(case):
    (b,) = represent([case], "borrowed")
    assert b.baseline is not None
    assert pd.to_datetime(b.baseline["timestamp"]).max() < case.incident.start - pd.Timedelta(days=29)
    assert pd.to_datetime(b.metrics["timestamp"]).min() >= case.incident.start


def test_renamed_metrics_match_no_direction_rule(case):
    (r,) = represent([case], "renamed")
    names = set(r.metrics["metric"])
    assert all(n.startswith("m") and n[1:].isdigit() for n in names)
    assert r.incident.metric in names


def test_missing_and_jitter_are_seeded(case):
    a, b = represent([case, case], "missing=0.05")
    assert len(a.metrics) == len(b.metrics) < len(case.metrics)
    assert 0.9 * len(case.metrics) < len(a.metrics)
    (j,) = represent([case], "jitter")
    moved, grid = _stamps(j.metrics), _stamps(case.metrics)
    assert len(moved) == len(grid) and (moved != grid).mean() > 0.9  # one offset per moment, nearly all off the grid
    step = (grid[1] - grid[0]).total_seconds()
    assert (abs((moved - grid).total_seconds()) <= step / 3).all()


def test_reference_methods_take_wide_frames(case):
    (wide,) = represent([case], "wide")
    for name in ("robust-z", "hypothesis-testing"):
        assert list(get_method(name)(wide))[:3] == list(get_method(name)(case))[:3]


@pytest.mark.parametrize("bad", ["windw=5", "window", "window=0", "missing=1.5"])
def test_bad_presentations_are_refused_with_the_field(case, bad):
    with pytest.raises(InvalidInputError) as err:
        represent([case], bad)
    assert err.value.field == "robustness"
