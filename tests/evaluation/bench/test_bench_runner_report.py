"""Runner (serial and --jobs 2) and the report files."""

from __future__ import annotations

import csv
import json

import pytest
from bench_case_factory import make_case
from rich.console import Console

import rca
from rca.evaluation.bench.methods import UnknownMethodError
from rca.evaluation.bench.report import (
    CASE_COLUMNS,
    build_report,
    render_markdown,
    render_table,
    write_report,
)
from rca.evaluation.bench.results import CaseResult
from rca.evaluation.bench.runner import run_case, run_methods

REFERENCE = ["random", "topology-distance", "robust-z", "hypothesis-testing"]


def tiny_cases():
    return [
        make_case("c1", root="db", group="g1", fault_type="latency"),
        make_case("c2", root="cache", group="g1", fault_type="cpu"),
        make_case("c3", root="auth", group="g2", fault_type="latency", separate_baseline=True),
        make_case("n1", root=None, shifted=None, group="g2"),
    ]


def test_serial_run_gives_one_row_per_case_and_method_in_order():
    rows = run_methods(tiny_cases(), REFERENCE, progress=False)
    assert [(r.case_id, r.method) for r in rows] == [(c, m) for c in ("c1", "c2", "c3", "n1") for m in REFERENCE]
    assert all(r.error is None and r.seconds is not None and r.seconds >= 0 for r in rows)
    robust = {r.case_id: r for r in rows if r.method == "robust-z"}
    assert robust["c1"].rank == 1 and robust["c2"].rank == 1 and robust["c3"].rank == 1
    assert robust["n1"].is_normal and not robust["n1"].said_no_cause


def test_two_jobs_match_the_serial_run():
    cases = tiny_cases()
    serial = run_methods(cases, REFERENCE, jobs=1, seed=5, progress=False)
    parallel = run_methods(cases, REFERENCE, jobs=2, seed=5, progress=False)

    def strip(rows):
        return [(r.case_id, r.method, r.top, r.truth_ranks, r.error) for r in rows]

    assert strip(parallel) == strip(serial)


