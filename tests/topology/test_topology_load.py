"""The dispatcher (load / loads / FORMATS / sniffing), the public surface and the doctests."""

from __future__ import annotations

import doctest
import importlib
import json
import pkgutil

import pytest
import yaml

import topology
from topology import (
    FORMATS,
    Call,
    ServiceGraph,
    TopologyError,
    load,
    loads,
    sniff_format,
)

GRAPH = ServiceGraph(calls=[Call("web", "db", 1.0)])
JSON_DOC = json.dumps(GRAPH.to_dict())
YAML_DOC = yaml.safe_dump(GRAPH.to_dict())
EDGES = "Source,Target,Weight\nweb,db,1\n"
ADJ = ",web,db\nweb,0,1.0\ndb,0,0\n"
OTLP = json.dumps(
    {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s}}]},
                "scopeSpans": [{"spans": [{"traceId": "t", "spanId": i, "parentSpanId": p}]}],
            }
            for s, i, p in (("web", "1", ""), ("db", "2", "1"))
        ]
    }
)
JAEGER = json.dumps(
    {
        "data": [
            {
                "processes": {"p1": {"serviceName": "web"}, "p2": {"serviceName": "db"}},
                "spans": [
                    {"traceID": "t", "spanID": "1", "processID": "p1"},
                    {"traceID": "t", "spanID": "2", "processID": "p2",
                     "references": [{"refType": "CHILD_OF", "spanID": "1"}]},
                ],
            }
        ]
    }
)
ZIPKIN = json.dumps(
    [
        {"traceId": "t", "id": "1", "localEndpoint": {"serviceName": "web"}},
        {"traceId": "t", "id": "2", "parentId": "1", "localEndpoint": {"serviceName": "db"}},
    ]
)
NEZHA = (
    "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n"
    "t,1,root,web-579b9bff58-t2dbm,GET,1,2001,2\n"
    "t,2,1,db-0,SELECT,2,1002,1\n"
)
SPAN_GRAPH = ServiceGraph(["db", "web"], [Call("web", "db", calls=1)])
CMDB = json.dumps({"result": [{"parent": "web", "child": "db", "type": "Depends on::Used by"}]})
CMDB_GRAPH = ServiceGraph(calls=[("web", "db")])

SAMPLES = {
    "json": (JSON_DOC, GRAPH, "topo.json"),
    "yaml": (YAML_DOC, GRAPH, "topo.yaml"),
    "edges-csv": (EDGES, GRAPH, "dependency.csv"),
    "adjacency-csv": (ADJ, GRAPH, "graph.csv"),
    "otlp": (OTLP, SPAN_GRAPH, "otel.json"),
    "jaeger": (JAEGER, SPAN_GRAPH, "jaeger.json"),
    "zipkin": (ZIPKIN, SPAN_GRAPH, "zipkin.json"),
    "nezha-spans": (NEZHA, SPAN_GRAPH, "04_03_trace.csv"),
    "servicenow-cmdb": (CMDB, CMDB_GRAPH, "cmdb_rel_ci.json"),
}


def test_formats_are_exactly_the_documented_names():
    assert FORMATS == (
        "json", "yaml", "edges-csv", "adjacency-csv", "otlp", "jaeger", "zipkin", "nezha-spans", "servicenow-cmdb",
    )
    assert set(SAMPLES) == set(FORMATS)


@pytest.mark.parametrize("name", FORMATS)
def test_loads_with_an_explicit_format(name):
    text, expected, _ = SAMPLES[name]
    assert loads(text, name) == expected
    assert loads(text.encode(), name.upper()) == expected


@pytest.mark.parametrize("name", FORMATS)
def test_format_is_sniffed_from_content(name):
    text, expected, filename = SAMPLES[name]
    assert sniff_format(text, filename) == name
    assert loads(text, None) == expected


@pytest.mark.parametrize("name", FORMATS)
def test_load_sniffs_files(name, tmp_path):
    text, expected, filename = SAMPLES[name]
    path = tmp_path / filename
    path.write_text(text)
    assert load(path) == expected
    assert load(str(path), name) == expected


def test_load_reads_a_folder_of_span_files(tmp_path):
    (tmp_path / "04_03_trace.csv").write_text(NEZHA)
    assert load(tmp_path) == SPAN_GRAPH
    assert load(tmp_path, "nezha-spans") == SPAN_GRAPH
    with pytest.raises(TopologyError, match="format 'json' needs a file, not a folder"):
        load(tmp_path, "json")


