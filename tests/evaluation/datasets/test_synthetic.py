"""The synthetic incident generator: validity, determinism, physics, spec strings, demo."""

from __future__ import annotations

import random
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import rca.evaluation.datasets.synthetic as synthetic
from rca.engine.errors import InvalidConfigError, InvalidInputError
from rca.evaluation.datasets.base import BenchCase
from rca.evaluation.datasets.synthetic import (
    FAMILIES,
    FAULTS,
    METRICS,
    SyntheticSpec,
    demo_case,
    generate_case,
    generate_cases,
    write_demo_files,
)
from topology import NodeKind

DEMO_DIR = Path(synthetic.__file__).resolve().parents[3] / "data" / "demo"


# -- helpers -------------------------------------------------------------------
def wide(case: BenchCase, metric: str) -> pd.DataFrame:
    """One column per service for ``metric``."""
    m = case.metrics
    return m[m["metric"] == metric].pivot(index="timestamp", columns="service", values="value")


def shift_z(case: BenchCase, metric: str) -> pd.Series:
    """Robust z of the post-fault median against the pre-fault baseline, per service."""
    w = wide(case, metric)
    before = w[w.index < case.incident.start]
    after = w[w.index >= case.incident.start]
    med = before.median()
    sd = 1.4826 * (before - med).abs().median()
    sd = sd.where(sd > 0, before.std()).where(lambda s: s > 0, 1e-9)
    return (after.median() - med) / sd


def unrelated(case: BenchCase) -> list[str]:
    """Services a fault at any root cannot reach (neither a root nor a dependent of one)."""
    hit = set(case.root_causes)
    for r in case.root_causes:
        hit |= case.graph.dependents(r)
    return [s for s in case.graph.services if s not in hit]


def check_frame(case: BenchCase, *, steps: int, step: str, missing: float = 0.0) -> None:
    m = case.metrics
    assert list(m.columns) == ["timestamp", "service", "metric", "value"]
    assert isinstance(m["timestamp"].dtype, pd.DatetimeTZDtype)
    assert str(m["timestamp"].dt.tz) == "UTC"
    assert pd.api.types.is_float_dtype(m["value"])
    assert not np.isinf(m["value"].to_numpy()).any()
    assert set(m["metric"]) == set(METRICS)
    assert set(m["service"]) == set(case.graph.services)
    stamps = np.sort(m["timestamp"].unique())
    assert len(stamps) == steps
    assert (np.diff(stamps) == pd.Timedelta(step)).all()
    full = len(case.graph) * len(METRICS) * steps
    lost = (full - len(m)) + int(m["value"].isna().sum())
    assert lost == round(missing * full)
    v = m.dropna(subset=["value"])
    for metric, lo, hi in [("latency", 0, None), ("error_rate", 0, 1), ("requests", 0, None), ("cpu", 0, 1), ("memory", 0, None)]:
        x = v.loc[v["metric"] == metric, "value"]
        assert (x >= lo).all(), metric
        if hi is not None:
            assert (x <= hi).all(), metric
    assert case.incident.service in case.graph
    assert case.incident.start == stamps[case.meta["baseline_steps"]]
    assert case.baseline is None
    assert case.dataset == "synthetic"


# -- validity ------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("fault", FAULTS)
def test_every_family_and_fault_gives_a_valid_case(family: str, fault: str) -> None:
    case = generate_case(family, 30, fault=fault, seed=11)
    check_frame(case, steps=120, step="1min")
    assert case.group == f"{family}-30"
    assert case.fault_type == fault
    assert case.incident.metric == ("error_rate" if fault == "error_burst" else "latency")
    assert len(case.root_causes) == 1


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n", [10, 200])
def test_sizes(family: str, n: int) -> None:
    case = generate_case(family, n, seed=5)
    assert len(case.graph) == n
    check_frame(case, steps=120, step="1min")


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_two_thousand_services(family: str) -> None:
    case = generate_case(family, 2000, fault="saturation", seed=2)
    assert len(case.graph) == 2000
    check_frame(case, steps=120, step="1min")
    assert case.root_causes[0] in case.graph.dependencies(case.incident.service)


