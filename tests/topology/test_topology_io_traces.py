"""Spans to call graph: Nezha CSV, OTLP/JSON, Jaeger, Zipkin; sniffing; the span table."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from topology import (
    SPAN_COLUMNS,
    Call,
    ServiceGraph,
    TopologyError,
    graph_from_jaeger,
    graph_from_otlp,
    graph_from_spans,
    graph_from_zipkin,
    loads_traces,
    normalize_spans_csv,
    read_spans_csv,
    read_traces,
)

# Hand-written in the shape of Nezha's online-boutique trace/*.csv: the
# frontend's client span (in the frontend pod) is the parent of the server
# span in cartservice; f3 is an internal frontend step; x9's parent is missing.
NEZHA_SPANS = """\
TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration
t1,f1,root,frontend-579b9bff58-t2dbm,hipstershop.Frontend/Recv.,1661140994180863716,1661140994401635594,220771
t1,f2,f1,frontend-579b9bff58-t2dbm,hipstershop.CartService/GetCart,1661140994201329213,1661140994206836711,5507
t1,c1,f2,cartservice-579f59597d-wc2lz,hipstershop.CartService/GetCart,1661140994202000000,1661140994206000000,4000
t1,r1,c1,redis-cart-0,HGET,1661140994203000000,1661140994204000000,1000
t1,f3,f1,frontend-579b9bff58-t2dbm,render,1661140994210000000,1661140994211000000,1000
t2,g1,root,frontend-579b9bff58-t2dbm,hipstershop.Frontend/Recv.,1661140995000000000,1661140995100000000,100000
t2,c2,g1,cartservice-579f59597d-wc2lz,hipstershop.CartService/GetCart,1661140995001000000,1661140995002000000,1000
t2,x9,gone,cartservice-579f59597d-wc2lz,orphan,1661140995001000000,1661140995002000000,1000
"""

EXPECTED = ServiceGraph(
    ["cartservice", "frontend", "redis-cart"],
    [Call("cartservice", "redis-cart", calls=1), Call("frontend", "cartservice", calls=2)],
)


def _frame(text: str = NEZHA_SPANS) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str)


# -- Nezha span CSV -----------------------------------------------------------
def test_nezha_spans_to_call_graph(tmp_path):
    path = tmp_path / "04_03_trace.csv"
    path.write_text(NEZHA_SPANS)
    g = read_spans_csv(path)
    assert g == EXPECTED
    assert g.services == ["cartservice", "frontend", "redis-cart"]  # sorted
    assert read_spans_csv(_frame()) == EXPECTED
    assert read_traces(path) == EXPECTED


def test_internal_spans_are_kept_on_request():
    g = read_spans_csv(_frame(), include_internal=True)
    assert g.calls[-1] == Call("frontend", "frontend", calls=2)  # f1 -> f2, f1 -> f3


def test_service_of_can_keep_pod_names():
    g = read_spans_csv(_frame(), service_of=str)
    assert "frontend-579b9bff58-t2dbm" in g and "redis-cart-0" in g


def test_several_files_and_a_folder_are_concatenated(tmp_path):
    head, *rows = NEZHA_SPANS.splitlines()
    (tmp_path / "a.csv").write_text("\n".join([head, *rows[:5]]) + "\n")
    (tmp_path / "b.csv").write_text("\n".join([head, *rows[5:]]) + "\n")
    files = [tmp_path / "a.csv", tmp_path / "b.csv"]
    assert read_spans_csv(files) == EXPECTED
    assert read_spans_csv(tmp_path) == EXPECTED
    assert read_traces(files) == EXPECTED
    assert len(normalize_spans_csv(tmp_path)) == 8


def test_normalize_spans_csv_columns_and_types():
    spans = normalize_spans_csv(_frame())
    assert tuple(spans.columns) == SPAN_COLUMNS
    assert list(spans.index) == list(range(8))
    assert spans["parent_id"].isna().tolist() == [True] + [False] * 4 + [True, False, False]
    assert spans.loc[0, "service"] == "frontend" and spans.loc[3, "service"] == "redis-cart"
    assert str(spans["start"].dtype) == "datetime64[ns, UTC]"
    assert spans.loc[0, "start"] == pd.Timestamp(1661140994180863716, unit="ns", tz="UTC")
    assert spans.loc[0, "end"] - spans.loc[0, "start"] == pd.Timedelta(220771878, unit="ns")
    assert spans["duration_us"].dtype == "int64"
    assert spans.loc[0, "duration_us"] == 220771
    assert spans.loc[0, "operation"] == "hipstershop.Frontend/Recv."


def test_duration_is_computed_when_the_column_is_absent():
    spans = normalize_spans_csv(_frame().drop(columns="Duration"))
    assert spans.loc[0, "duration_us"] == 220771  # 220771878 ns, floored


def test_hex_ids_that_look_numeric_stay_text(tmp_path):
    text = NEZHA_SPANS.replace("f1", "1e10").replace("f2", "0012")
    path = tmp_path / "t.csv"
    path.write_text(text)
    spans = normalize_spans_csv(path)
    assert spans.loc[0, "span_id"] == "1e10" and spans.loc[1, "span_id"] == "0012"
    assert read_spans_csv(path) == EXPECTED


def test_graph_from_spans_needs_its_columns():
    with pytest.raises(TopologyError, match="lacks the column\\(s\\) parent_id") as info:
        graph_from_spans(pd.DataFrame(columns=["trace_id", "span_id", "service"]))
    assert info.value.field == "parent_id"


def test_empty_span_table_gives_an_empty_graph():
    empty = normalize_spans_csv(_frame().iloc[:0])
    assert graph_from_spans(empty) == ServiceGraph()


NEZHA_ERRORS = [
    (
        lambda t: t.replace("PodName", "Pod"),
        "missing column\\(s\\) PodName",
        1,
        "PodName",
    ),
    (lambda t: t.replace("t2,c2,g1,cartservice-579f59597d-wc2lz", "t2,c2,g1,"), "empty PodName", 8, "PodName"),
    (lambda t: t.replace("t1,r1,c1", ",r1,c1"), "empty TraceID", 5, "TraceID"),
    (
        lambda t: t.replace("1661140994203000000,", "soon,"),
        "StartTimeUnixNano must be an integer, got 'soon'",
        5,
        "StartTimeUnixNano",
    ),
    (lambda t: t.replace(",1000\n", ",1.5\n", 1), "Duration must be an integer", 5, "Duration"),
]


@pytest.mark.parametrize(("edit", "match", "line", "field"), NEZHA_ERRORS)
def test_nezha_errors_name_file_line_and_column(tmp_path, edit, match, line, field):
    path = tmp_path / "bad_trace.csv"
    path.write_text(edit(NEZHA_SPANS))
    with pytest.raises(TopologyError, match=match) as info:
        read_spans_csv(path)
    assert info.value.source == str(path)
    assert info.value.line == line
    assert info.value.field == field


def test_nezha_frame_errors_name_the_row():
    frame = _frame()
    frame.loc[3, "SpanID"] = ""
    with pytest.raises(TopologyError, match="empty SpanID \\(row 3 of the frame\\)") as info:
        normalize_spans_csv(frame)
    assert info.value.line is None and info.value.source == "<DataFrame>"


def test_nezha_unreadable_inputs(tmp_path):
    with pytest.raises(TopologyError, match="cannot read the file"):
        read_spans_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(TopologyError, match="the span CSV is empty"):
        read_spans_csv(tmp_path / "empty.csv")
    (tmp_path / "sub").mkdir()
    with pytest.raises(TopologyError, match="holds no \\*.csv span files"):
        read_spans_csv(tmp_path / "sub")
    with pytest.raises(TopologyError, match="no span files given"):
        read_spans_csv([])


# -- OTLP/JSON ----------------------------------------------------------------
def _resource(service: str, spans: list[dict], scope_key: str = "scopeSpans") -> dict:
    return {
        "resource": {
            "attributes": [
                {"key": "host.name", "value": {"stringValue": "node-1"}},
                {"key": "service.name", "value": {"stringValue": service}},
            ]
        },
        scope_key: [{"scope": {"name": "io.opentelemetry.http"}, "spans": spans}],
    }


OTLP = {
    "resourceSpans": [
        _resource(
            "frontend",
            [
                {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174", "parentSpanId": "", "name": "GET /"},
                {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175", "parentSpanId": "eee19b7ec3c1b174", "name": "client"},
            ],
        ),
        _resource(
            "cart",
            [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "aaaa", "parentSpanId": "eee19b7ec3c1b175"}],
            scope_key="instrumentationLibrarySpans",
        ),
    ]
}


def test_otlp_to_call_graph():
    g = graph_from_otlp(OTLP)
    assert g.calls == [Call("frontend", "cart", calls=1)]
    assert graph_from_otlp(OTLP, include_internal=True).has_call("frontend", "frontend")
    assert graph_from_otlp([OTLP, OTLP]).calls == [Call("frontend", "cart", calls=2)]
    assert graph_from_otlp(OTLP, service_of=str.upper).services == ["CART", "FRONTEND"]


def test_otlp_json_lines_are_sniffed(tmp_path):
    path = tmp_path / "otel.jsonl"
    path.write_text(json.dumps(OTLP) + "\n" + json.dumps(OTLP) + "\n")
    assert read_traces(path).calls == [Call("frontend", "cart", calls=2)]


OTLP_ERRORS = [
    ({"spans": []}, "missing required key 'resourceSpans'", "resourceSpans"),
    ({"resourceSpans": {}}, "expected a list", "resourceSpans"),
    ({"resourceSpans": [1]}, "expected an object", "resourceSpans[0]"),
    (
        {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": []}]},
        "no string attribute 'service.name'",
        "resourceSpans[0].resource.attributes",
    ),
    (
        {"resourceSpans": [_resource("a", [{"spanId": "1"}])]},
        "missing required key 'traceId'",
        "resourceSpans[0].scopeSpans[0].spans[0].traceId",
    ),
    (
        {"resourceSpans": [_resource("a", [{"traceId": "t", "spanId": ""}])]},
        "missing or empty id",
        "resourceSpans[0].scopeSpans[0].spans[0].spanId",
    ),
    (
        {"resourceSpans": [_resource("a", [{"traceId": "t", "spanId": ["x"]}])]},
        "expected an id string, got list",
        "resourceSpans[0].scopeSpans[0].spans[0].spanId",
    ),
]


@pytest.mark.parametrize(("doc", "match", "field"), OTLP_ERRORS)
def test_otlp_errors_name_the_field(doc, match, field):
    with pytest.raises(TopologyError, match=match) as info:
        graph_from_otlp(doc, source="otel.json")
    assert info.value.field == field
    assert info.value.source == "otel.json"


# -- Jaeger -------------------------------------------------------------------
JAEGER = {
    "data": [
        {
            "traceID": "abc",
            "processes": {"p1": {"serviceName": "frontend"}, "p2": {"serviceName": "cart"}},
            "spans": [
                {"traceID": "abc", "spanID": "1", "processID": "p1", "references": []},
                {"traceID": "abc", "spanID": "2", "processID": "p1",
                 "references": [{"refType": "CHILD_OF", "traceID": "abc", "spanID": "1"}]},
                {"traceID": "abc", "spanID": "3", "processID": "p2",
                 "references": [{"refType": "CHILD_OF", "traceID": "abc", "spanID": "2"}]},
                # FOLLOWS_FROM is not a call.
                {"traceID": "abc", "spanID": "4", "processID": "p2",
                 "references": [{"refType": "FOLLOWS_FROM", "traceID": "abc", "spanID": "1"}]},
                # An inline process (older exports) and a parent in another trace.
                {"traceID": "abc", "spanID": "5", "process": {"serviceName": "mailer"},
                 "references": [{"refType": "CHILD_OF", "traceID": "zzz", "spanID": "1"}]},
            ],
        }
    ]
}


def test_jaeger_to_call_graph(tmp_path):
    g = graph_from_jaeger(JAEGER)
    assert g.calls == [Call("frontend", "cart", calls=1)]
    assert g.services == ["cart", "frontend", "mailer"]
    path = tmp_path / "jaeger.json"
    path.write_text(json.dumps(JAEGER))
    assert read_traces(path) == g
    assert read_traces(path, format="JAEGER") == g


JAEGER_ERRORS = [
    ({"traces": []}, "missing required key 'data'", "data"),
    ({"data": [{"spans": [{"spanID": "1", "traceID": "t"}]}]}, "missing required key 'processID'", "data[0].spans[0].processID"),
    (
        {"data": [{"processes": {}, "spans": [{"spanID": "1", "traceID": "t", "processID": "p9"}]}]},
        "processID 'p9' is not in the trace's processes",
        "data[0].spans[0].processID",
    ),
    (
        {"data": [{"processes": {"p": {"serviceName": ""}}, "spans": [{"spanID": "1", "traceID": "t", "processID": "p"}]}]},
        "serviceName must be a non-empty string",
        "data[0].spans[0].process.serviceName",
    ),
    ({"data": [{"processes": {}}]}, "missing required key 'spans'", "data[0].spans"),
]


@pytest.mark.parametrize(("doc", "match", "field"), JAEGER_ERRORS)
def test_jaeger_errors_name_the_field(doc, match, field):
    with pytest.raises(TopologyError, match=match) as info:
        graph_from_jaeger(doc)
    assert info.value.field == field


# -- Zipkin -------------------------------------------------------------------
ZIPKIN = [
    {"traceId": "t1", "id": "1", "kind": "SERVER", "localEndpoint": {"serviceName": "frontend"}},
    {"traceId": "t1", "id": "2", "parentId": "1", "kind": "CLIENT", "localEndpoint": {"serviceName": "frontend"}},
    {"traceId": "t1", "id": "3", "parentId": "2", "kind": "SERVER", "localEndpoint": {"serviceName": "cart"}},
    {"traceId": "t1", "id": "4", "parentId": "3", "kind": "CLIENT", "localEndpoint": {"serviceName": "cart"}},
    # Shared span: the redis server half reuses the client's id 4.
    {"traceId": "t1", "id": "4", "parentId": "3", "kind": "SERVER", "shared": True, "localEndpoint": {"serviceName": "redis"}},
    {"traceId": "t1", "id": "5", "parentId": "4", "localEndpoint": {"serviceName": "redis"}},
]


def test_zipkin_to_call_graph_with_shared_spans():
    g = graph_from_zipkin(ZIPKIN)
    assert g.calls == [Call("cart", "redis", calls=1), Call("frontend", "cart", calls=1)]
    assert graph_from_zipkin([ZIPKIN, ZIPKIN]).calls[0].calls == 2  # list of traces
    assert loads_traces(json.dumps(ZIPKIN)) == g


def test_zipkin_shared_span_without_its_client_keeps_its_parent():
    spans = [ZIPKIN[0], {**ZIPKIN[4], "parentId": "1"}]
    assert graph_from_zipkin(spans).calls == [Call("frontend", "redis", calls=1)]


ZIPKIN_ERRORS = [
    ({"traceId": "t"}, "expected a list, got dict", ""),
    ([{"id": "1"}], "missing required key 'traceId'", "[0].traceId"),
    ([{"traceId": "t", "id": "1"}], "no localEndpoint.serviceName", "[0].localEndpoint.serviceName"),
    ([[{"traceId": "t", "localEndpoint": {"serviceName": "a"}}]], "missing required key 'id'", "[0][0].id"),
]


@pytest.mark.parametrize(("doc", "match", "field"), ZIPKIN_ERRORS)
def test_zipkin_errors_name_the_field(doc, match, field):
    with pytest.raises(TopologyError, match=match) as info:
        graph_from_zipkin(doc)
    assert info.value.field == field


# -- read_traces / loads_traces ----------------------------------------------
def test_loads_traces_sniffs_every_format():
    assert loads_traces(json.dumps(OTLP)).calls == [Call("frontend", "cart", calls=1)]
    assert loads_traces(json.dumps(JAEGER)).has_call("frontend", "cart")
    assert loads_traces(NEZHA_SPANS) == EXPECTED
    assert loads_traces(NEZHA_SPANS.encode(), "nezha-spans") == EXPECTED


def test_trace_format_errors(tmp_path):
    with pytest.raises(TopologyError, match="unknown trace format 'pcap'; use one of: otlp, jaeger") as info:
        loads_traces("{}", "pcap")
    assert info.value.field == "format"
    with pytest.raises(TopologyError, match="cannot tell the trace format"):
        loads_traces('{"hello": 1}')
    with pytest.raises(TopologyError, match="line 1: invalid JSON"):
        loads_traces('{"resourceSpans": [}')
    with pytest.raises(TopologyError, match="line 2: invalid JSON line"):
        loads_traces('{"resourceSpans": []}\n{oops}\n')
    with pytest.raises(TopologyError, match="reads one file at a time"):
        read_traces([tmp_path / "a.json"], format="zipkin")
    with pytest.raises(TopologyError, match="cannot read the file"):
        read_traces(tmp_path / "missing.json")
