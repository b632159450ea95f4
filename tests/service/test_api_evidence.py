"""POST /v1/analyses with span and log files (multipart), against a real uvicorn server."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pandas as pd
from api_support import wait_status

import topology
from tests.engine.evidence.test_evidence_cli import _nezha_csv
from tests.engine.evidence.test_evidence_pipeline import START, _graph, _logs, _metrics, _spans


def _parts(rng: np.random.Generator, tmp_path) -> dict:
    request = {
        "incident": {"service": "front", "metric": "latency", "start": START.isoformat(),
                     "end": (START + pd.Timedelta(minutes=4)).isoformat()},
        "topology": {"inline": json.loads(topology.dumps_json(_graph()))},
    }
    spans, normal = tmp_path / "spans.csv", tmp_path / "normal.csv"
    _nezha_csv(pd.concat([_spans(rng, range(58, 60), False), _spans(rng, range(60, 63), True)]), spans)
    _nezha_csv(_spans(rng, range(30, 32), False), normal)
    logs = pd.concat([_logs(range(58, 60), False), _logs(range(60, 63), True)])
    lines = "\n".join(f"{t.isoformat()} {s} {m}" for t, s, m in logs.itertuples(index=False))
    return {
        "request": (None, json.dumps(request), "application/json"),
        "metrics": ("m.csv", _metrics(rng).to_csv(index=False).encode(), "text/csv"),
        "spans": ("spans.csv", spans.read_bytes(), "text/csv"),
        "baseline_spans": ("normal.csv", normal.read_bytes(), "text/csv"),
        "logs": ("app.log", lines.encode(), "text/plain"),
    }


def test_spans_and_logs_uploaded_with_the_metrics(api: httpx.Client, tmp_path) -> None:
    parts = _parts(np.random.default_rng(5), tmp_path)
    r = api.post("/v1/analyses", files=parts)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["result"]["causes"][0]["service"] == "db"
    metrics = [a["metric"] for a in body["result"]["causes"][0]["evidence"]["anomalous_metrics"]]
    assert "span:SELECT latency p90" in metrics
    # the stored uploads run again on a re-run
    rerun = api.post(f"/v1/analyses/{body['id']}/rerun")
    assert rerun.status_code in (201, 202), rerun.text
    done = wait_status(api, rerun.json()["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded" and done["result"]["causes"][0]["service"] == "db"


def test_a_bad_span_file_is_a_422_naming_the_part(api: httpx.Client, tmp_path) -> None:
    parts = _parts(np.random.default_rng(5), tmp_path)
    parts["spans"] = ("spans.csv", b"TraceID,SpanID\n1,2\n", "text/csv")
    r = api.post("/v1/analyses", files=parts)
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith("spans") and "ParentID" in r.json()["detail"]
    parts["logs"] = ("app.log", io.BytesIO(b"no time here\n").getvalue(), "text/plain")
    parts.pop("spans")
    r = api.post("/v1/analyses", files=parts)
    assert r.status_code == 422 and r.json()["field"].startswith("logs")