@pytest.mark.parametrize(("step", "steps"), [("1s", 60), ("30s", 40), ("5min", 30)])
def test_step_is_honoured(step: str, steps: int) -> None:
    case = generate_case("layered", 20, step=step, steps=steps, seed=1)
    check_frame(case, steps=steps, step=step)
    assert case.meta["step"] == step


@pytest.mark.parametrize("missing", [0.05, 0.3])
def test_missing_fraction_is_honoured(missing: float) -> None:
    case = generate_case("tree", 25, missing=missing, seed=4)
    check_frame(case, steps=120, step="1min", missing=missing)
    full = 25 * len(METRICS) * 120
    assert case.metrics["value"].isna().sum() > 0
    assert len(case.metrics) < full


def test_no_missing_points_by_default() -> None:
    case = generate_case("chain", 12, seed=0)
    assert len(case.metrics) == 12 * len(METRICS) * 120
    assert not case.metrics["value"].isna().any()


def test_default_baseline_is_two_thirds() -> None:
    case = generate_case("layered", 20, steps=90, seed=0)
    assert case.meta["baseline_steps"] == 60
    case = generate_case("layered", 20, steps=90, baseline_steps=30, seed=0)
    assert case.incident.start == case.metrics["timestamp"].min() + pd.Timedelta("30min")


# -- topology families -----------------------------------------------------------
def test_family_shapes() -> None:
    chain = generate_case("chain", 15, seed=3).graph.to_networkx()
    assert nx.is_directed_acyclic_graph(chain)
    assert max(d for _, d in chain.out_degree()) == 1 and chain.number_of_edges() == 14
    tree = generate_case("tree", 40, seed=3).graph.to_networkx()
    assert nx.is_arborescence(tree)
    layered = generate_case("layered", 120, seed=3)
    assert nx.is_directed_acyclic_graph(layered.graph.to_networkx())
    assert any(n.kind is NodeKind.DATABASE for n in layered.graph.nodes)
    for db in (n.name for n in layered.graph.nodes if n.kind is NodeKind.DATABASE):
        assert layered.graph.callees(db) == []
    mutual = generate_case("mutual", 120, seed=3).graph.to_networkx()
    assert not nx.is_directed_acyclic_graph(mutual)
    assert any(mutual.has_edge(v, u) for u, v in mutual.edges)


@pytest.mark.parametrize("family", FAMILIES)
def test_symptom_is_an_entry_point_and_roots_are_its_dependencies(family: str) -> None:
    case = generate_case(family, 60, n_roots=3, seed=8)
    g = case.graph
    assert g.callers(case.incident.service) == []
    deps = g.dependencies(case.incident.service)
    assert len(set(case.root_causes)) == 3
    assert set(case.root_causes) <= deps
    assert set(case.meta["roots"]) == set(case.root_causes)


def test_several_roots_prefer_independent_services() -> None:
    case = generate_case("layered", 200, n_roots=3, seed=21)
    roots = case.root_causes
    for a in roots:
        for b in roots:
            if a != b:
                assert b not in case.graph.dependencies(a)


def test_graph_weights_are_calls_per_request() -> None:
    case = generate_case("layered", 50, seed=2)
    weights = [c.weight for c in case.graph.calls]
    assert all(w is not None and 0 < w <= 1.0 for w in weights)


# -- determinism -----------------------------------------------------------------
def test_same_seed_same_case() -> None:
    a = generate_case("mutual", 40, fault="slow_leak", missing=0.1, seasonality=True, seed=123)
    b = generate_case("mutual", 40, fault="slow_leak", missing=0.1, seasonality=True, seed=123)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.graph == b.graph
    assert a.root_causes == b.root_causes
    assert a.incident == b.incident
    assert a.meta == b.meta


