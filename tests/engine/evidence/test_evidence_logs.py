"""Log reading (Nezha CSV, JSON lines, plain text), drain3 template mining on real Train Ticket lines, and log events."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from rca.engine.errors import InvalidInputError
from rca.engine.evidence.logs import log_events, mine_templates, read_logs

FIXTURES = Path(__file__).parent / "fixtures"


def test_real_nezha_log_csv() -> None:
    """150 real lines of the fault-free Train Ticket minute plus nothing else (Nezha, MIT)."""
    table = read_logs(FIXTURES / "tt_normal_log.csv.gz")
    logs = table.frame
    assert list(logs.columns) == ["timestamp", "service", "level", "message"]
    assert len(logs) == 150 and not table.issues
    assert str(logs["timestamp"].dt.tz) == "UTC"
    # time from TimeUnixNano (UTC), not from the text's local UTC+8 clock
    assert logs["timestamp"].dt.hour.isin([8]).all()
    assert logs["message"].str.match(r"^1[67]:\d\d:\d\d").all()
    assert set(logs["service"]) <= {s for s in logs["service"] if s.startswith("ts-")}
    assert set(logs["level"]) <= {"info", "warning", "error", "debug"}


def test_template_mining_on_real_train_ticket_lines() -> None:
    logs = pd.concat([read_logs(FIXTURES / "tt_normal_log.csv.gz").frame,
                      read_logs(FIXTURES / "tt_10_04_log.csv.gz").frame], ignore_index=True)
    templates = mine_templates(logs["message"])
    assert len(templates) == len(logs)
    # far fewer templates than lines; ids, trace ids and numbers are masked out of them
    assert templates.nunique() < len(logs) / 3
    assert not templates.str.contains(r"[0-9a-f]{32}", regex=True).any()  # trace ids
    assert not templates.str.contains("TraceID", regex=False).any()
    # the travel-service exception lines of 10:04 become one template
    errors = templates[(logs["service"] == "ts-travel-service") & (logs["level"] == "error")]
    assert len(errors) == 12 and errors.nunique() == 1
    assert "Servlet.service() for servlet" in errors.iloc[0]


def test_json_lines_and_plain_text(tmp_path: Path) -> None:
    jl = tmp_path / "app.jsonl"
    jl.write_text("\n".join([
        json.dumps({"timestamp": "2024-05-01T13:00:01Z", "service": "payment", "level": "ERROR", "message": "card 4 declined"}),
        json.dumps({"time": 1714568402.5, "kubernetes": {"pod_name": "cart-7d9f8b6c5d-x2k4p"}, "msg": "ok"}),
        "not json",
    ]))
    table = read_logs(jl)
    assert table.frame["service"].tolist() == ["payment", "cart"]
    assert table.frame["level"].tolist() == ["error", "info"]
    assert table.frame["timestamp"].iloc[1] == pd.Timestamp("2024-05-01 13:00:02.5", tz="UTC")
    assert any(i.kind == "log_parse" and "line 3" in i.message for i in table.issues)
    plain = tmp_path / "app.log"
    plain.write_text("2024-05-01T13:00:01Z payment WARN retrying\n2024-05-01 13:00:02,5 payment something\nbad line\n")
    t2 = read_logs(plain)
    assert t2.frame["level"].tolist() == ["warning", "info"]
    assert any("do not start with a timestamp" in i.message for i in t2.issues)


@pytest.mark.parametrize(
    ("content", "match", "field"),
    [
        ("Node,PodName,Log\nn,p,{}\n", "TimeUnixNano", "logs.TimeUnixNano"),
        ('{"service": "a", "message": "m"}\n', "no record has a time", "logs.time"),
        ("no timestamp here\n", "ISO-8601", "logs.timestamp"),
    ],
)
def test_bad_logs_name_the_file_and_field(tmp_path: Path, content: str, match: str, field: str) -> None:
    path = tmp_path / "x.log"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=match) as err:
        read_logs(path)
    assert err.value.field == field and "x.log" in str(err.value)


def test_interleaved_csv_lines_are_reported(tmp_path: Path) -> None:
    raw = gzip.open(FIXTURES / "tt_normal_log.csv.gz", "rt").read().splitlines()
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join([raw[0], raw[1], raw[2][:120] + "," + raw[3], raw[4]]) + "\n")
    table = read_logs(path)
    assert len(table.frame) == 2
    assert any("interleaved" in i.message for i in table.issues)


def test_log_events_name_templates_by_level() -> None:
    logs = pd.DataFrame({
        "timestamp": pd.to_datetime(["2024-05-01 13:00:01", "2024-05-01 13:00:30", "2024-05-01 13:01:00"], utc=True),
        "service": ["pay", "pay", "pay"], "level": ["error", "error", "info"],
        "message": ["timeout after 30 ms", "timeout after 41 ms", "ok"],
    })
    ev = log_events(logs, mine_templates(logs["message"]))
    counts = ev.groupby("metric").size().to_dict()
    assert counts == {"log:lines": 3, "log:errors": 2, "log:error timeout after <NUM> ms": 2, "log:info ok": 1}
