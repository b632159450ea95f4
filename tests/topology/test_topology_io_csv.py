"""Edge-list and adjacency-matrix CSV: parsing, errors with file + line, round trips."""

from __future__ import annotations

import io

import pytest

from topology import (
    Call,
    NodeKind,
    ServiceGraph,
    TopologyError,
    dumps_adjacency_csv,
    dumps_edge_csv,
    loads_adjacency_csv,
    loads_edge_csv,
    read_adjacency_csv,
    read_edge_csv,
    write_adjacency_csv,
    write_edge_csv,
)

# A few lines in the shape of Nezha's online-boutique metric/dependency.csv.
NEZHA_DEPENDENCY = """\
Source,Target,Weight
checkoutservice,emailservice,1
frontend,checkoutservice,1
frontend,cartservice,1
adservice,33.33.33.76,1
cartservice,33.33.33.80,1
"""

# The shape of PetShop's graph.csv: empty corner, float cells, AWS-style labels.
PETSHOP_GRAPH = """\
,PetSite,PetSearch_AWS::ECS::Fargate,DynamoDB_AWS::DynamoDB,169.254.170.2_remote
PetSite,0.0,1.0,0.0,1.0
PetSearch_AWS::ECS::Fargate,0.0,0.0,1.0,0.0
DynamoDB_AWS::DynamoDB,0.0,0.0,0.0,0.0
169.254.170.2_remote,0.0,0.0,0.0,0.0
"""


# -- edge list ----------------------------------------------------------------
def test_nezha_style_edge_list():
    g = loads_edge_csv(NEZHA_DEPENDENCY)
    assert g.services == [
        "checkoutservice", "emailservice", "frontend", "cartservice", "adservice",
        "33.33.33.76", "33.33.33.80",
    ]
    assert g.kind("33.33.33.76") is NodeKind.HOST
    assert g.kind("cartservice") is NodeKind.SERVICE
    assert g.calls[0] == Call("checkoutservice", "emailservice", 1.0, None)


@pytest.mark.parametrize(
    "header",
    ["Source,Target", "source,target", "SOURCE,TARGET", "caller,callee", " Caller , Callee "],
)
def test_edge_header_names_are_case_insensitive(header):
    g = loads_edge_csv(f"{header}\na,b\n")
    assert g.calls == [Call("a", "b")]


def test_edge_columns_may_come_in_any_order_with_optional_calls():
    g = loads_edge_csv("Calls,Weight,Target,Source\n7,0.5,b,a\n,,c,a\n")
    assert g.calls == [Call("a", "b", 0.5, 7), Call("a", "c", None, None)]


def test_ipv6_nodes_are_hosts_and_blank_lines_are_skipped():
    g = loads_edge_csv("Source,Target\n\nweb,fe80::1\n\n")
    assert g.kind("fe80::1") is NodeKind.HOST


def test_quoted_names_with_commas():
    g = loads_edge_csv('Source,Target\n"svc, eu",db\n')
    assert g.services == ["svc, eu", "db"]
    assert loads_edge_csv(dumps_edge_csv(g)) == g


EDGE_ERRORS = [
    ("", "the CSV is empty", 1, None),
    ("Source,Target,Colour\na,b,red\n", "unknown column 'Colour'", 1, "Colour"),
    ("Source,caller\na,b\n", "repeats the caller column 'Source'", 1, "caller"),
    ("Source,Weight\na,1\n", "has no Target \\(or callee\\) column", 1, None),
    ("Weight,Target\n1,a\n", "has no Source \\(or caller\\) column", 1, None),
    ("Source,Target\na,b\nc\n", "expected 2 cells like the header, got 1", 3, None),
    ("Source,Target\na,b\n ,c\n", "the caller name is empty", 3, "Source"),
    ("Source,Target\na,\n", "the callee name is empty", 2, "Target"),
    ("Source,Target,Weight\na,b,heavy\n", "the weight must be a number, got 'heavy'", 2, "Weight"),
    ("Source,Target,Weight\na,b,inf\n", "the weight must be a finite number", 2, "Weight"),
    ("Source,Target,Calls\na,b,2.5\n", "the call count must be an integer >= 0, got '2.5'", 2, "Calls"),
    ("Source,Target,Calls\na,b,-1\n", "integer >= 0, got '-1'", 2, "Calls"),
    ("Source,Target,Calls\na,b,\u00b2\n", "integer >= 0, got '\u00b2'", 2, "Calls"),
    ("Source,Target\na,b\nc,d\na,b\n", "edge a -> b repeats line 2", 4, None),
    ('Source,Target\n"a,b\n', "malformed CSV", 2, None),
]


@pytest.mark.parametrize(("text", "match", "line", "field"), EDGE_ERRORS)
def test_edge_csv_errors_name_line_and_column(text, match, line, field):
    with pytest.raises(TopologyError, match=match) as info:
        loads_edge_csv(text, source="dependency.csv")
    assert info.value.line == line
    assert info.value.field == field
    assert str(info.value).startswith(f"dependency.csv, line {line}")


