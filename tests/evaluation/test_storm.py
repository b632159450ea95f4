"""The alert-storm benchmark's synthesis and scores (the replay itself runs in python -m rca.evaluation.storm)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rca.evaluation.datasets.synthetic import generate_case
from rca.evaluation.storm import make_storm, pairwise_scores
from rca.evaluation.storm.replay import _message_incident, _openmetrics, _payload

AT = pd.Timestamp("2024-06-01T00:00:00Z")


@pytest.fixture(scope="module")
def storm():
    cases = [generate_case("layered", 30, fault="latency_step", magnitude=10.0, seed=s) for s in (1, 2)]
    return make_storm(0, cases, AT, rng=np.random.default_rng(3), flapping=1, unknown=1, noise=2), cases


def test_pairwise_scores_count_pairs():
    s = pairwise_scores({1: "a", 2: "a", 3: "a", 4: "b"}, {1: 1, 2: 1, 3: 2, 4: 2})
    assert (s.true_pairs, s.predicted_pairs, s.both) == (3, 2, 1)
    assert s.precision == 0.5 and s.recall == pytest.approx(1 / 3) and s.f1 == pytest.approx(0.4)
    alone = pairwise_scores({1: "a", 2: "a"}, {})  # lost alerts are groups of their own
    assert alone.precision is None and alone.recall == 0.0 and alone.f1 == 0.0


def test_each_fault_runs_in_its_own_copy_starting_at_the_storm(storm):
    st, cases = storm
    assert st.roots == {"s0f0": "s0f0-" + cases[0].root_causes[0], "s0f1": "s0f1-" + cases[1].root_causes[0]}
    for fid, root in st.roots.items():
        mine = [a for a in st.alerts if a.truth == fid]
        assert {a.namespace for a in mine} == {fid}
        assert all(a.service.startswith(fid + "-") for a in mine)
        assert any(a.service == root for a in mine)  # the root alerts too
        assert all(AT <= a.starts_at <= AT + pd.Timedelta("8min") for a in mine)
    # no call crosses copies: the faults are independent
    assert all(c.caller.split("-", 1)[0] == c.callee.split("-", 1)[0] for c in st.graph.calls)
    # the data moved with them, on the step grid, and every alert's series exists (except outside the topology)
    have = set(zip(st.metrics["service"], st.metrics["metric"], strict=True))
    for a in st.alerts:
        assert ((a.service, a.metric) in have) == (a.kind != "unknown")
        assert (a.service in st.graph) == (a.kind != "unknown")


def test_flapping_unknown_and_noise_alerts(storm):
    st, _ = storm
    kinds = [e.alert.kind for e in st.events if e.status == "firing"]
    assert kinds.count("flap") == 1 and kinds.count("unknown") == 2 and kinds.count("noise") == 2
    flap = next(a for a in st.alerts if a.kind == "flap")
    resolved = [e for e in st.events if e.status == "resolved"]
    assert len(resolved) == 1 and resolved[0].alert.fingerprint == flap.fingerprint
    assert st.events.index(resolved[0]) < [e.alert for e in st.events].index(flap)
    noise = [a for a in st.alerts if a.kind == "noise"]
    assert len({a.truth for a in noise}) == 2 and all(a.namespace == "s0n" for a in noise)
    assert all(st.graph.dependencies(a.service).isdisjoint(st.roots.values()) for a in noise)


def test_payloads_are_alertmanager_v4_and_metrics_openmetrics(storm):
    st, _ = storm
    doc = _payload(st.events[0])
    assert doc["version"] == "4" and doc["alerts"][0]["labels"]["namespace"] == st.events[0].alert.namespace
    assert doc["alerts"][0]["startsAt"].endswith("Z") and doc["alerts"][0]["fingerprint"] == st.events[0].alert.fingerprint
    text = _openmetrics(st.metrics.head(3))
    first = text.splitlines()[1]
    assert first.startswith('rca_storm{metric="') and int(first.rsplit(" ", 1)[1]) > 1_700_000_000
    assert text.endswith("# EOF\n")
    assert _message_incident({"blocks": [{"text": {"text": "*RCA: x*\nIncident 12: 3 alert(s)"}}]}) == 12
