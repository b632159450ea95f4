"""Hypothesis properties: every writer/reader pair round-trips; naming is idempotent;
the vectorised span join agrees with a plain-Python reference."""

from __future__ import annotations

from collections import Counter

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from topology import (
    NodeKind,
    PodNameMapper,
    ServiceGraph,
    dumps_adjacency_csv,
    dumps_edge_csv,
    dumps_json,
    dumps_yaml,
    graph_from_spans,
    is_ip_address,
    loads,
    loads_adjacency_csv,
    loads_edge_csv,
    loads_json,
    loads_yaml,
    sniff_format,
)

SETTINGS = settings(max_examples=75, deadline=None)

# Names as a user might write them, including CSV/YAML trouble makers.
_tricky = st.sampled_from(
    ["yes", "null", "~", "1.5", "0x10", "a,b", 'say "hi"', "x: y", "- item", "#tag",
     "33.33.33.76", "fe80::1", "café", "AWS::S3", "https://sqs.example/q", "日本"]
)
_free = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=10
).map(str.strip).filter(bool)
names = st.one_of(_tricky, _free)
kinds = st.sampled_from(list(NodeKind))
tags = st.dictionaries(_free, _free, max_size=2)
finite = st.floats(allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=10**12)


@st.composite
def graphs(draw, *, rich: bool = True, isolated: bool = True, weight_required: bool = False,
           with_counts: bool = True):
    """Random graphs; ``rich=False`` keeps only what CSV can carry."""
    nodes = draw(st.lists(names, max_size=8, unique=True))
    edges = (
        draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), unique=True, max_size=16))
        if nodes
        else []
    )
    g = ServiceGraph()
    used = {n for edge in edges for n in edge}
    for n in nodes:
        if not isolated and n not in used:
            continue
        kind = draw(kinds) if rich else (NodeKind.HOST if is_ip_address(n) else NodeKind.SERVICE)
        g.add_service(n, kind=kind, tags=draw(tags) if rich else {})
    for a, b in edges:
        if weight_required:
            weight = draw(finite.filter(lambda w: w != 0))
        else:
            weight = draw(st.none() | finite)
        g.add_call(a, b, weight=weight, calls=draw(st.none() | counts) if with_counts else None)
    return g


@SETTINGS
@given(graphs())
def test_json_round_trip_is_exact(g):
    text = dumps_json(g)
    assert loads_json(text).to_dict() == g.to_dict()
    assert sniff_format(text) == "json"
    assert loads(text, None) == g


@SETTINGS
@given(graphs())
def test_yaml_round_trip_is_exact(g):
    text = dumps_yaml(g)
    assert loads_yaml(text).to_dict() == g.to_dict()
    assert loads(text, "yaml") == g


@SETTINGS
@given(graphs(rich=False, isolated=False))
def test_edge_csv_round_trip(g):
    text = dumps_edge_csv(g)
    assert loads_edge_csv(text) == g
    assert sniff_format(text) == "edges-csv"


@SETTINGS
@given(graphs(rich=False, weight_required=True, with_counts=False))
def test_adjacency_csv_round_trip(g):
    text = dumps_adjacency_csv(g)
    back = loads_adjacency_csv(text)
    assert back == g
    assert back.services == g.services  # node order is the label order
    if len(g):
        assert sniff_format(text) == "adjacency-csv"


@SETTINGS
@given(graphs(), st.randoms(use_true_random=False))
def test_relabel_by_a_permutation_is_reversible(g, rnd):
    old = g.services
    new = old[:]
    rnd.shuffle(new)
    forward = dict(zip(old, new, strict=True))
    back = {v: k for k, v in forward.items()}
    # A permutation swaps names, so go through unique temporary names.
    tmp = {n: f"\0{i}" for i, n in enumerate(old)}
    swapped = g.relabel(tmp).relabel({tmp[k]: v for k, v in forward.items()})
    assert len(swapped) == len(g) and len(swapped.calls) == len(g.calls)
    restored = swapped.relabel({v: f"\0{i}" for i, v in enumerate(new)}).relabel(
        {f"\0{i}": back[v] for i, v in enumerate(new)}
    )
    assert restored == g
    assert g.relabel({}) == g and g.relabel({}).digest() == g.digest()


# -- naming -------------------------------------------------------------------
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
# Words with a vowel can never be mistaken for a generated suffix.
_word = st.from_regex(r"[a-z0-9]{0,4}[aeiou][a-z0-9]{0,4}", fullmatch=True)
services = st.lists(_word, min_size=1, max_size=4).map("-".join)
suffixes = st.one_of(
    st.tuples(st.text(_SAFE, min_size=6, max_size=10), st.text(_SAFE, min_size=5, max_size=5)).map(
        lambda t: f"-{t[0]}-{t[1]}"
    ),  # Deployment
    st.text(_SAFE, min_size=5, max_size=5).map(lambda s: f"-{s}"),  # ReplicaSet / DaemonSet
    st.integers(min_value=0, max_value=500).map(lambda i: f"-{i}"),  # StatefulSet
)


@SETTINGS
@given(services, suffixes)
def test_pod_names_map_to_their_service_idempotently(service, suffix):
    mapper = PodNameMapper()
    assert mapper(service + suffix) == service
    assert mapper(service) == service
    assert mapper(mapper(service + suffix)) == mapper(service + suffix)


@SETTINGS
@given(st.lists(st.tuples(services, suffixes, services, suffixes), max_size=10))
def test_relabelling_pods_is_idempotent(pairs):
    g = ServiceGraph()
    for s1, x1, s2, x2 in pairs:
        g.add_call(s1 + x1, s2 + x2, calls=1)
    mapper = PodNameMapper()
    once = mapper.relabel(g)
    assert mapper.relabel(once) == once
    assert set(once.services) == {mapper(n) for n in g.services}


# -- spans: the pandas join against a plain-Python reference -------------------
@st.composite
def span_tables(draw):
    rows = []
    for t in range(draw(st.integers(0, 4))):
        ids: list[str] = []
        for k in range(draw(st.integers(1, 8))):
            parent = draw(st.none() | st.sampled_from(ids + ["missing"])) if ids else None
            ids.append(f"s{k}")
            rows.append((f"t{t}", f"s{k}", parent, draw(st.sampled_from(["a", "b", "c"]))))
    return pd.DataFrame(rows, columns=["trace_id", "span_id", "parent_id", "service"], dtype=object)


@SETTINGS
@given(span_tables(), st.booleans())
def test_span_join_matches_a_reference(spans, internal):
    service = {(t, s): svc for t, s, _, svc in spans.itertuples(index=False)}
    expected = Counter()
    for t, _, parent, svc in spans.itertuples(index=False):
        if parent is not None and (t, parent) in service:
            caller = service[t, parent]
            if internal or caller != svc:
                expected[caller, svc] += 1
    g = graph_from_spans(spans, include_internal=internal)
    assert {(c.caller, c.callee): c.calls for c in g.calls} == dict(expected)
    assert set(g.services) == set(spans["service"])
