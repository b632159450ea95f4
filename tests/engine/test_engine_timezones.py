"""Timestamps without a zone: read as UTC *and said so*, or read in the zone the user names.

The demo incident, its metrics re-written as Shanghai wall-clock times without
an offset (as Train Ticket's own logs are), must give the same answer as the
original once the zone is named -- in Python (``align.timezone``), on the
command line (``--tz``) and over HTTP (``tests/service/test_api_timezones.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import rca
from rca.cli import app
from rca.engine.ingest import load_metrics
from rca.evaluation.datasets.synthetic import demo_case

DEMO = Path(rca.__file__).parent / "data" / "demo"
ZONE = "Asia/Shanghai"


def _local(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(ZONE).dt.strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture(scope="module")
def shanghai_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = pd.read_csv(DEMO / "metrics.csv", parse_dates=["timestamp"])
    path = tmp_path_factory.mktemp("tz") / "metrics-local.csv"
    frame.assign(timestamp=_local(frame["timestamp"])).to_csv(path, index=False)
    return path


def test_naive_timestamps_are_read_as_utc_and_reported() -> None:
    case = demo_case()
    naive = case.metrics.assign(timestamp=case.metrics["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    result = rca.analyze(case.graph, naive, case.incident)
    issues = [i for i in result.issues if i.kind == "naive_timestamps_read_as_utc"]
    assert len(issues) == 1 and f"{len(naive)} timestamp(s)" in issues[0].message
    assert "align.timezone" in issues[0].message and "--tz" in issues[0].message
    assert result.top.service == "payment"
    assert "naive_timestamps_read_as_utc" in result.to_json()  # in every form of the result
    assert not [i for i in rca.analyze(case.graph, case.metrics, case.incident).issues if i.kind.startswith("naive")]


def test_a_named_zone_reads_local_times_as_what_they_are(shanghai_csv: Path) -> None:
    case = demo_case()
    reference = rca.analyze(case.graph, case.metrics, case.incident)
    local_start = case.incident.start.tz_convert(ZONE).strftime("%Y-%m-%dT%H:%M:%S")
    config = rca.RCAConfig.from_dict({"align": {"timezone": ZONE}})
    incident = rca.Incident.from_dict({"service": "frontend", "metric": "latency", "start": local_start}, timezone=ZONE)
    assert incident.start == case.incident.start
    result = rca.analyze(case.graph, shanghai_csv, incident, config)
    assert result.window == reference.window
    assert [c.service for c in result.causes] == [c.service for c in reference.causes]
    assert [i.kind for i in result.issues if i.kind.startswith("naive")] == ["naive_timestamps_read_in_timezone"]
    # read as UTC instead, the same file is eight hours late: the incident start lies before every point
    wrong, issues = load_metrics(shanghai_csv)
    assert wrong["timestamp"].min() - reference.window[0] > pd.Timedelta(hours=6)
    assert issues[0].kind == "naive_timestamps_read_as_utc"


def test_mixed_zoned_and_naive_and_epoch_timestamps() -> None:
    df = pd.DataFrame({
        "timestamp": ["2024-05-01T12:00:00", "2024-05-01T12:01:00+08:00", "2024-05-01 12:02", "2024-05-01T12:03:00Z"],
        "service": "a", "metric": "m", "value": [1.0, 2.0, 3.0, 4.0],
    })  # fmt: skip
    out, issues = load_metrics(df, timezone=ZONE)
    assert sorted(out["timestamp"].dt.strftime("%H:%M")) == ["04:00", "04:01", "04:02", "12:03"]
    assert issues[0].message.startswith("metrics: 2 timestamp(s)")
    assert load_metrics(df.assign(timestamp=[0, 60, 120, 180]))[1] == []  # epochs are absolute
    wall = df.assign(timestamp=pd.date_range("2024-05-01 12:00", periods=4, freq="min"))  # naive datetimes
    assert load_metrics(wall, timezone=ZONE)[0]["timestamp"].iloc[0] == pd.Timestamp("2024-05-01T04:00Z")


def test_a_wall_clock_time_a_dst_change_skips_is_refused() -> None:
    df = pd.DataFrame({"timestamp": ["2024-03-10T02:30:00"], "service": "a", "metric": "m", "value": [1.0]})
    with pytest.raises(rca.InvalidMetricsError, match="does not exist in America/New_York") as err:
        load_metrics(df, timezone="America/New_York")
    assert err.value.field == "metrics.timestamp"


def test_an_unknown_zone_is_refused_with_the_closest_names() -> None:
    with pytest.raises(rca.InvalidConfigError, match="did you mean 'Asia/Shanghai'") as err:
        rca.RCAConfig.from_dict({"align": {"timezone": "Asia/Shanghi"}})
    assert err.value.field == "align.timezone"


def test_cli_tz_reads_metrics_and_incident_times_in_the_zone(shanghai_csv: Path) -> None:
    case = demo_case()
    local_start = case.incident.start.tz_convert(ZONE).strftime("%Y-%m-%dT%H:%M:%S")
    args = ["analyze", "--graph", str(DEMO / "topology.yaml"), "--metrics", str(shanghai_csv),
            "--service", "frontend", "--metric", "latency", "--at", local_start, "--format", "json"]  # fmt: skip
    runner = CliRunner()
    out = runner.invoke(app, [*args, "--tz", ZONE])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["incident"]["start"] == case.incident.start.isoformat()
    assert body["causes"][0]["service"] == "payment"
    assert [i["kind"] for i in body["issues"] if i["kind"].startswith("naive")] == ["naive_timestamps_read_in_timezone"]
    bad = runner.invoke(app, [*args, "--tz", "Asia/Shanghi"])
    assert bad.exit_code != 0 and bad.stdout == ""
    assert bad.stderr.strip().startswith("Error:") and "did you mean 'Asia/Shanghai'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
