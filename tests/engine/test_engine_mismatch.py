"""No silent mismatch: a ``detect.directions`` pattern that matches no metric is refused, naming the closest names.

(The symptom-metric typo is refused the same way: ``test_engine_pipeline.py``,
``test_engine_cli.py``, ``tests/service/test_api_bad_input.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rca
from rca.cli import app
from rca.evaluation.datasets.synthetic import demo_case

DEMO = Path(rca.__file__).parent / "data" / "demo"


def test_a_direction_pattern_matching_no_metric_is_refused() -> None:
    case = demo_case()
    with pytest.raises(rca.InvalidConfigError, match=r"pattern 'latncy' matches no metric name.*did you mean 'latency'\?") as err:
        rca.analyze(case.graph, case.metrics, case.incident, {"detect": {"directions": {"latncy": "up"}}})
    assert err.value.field == "detect.directions.latncy"
    with pytest.raises(rca.InvalidConfigError, match="is not a regular expression") as err:
        rca.analyze(case.graph, case.metrics, case.incident, {"detect": {"directions": {"(lat": "up"}}})
    assert err.value.field == "detect.directions.(lat"
    # a pattern that matches (part of) a name is used as before
    result = rca.analyze(case.graph, case.metrics, case.incident, {"detect": {"directions": {"^lat": "up"}}})
    assert result.top.service == "payment"


def test_cli_refuses_it_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"detect": {"directions": {"latncy": "up"}}}))
    out = CliRunner().invoke(app, [
        "analyze", "--graph", str(DEMO / "topology.yaml"), "--metrics", str(DEMO / "metrics.csv"), "--service", "frontend",
        "--metric", "latency", "--at", "2024-05-01T13:00:00Z", "--config", str(config),
    ])  # fmt: skip
    assert out.exit_code != 0 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: detect.directions: pattern 'latncy'") and "did you mean 'latency'?" in lines[0]
