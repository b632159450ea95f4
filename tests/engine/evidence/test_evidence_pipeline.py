"""rca.analyze with spans and logs: a service whose spans and logs moved while its pod metrics stayed quiet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rca
from rca.engine.errors import InvalidInputError
from topology import ServiceGraph

T0 = pd.Timestamp("2024-05-01 12:00", tz="UTC")
START = T0 + pd.Timedelta(minutes=60)


def _graph() -> ServiceGraph:
    return ServiceGraph(calls=[("front", "api"), ("api", "db"), ("front", "auth")])


def _metrics(rng: np.random.Generator) -> pd.DataFrame:
    """Quiet pod metrics for every service; the symptom (front latency) up in the last five minutes."""
    ts = pd.date_range(T0, periods=65, freq="1min")
    rows = []
    for svc in ("front", "api", "db", "auth"):
        for metric, level in (("latency", 20.0), ("cpu", 0.3)):
            v = level * (1 + 0.05 * rng.standard_normal(len(ts)))
            if svc == "front" and metric == "latency":
                v[-5:] *= 1.6
            rows.append(pd.DataFrame({"timestamp": ts, "service": svc, "metric": metric, "value": v}))
    return pd.concat(rows, ignore_index=True)


def _spans(rng: np.random.Generator, minutes: range, slow_db: bool) -> pd.DataFrame:
    rows = []
    for m in minutes:
        for k in range(40):
            t = T0 + pd.Timedelta(minutes=m, seconds=k)
            db = rng.lognormal(1.0, 0.2) * 1000 * (5 if slow_db else 1)
            tid = f"{m}-{k}"
            rows += [(tid, "a", None, "front", "GET /", t, db + 10_000),
                     (tid, "b", "a", "front", "call api", t, db + 6000),
                     (tid, "c", "b", "api", "/api", t, db + 5000),
                     (tid, "d", "c", "db", "SELECT", t, db),
                     (tid, "e", "a", "auth", "/auth", t, rng.lognormal(1.0, 0.2) * 1000)]
    return pd.DataFrame(rows, columns=["trace_id", "span_id", "parent_id", "service", "operation", "start", "duration_us"])


def _logs(minutes: range, error: bool) -> pd.DataFrame:
    rows = []
    for m in minutes:
        for k in range(30):
            t = T0 + pd.Timedelta(minutes=m, seconds=2 * k)
            rows.append((t, "db", f"INFO query {k} ok in {k % 7} ms"))
            if error and k % 3 == 0:
                rows.append((t, "db", f"ERROR deadlock detected on relation {1000 + k}; transaction aborted"))
    return pd.DataFrame(rows, columns=["timestamp", "service", "message"])


@pytest.fixture
def case(rng):
    return {
        "graph": _graph(), "metrics": _metrics(rng),
        "incident": rca.Incident("front", "latency", START, START + pd.Timedelta(minutes=4)),
        "spans": pd.concat([_spans(rng, range(58, 60), False), _spans(rng, range(60, 63), True)], ignore_index=True),
        "logs": pd.concat([_logs(range(58, 60), False), _logs(range(60, 63), True)], ignore_index=True),
        "baseline_spans": _spans(rng, range(30, 32), False),
        "baseline_logs": _logs(range(30, 32), False),
    }


def test_metrics_alone_do_not_find_db(case) -> None:
    result = rca.analyze(case["graph"], case["metrics"], case["incident"])
    assert not result.causes or result.top.service != "db"


def test_spans_and_logs_credit_db(case) -> None:
    result = rca.analyze(case["graph"], case["metrics"], case["incident"], spans=case["spans"], logs=case["logs"],
                         baseline_spans=case["baseline_spans"], baseline_logs=case["baseline_logs"])
    assert result.status == "found" and result.top.service == "db"
    names = [a.metric for a in result.top.evidence.anomalous_metrics]
    assert "span:SELECT latency p90" in names
    # the new template's text is in the cause's evidence
    assert any(n.startswith("log:new error deadlock detected on relation") for n in names)
    # api and front only pass db's slowness on: their own handlers' self time did not move
    assert "auth" not in [c.service for c in result.causes[:1]]


def test_each_modality_alone(case) -> None:
    for kw in ({"spans": case["spans"], "baseline_spans": case["baseline_spans"]},
               {"logs": case["logs"], "baseline_logs": case["baseline_logs"]}):
        result = rca.analyze(case["graph"], case["metrics"], case["incident"], **kw)
        assert result.top.service == "db", list(kw)


def test_without_metrics(case) -> None:
    incident = rca.Incident("front", "span:GET / latency p90", START, START + pd.Timedelta(minutes=4))
    result = rca.analyze(case["graph"], None, incident, spans=case["spans"], baseline_spans=case["baseline_spans"])
    assert result.top.service == "db"
    with pytest.raises(InvalidInputError, match="give metrics, or spans or logs"):
        rca.analyze(case["graph"], None, incident)


def test_clock_hours_off_is_reported(case) -> None:
    shifted = case["logs"].assign(timestamp=case["logs"]["timestamp"] + pd.Timedelta(hours=8))
    result = rca.analyze(case["graph"], case["metrics"], case["incident"], logs=shifted,
                         baseline_logs=case["baseline_logs"])
    issue = next(i for i in result.issues if i.kind == "clock_mismatch")
    assert "logs" in issue.message and "8.0 h after" in issue.message


def test_unknown_services(case) -> None:
    logs = pd.concat([case["logs"], case["logs"].head(3).assign(service="ghost")], ignore_index=True)
    result = rca.analyze(case["graph"], case["metrics"], case["incident"], logs=logs)
    assert any(i.kind == "unknown_service" and "ghost" in i.message for i in result.issues)
    with pytest.raises(InvalidInputError, match="none of the services") as err:
        rca.analyze(case["graph"], case["metrics"], case["incident"], logs=case["logs"].assign(service="dbb"))
    assert err.value.field == "logs.service" and "did you mean 'db'" in str(err.value)


def test_bad_inputs_name_the_argument(case) -> None:
    with pytest.raises(InvalidInputError, match="baseline_spans lack the column") as err:
        rca.analyze(case["graph"], case["metrics"], case["incident"], spans=case["spans"],
                    baseline_spans=case["spans"].drop(columns=["start"]))
    assert err.value.field.startswith("baseline_spans")
    with pytest.raises(InvalidInputError, match="logs lack the column"):
        rca.analyze(case["graph"], case["metrics"], case["incident"], logs=case["logs"].drop(columns="message"))