def test_different_seeds_differ() -> None:
    a = generate_case("layered", 40, seed=1)
    b = generate_case("layered", 40, seed=2)
    assert a.graph != b.graph
    assert not np.allclose(a.metrics["value"].to_numpy(), b.metrics["value"].to_numpy())


def test_global_random_state_is_untouched() -> None:
    np_state = np.random.get_state(legacy=False)
    py_state = random.getstate()
    generate_case("tree", 20, seed=9)
    list(generate_cases("n=10,cases=2"))
    after = np.random.get_state(legacy=False)
    assert np_state["state"]["pos"] == after["state"]["pos"]
    assert (np_state["state"]["key"] == after["state"]["key"]).all()
    assert random.getstate() == py_state


# -- physics ---------------------------------------------------------------------
# The metric where each fault shows first at the root itself.
ROOT_METRIC = {
    "latency_step": "latency",
    "error_burst": "error_rate",
    "saturation": "cpu",
    "slow_leak": "memory",
    "lagged": "latency",
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_root_shifts_symptom_follows_unrelated_stay_normal(fault: str, seed: int) -> None:
    case = generate_case("layered", 60, fault=fault, magnitude=8.0, seed=seed)
    root = case.root_causes[0]
    z_root = shift_z(case, ROOT_METRIC[fault])
    assert z_root[root] > 5
    z = shift_z(case, case.incident.metric)
    assert z[case.incident.service] > 2.5
    if fault != "error_burst":
        assert z[root] > 3  # the root's own latency moves too
    calm = unrelated(case)
    assert calm, "the case should have services the fault cannot reach"
    assert z[calm].abs().median() < 1.0
    leaves = [s for s in calm if not case.graph.callees(s)]
    assert leaves
    assert (z[leaves].abs() < 4).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_fault_propagates_along_the_path_to_the_symptom(family: str) -> None:
    case = generate_case(family, 40, fault="latency_step", magnitude=10.0, seed=3)
    root, symptom = case.root_causes[0], case.incident.service
    path = case.graph.propagation_path(root, symptom)
    assert path is not None and path[0] == root and path[-1] == symptom
    z = shift_z(case, "latency")
    assert all(z[s] > 2 for s in path)


def test_error_burst_raises_the_roots_callers_error_rate() -> None:
    case = generate_case("chain", 12, fault="error_burst", magnitude=10.0, seed=4)
    root = case.root_causes[0]
    z = shift_z(case, "error_rate")
    for caller in case.graph.callers(root):
        assert z[caller] > 3


def test_lagged_fault_reaches_callers_late() -> None:
    case = generate_case("chain", 12, fault="lagged", noise=0.0, magnitude=10.0, seed=6)
    lag = case.meta["lag"]
    assert 3 <= lag <= 6
    root = case.root_causes[0]
    caller = case.graph.callers(root)[0]
    w = wide(case, "latency")
    t = list(w.index).index(case.incident.start)
    before_root, before_caller = w[root].iloc[t - 1], w[caller].iloc[t - 1]
    assert w[root].iloc[t] > before_root * 1.1  # the root jumps at once
    np.testing.assert_allclose(w[caller].iloc[t : t + lag], before_caller, rtol=1e-9)
    assert w[caller].iloc[t + lag] > before_caller * 1.05  # the caller, lag steps later


def test_saturation_cpu_leads_latency() -> None:
    case = generate_case("chain", 12, fault="saturation", noise=0.0, magnitude=10.0, seed=2)
    root = case.root_causes[0]
    t = list(wide(case, "cpu").index).index(case.incident.start)
    cpu = wide(case, "cpu")[root].to_numpy()
    lat = wide(case, "latency")[root].to_numpy()
    cpu_share = (cpu[t] - cpu[t - 1]) / (cpu[t + 10] - cpu[t - 1])
    lat_share = (lat[t] - lat[t - 1]) / (lat[t + 10] - lat[t - 1])
    assert cpu_share > lat_share > 0


def test_slow_leak_ramps() -> None:
    case = generate_case("tree", 20, fault="slow_leak", noise=0.0, magnitude=6.0, seed=2)
    root = case.root_causes[0]
    w = wide(case, "memory")[root]
    after = w[w.index >= case.incident.start].to_numpy()
    assert (np.diff(after) > 0).all()
    lat = wide(case, "latency")[root]
    tail = lat[lat.index >= case.incident.start].to_numpy()
    assert tail[-1] > tail[0]


def test_lagged_calls_delay_propagation() -> None:
    base = generate_case("chain", 12, fault="latency_step", noise=0.0, magnitude=10.0, seed=3)
    late = generate_case("chain", 12, fault="latency_step", noise=0.0, magnitude=10.0, lags=1.0, seed=3)
    assert base.meta["lagged_calls"] == 0 and late.meta["lagged_calls"] == 11
    assert base.root_causes == late.root_causes
    symptom = late.incident.service
    t = list(wide(late, "latency").index).index(late.incident.start)

    def onset(case: BenchCase) -> int:
        x = wide(case, "latency")[symptom].to_numpy()
        return int(np.argmax(x[t:] > x[t - 1] * 1.01))

    hops = late.graph.call_distance(symptom, late.root_causes[0])
    assert hops is not None
    assert onset(base) == 0
    assert hops <= onset(late) <= 3 * hops


def test_noise_free_baseline_is_flat() -> None:
    case = generate_case("layered", 30, noise=0.0, seed=2)
    w = wide(case, "latency")
    before = w[w.index < case.incident.start]
    assert np.allclose(before.std(), 0.0)


def test_requests_flow_down_the_calls() -> None:
    case = generate_case("chain", 10, noise=0.0, seed=2)
    req = wide(case, "requests").iloc[0]
    for call in case.graph.calls:
        assert req[call.callee] == pytest.approx(req[call.caller] * call.weight, rel=0.01)


def test_seasonality_shapes_traffic_over_a_day() -> None:
    case = generate_case("chain", 10, step="5min", steps=288, seasonality=True, noise=0.0, seed=1)
    req = wide(case, "requests")["api-0"]
    assert req.max() / req.min() > 1.3
    flat = generate_case("chain", 10, step="5min", steps=288, noise=0.0, seed=1)
    req = wide(flat, "requests")["api-0"]
    assert req.max() / req.min() < 1.01


def test_weak_faults_exist_with_random_magnitude() -> None:
    severities = [c.meta["severity"] for c in generate_cases("n=10,cases=40")]
    assert min(severities) < 4 < max(severities)
    assert all(synthetic.SEVERITY_RANGE[0] <= s <= synthetic.SEVERITY_RANGE[1] for s in severities)


# -- argument validation ----------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field", "match"),
    [
        ({"family": "star"}, "synthetic.family", "'family' parameter of generate_case must be one of"),
        ({"n_services": 5}, "synthetic.n_services", r"int in \[10, 2000\]. Got 5"),
        ({"n_services": 2001}, "synthetic.n_services", "Got 2001"),
        ({"n_services": 20.0}, "synthetic.n_services", "Got 20.0"),
        ({"fault": "boom"}, "synthetic.fault", "one of"),
        ({"n_roots": 0}, "synthetic.n_roots", r"\[1, 10\]"),
        ({"steps": 5}, "synthetic.steps", "steps"),
        ({"step": "10min"}, "synthetic.step", "between '1s' and '5min'"),
        ({"step": "1.5s"}, "synthetic.step", "whole seconds"),
        ({"step": "soon"}, "synthetic.step", "duration"),
        ({"baseline_steps": 118}, "synthetic.baseline_steps", r"\[10, 115\]"),
        ({"missing": 0.9}, "synthetic.missing", r"\[0.0, 0.5\]"),
        ({"noise": -1}, "synthetic.noise", "noise"),
        ({"seasonality": "yes"}, "synthetic.seasonality", "a bool"),
        ({"seed": -1}, "synthetic.seed", "seed"),
        ({"magnitude": -2.0}, "synthetic.magnitude", "magnitude"),
        ({"lags": 1.5}, "synthetic.lags", r"\[0.0, 1.0\]"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, field: str, match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match) as info:
        generate_case(**{"family": "layered", "n_services": 20, **kwargs})
    assert info.value.field == field
    assert isinstance(info.value, InvalidInputError)


# -- spec strings ------------------------------------------------------------------
def test_spec_defaults() -> None:
    spec = SyntheticSpec.parse("")
    assert spec == SyntheticSpec()
    assert (spec.family, spec.n, spec.cases, spec.seed, spec.fault) == ("mixed", 50, 50, 0, "mixed")
    assert (spec.roots, spec.steps, spec.step, spec.missing, spec.seasonality) == (1, 120, "1min", 0.0, False)
    assert spec.families() == FAMILIES and spec.faults() == FAULTS


def test_spec_full_string_and_round_trip() -> None:
    text = "family=layered,n=50,cases=100,seed=3,fault=mixed,roots=2,steps=90,step=30s,missing=0.1,seasonality=1,noise=0.5,magnitude=4,baseline=60,lags=0.2"
    spec = SyntheticSpec.parse(text)
    assert spec.n == 50 and spec.cases == 100 and spec.roots == 2 and spec.step == "30s"
    assert spec.seasonality is True and spec.magnitude == 4.0 and spec.baseline == 60 and spec.lags == 0.2
    assert SyntheticSpec.parse(spec.to_string()) == spec
    assert SyntheticSpec.parse("synthetic:" + text) == spec
    assert SyntheticSpec.parse(" n = 20 , family=chain|tree ,").families() == ("chain", "tree")


@pytest.mark.parametrize(
    ("text", "field", "match"),
    [
        ("nodes=5", "synthetic.nodes", "unknown key 'nodes'; known: family, n, cases"),
        ("n=abc", "synthetic.n", r"'n' must be an int in \[10, 2000\]; got 'abc'"),
        ("n=5", "synthetic.n", "got 5"),
        ("cases=0", "synthetic.cases", "cases"),
        ("family=star", "synthetic.family", "'family' must be 'mixed' or one or more of"),
        ("family=chain|star", "synthetic.family", "chain|star"),
        ("fault=boom", "synthetic.fault", "fault"),
        ("step=10min", "synthetic.step", "'step' must be a duration"),
        ("missing=lots", "synthetic.missing", "number"),
        ("missing=0.8", "synthetic.missing", "number"),
        ("seasonality=maybe", "synthetic.seasonality", "0 or 1"),
        ("steps=50,baseline=48", "synthetic.baseline", "at most steps - 5"),
        ("n", "synthetic", "expected key=value"),
        ("n=10,n=20", "synthetic.n", "given twice"),
    ],
)
def test_bad_spec_names_the_key(text: str, field: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        SyntheticSpec.parse(text)
    assert info.value.field == field
    with pytest.raises(InvalidInputError):
        generate_cases(text)  # raised at once, not on first iteration


def test_spec_must_be_text() -> None:
    with pytest.raises(InvalidInputError, match="must be a string"):
        SyntheticSpec.parse(5)  # type: ignore[arg-type]


def test_generate_cases_cycles_families_and_faults() -> None:
    cases = list(generate_cases("n=10,cases=20,steps=40"))
    assert len(cases) == 20
    assert {(c.meta["family"], c.fault_type) for c in cases} == {(f, k) for f in FAMILIES for k in FAULTS}
    assert len({c.case_id for c in cases}) == 20
    assert cases[0].case_id == "chain-10/latency_step/0"
    assert all(c.meta["spec"] == SyntheticSpec.parse("n=10,cases=20,steps=40").to_string() for c in cases)


def test_generate_cases_is_reproducible_and_cases_stand_alone() -> None:
    spec = SyntheticSpec.parse("family=tree,n=12,cases=3,seed=7,fault=error_burst")
    a = list(generate_cases(spec))
    b = list(generate_cases(spec.to_string()))
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x.metrics, y.metrics)
    alone = generate_case(**spec.case_params(2))
    pd.testing.assert_frame_equal(alone.metrics, a[2].metrics)
    assert a[0].meta["seed"] != a[1].meta["seed"]
    other = list(generate_cases(spec, seed=8))
    assert other[0].meta["seed"] != a[0].meta["seed"]


def test_generate_cases_overrides() -> None:
    cases = list(generate_cases("family=chain", n=10, cases=2, fault="lagged"))
    assert [c.group for c in cases] == ["chain-10", "chain-10"]
    assert {c.fault_type for c in cases} == {"lagged"}
    with pytest.raises(InvalidConfigError, match="unknown key 'size'") as info:
        generate_cases(size=3)
    assert info.value.field == "synthetic.size"
    with pytest.raises(InvalidConfigError, match="'n' must be") as info:
        generate_cases(n=3)
    assert info.value.field == "synthetic.n"


# -- demo --------------------------------------------------------------------------
def test_demo_case_is_readable_and_fixed() -> None:
    case = demo_case()
    assert len(case.graph) == 12
    assert {"frontend", "checkout", "cart", "payment", "catalog"} <= set(case.graph.services)
    assert case.root_causes == ("payment",)
    assert (case.incident.service, case.incident.metric) == ("frontend", "latency")
    assert case.incident.start == pd.Timestamp("2024-05-01T13:00:00Z")
    check_frame(case, steps=90, step="1min")
    pd.testing.assert_frame_equal(case.metrics, demo_case().metrics)
    z = shift_z(case, "latency")
    for s in ("payment", "checkout", "frontend"):
        assert z[s] > 10
    for s in ("currency", "cart", "auth", "orders-db"):
        assert abs(z[s]) < 3


def test_committed_demo_files_are_current(tmp_path: Path) -> None:
    paths = write_demo_files(tmp_path / "demo")
    assert set(paths) == {"topology", "metrics"}
    for key, name in (("topology", "topology.yaml"), ("metrics", "metrics.csv")):
        assert paths[key].name == name
        assert paths[key].read_bytes() == (DEMO_DIR / name).read_bytes(), f"regenerate rca/data/demo/{name}"
    assert (DEMO_DIR / "metrics.csv").stat().st_size < 300_000


def test_demo_files_load_back(tmp_path: Path) -> None:
    import yaml

    from topology import ServiceGraph

    paths = write_demo_files(tmp_path)
    doc = yaml.safe_load(paths["topology"].read_text())
    case = demo_case()
    rebuilt = ServiceGraph(
        [s["name"] for s in doc["services"]],
        [(c["caller"], c["callee"]) for c in doc["calls"]],
    )
    assert sorted(rebuilt.services) == sorted(case.graph.services)
    frame = pd.read_csv(paths["metrics"])
    assert list(frame.columns) == ["timestamp", "service", "metric", "value"]
    assert len(frame) == len(case.metrics)
    assert frame["timestamp"].iloc[0] == "2024-05-01T12:00:00Z"


# -- public surface ----------------------------------------------------------------
def test_all_is_complete() -> None:
    public = {n for n in dir(synthetic) if not n.startswith("_")}
    modules = {"annotations"}
    assert set(synthetic.__all__) == {n for n in public - modules if not isinstance(getattr(synthetic, n), type(synthetic))}


def test_more_roots_than_dependencies_is_refused() -> None:
    with pytest.raises(InvalidConfigError, match="n_roots") as info:
        generate_case("chain", 10, n_roots=10, seed=0)
    assert info.value.field == "synthetic.n_roots"


def test_meta_is_json_ready() -> None:
    import json

    case = generate_case("mutual", 30, fault="saturation", n_roots=2, seed=4)
    doc = json.loads(json.dumps(case.meta))
    assert doc["family"] == "mutual" and set(doc["roots"]) == set(case.root_causes)
    assert all(0 < r["influence"] for r in doc["roots"].values())
