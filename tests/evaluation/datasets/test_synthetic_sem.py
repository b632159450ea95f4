"""The linear-SEM generator (PyRCA / CIRCA style): validity, determinism, propagation, spec strings."""

from __future__ import annotations

import doctest
import json
import random

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from rca.engine.errors import InvalidConfigError, InvalidInputError
from rca.evaluation.datasets import load_cases
from rca.evaluation.datasets.base import BenchCase
from rca.evaluation.datasets.synthetic import (
    FAMILIES,
    SyntheticSpec,
    _sem,
    generate_cases,
    generate_sem_case,
)


# -- helpers -------------------------------------------------------------------
def wide(case: BenchCase) -> pd.DataFrame:
    """One column per service (the cases have one metric)."""
    return case.metrics.pivot(index="timestamp", columns="service", values="value")


def call_digraph(case: BenchCase) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(case.graph.services)
    g.add_edges_from((c.caller, c.callee) for c in case.graph.calls)
    return g


def shift_z(case: BenchCase) -> pd.Series:
    """Mean shift after the fault start, in baseline standard deviations, per service."""
    w = wide(case)
    before, after = w[w.index < case.incident.start], w[w.index >= case.incident.start]
    return (after.mean() - before.mean()) / before.std()


# -- validity ------------------------------------------------------------------
@pytest.mark.parametrize("n", [10, 50, 200])
@pytest.mark.parametrize("weights", ["signed", "positive"])
def test_a_valid_case(n: int, weights: str) -> None:
    case = generate_sem_case(n, weights=weights, seed=3)
    m = case.metrics
    assert list(m.columns) == ["timestamp", "service", "metric", "value"]
    assert str(m["timestamp"].dt.tz) == "UTC"
    assert pd.api.types.is_float_dtype(m["value"]) and np.isfinite(m["value"]).all()
    metric = "signal" if weights == "signed" else "latency"
    assert set(m["metric"]) == {metric} and case.incident.metric == metric
    assert len(case.graph) == n and set(m["service"]) == set(case.graph.services)
    stamps = np.sort(m["timestamp"].unique())
    assert len(stamps) == 120 and (np.diff(stamps) == pd.Timedelta("1min")).all()
    assert len(m) == n * 120
    assert case.incident.start == stamps[80] == stamps[case.meta["baseline_steps"]]
    assert (case.dataset, case.group, case.fault_type) == ("synthetic", f"sem-{n}", "shift")
    assert case.baseline is None and len(case.root_causes) == 1
    assert case.root_causes[0] in case.graph.dependencies(case.incident.service)


def test_metric_directions_match_the_documented_choice() -> None:
    from rca.engine.metric_semantics import metric_direction

    assert metric_direction(_sem.sem_metric("signed")) == "both"
    assert metric_direction(_sem.sem_metric("positive")) == "up"


def test_the_graph_is_a_dag() -> None:
    for seed in range(5):
        for n in (10, 60):
            g = call_digraph(generate_sem_case(n, seed=seed, lags=0.5))
            assert nx.is_directed_acyclic_graph(g)


def test_mean_in_degree_is_the_drawn_degree() -> None:
    case = generate_sem_case(400, seed=2)
    degree = case.meta["degree"]
    assert 1.5 <= degree <= 3.0
    assert case.meta["edges"] == len(case.graph.calls)
    assert case.meta["edges"] / 400 == pytest.approx(degree, rel=0.1)


def test_step_steps_and_baseline_are_honoured() -> None:
    case = generate_sem_case(12, steps=300, baseline_steps=250, step="30s", seed=1)
    stamps = np.sort(case.metrics["timestamp"].unique())
    assert len(stamps) == 300 and (np.diff(stamps) == pd.Timedelta("30s")).all()
    assert case.incident.start == stamps[250]
    assert case.meta["step"] == "30s"


@pytest.mark.parametrize("missing", [0.1, 0.4])
def test_missing_fraction_is_honoured(missing: float) -> None:
    case = generate_sem_case(20, missing=missing, seed=4)
    full = 20 * 120
    lost = (full - len(case.metrics)) + int(case.metrics["value"].isna().sum())
    assert lost == round(missing * full)
    assert case.metrics["value"].isna().any()


# -- determinism ---------------------------------------------------------------
def test_same_seed_same_case() -> None:
    a, b = generate_sem_case(30, seed=9, lags=0.3), generate_sem_case(30, seed=9, lags=0.3)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.graph.to_dict() == b.graph.to_dict()
    assert (a.root_causes, a.incident, a.meta) == (b.root_causes, b.incident, b.meta)


