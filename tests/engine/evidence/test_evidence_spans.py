"""Span events and minute series: a hand-made table whose answers are worked out by hand, and real Nezha spans."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rca.engine.errors import InvalidInputError
from rca.engine.evidence.inputs import read_span_input
from rca.engine.evidence.spans import span_events, span_series

FIXTURES = Path(__file__).parent / "fixtures"
T0 = pd.Timestamp("2024-01-01 00:00:00", tz="UTC")
T1 = T0 + pd.Timedelta(minutes=1)


def make_spans() -> pd.DataFrame:
    """Two traces over two minutes::

        00:00  web(s1, root, 100 ms) -> web(s2, client, 80 ms) -> api(s3, 50 ms) -> db(s4, 10 ms), db(s5, 30 ms)
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
    df["start"] = [T0 + pd.Timedelta(seconds=s) for s in df.pop("sec")]
    df["operation"] = "op"
    return df


def _table(m: pd.DataFrame) -> dict[tuple[pd.Timestamp, str, str], float]:
    return {(r.timestamp, r.service, r.metric): r.value for r in m.itertuples(index=False)}


def test_requests_latency_self_time_and_edges() -> None:
    got = _table(span_series(make_spans().drop(columns="status_code")))
    expected = {
        (T0, "web", "span:op requests"): 1,
        (T0, "web", "span:op latency p90"): 100,
        (T0, "web", "span:calls to api"): 1,  # s3, called from web's client span s2
        (T0, "web", "span:client api latency p90"): 80,  # the caller's side of the call: s2
        (T0, "web", "span:self latency p90"): 29,  # s1 100-80 = 20, s2 80-50 = 30: interpolated p90
        (T0, "api", "span:op requests"): 1,
        (T0, "api", "span:op latency p50"): 50,
        (T0, "api", "span:calls to db"): 2,
        (T0, "api", "span:self latency p90"): 10,  # 50 - (10 + 30)
        (T0, "db", "span:op requests"): 2,
        (T0, "db", "span:op latency p90"): 28,  # linear interpolation between 10 and 30 ms
        (T0, "db", "span:op latency p99"): 29.8,
        (T1, "web", "span:client api latency p90"): 200,
        (T1, "api", "span:op requests"): 2,  # r2 and r3 (unknown parent counts as incoming)
        (T1, "api", "span:op latency p90"): 58,
        (T1, "api", "span:calls to db"): 0,  # zero-filled: api calls db in another minute
        (T1, "db", "span:op requests"): 0,
    }
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key
    assert (T1, "db", "span:op latency p90") not in got  # no latency without spans
    assert not any("errors" in m for _, _, m in got)  # no error column, no error series


def test_errors_from_a_status_column_and_a_boolean() -> None:
    got = _table(span_series(make_spans()))
    assert got[(T0, "api", "span:op errors")] == 1  # HTTP 500
    assert got[(T1, "api", "span:op errors")] == 1  # STATUS_CODE_ERROR
    assert got[(T0, "web", "span:client api errors")] == 1  # the failed call, seen from the caller
    spans = make_spans().drop(columns="status_code")
    spans["error"] = [False, True, False, True, False, False, False, False]
    got = _table(span_series(spans))
    assert got[(T0, "db", "span:op errors")] == 1
    assert (T0, "web", "span:op errors") not in got  # s2 is web's internal span, not a request


def test_duplicates_are_kept_once() -> None:
    spans = make_spans()
    doubled = pd.concat([spans, spans.iloc[[2]]], ignore_index=True)  # s3 twice (overlapping files)
    got = _table(span_series(doubled, step="5min"))
    assert got[(T0, "api", "span:op requests")] == 3


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
        span_events(spans, step=step)  # type: ignore[arg-type]


def test_real_train_ticket_spans() -> None:
    """A real excerpt of the fault-free Train Ticket minute (Nezha, MIT): 30 whole traces."""
    spans = read_span_input(FIXTURES / "tt_normal_trace.csv")
    assert set(spans["service"]) >= {"ts-gateway-service", "ts-auth-service"}  # pods mapped to services
    m = span_series(spans)
    gw = m[(m.service == "ts-gateway-service") & (m.metric == "span:/* latency p90")]
    assert len(gw) >= 1 and (gw["value"] > 0).all()
    assert any(x.startswith("span:calls to ") for x in m.loc[m.service == "ts-gateway-service", "metric"])


def test_span_files_errors_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("TraceID,SpanID,PodName\nt,s,p\n")
    with pytest.raises(InvalidInputError, match="bad.csv.*ParentID") as err:
        read_span_input(bad)
    assert err.value.field.startswith("spans")
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceSpans": [')
    with pytest.raises(InvalidInputError, match="broken.json"):
        read_span_input(broken, field="baseline_spans")
    with pytest.raises(InvalidInputError, match="no such file"):
        read_span_input(tmp_path / "missing.csv")
