"""``inject:SOURCE``: faults injected into the normal windows of another dataset."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import rca
from rca.evaluation.bench.methods import get_method
from rca.evaluation.datasets import load_cases
from rca.evaluation.datasets.cases import write_case
from rca.evaluation.datasets.inject import inject_faults, parse_inject_options
from rca.evaluation.datasets.synthetic import demo_case


@pytest.fixture(scope="module")
def normal():
    """The demo shop's hour before its fault, as a normal window with an incident at 12:40."""
    demo = demo_case()
    quiet = demo.metrics[demo.metrics["timestamp"] < demo.incident.start].reset_index(drop=True)
    incident = rca.Incident("frontend", "latency", "2024-05-01T12:40:00Z")
    return replace(demo, case_id="quiet", metrics=quiet, incident=incident, root_causes=(), fault_type=None)


def _value(case, service, metric, when):
    m = case.metrics
    at = m[(m["service"] == service) & (m["metric"] == metric) & (m["timestamp"] == pd.Timestamp(when))]
    return float(at["value"].iloc[0])


def _requests(case, service):
    m = case.metrics
    return float(m.loc[(m["service"] == service) & (m["metric"] == "requests") & (m["timestamp"] < case.incident.start), "value"].median())


def test_every_target_is_a_dependency_and_moves_with_its_path(normal):
    cases = inject_faults([normal], per_window=99, seed=1, scale=(3.0, 5.0))
    deps = normal.graph.dependencies("frontend")
    assert len(cases) >= 3 and {c.root_causes[0] for c in cases} <= deps
    for c in cases:
        target = c.root_causes[0]
        info = c.meta["injected"]
        assert info["path"] == normal.graph.propagation_path(target, "frontend")
        assert c.fault_type == f"latency@{normal.graph.kind(target).value}"
        assert c.case_id == f"quiet+{target}" and c.dataset == "inject" and c.incident == normal.incident
        shift = info["shift"]["latency"]
        before, after = "2024-05-01T12:39:00Z", "2024-05-01T12:45:00Z"
        assert _value(c, target, "latency", before) == _value(normal, target, "latency", before)  # untouched before
        assert _value(c, target, "latency", after) == pytest.approx(_value(normal, target, "latency", after) + shift)
        for callee, node in zip(info["path"], info["path"][1:]):
            # per hop: 0.4-0.9 of the callee's traffic over the caller's (capped at 1)
            hop = info["share"][node] / info["share"][callee]
            reach = min(1.0, _requests(normal, callee) / _requests(normal, node))
            assert 0.4 * reach <= hop <= 0.9 * reach
            moved = _value(c, node, "latency", after) - _value(normal, node, "latency", after)
            assert moved == pytest.approx(shift * info["share"][node])
        untouched = set(normal.graph.services) - set(info["path"])
        for node in untouched:
            assert _value(c, node, "latency", after) == _value(normal, node, "latency", after)
        assert _value(c, target, "requests", after) == _value(normal, target, "requests", after)


def test_seeded_and_limited_per_window(normal):
    a = inject_faults([normal], per_window=2, seed=5)
    b = inject_faults([normal], per_window=2, seed=5)
    assert len(a) == 2 and [c.case_id for c in a] == [c.case_id for c in b]
    assert all(x.metrics.equals(y.metrics) for x, y in zip(a, b, strict=True))
    others = {tuple(c.case_id for c in inject_faults([normal], per_window=2, seed=s)) for s in range(6)}
    assert len(others) > 1


def test_availability_drops_in_points_and_stays_in_range(normal):
    m = normal.metrics
    avail = m[m["metric"] == "error_rate"].assign(metric="availability", value=lambda d: 100.0 - 100.0 * d["value"])
    window = replace(normal, metrics=pd.concat([m, avail], ignore_index=True), incident=rca.Incident("frontend", "availability", normal.incident.start))
    cases = inject_faults([window], per_window=99, points=(10, 20))
    assert cases and all(c.fault_type.startswith("errors@") for c in cases)
    for c in cases:
        shift = c.meta["injected"]["shift"]["availability"]
        assert -20.0 <= shift <= -10.0
        v = c.metrics.loc[c.metrics["metric"] == "availability", "value"]
        assert v.between(0.0, 100.0).all()


def test_a_target_that_cannot_show_the_fault_is_skipped(normal):
    m = normal.metrics.copy()
    pinned = (m["service"] == "payment") & (m["metric"] == "error_rate")
    m.loc[pinned, "value"] = 0.0
    avail = m[m["metric"] == "error_rate"].assign(metric="availability", value=lambda d: 100.0 * (1.0 - d["value"]))
    m = pd.concat([m, avail], ignore_index=True)
    m.loc[(m["service"] == "payment") & (m["metric"] == "availability"), "value"] = 0.0  # pinned at the bound
    window = replace(normal, metrics=m, incident=rca.Incident("frontend", "availability", normal.incident.start))
    targets = {c.root_causes[0] for c in inject_faults([window], per_window=99)}
    assert "payment" not in targets and "checkout" in targets


def test_the_engine_finds_an_injected_fault(normal):
    cases = inject_faults([normal], per_window=99, seed=3, scale=(3.0, 3.0))
    hit = [get_method("engine")(c)[:1] == [c.root_causes[0]] for c in cases]
    assert np.mean(hit) > 0.5  # a sanity check of the fault model, not an accuracy claim


def test_spec_options_and_errors(normal, tmp_path):
    write_case(normal, tmp_path / "quiet")
    cases = load_cases(f"inject:cases:{tmp_path}|seed=2,per_window=1,scale=3-5")
    assert len(cases) == 1 and cases[0].dataset == "inject"
    assert parse_inject_options("seed=2, scale=1-3") == {"seed": "2", "scale": "1-3"}
    for spec, message in [
        ("inject", "needs a source"),
        (f"inject:cases:{tmp_path}|depth=3", "inject option 'depth=3' is not key=value"),
        (f"inject:cases:{tmp_path}|scale=3-1", "scale must be a range with 0 <= a <= b"),
        (f"inject:cases:{tmp_path}|share=0.5-2", "share must be a range"),
        (f"inject:cases:{tmp_path}|per_window=0", "per_window must be >= 1"),
        (f"inject:cases:{tmp_path}|seed=x", "must be integers"),
        ("inject:synthetic:n=10,cases=2,seed=1", "no normal windows"),
    ]:
        with pytest.raises(rca.InvalidInputError, match=message) as info:
            load_cases(spec)
        assert info.value.field == "dataset"


def test_faults_nobody_would_see_are_not_cases(normal):
    assert inject_faults([normal], per_window=99, scale=(0.01, 0.01)) == []  # the target cannot show it
    assert inject_faults([normal], per_window=99, scale=(5.0, 5.0), share=(0.0, 0.0)) == []  # no alert would fire
    assert inject_faults([normal], per_window=99, scale=(5.0, 5.0), share=(1.0, 1.0))