def test_different_seeds_differ() -> None:
    a, b = generate_sem_case(30, seed=1), generate_sem_case(30, seed=2)
    assert a.graph.to_dict() != b.graph.to_dict()
    assert not np.allclose(wide(a).to_numpy(), wide(b).to_numpy())


def test_global_random_state_is_untouched() -> None:
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.random())
    random.seed(5)
    np.random.seed(5)
    generate_sem_case(20, seed=0, lags=0.5)
    assert (random.random(), np.random.random()) == expected


def test_variants_of_a_seed_share_graph_and_roots() -> None:
    base = generate_sem_case(40, seed=6)
    for kwargs in ({"lags": 1.0}, {"weights": "positive"}):
        other = generate_sem_case(40, seed=6, **kwargs)
        assert sorted((c.caller, c.callee) for c in other.graph.calls) == sorted(
            (c.caller, c.callee) for c in base.graph.calls
        )
        assert other.root_causes == base.root_causes


# -- the fault and its propagation ---------------------------------------------
@pytest.mark.parametrize("lags", [0.0, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_free_fault_reaches_exactly_the_roots_callers(lags: float, seed: int) -> None:
    """A causal edge cause -> effect is the call effect -> cause: the fault shows in the root's dependents."""
    case = generate_sem_case(30, noise=0.0, magnitude=5.0, lags=lags, seed=seed)
    w = wide(case)
    before, last = w[w.index < case.incident.start], w.iloc[-1]
    assert (before == 0).all().all()
    (root,) = case.root_causes
    assert last[root] == pytest.approx(case.meta["roots"][root]["shift"], abs=1e-3)
    moved = set(last.index[last.abs() > 1e-9])
    assert moved == {root} | case.graph.dependents(root)
    assert case.incident.service in moved - {root}


def test_positive_weights_move_everything_up() -> None:
    case = generate_sem_case(40, noise=0.0, weights="positive", lags=0.5, seed=3)
    assert (wide(case).to_numpy() >= -1e-12).all()
    assert all(c.weight is not None and c.weight > 0 for c in case.graph.calls)


@pytest.mark.parametrize("lags", [0.0, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_noisy_root_and_symptom_shift_as_expected(lags: float, seed: int) -> None:
    case = generate_sem_case(30, steps=1000, baseline_steps=600, magnitude=8.0, lags=lags, seed=seed)
    z = shift_z(case)
    (root,) = case.root_causes
    assert z[root] > 3
    # the symptom's measured shift matches the model's steady-state gain and stationary sd
    assert z[case.incident.service] == pytest.approx(case.meta["symptom_shift"], abs=0.5)


def test_random_magnitudes_are_in_range_and_faint_symptoms_exist() -> None:
    cases = [generate_sem_case(30, seed=s) for s in range(30)]
    mags = [r["magnitude"] for c in cases for r in c.meta["roots"].values()]
    assert all(3.0 <= m <= 10.0 for m in mags)
    severities = [c.meta["severity"] for c in cases]
    assert min(severities) < 2 < max(severities)


def test_several_roots_share_the_symptom() -> None:
    for seed in range(5):
        case = generate_sem_case(60, n_roots=3, seed=seed)
        assert len(set(case.root_causes)) == 3
        assert set(case.root_causes) <= case.graph.dependencies(case.incident.service)
        assert case.incident.service not in case.root_causes


def test_too_many_roots_is_refused() -> None:
    with pytest.raises(InvalidConfigError, match="n_roots") as info:
        generate_sem_case(10, n_roots=10, seed=0)
    assert info.value.field == "synthetic.n_roots"


def test_meta_is_json_ready() -> None:
    case = generate_sem_case(30, n_roots=2, lags=0.5, seed=4)
    doc = json.loads(json.dumps(case.meta))
    assert doc["family"] == "sem" and set(doc["roots"]) == set(case.root_causes)
    assert doc["lagged_edges"] > 0 and doc["severity"] == abs(doc["symptom_shift"])


@pytest.mark.parametrize(
    ("kwargs", "field", "match"),
    [
        ({"n_services": 5}, "synthetic.n_services", r"int in \[10, 500\]"),
        ({"n_services": 501}, "synthetic.n_services", "501"),
        ({"fault": "latency_step"}, "synthetic.fault", r"one of \['shift'\]"),
        ({"weights": "negative"}, "synthetic.weights", "signed"),
        ({"n_roots": 0}, "synthetic.n_roots", "n_roots"),
        ({"steps": 10}, "synthetic.steps", "steps"),
        ({"steps": 50, "baseline_steps": 48}, "synthetic.baseline_steps", r"\[10, 45\]"),
        ({"step": "10min"}, "synthetic.step", "duration"),
        ({"missing": 0.9}, "synthetic.missing", "missing"),
        ({"noise": -1.0}, "synthetic.noise", "noise"),
        ({"magnitude": -2.0}, "synthetic.magnitude", "magnitude"),
        ({"lags": 1.5}, "synthetic.lags", "lags"),
        ({"seed": -1}, "synthetic.seed", "seed"),
        ({"n_services": True}, "synthetic.n_services", "True"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, field: str, match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match) as info:
        generate_sem_case(**{"n_services": 20, **kwargs})
    assert info.value.field == field
    assert isinstance(info.value, InvalidInputError)


# -- spec strings ----------------------------------------------------------------
def test_spec_selects_sem_cases() -> None:
    spec = SyntheticSpec.parse("synthetic:family=sem,n=50,cases=3,seed=1")
    assert spec.is_sem() and spec.families() == ("sem",) and spec.faults() == ("shift",)
    assert SyntheticSpec.parse(spec.to_string()) == spec
    cases = list(generate_cases(spec))
    assert [c.case_id for c in cases] == ["sem-50/shift/0", "sem-50/shift/1", "sem-50/shift/2"]
    assert {c.group for c in cases} == {"sem-50"}
    assert all(c.meta["spec"] == spec.to_string() and c.meta["weights"] == "signed" for c in cases)
    alone = generate_sem_case(**spec.case_params(2))
    pd.testing.assert_frame_equal(alone.metrics, cases[2].metrics)
    assert alone.root_causes == cases[2].root_causes


def test_spec_passes_every_sem_key() -> None:
    text = "family=sem,n=20,cases=2,seed=4,fault=shift,roots=2,steps=90,step=30s,missing=0.1,noise=0.5,magnitude=6,baseline=60,lags=0.5,weights=positive"
    spec = SyntheticSpec.parse(text)
    assert SyntheticSpec.parse(spec.to_string()) == spec
    case = next(iter(generate_cases(spec)))
    assert case.meta["weights"] == "positive" and case.incident.metric == "latency"
    assert (case.meta["steps"], case.meta["baseline_steps"], case.meta["step"]) == (90, 60, "30s")
    assert (case.meta["noise"], case.meta["lags"], case.meta["missing"]) == (0.5, 0.5, 0.1)
    assert len(case.root_causes) == 2
    assert all(r["magnitude"] == 6.0 for r in case.meta["roots"].values())


def test_load_cases_and_mixed_families_are_unchanged() -> None:
    cases = load_cases("synthetic:family=sem,n=10,cases=2,seed=0")
    assert [c.group for c in cases] == ["sem-10", "sem-10"]
    assert "sem" not in FAMILIES
    assert SyntheticSpec.parse("").families() == FAMILIES
    assert "weights" not in SyntheticSpec().to_string()


@pytest.mark.parametrize(
    ("text", "field", "match"),
    [
        ("family=sem,n=600", "synthetic.n", r"\[10, 500\] with family=sem; got 600"),
        ("family=sem|chain", "synthetic.family", "'sem' alone"),
        ("family=sem,seasonality=1", "synthetic.seasonality", "0 with family=sem"),
        ("family=sem,weights=negative", "synthetic.weights", r"one of \['signed', 'positive'\]"),
        ("family=layered,weights=signed", "synthetic.weights", "unset unless family=sem"),
        ("weights=positive", "synthetic.weights", "unset unless family=sem"),
        ("family=sem,fault=latency_step", "synthetic.fault", r"\['shift'\]"),
        ("family=sem,n=abc", "synthetic.n", "int"),
        ("family=sem,lags=2", "synthetic.lags", "lags"),
        ("family=semantic", "synthetic.family", "'sem'"),
    ],
)
def test_bad_sem_spec_names_the_key(text: str, field: str, match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match) as info:
        SyntheticSpec.parse(text)
    assert info.value.field == field
    with pytest.raises(InvalidConfigError):
        generate_cases(text)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_sem, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
