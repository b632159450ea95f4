"""Span-derived metrics on a hand-made span table whose answers are worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from rca.engine.errors import InvalidInputError
from rca.evaluation.datasets.spans import SPAN_METRICS, span_metrics

T0 = pd.Timestamp("2024-01-01 00:00:00", tz="UTC")
T1 = T0 + pd.Timedelta(minutes=1)


def _at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def make_spans() -> pd.DataFrame:
    """Two traces over two minutes::

        00:00  web(s1, root, 100 ms) -> web(s2, internal) -> api(s3, 50 ms) -> db(s4, 10 ms), db(s5, 30 ms)
        00:01  web(r1, root, 200 ms) -> api(r2, 40 ms);  api(r3, 60 ms) whose parent is not in the table
    """
    rows = [
        ("T1", "s1", "root", "web", 10, 100_000, "200"),
        ("T1", "s2", "s1", "web", 11, 80_000, "200"),
        ("T1", "s3", "s2", "api", 12, 50_000, "500"),
        ("T1", "s4", "s3", "db", 13, 10_000, "STATUS_CODE_OK"),
        ("T1", "s5", "s3", "db", 14, 30_000, "STATUS_CODE_OK"),
        ("T2", "r1", None, "web", 65, 200_000, "200"),
        ("T2", "r2", "r1", "api", 66, 40_000, "200"),
        ("T2", "r3", "gone", "api", 67, 60_000, "STATUS_CODE_ERROR"),
    ]
    df = pd.DataFrame(rows, columns=["trace_id", "span_id", "parent_id", "service", "sec", "duration_us", "status_code"])
    df["start"] = [_at(s) for s in df.pop("sec")]
    df["end"] = df["start"] + pd.to_timedelta(df["duration_us"], unit="us")
    df["operation"] = "op"
    return df


def _table(m: pd.DataFrame) -> dict[tuple[pd.Timestamp, str, str], float]:
    return {(r.timestamp, r.service, r.metric): r.value for r in m.itertuples(index=False)}


def test_incoming_requests_latency_and_outgoing() -> None:
    got = _table(span_metrics(make_spans().drop(columns="status_code")))
    expected = {
        # minute 0
        (T0, "web", "span_requests"): 1,
        (T0, "web", "span_latency_p50"): 100,
        (T0, "web", "span_latency_p90"): 100,
        (T0, "web", "span_latency_p99"): 100,
        (T0, "web", "span_outgoing"): 1,  # s3, called from web's internal span s2
        (T0, "api", "span_requests"): 1,
        (T0, "api", "span_latency_p50"): 50,
        (T0, "api", "span_latency_p90"): 50,
        (T0, "api", "span_latency_p99"): 50,
        (T0, "api", "span_outgoing"): 2,
        (T0, "db", "span_requests"): 2,
        (T0, "db", "span_latency_p50"): 20,
        (T0, "db", "span_latency_p90"): 28,  # linear interpolation between 10 and 30 ms
        (T0, "db", "span_latency_p99"): 29.8,
        # minute 1
        (T1, "web", "span_requests"): 1,
        (T1, "web", "span_latency_p50"): 200,
        (T1, "web", "span_latency_p90"): 200,
        (T1, "web", "span_latency_p99"): 200,
        (T1, "web", "span_outgoing"): 1,
        (T1, "api", "span_requests"): 2,  # r2 and r3 (unknown parent counts as incoming)
        (T1, "api", "span_latency_p50"): 50,
        (T1, "api", "span_latency_p90"): 58,
        (T1, "api", "span_latency_p99"): 59.8,
        (T1, "api", "span_outgoing"): 0,  # zero-filled: api makes calls in other minutes
        (T1, "db", "span_requests"): 0,  # zero-filled; no latency without spans
    }
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key


def test_output_format() -> None:
    m = span_metrics(make_spans())
    assert list(m.columns) == ["timestamp", "service", "metric", "value"]
    assert str(m["timestamp"].dt.tz) == "UTC"
    assert m["value"].dtype == float
    assert set(m["metric"]) <= set(SPAN_METRICS)
    assert m["timestamp"].is_monotonic_increasing
    assert not m["value"].isna().any()


def test_errors_from_a_status_column() -> None:
    got = _table(span_metrics(make_spans()))
    assert got[(T0, "api", "span_errors")] == 1  # HTTP 500
    assert got[(T1, "api", "span_errors")] == 1  # STATUS_CODE_ERROR
    assert got[(T0, "web", "span_errors")] == 0
    assert got[(T0, "db", "span_errors")] == 0
    assert got[(T1, "db", "span_errors")] == 0


def test_errors_from_a_boolean_column() -> None:
    spans = make_spans().drop(columns="status_code")
    spans["error"] = [False, True, False, True, False, False, False, False]
    got = _table(span_metrics(spans))
    # s2 is internal work of web, so its error is not an incoming request's error
    assert got[(T0, "web", "span_errors")] == 0
    assert got[(T0, "db", "span_errors")] == 1


def test_no_error_column_no_error_metric() -> None:
    m = span_metrics(make_spans().drop(columns="status_code"))
    assert "span_errors" not in set(m["metric"])


def test_step_and_duplicates() -> None:
    spans = make_spans()
    doubled = pd.concat([spans, spans.iloc[[2]]], ignore_index=True)  # s3 twice (overlapping files)
    got = _table(span_metrics(doubled, step="5min"))
    assert got[(T0, "api", "span_requests")] == 3
    assert got[(T0, "db", "span_requests")] == 2
    assert got[(T0, "web", "span_outgoing")] == 2


def test_empty_table() -> None:
    m = span_metrics(make_spans().iloc[0:0])
    assert m.empty and list(m.columns) == ["timestamp", "service", "metric", "value"]


@pytest.mark.parametrize(
    ("spans", "step", "message"),
    [
        (make_spans().drop(columns="parent_id"), "1min", "lack the column"),
        ("not a frame", "1min", "must be a pandas DataFrame"),
        (make_spans(), "often", "step must be a duration"),
        (make_spans(), "0s", "step must be positive"),
    ],
)
def test_invalid_input(spans: object, step: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        span_metrics(spans, step=step)  # type: ignore[arg-type]


def test_accepts_the_normalized_nezha_span_table() -> None:
    from topology.io_spans import normalize_spans_csv

    t = int(T0.value)
    raw = pd.DataFrame(
        {
            "TraceID": ["x", "x", "x"],
            "SpanID": ["1", "2", "3"],
            "ParentID": ["root", "1", "2"],
            "PodName": ["frontend-579b9bff58-t2dbm", "frontend-579b9bff58-t2dbm", "cartservice-579f59597d-wc2lz"],
            "OperationName": ["Recv.", "GetCart", "GetCart"],
            "StartTimeUnixNano": [t, t + 1000, t + 2000],
            "EndTimeUnixNano": [t + 9_000_000, t + 5_000_000, t + 4_000_000],
            "Duration": [9000, 5000, 4000],
        }
    )
    got = _table(span_metrics(normalize_spans_csv(raw)))
    assert got == {
        (T0, "cartservice", "span_latency_p50"): 4.0,
        (T0, "cartservice", "span_latency_p90"): 4.0,
        (T0, "cartservice", "span_latency_p99"): 4.0,
        (T0, "cartservice", "span_requests"): 1.0,
        (T0, "frontend", "span_latency_p50"): 9.0,
        (T0, "frontend", "span_latency_p90"): 9.0,
        (T0, "frontend", "span_latency_p99"): 9.0,
        (T0, "frontend", "span_outgoing"): 1.0,
        (T0, "frontend", "span_requests"): 1.0,
    }
