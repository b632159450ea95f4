"""JSON and YAML topology documents: parsing, validation errors, round trips."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from topology import (
    Call,
    NodeKind,
    ServiceGraph,
    TopologyError,
    dumps_json,
    dumps_yaml,
    graph_from_dict,
    loads_json,
    loads_yaml,
    read_json,
    read_yaml,
    write_json,
    write_yaml,
)

DOC = {
    "services": [
        "frontend",
        {"name": "cart-db", "kind": "database", "tags": {"team": "payments"}},
        {"name": "33.33.33.76", "kind": "host"},
    ],
    "calls": [
        {"caller": "frontend", "callee": "cart", "weight": 0.25, "calls": 120},
        {"caller": "cart", "callee": "cart-db"},
        {"caller": "cart", "callee": "33.33.33.76", "weight": 1},
    ],
}

# (name, loads, dumps, read, write, how to serialise a raw document)
FORMATS = [
    pytest.param(loads_json, dumps_json, read_json, write_json, json.dumps, id="json"),
    pytest.param(loads_yaml, dumps_yaml, read_yaml, write_yaml, yaml.safe_dump, id="yaml"),
]


@pytest.mark.parametrize(("loads", "dumps", "read", "write", "serialise"), FORMATS)
def test_document_is_parsed(loads, dumps, read, write, serialise):
    g = loads(serialise(DOC))
    assert g.services == ["frontend", "cart-db", "33.33.33.76", "cart"]
    assert g.kind("cart-db") is NodeKind.DATABASE
    assert g.node("cart-db").tags == {"team": "payments"}
    assert g.kind("cart") is NodeKind.SERVICE  # undeclared callee: added as a service
    assert g.calls[0] == Call("frontend", "cart", 0.25, 120)
    assert g.calls[2].weight == 1.0 and isinstance(g.calls[2].weight, float)


@pytest.mark.parametrize(("loads", "dumps", "read", "write", "serialise"), FORMATS)
def test_round_trip_is_exact(loads, dumps, read, write, serialise, tmp_path, make_topology):
    g = loads(serialise(DOC))
    again = loads(dumps(g))
    assert again.to_dict() == g.to_dict()  # order included
    path = tmp_path / "topo.txt"
    write(g, path)
    assert read(path).to_dict() == g.to_dict()
    buf = io.StringIO()
    write(make_topology("mutual"), buf)
    assert read(io.StringIO(buf.getvalue())) == make_topology("mutual")
    assert read(io.BytesIO(buf.getvalue().encode())) == make_topology("mutual")


@pytest.mark.parametrize(("loads", "dumps", "read", "write", "serialise"), FORMATS)
def test_to_dict_is_the_document_form(loads, dumps, read, write, serialise):
    g = loads(serialise(DOC))
    assert graph_from_dict(g.to_dict()).to_dict() == g.to_dict()


def test_minimal_documents():
    assert loads_json("{}") == ServiceGraph()
    assert loads_json('{"services": null, "calls": null}') == ServiceGraph()
    assert loads_yaml("calls: [{caller: a, callee: b}]").services == ["a", "b"]
    assert loads_json('{"services": ["  padded "]}').services == ["padded"]


def test_bytes_and_bom_are_accepted():
    assert loads_json('\ufeff{"services": ["a"]}'.encode()).services == ["a"]
    assert loads_yaml(b"services: [a]").services == ["a"]


# Every validation branch: (document, message regex, field)
INVALID = [
    ([], "must be a mapping with 'services' and 'calls', got list", None),
    ({"service": []}, "unknown key 'service'; allowed keys are services, calls", "service"),
    ({"services": {"a": 1}}, "expected a list, got dict", "services"),
    ({"services": [1]}, "a service is a name or a mapping with 'name', got int", "services[0]"),
    ({"services": [""]}, "expected a non-empty string", "services[0]"),
    ({"services": [{"kind": "database"}]}, "missing required key 'name'", "services[0].name"),
    ({"services": [{"name": 5}]}, "expected a non-empty string, got int 5", "services[0].name"),
    ({"services": [{"name": "a", "colour": "red"}]}, "unknown key 'colour'", "services[0].colour"),
    ({"services": [{"name": "a", "kind": "cache"}]}, "unknown node kind 'cache'", "services[0].kind"),
    ({"services": [{"name": "a", "kind": 3}]}, "expected a string, got int", "services[0].kind"),
    ({"services": [{"name": "a", "tags": ["x"]}]}, "tags must be a mapping", "services[0].tags"),
    ({"services": [{"name": "a", "tags": {"v": 2}}]}, "quote numbers", "services[0].tags.v"),
    ({"services": ["a", {"name": "a"}]}, r"declared twice \(first at services\[0\]\)", "services[1]"),
    ({"calls": "a->b"}, "expected a list, got str", "calls"),
    ({"calls": [["a", "b"]]}, "a call is a mapping with 'caller' and 'callee'", "calls[0]"),
    ({"calls": [{"callee": "b"}]}, "missing required key 'caller'", "calls[0].caller"),
    ({"calls": [{"caller": "a"}]}, "missing required key 'callee'", "calls[0].callee"),
    ({"calls": [{"caller": "a", "callee": None}]}, "got null None", "calls[0].callee"),
    ({"calls": [{"caller": "a", "callee": "b", "to": "c"}]}, "unknown key 'to'", "calls[0].to"),
    ({"calls": [{"caller": "a", "callee": "b", "weight": "1"}]}, "expected a number, got str", "calls[0].weight"),
    ({"calls": [{"caller": "a", "callee": "b", "weight": True}]}, "expected a number, got bool", "calls[0].weight"),
    ({"calls": [{"caller": "a", "callee": "b", "weight": float("nan")}]}, "finite", "calls[0].weight"),
    ({"calls": [{"caller": "a", "callee": "b", "calls": 1.5}]}, "integer >= 0, got float", "calls[0].calls"),
    ({"calls": [{"caller": "a", "callee": "b", "calls": -1}]}, "integer >= 0, got -1", "calls[0].calls"),
    ({"calls": [{"caller": "a", "callee": "b", "calls": False}]}, "got bool", "calls[0].calls"),
    (
        {"calls": [{"caller": "a", "callee": "b"}, {"caller": "x", "callee": "y"}, {"caller": "a", "callee": "b"}]},
        r"call a -> b is listed twice \(first at calls\[0\]\)",
        "calls[2]",
    ),
]


@pytest.mark.parametrize(("doc", "match", "field"), INVALID)
def test_every_validation_branch_names_the_field(doc, match, field):
    with pytest.raises(TopologyError, match=match) as info:
        graph_from_dict(doc, source="topo.json")
    assert info.value.field == field
    assert info.value.source == "topo.json"
    assert info.value.line is None


def test_integer_weight_too_large_for_a_float():
    text = '{"calls": [{"caller": "a", "callee": "b", "weight": 1' + "0" * 400 + "}]}"
    with pytest.raises(TopologyError, match="expected a finite number") as info:
        loads_json(text)
    assert info.value.field == "calls[0].weight"


def test_calls_index_is_counted_in_the_message():
    doc = {"calls": [{"caller": "a", "callee": f"b{i}"} for i in range(3)] + [{"caller": "a", "callee": 7}]}
    with pytest.raises(TopologyError, match=r"field 'calls\[3\]\.callee'"):
        loads_json(json.dumps(doc))


def test_invalid_json_reports_the_line():
    with pytest.raises(TopologyError, match=r"line 3: invalid JSON: Expecting") as info:
        loads_json('{\n  "services": ["a"],\n  "calls": [,]\n}')
    assert info.value.line == 3 and info.value.field is None


def test_invalid_yaml_reports_the_line():
    with pytest.raises(TopologyError, match="invalid YAML") as info:
        loads_yaml("services:\n  - a\n calls: [b\n")
    assert info.value.line == 3


def test_empty_yaml_is_an_error():
    with pytest.raises(TopologyError, match="the YAML document is empty"):
        loads_yaml("# nothing here\n")


def test_yaml_is_parsed_safely():
    with pytest.raises(TopologyError, match="invalid YAML"):
        loads_yaml("services: !!python/object/apply:os.system ['true']")


def test_yaml_scalar_types_are_checked():
    with pytest.raises(TopologyError, match="tag keys and values must be strings") as info:
        loads_yaml("services: [{name: a, tags: {version: 2}}]")
    assert info.value.field == "services[0].tags.version"


def test_invalid_utf8_reports_the_line():
    with pytest.raises(TopologyError, match="not valid UTF-8") as info:
        loads_json(b'{\n"services": ["caf\xe9"]}')
    assert info.value.line == 2


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"calls": [{"caller": "a"}]}')
    with pytest.raises(TopologyError, match=r"broken\.json, field 'calls\[0\]\.callee'") as info:
        read_json(path)
    assert info.value.source == str(path)
    with pytest.raises(TopologyError, match="cannot read the file") as info:
        read_yaml(tmp_path / "missing.yaml")
    assert info.value.source.endswith("missing.yaml")


def test_loads_rejects_non_text():
    with pytest.raises(TopologyError, match="expected text or bytes, got dict"):
        loads_json({"services": []})  # type: ignore[arg-type]


def test_dumps_json_refuses_non_finite_weights():
    g = ServiceGraph()
    g.add_call("a", "b", weight=float("inf"))
    with pytest.raises(TopologyError, match="weights must be finite"):
        dumps_json(g)


def test_yaml_quotes_names_that_look_like_other_types():
    g = ServiceGraph(["yes", "null", "1.5", "0x10", "~"])
    assert loads_yaml(dumps_yaml(g)).services == ["yes", "null", "1.5", "0x10", "~"]