def test_a_raising_method_is_recorded_and_the_run_goes_on(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("metric 'cpu'\nis flat")

    monkeypatch.setattr(rca, "analyze", broken)
    rows = run_methods(tiny_cases()[:2], ["engine", "topology-distance"], progress=False)
    engine = [r for r in rows if r.method == "engine"]
    assert [r.error for r in engine] == ["ValueError: metric 'cpu' is flat"] * 2
    assert all(r.n_ranked == 0 and r.rank is None for r in engine)
    assert all(r.error is None and r.n_ranked == 5 for r in rows if r.method == "topology-distance")


def test_a_method_returning_garbage_is_an_error(monkeypatch):
    import types

    monkeypatch.setattr(rca, "analyze", lambda *a, **k: types.SimpleNamespace(causes=(c := (types.SimpleNamespace(service=3, score=1.0, confidence=0.9),)), ranking=c))
    (row,) = run_case(tiny_cases()[0], ["engine"])
    assert row.error is not None and row.error.startswith("TypeError: method 'engine' must return a list")


def test_unknown_method_fails_before_running():
    with pytest.raises(UnknownMethodError, match="unknown method 'nope'"):
        run_methods(tiny_cases(), ["nope"], progress=False)


def test_jobs_must_be_positive():
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        run_methods(tiny_cases(), REFERENCE, jobs=0, progress=False)


def test_progress_bar_renders_to_the_given_console():
    console = Console(record=True, width=100, force_terminal=False)
    run_methods(tiny_cases()[:1], ["topology-distance"], progress=True, console=console)
    assert "bench" in console.export_text()


def test_report_files_are_written_and_parseable(tmp_path):
    rows = run_methods(tiny_cases(), REFERENCE, progress=False)
    rows.append(CaseResult.from_case(tiny_cases()[0], "engine", [], error="AnalysisError: boom"))
    report = write_report(rows, tmp_path / "out", {"datasets": ["toy:x"], "methods": REFERENCE + ["engine"], "seed": 0})

    with open(tmp_path / "out" / "cases.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == CASE_COLUMNS
    assert len(table) == len(rows)
    first = table[0]
    assert (first["dataset"], first["group"], first["case_id"], first["method"]) == ("toy", "g1", "c1", "random")
    assert json.loads(first["truth"]) == ["db"]
    assert len(json.loads(first["top5"])) == 5
    robust = next(t for t in table if t["method"] == "robust-z" and t["case_id"] == "c1")
    assert robust["rank"] == "1" and json.loads(robust["top5"])[0] == "db"
    assert all(isinstance(x, float) for x in json.loads(robust["scores"]))
    assert float(robust["seconds"]) >= 0
    failed = table[-1]
    assert failed["error"] == "AnalysisError: boom" and failed["rank"] == "" and failed["seconds"] == ""

    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["meta"]["datasets"] == ["toy:x"]
    assert summary == json.loads(json.dumps(report.to_dict()))
    by_key = {(g["group"], g["method"]): g for g in summary["groups"]}
    assert by_key[("(all)", "robust-z")]["ac1"] == 1.0
    assert by_key[("(all)", "robust-z")]["specificity"] == 0.0  # references never say "no root cause"
    assert by_key[("(all)", "engine")]["errors"] == 1
    assert {f["fault_type"] for f in summary["fault_types"]} == {"cpu", "latency"}

    assert summary["calibration"] == []  # the reference methods give no confidence
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| dataset | group | method | n | normal | AC@1 | AC@3 | AC@5 | Avg@5 | specificity |" in md
    assert "## Calibration" not in md
    assert "## Per fault type" in md and "## Top-k recall (PetShop protocol)" in md
    assert "| toy | (all) | robust-z | 3 | 1 | 1.00 |" in md


@pytest.mark.parametrize("width", [80, 160])
def test_terminal_table_shows_every_group_and_method(width):
    rows = run_methods(tiny_cases(), REFERENCE, progress=False)
    console = Console(record=True, width=width)
    console.print(render_table(build_report(rows), width=width))
    text = console.export_text()
    assert "toy/g1" in text and "topology-distance" in text and "AC@1" in text


def test_markdown_without_fault_types_says_so():
    rows = [CaseResult.from_case(make_case("n", root=None), "random", [])]
    assert "No case has a fault type." in render_markdown(build_report(rows))


def test_the_engine_config_reaches_worker_processes():
    from rca.evaluation.datasets.synthetic import generate_case

    cases = [generate_case("layered", 20, seed=s) for s in (1, 2)]
    default = run_methods(cases, ["engine"], jobs=2, progress=False)
    # top_k limits what is explained, not what is ranked; a threshold nothing reaches silences the engine.
    deaf = run_methods(cases, ["engine"], jobs=2, progress=False, config={"detect": {"threshold": 1e5}})
    assert all(r.error is None for r in default + deaf)
    assert max(r.n_ranked for r in default) > 1
    assert all(r.n_ranked == 0 for r in deaf)


def test_the_engine_confidence_reaches_cases_csv_and_the_calibration_table(tmp_path):
    rows = run_methods(tiny_cases(), ["engine"], progress=False)
    write_report(rows, tmp_path / "out")
    with open(tmp_path / "out" / "cases.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    named = [t for t in table if t["n_ranked"] != "0"]
    assert named and all(0.0 < float(t["confidence"]) <= 1.0 for t in named)
    assert all(t["confidence"] == "" for t in table if t["n_ranked"] == "0")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    (cal,) = summary["calibration"]
    assert cal["method"] == "engine" and cal["n"] == len(named) and sum(b["n"] for b in cal["bins"]) == cal["n"]
    assert "## Calibration of the top-1 confidence" in (tmp_path / "out" / "summary.md").read_text()
