"""Verdicts: the confirmed root causes of an analysis, and the benchmark cases they make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import TOPOLOGY, analysis_body
from typer.testing import CliRunner

from rca.cli import app
from rca.evaluation.datasets import load_cases


def _analysis(api: httpx.Client, **body: Any) -> dict[str, Any]:
    r = api.post("/v1/analyses", json=analysis_body(**body))
    assert r.status_code == 201, r.text
    return r.json()


def test_a_verdict_is_recorded_replaced_and_shown(api: httpx.Client) -> None:
    a = _analysis(api)
    assert a["verdict"] is None
    r = api.put(f"/v1/analyses/{a['id']}/verdict", json={"root_causes": ["db", " db"], "note": "disk full, see PM-12"})
    assert r.status_code == 200, r.text
    verdict = r.json()["verdict"]
    assert verdict["root_causes"] == ["db"] and verdict["note"] == "disk full, see PM-12" and verdict["at"]
    assert api.get(f"/v1/analyses/{a['id']}").json()["verdict"] == verdict
    page = api.get(f"/v1/analyses/{a['id']}/report")
    assert page.status_code == 200 and "Confirmed root cause: <b>db</b> · the engine ranked db 1st" in page.text
    r = api.put(f"/v1/analyses/{a['id']}/verdict", json={"root_causes": []})  # on reflection: a false alarm
    assert r.json()["verdict"]["root_causes"] == [] and r.json()["verdict"]["note"] is None
    assert "none (a false alarm)" in api.get(f"/v1/analyses/{a['id']}/report").text  # not served from a cache


@pytest.mark.parametrize(
    ("body", "status", "error", "field"),
    [
        ({"root_causes": ["ghost"]}, 422, "unknown_service", "root_causes[0]"),
        ({"root_causes": ["db", ""]}, 422, "unknown_service", "root_causes[1]"),
        ({"root_causes": "db"}, 422, "validation_error", "root_causes"),
        ({"root_causes": [3]}, 422, "validation_error", "root_causes[0]"),
        ({"root_causes": ["db"], "severity": 2}, 422, "validation_error", "severity"),
        ({}, 422, "validation_error", "root_causes"),
    ],
)
def test_bad_verdicts_name_the_field(api: httpx.Client, body: dict[str, Any], status: int, error: str, field: str) -> None:
    a = _analysis(api)
    r = api.put(f"/v1/analyses/{a['id']}/verdict", json=body)
    assert (r.status_code, r.json()["error"], r.json()["field"]) == (status, error, field), r.text
    assert api.get(f"/v1/analyses/{a['id']}").json()["verdict"] is None  # nothing half-written


def test_verdict_of_an_unknown_analysis_and_scopes(api: httpx.Client, shared: Any) -> None:
    r = api.put("/v1/analyses/0123456789abcdef/verdict", json={"root_causes": []})
    assert (r.status_code, r.json()["error"], r.json()["field"]) == (404, "analysis_not_found", "analysis_id")
    a = _analysis(api)
    with shared.client("read") as reader:
        assert reader.put(f"/v1/analyses/{a['id']}/verdict", json={"root_causes": ["db"]}).status_code == 403


def test_cases_export_turns_verdicts_into_a_benchmark(start_server: Any, sqlite_url: str, tmp_path: Path) -> None:
    from api_support import make_key

    key = make_key(sqlite_url, "read", "write")
    server = start_server(sqlite_url)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
        api.put("/v1/topologies/shop", json=TOPOLOGY)
        by_name = _analysis(api, topology={"name": "shop"})
        inline = _analysis(api)
        _analysis(api)  # no verdict: not exported
        assert api.put(f"/v1/analyses/{by_name['id']}/verdict", json={"root_causes": ["db"]}).status_code == 200
        assert api.put(f"/v1/analyses/{inline['id']}/verdict", json={"root_causes": ["checkout"]}).status_code == 200
    out = tmp_path / "cases"
    runner = CliRunner()
    result = runner.invoke(app, ["cases", "export", "--out", str(out), "--database", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "wrote 2 case(s)" in result.output
    cases = {c.case_id: c for c in load_cases(f"cases:{out}")}
    assert set(cases) == {f"shop/{by_name['id']}", f"inline/{inline['id']}"}
    shop = cases[f"shop/{by_name['id']}"]
    assert shop.root_causes == ("db",) and shop.group == "shop" and shop.incident.service == "frontend"
    assert len(shop.metrics) == len(analysis_body()["metrics"])
    bench = runner.invoke(app, ["bench", "-d", f"cases:{out}", "--method", "engine", "--out", str(tmp_path / "b"), "--no-progress"])
    assert bench.exit_code == 0, bench.output
    rows = (tmp_path / "b" / "cases.csv").read_text().splitlines()
    assert len(rows) == 3


def test_cases_export_without_verdicts_says_how_to_give_one(sqlite_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["cases", "export", "--out", str(tmp_path / "x"), "--database", sqlite_url])
    assert result.exit_code == 0, result.output
    assert "no analysis has a verdict yet" in result.output
    bad = CliRunner().invoke(app, ["cases", "export", "--out", str(tmp_path / "x"), "--database", "nonsense://"])
    assert bad.exit_code != 0 and "error:" in bad.output


def test_accuracy_compares_the_stored_answers_with_the_verdicts(start_server: Any, sqlite_url: str) -> None:
    from api_support import make_key

    key = make_key(sqlite_url, "read", "write")
    server = start_server(sqlite_url)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
        empty = api.get("/v1/accuracy").json()
        assert empty["verdicts"] == 0 and empty["ac1"] is None and empty["groups"] == []
        api.put("/v1/topologies/shop", json=TOPOLOGY)
        right = _analysis(api, topology={"name": "shop"})  # the engine answers db: the fault is at db
        wrong = _analysis(api)
        alarm = _analysis(api)
        assert right["top_cause"] == wrong["top_cause"] == alarm["top_cause"] == "db"
        api.put(f"/v1/analyses/{right['id']}/verdict", json={"root_causes": ["db"]})
        api.put(f"/v1/analyses/{wrong['id']}/verdict", json={"root_causes": ["checkout"]})
        api.put(f"/v1/analyses/{alarm['id']}/verdict", json={"root_causes": []})
        _analysis(api)  # no verdict: not counted
        acc = api.get("/v1/accuracy").json()
        assert (acc["verdicts"], acc["faults"], acc["false_alarms"], acc["failed"]) == (3, 2, 1, 0)
        assert acc["ac1"] == 0.5 and acc["specificity"] == 0.0  # a cause was named on the false alarm
        assert acc["named_right"] == pytest.approx(1 / 3) and 0 < acc["mean_confidence"] <= 1
        assert {g["topology"]: g["verdicts"] for g in acc["groups"]} == {"shop": 1, "inline": 2}
        shop = api.get("/v1/accuracy", params={"topology": "shop"}).json()
        assert (shop["verdicts"], shop["ac1"], shop["specificity"]) == (1, 1.0, None)
        later = api.get("/v1/accuracy", params={"since": "2999-01-01T00:00:00Z"}).json()
        assert later["verdicts"] == 0
        bad = api.get("/v1/accuracy", params={"since": "last week"})
        assert (bad.status_code, bad.json()["field"]) == (422, "since")