def test_yaml_without_extension_is_sniffed():
    assert sniff_format("services: [a]\ncalls: []\n") == "yaml"
    assert sniff_format("# our topology\n---\ncalls:\n  - {caller: a, callee: b}\n") == "yaml"
    with pytest.raises(TopologyError, match="cannot tell the format"):
        sniff_format("title: not a topology\n")


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(TopologyError, match="unknown topology format 'graphml'; known formats: json, yaml, edges-csv") as info:
        loads("x", "graphml")
    assert info.value.field == "format"
    with pytest.raises(TopologyError, match="known formats: .*nezha-spans"):
        load("whatever.txt", "dot")


@pytest.mark.parametrize(
    ("text", "filename"),
    [
        ("hello world", None),
        ("a,b\n1,2\n", "data.csv"),
        ('{"nodes": []}', "g.json"),
        ("[1, 2]", None),
        ("", None),
    ],
)
def test_unrecognised_content(text, filename):
    with pytest.raises(TopologyError, match="cannot tell the format; pass one of: json, yaml"):
        sniff_format(text, filename)


def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "mystery.txt"
    path.write_text("hello world")
    with pytest.raises(TopologyError, match=r"mystery\.txt: cannot tell the format") as info:
        load(path)
    assert info.value.source == str(path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"services": [1]}')
    with pytest.raises(TopologyError, match=r"bad\.json, field 'services\[0\]'"):
        load(bad)
    broken = tmp_path / "broken.json"
    broken.write_text('{"services": [')
    with pytest.raises(TopologyError, match=r"broken\.json, line 1: invalid JSON"):
        load(broken, "json")
    with pytest.raises(TopologyError, match="cannot read the file"):
        load(tmp_path / "missing.json")


def test_sniffing_reports_json_syntax_errors_and_accepts_an_empty_document(tmp_path):
    path = tmp_path / "topo.json"
    path.write_text('{\n  "services": ["a",]\n}')
    with pytest.raises(TopologyError, match=r"topo\.json, line 2: invalid JSON") as info:
        load(path)
    assert info.value.line == 2
    assert loads("{}", None) == ServiceGraph()


def test_loads_names_its_source():
    with pytest.raises(TopologyError, match=r"^request body, line 2, field 'Weight'") as info:
        loads("Source,Target,Weight\na,b,x\n", "edges-csv", source="request body")
    assert info.value.source == "request body"


def test_invalid_json_with_explicit_trace_format_names_the_line():
    with pytest.raises(TopologyError, match="line 2: invalid JSON"):
        loads('{"data":\n ]', "jaeger")


# -- the public surface -------------------------------------------------------
def _modules():
    return [
        importlib.import_module(f"topology.{m.name}")
        for m in pkgutil.iter_modules(topology.__path__)
        if not m.name.startswith("_")
    ]


def test_all_is_complete_and_importable():
    exported = set(topology.__all__)
    assert len(exported) == len(topology.__all__)  # no duplicates
    for name in topology.__all__:
        assert hasattr(topology, name), name
    for module in _modules():
        missing = set(getattr(module, "__all__", ())) - exported
        assert not missing, f"{module.__name__} exports {missing} but topology.__all__ does not"


def test_public_functions_have_numpydoc_examples():
    for name in topology.__all__:
        obj = getattr(topology, name)
        if callable(obj) and getattr(obj, "__module__", "").startswith("topology.io_") or name in (
            "load", "loads", "sniff_format", "PodNameMapper", "pod_to_service",
        ):
            assert obj.__doc__ and "Examples" in obj.__doc__, f"{name} has no Examples section"


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_causal_edges_are_read_as_reversed_calls(tmp_path):
    causal_csv = "source,target\ndb,api\napi,web\n"  # cause -> effect, as causal-discovery output has it
    g = loads(causal_csv, "edges-csv", edges="causal")
    assert sorted((c.caller, c.callee) for c in g.calls) == [("api", "db"), ("web", "api")]
    path = tmp_path / "causal.csv"
    path.write_text(causal_csv)
    assert load(path, edges="causal") == g
    assert load(path, edges=" Causal ") == g  # case and blanks do not matter
    assert load(path) == g.reversed()  # the default: arrows are calls
    adjacency = ",db,api\ndb,0,1\napi,0,0\n"
    assert loads(adjacency, None, edges="causal").calls == [Call("api", "db", 1.0)]


def test_edges_must_be_calls_or_causal_and_traces_are_always_calls(tmp_path):
    with pytest.raises(TopologyError, match="edges must be 'calls'") as info:
        loads("caller,callee\na,b\n", None, edges="backwards")
    assert info.value.field == "edges"
    (tmp_path / "04_03_trace.csv").write_text(NEZHA)
    with pytest.raises(TopologyError, match="traces record who called whom") as info:
        load(tmp_path, edges="causal")
    assert info.value.field == "edges"
    with pytest.raises(TopologyError, match="zipkin traces record who called whom"):
        loads('[{"traceId": "t", "id": "1", "localEndpoint": {"serviceName": "web"}}]', "zipkin", edges="causal")
