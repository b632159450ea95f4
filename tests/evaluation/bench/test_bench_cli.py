"""``rca bench`` through typer's CliRunner: errors are one line and exit code 2."""

from __future__ import annotations

import importlib
import json
import re
import sys
import types

import pytest
from bench_case_factory import make_case
from typer.testing import CliRunner

import rca.evaluation.datasets


def _import_app():
    """The typer app; stubs a sibling sub-command module that has not landed yet."""
    for _ in range(5):
        try:
            return importlib.import_module("rca.cli").app
        except ImportError as exc:
            found = re.search(r"cannot import name '(\w+)' from partially initialized module 'rca\.cli'", str(exc))
            if not found or found.group(1) == "bench":
                raise
            sys.modules[f"rca.cli.{found.group(1)}"] = types.ModuleType(f"rca.cli.{found.group(1)}")
    raise ImportError("rca.cli could not be imported")


app = _import_app()
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["bench", *args])


@pytest.fixture
def fake_cases(monkeypatch):
    """``load_cases`` returns tiny hand-made cases (and records the specs asked for)."""
    asked: list[str] = []

    def load_cases(spec: str, **options):
        asked.append(spec)
        if "broken" in spec:
            raise rca.InvalidInputError("dataset directory '/nowhere' does not exist", field="dataset")
        return [make_case("c1", root="db"), make_case("c2", root="cache", group="g2"), make_case("n1", root=None, shifted=None)]

    monkeypatch.setattr(rca.evaluation.datasets, "load_cases", load_cases)
    return asked


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "mnist:/data"], "unknown dataset 'mnist'"),
        (["--dataset", "petshop:"], "nothing after ':'"),
        (["--dataset", "synthetic:chain-10", "--method", "pagerank"], "unknown method 'pagerank'; available: engine"),
        ([], "give at least one --dataset"),
        (["--dataset", "synthetic:x", "--jobs", "0"], "--jobs must be an integer >= 1, got 0"),
        (["--dataset", "synthetic:x", "--limit", "0"], "--limit must be an integer >= 1, got 0"),
        (["--dataset", "petshop:broken"], "could not be loaded: dataset directory '/nowhere' does not exist"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(fake_cases, tmp_path, args, message):
    result = invoke(*args, "--out", str(tmp_path / "out"), "--no-progress")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_bad_spec_is_rejected_before_any_dataset_is_loaded(fake_cases, tmp_path):
    result = invoke("--dataset", "synthetic:x", "--dataset", "mnist", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert fake_cases == []


def test_list_methods():
    result = runner.invoke(app, ["bench", "--list-methods"], terminal_width=200)
    assert result.exit_code == 0
    for name in ("engine", "engine-no-granger", "engine-no-ranking", "engine-no-topology", "random", "topology-distance", "robust-z"):
        assert name in result.output


def test_a_run_writes_the_report(fake_cases, tmp_path):
    out = tmp_path / "out"
    result = invoke(
        "--dataset", "synthetic:x", "--dataset", "petshop:somewhere",
        "--method", "robust-z", "--method", "topology-distance",
        "--out", str(out), "--limit", "2", "--seed", "3", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert fake_cases == ["synthetic:x", "petshop:somewhere"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["methods"] == ["robust-z", "topology-distance"]
    assert summary["meta"]["limit"] == 2 and summary["meta"]["seed"] == 3
    assert summary["meta"]["loaded"]["synthetic:x"]["cases"] == 2
    rows = (out / "cases.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2 * 2 * 2  # header + datasets × limited cases × methods
    assert (out / "summary.md").read_text().startswith("# rca bench")
    assert "rca bench" in result.output and "robust-z" in result.output


def test_default_methods_run_engine_and_ablations_and_errors_do_not_abort(fake_cases, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise rca.AnalysisError("not today")

    monkeypatch.setattr(rca, "analyze", broken)
    result = runner.invoke(app, ["bench", "--dataset", "synthetic:x", "--out", str(tmp_path), "--no-progress"], terminal_width=200)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["meta"]["methods"][:4] == ["engine", "engine-no-granger", "engine-no-ranking", "engine-no-topology"]
    errors = {g["method"]: g["errors"] for g in summary["groups"] if g["group"] == "(all)"}
    assert errors["engine"] == 3 and errors["robust-z"] == 0
    assert "12 of 24 runs raised" in result.output


def test_two_specs_of_one_dataset_keep_their_groups_apart(tmp_path):
    # Two SEM sets of the same size, the second with 10-point incident windows:
    # same group and case ids, different questions.
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "bench", "--dataset", "synthetic:family=sem,n=10,cases=2,seed=1",
            "--dataset", "synthetic:family=sem,n=10,cases=2,seed=1,steps=200,baseline=190",
            "--method", "robust-z", "--out", str(out), "--no-progress",
        ],
        terminal_width=200,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "its groups sem-10 were already taken by an earlier --dataset: reported as sem-10#2" in said
    rows = [line.split(",") for line in (out / "cases.csv").read_text().strip().splitlines()[1:]]
    assert sorted((r[1], r[2]) for r in rows) == [
        ("sem-10", "sem-10/shift/0"), ("sem-10", "sem-10/shift/1"),
        ("sem-10#2", "sem-10#2/shift/0"), ("sem-10#2", "sem-10#2/shift/1"),
    ]  # fmt: skip
    groups = {(g["group"], g["n"]) for g in json.loads((out / "summary.json").read_text())["groups"]}
    assert {("sem-10", 2), ("sem-10#2", 2), ("(all)", 4)} <= groups


def test_distinct_groups_leaves_other_datasets_and_new_groups_alone():
    from rca.cli.bench import distinct_groups

    earlier = [make_case("a", root="db", group="g")]
    same = make_case("b", root="db", group="g")
    other = make_case("c", root="db", group="h")
    got, renamed = distinct_groups([same, other], earlier)
    assert renamed == {"g": "g#2"}
    assert [(c.group, c.case_id) for c in got] == [("g#2", "b#2"), ("h", "c")]
    prefixed, _ = distinct_groups([make_case("g/1", root="db", group="g")], earlier)
    assert prefixed[0].case_id == "g#2/1"
    assert distinct_groups([other], earlier) == ([other], {})
    # a third set of the same group takes the next free suffix
    got3, renamed3 = distinct_groups([make_case("d", root="db", group="g")], earlier + got)
    assert renamed3 == {"g": "g#3"} and got3[0].group == "g#3"


def test_limit_takes_cases_in_turn_from_each_group():
    from rca.cli.bench import limit_cases

    cases = [make_case(f"a{i}", group="a") for i in range(4)] + [make_case(f"b{i}", group="b") for i in range(2)]
    assert [c.case_id for c in limit_cases(cases, 3)] == ["a0", "a1", "b0"]
    assert [c.case_id for c in limit_cases(cases, 5)] == ["a0", "a1", "a2", "b0", "b1"]
    assert len(limit_cases(cases, 100)) == 6


def test_config_is_the_engines_base_and_the_ablations_build_on_it(fake_cases, tmp_path, monkeypatch):
    seen: list[dict] = []

    def spy(graph, metrics, incident, config=None, *, baseline=None):
        seen.append(config.to_dict())
        raise rca.AnalysisError("recorded")

    monkeypatch.setattr(rca, "analyze", spy)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("rank:\n  top_k: 2\n  null_log_score: 0.25\n")
    out = tmp_path / "out"
    result = invoke(
        "--dataset", "synthetic:x", "--method", "engine", "--method", "engine-no-granger",
        "--config", str(cfg), "--limit", "1", "--out", str(out), "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(seen) == 2
    assert all(c["rank"]["top_k"] == 2 and c["rank"]["null_log_score"] == 0.25 for c in seen)
    assert [c["granger"]["enabled"] for c in seen] == [True, False]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["config"] == {"rank": {"top_k": 2, "null_log_score": 0.25}}
    assert "- config: " in (out / "summary.md").read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rank:\n  top_k: 0\n", "The 'top_k' parameter of RankConfig"),
        ("[1, 2]\n", "must hold a mapping of sections"),
        ("rank: {top_k: 2\n", "is not valid JSON/YAML"),
        ("ranking:\n  top_k: 2\n", "ranking"),
    ],
)
def test_a_bad_config_is_one_line_before_anything_runs(fake_cases, tmp_path, text, message):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    result = invoke("--dataset", "synthetic:x", "--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("Error: --config: ") and message in line and "\n" not in line
    assert fake_cases == []  # nothing was loaded
