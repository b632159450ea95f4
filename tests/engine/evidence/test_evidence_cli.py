"""``rca analyze --spans --logs``: files of the formats users have, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import topology
from rca.cli import app
from tests.engine.evidence.test_evidence_pipeline import START, _graph, _logs, _metrics, _spans


def _nezha_csv(spans: pd.DataFrame, path: Path) -> None:
    start = spans["start"].dt.as_unit("ns").astype("int64")
    pd.DataFrame({
        "TraceID": spans["trace_id"], "SpanID": spans["span_id"], "ParentID": spans["parent_id"].fillna("root"),
        "PodName": spans["service"] + "-5f6585d649-fnmft", "OperationName": spans["operation"],
        "StartTimeUnixNano": start, "EndTimeUnixNano": start + (spans["duration_us"] * 1000).astype("int64"),
        "Duration": spans["duration_us"].astype("int64"),
    }).to_csv(path, index=False)


def _jsonl(logs: pd.DataFrame, path: Path) -> None:
    path.write_text("\n".join(json.dumps({"timestamp": t.isoformat(), "service": s, "message": m})
                              for t, s, m in logs.itertuples(index=False)))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    out = {k: tmp_path / n for k, n in (("graph", "g.yaml"), ("metrics", "m.csv"), ("spans", "spans.csv"),
                                        ("logs", "app.jsonl"), ("bspans", "normal.csv"), ("blogs", "normal.jsonl"))}
    topology.write_yaml(_graph(), out["graph"])
    _metrics(rng).to_csv(out["metrics"], index=False)
    _nezha_csv(pd.concat([_spans(rng, range(58, 60), False), _spans(rng, range(60, 63), True)]), out["spans"])
    _jsonl(pd.concat([_logs(range(58, 60), False), _logs(range(60, 63), True)]), out["logs"])
    _nezha_csv(_spans(rng, range(30, 32), False), out["bspans"])
    _jsonl(_logs(range(30, 32), False), out["blogs"])
    return out


def _args(files: dict[str, Path], *extra: str) -> list[str]:
    return ["analyze", "--graph", str(files["graph"]), "--service", "front", "--metric", "latency",
            "--at", START.isoformat(), "--end", (START + pd.Timedelta(minutes=4)).isoformat(), *extra]


def test_analyze_with_spans_and_logs(files) -> None:
    res = CliRunner().invoke(app, _args(files, "--metrics", str(files["metrics"]), "--spans", str(files["spans"]),
                                        "--logs", str(files["logs"]), "--baseline-spans", str(files["bspans"]),
                                        "--baseline-logs", str(files["blogs"]), "--format", "json"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["causes"][0]["service"] == "db"


def test_spans_without_metrics_and_one_line_errors(files, tmp_path: Path) -> None:
    runner = CliRunner()
    args = _args(files, "--spans", str(files["spans"]), "--baseline-spans", str(files["bspans"]))
    args[args.index("--metric") + 1] = "span:GET / latency p90"  # a span series as the symptom
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "db" in res.output
    res = runner.invoke(app, _args(files))
    assert res.exit_code == 2 and "give --metrics, or --spans / --logs" in res.output
    bad = tmp_path / "bad.csv"
    bad.write_text("TraceID,SpanID\n1,2\n")
    res = runner.invoke(app, _args(files, "--metrics", str(files["metrics"]), "--spans", str(bad)))
    assert res.exit_code == 2 and res.output.startswith("Error: spans:") and "bad.csv" in res.output
