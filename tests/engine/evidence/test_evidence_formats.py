"""OTLP, Jaeger and Zipkin JSON spans read into the span table, with their timings and errors.

Payload shapes: OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding), Jaeger's
``/api/traces`` JSON (https://www.jaegertracing.io/docs/latest/apis/), Zipkin v2
(https://zipkin.io/zipkin-api/#/default/post_spans).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rca.engine.evidence.inputs import read_span_input
from rca.engine.evidence.spans import span_series

NS = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC


def _otlp() -> dict:
    def res(service: str, *spans: dict) -> dict:
        return {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"spans": list(spans)}]}
    return {"resourceSpans": [
        res("web", {"traceId": "ab", "spanId": "01", "parentSpanId": "", "name": "GET /cart",
                    "startTimeUnixNano": str(NS), "endTimeUnixNano": str(NS + 30_000_000)}),
        res("cart", {"traceId": "ab", "spanId": "02", "parentSpanId": "01", "name": "GetCart",
                     "startTimeUnixNano": str(NS + 1_000_000), "endTimeUnixNano": str(NS + 21_000_000),
                     "status": {"code": 2}}),
    ]}


def _jaeger() -> dict:
    us = NS // 1000
    return {"data": [{"traceID": "ab", "processes": {"p1": {"serviceName": "web"}, "p2": {"serviceName": "cart"}},
                      "spans": [
                          {"traceID": "ab", "spanID": "01", "processID": "p1", "operationName": "GET /cart",
                           "startTime": us, "duration": 30_000, "references": []},
                          {"traceID": "ab", "spanID": "02", "processID": "p2", "operationName": "GetCart",
                           "startTime": us + 1000, "duration": 20_000,
                           "references": [{"refType": "CHILD_OF", "traceID": "ab", "spanID": "01"}],
                           "tags": [{"key": "error", "type": "bool", "value": True}]}]}]}


def _zipkin() -> list:
    us = NS // 1000
    return [{"traceId": "ab", "id": "01", "name": "get /cart", "timestamp": us, "duration": 30_000,
             "localEndpoint": {"serviceName": "web"}},
            {"traceId": "ab", "id": "02", "parentId": "01", "name": "getcart", "timestamp": us + 1000,
             "duration": 20_000, "localEndpoint": {"serviceName": "cart"}, "tags": {"error": "boom"}}]


def test_every_json_format_gives_the_same_table(tmp_path: Path) -> None:
    for name, doc in (("otlp", _otlp()), ("jaeger", _jaeger()), ("zipkin", _zipkin())):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        spans = read_span_input(path)
        cart = spans[spans.service == "cart"].iloc[0]
        assert cart["duration_us"] == 20_000, name
        assert bool(cart["error"]) is True, name
        assert cart["start"] == pd.Timestamp(NS + 1_000_000, unit="ns", tz="UTC"), name
        m = span_series(spans).set_index(["service", "metric"])["value"]
        op = "GetCart" if name != "zipkin" else "getcart"
        assert m[("cart", f"span:{op} latency p90")] == 20.0, name
        assert m[("cart", f"span:{op} errors")] == 1.0, name
        assert m[("web", "span:calls to cart")] == 1.0, name


def test_json_lines_of_otlp(tmp_path: Path) -> None:
    path = tmp_path / "otlp.jsonl"
    doc = _otlp()
    path.write_text("\n".join(json.dumps({"resourceSpans": [r]}) for r in doc["resourceSpans"]))
    assert sorted(read_span_input(path)["service"]) == ["cart", "web"]