def test_edge_csv_file_errors_name_the_file(tmp_path):
    path = tmp_path / "dependency.csv"
    path.write_text("Source,Target,Weight\na,b,1\na,c,x\n")
    with pytest.raises(TopologyError, match=r"dependency\.csv, line 3, field 'Weight'"):
        read_edge_csv(path)


def test_edge_csv_round_trip_with_weights_and_counts(tmp_path):
    g = ServiceGraph()
    g.add_call("frontend", "cart", weight=0.1, calls=3)
    g.add_call("cart", "10.0.0.1")
    g.add_service("10.0.0.1", kind="host")
    g.add_call("frontend", "ads", weight=1e-300)
    path = tmp_path / "edges.csv"
    write_edge_csv(g, path)
    assert path.read_text().splitlines()[0] == "Source,Target,Weight,Calls"
    assert read_edge_csv(path) == g
    buf = io.StringIO()
    write_edge_csv(g, buf)
    assert loads_edge_csv(buf.getvalue()) == g


def test_edge_csv_writes_only_the_columns_it_needs():
    assert dumps_edge_csv(ServiceGraph(calls=[("a", "b")])) == "Source,Target\na,b\n"
    assert dumps_edge_csv(ServiceGraph(["lonely"])) == "Source,Target\n"  # isolated nodes are lost


# -- adjacency matrix ---------------------------------------------------------
def test_petshop_style_adjacency():
    g = loads_adjacency_csv(PETSHOP_GRAPH)
    assert g.services[0] == "PetSite" and len(g) == 4
    assert g.calls == [
        Call("PetSite", "PetSearch_AWS::ECS::Fargate", 1.0),
        Call("PetSite", "169.254.170.2_remote", 1.0),
        Call("PetSearch_AWS::ECS::Fargate", "DynamoDB_AWS::DynamoDB", 1.0),
    ]
    assert g.kind("169.254.170.2_remote") is NodeKind.SERVICE  # not an IP address


def test_adjacency_rows_may_be_in_another_order_and_corner_may_be_named():
    g = loads_adjacency_csv("node,a,b\nb,2.5,0\na,0,0\n")
    assert g.services == ["a", "b"]
    assert g.calls == [Call("b", "a", 2.5)]


ADJ_ERRORS = [
    ("", "the CSV is empty", 1, None),
    (",a,\na,0,0\n", "column 3 of the header has an empty label", 1, "column 3"),
    (",a,a\na,0,0\n", "column label 'a' repeats column 2", 1, "a"),
    (",a,b\na,0\nb,0,0\n", "expected 3 cells like the header, got 2", 2, None),
    (",a,b\n,0,0\nb,0,0\n", "the row label \\(first cell\\) is empty", 2, None),
    (",a,b\na,0,0\na,0,0\n", "row label 'a' repeats line 2", 3, None),
    (",a,b\na,0,0\nc,0,0\n", "row label 'c' is not a column label", 3, None),
    (",a,b\na,0,0\n", "no row for the column label\\(s\\) 'b'", 1, None),
    (",a,b\na,0,0\nb,yes,0\n", "cell \\(row 'b', column 2 'a'\\) must be a number, got 'yes'", 3, "a"),
    (",a,b\na,0,\nb,0,0\n", "column 3 'b'\\) must be a number, got ''", 2, "b"),
    (",a,b\na,0,nan\nb,0,0\n", "must be a finite number", 2, "b"),
]


@pytest.mark.parametrize(("text", "match", "line", "field"), ADJ_ERRORS)
def test_adjacency_errors_name_line_and_column(text, match, line, field):
    with pytest.raises(TopologyError, match=match) as info:
        loads_adjacency_csv(text, source="graph.csv")
    assert info.value.line == line
    assert info.value.field == field
    assert info.value.source == "graph.csv"


def test_adjacency_round_trip(tmp_path):
    g = ServiceGraph(["isolated"])
    g.add_call("a", "b", weight=0.3)
    g.add_call("b", "a", weight=-2.0)
    g.add_call("a", "a", weight=1.0)
    path = tmp_path / "graph.csv"
    write_adjacency_csv(g, path)
    assert read_adjacency_csv(path) == g


def test_adjacency_writes_unweighted_calls_as_one():
    text = dumps_adjacency_csv(ServiceGraph(calls=[("a", "b")]))
    assert text == ",a,b\na,0,1\nb,0,0\n"
    assert loads_adjacency_csv(text).calls == [Call("a", "b", 1.0)]


@pytest.mark.parametrize("weight", [0.0, float("nan"), float("inf")])
def test_adjacency_refuses_weights_it_cannot_hold(weight):
    g = ServiceGraph()
    g.add_call("a", "b", weight=weight)
    with pytest.raises(TopologyError, match="which an adjacency matrix cannot hold") as info:
        dumps_adjacency_csv(g)
    assert info.value.field == "a -> b"
