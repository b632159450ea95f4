"""The ``rca`` command line: ``--version``, ``demo``, ``analyze`` and one-line user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rca
import topology
from rca.cli import app

DEMO = Path(rca.__file__).parent / "data" / "demo"
TOPOLOGY, METRICS = DEMO / "topology.yaml", DEMO / "metrics.csv"
RCA_BIN = Path(sys.executable).parent / "rca"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _analyze_args(**over: str) -> list[str]:
    opts = {
        "--graph": str(TOPOLOGY),
        "--metrics": str(METRICS),
        "--service": "frontend",
        "--metric": "latency",
        "--at": "2024-05-01T13:00:00Z",
        **over,
    }
    args = ["analyze"]
    for k, v in opts.items():
        if v is not None:
            args += [k, v]
    return args


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"rca-engine {rca.__version__}"


def test_demo_prints_the_table_and_the_root(runner):
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "Probable root causes" in result.stdout
    assert "payment" in result.stdout
    assert "Ground truth" in result.stdout
    assert result.stderr == ""


def test_demo_json_parses(runner):
    result = runner.invoke(app, ["demo", "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["status"] == "found"
    assert data["causes"][0]["service"] == "payment"


def test_analyze_the_demo_files(runner):
    result = runner.invoke(app, _analyze_args())
    assert result.exit_code == 0, result.output
    assert "payment" in result.stdout
    assert "Probable root causes" in result.stdout


def test_analyze_json_and_top(runner):
    result = runner.invoke(app, _analyze_args(**{"--format": "json", "--top": "1"}))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["service"] for c in data["causes"]] == ["payment"]
    assert data["config"]["rank"]["top_k"] == 1


def test_analyze_with_a_config_file(runner, tmp_path):
    cfg = tmp_path / "rca.yaml"
    cfg.write_text("granger:\n  max_lag: 3\nrank:\n  top_k: 2\n")
    result = runner.invoke(app, _analyze_args(**{"--config": str(cfg), "--format": "json"}))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["config"]["granger"]["max_lag"] == 3 and len(data["causes"]) <= 2


def test_analyze_no_anomaly_prints_the_reason(runner):
    # at the start of the data there is nothing before the incident to compare with
    result = runner.invoke(app, _analyze_args(**{"--at": "2024-05-01T12:00:00Z", "--end": "2024-05-01T12:30:00Z"}))
    assert result.exit_code == 0, result.output
    assert "No root cause" in result.stdout


def test_report_writes_an_html_file(runner, tmp_path):
    out = tmp_path / "out.html"
    result = runner.invoke(app, _analyze_args(**{"--report": str(out)}))
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.stat().st_size > 0
    text = out.read_text(encoding="utf-8")
    assert "<html" in text.lower() and "payment" in text
    assert "Report written to" in result.stdout


def test_demo_report(runner, tmp_path):
    out = tmp_path / "demo.html"
    result = runner.invoke(app, ["demo", "--report", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "payment" in out.read_text(encoding="utf-8")


def _config_file(tmp_path: Path, text: str) -> str:
    p = tmp_path / "cfg.yaml"
    p.write_text(text)
    return str(p)


MISTAKES = [
    ("missing-metrics", {"--metrics": "/nonexistent/metrics.csv"}, "file not found"),
    ("missing-graph", {"--graph": "/nonexistent/topology.yaml"}, "topology.yaml"),
    ("unknown-service", {"--service": "nowhere"}, "'nowhere' is not in the topology"),
    ("metric-typo", {"--metric": "latncy"}, "incident.metric 'latncy' matches no series in the metrics; did you mean 'latency'?"),
    ("bad-at", {"--at": "yesterday-ish"}, "incident.start must be an ISO 8601 time"),
    ("end-before-start", {"--end": "2024-05-01T12:00:00Z"}, "must be after incident.start"),
    ("no-data-in-window", {"--at": "2030-01-01T00:00:00Z"}, "no metric data in the incident window"),
    ("bad-format", {"--format": "xml"}, "--format must be 'table' or 'json'"),
    ("bad-top", {"--top": "0"}, "The 'top_k' parameter of RankConfig"),
    ("missing-config", {"--config": "/nonexistent/cfg.yaml"}, "config file not found"),
]


@pytest.mark.parametrize(("over", "match"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_user_mistakes_print_one_error_line(runner, over, match):
    result = runner.invoke(app, _analyze_args(**over))
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error:")
    assert match in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_bad_config_values_name_the_parameter(runner, tmp_path):
    cfg = _config_file(tmp_path, "granger:\n  max_lag: 0\n")
    result = runner.invoke(app, _analyze_args(**{"--config": cfg}))
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith(f"Error: --config: {cfg}: ") and "\n" not in line
    assert line.endswith("The 'max_lag' parameter of GrangerConfig must be an int in [1, 50]. Got 0 instead.")


def test_demo_bad_format_is_a_user_error(runner):
    result = runner.invoke(app, ["demo", "--format", "xml"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --format must be 'table' or 'json'")


def test_malformed_config_file_is_one_error_line(runner, tmp_path):
    cfg = _config_file(tmp_path, "granger: [\n")
    result = runner.invoke(app, _analyze_args(**{"--config": cfg}))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error:") and len(result.stderr.splitlines()) == 1


@pytest.mark.skipif(not RCA_BIN.exists(), reason=f"console script not installed at {RCA_BIN}")
def test_console_script_version_and_a_mistake():
    done = subprocess.run([str(RCA_BIN), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"rca-engine {rca.__version__}"
    bad = subprocess.run(
        [str(RCA_BIN), *_analyze_args(**{"--service": "nowhere"})], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    lines = bad.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:")


def test_analyze_says_when_an_earlier_incident_left_the_baseline(runner, tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    ts = pd.date_range("2024-05-01T12:00:00Z", periods=90, freq="1min")
    api, db = 100 + rng.normal(0, 2, 90), 20 + rng.normal(0, 1, 90)
    api[20:26] += 60
    db[20:26] += 15  # an earlier incident inside the baseline
    api[60:] += 60
    db[60:] += 15
    rows = [(t, "api", "latency", a) for t, a in zip(ts, api)] + [(t, "db", "latency", d) for t, d in zip(ts, db)]
    metrics = tmp_path / "m.csv"
    pd.DataFrame(rows, columns=["timestamp", "service", "metric", "value"]).to_csv(metrics, index=False)
    graph = tmp_path / "g.yaml"
    graph.write_text("services: [api, db]\ncalls:\n  - {caller: api, callee: db}\n")
    out = runner.invoke(
        app, _analyze_args(**{"--graph": str(graph), "--metrics": str(metrics), "--service": "api", "--at": str(ts[60])})
    )
    assert out.exit_code == 0, out.output
    assert "Baseline: api/latency was itself beyond 5 robust deviations at 2024-05-01 12:20–12:25" in " ".join(
        out.output.split()
    )


def test_analyze_reads_a_causal_graph_with_edges_causal(runner, tmp_path):
    calls = topology.load(TOPOLOGY)
    causal = tmp_path / "causal.csv"  # the demo graph with every arrow cause -> effect
    causal.write_text("source,target\n" + "".join(f"{c.callee},{c.caller}\n" for c in calls.calls))
    result = runner.invoke(app, _analyze_args(**{"--graph": str(causal), "--edges": "causal", "--format": "json"}))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["causes"][0]["service"] == "payment"
    wrong = runner.invoke(app, _analyze_args(**{"--graph": str(causal), "--edges": "sideways"}))
    assert wrong.exit_code == 2 and "edges must be 'calls'" in wrong.output


def test_a_causal_graph_taken_for_calls_prints_the_hint(runner, tmp_path):
    calls = topology.load(TOPOLOGY)
    causal = tmp_path / "causal.csv"
    causal.write_text("source,target\n" + "".join(f"{c.callee},{c.caller}\n" for c in calls.calls))
    result = runner.invoke(app, _analyze_args(**{"--graph": str(causal)}))
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "No root cause" in out and "it calls no other service in the topology" in out
    assert "Topology: frontend calls no other service" in out and "--edges causal" in out
