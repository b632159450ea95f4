"""``cases:PATH``: your own incidents as case folders, read back exactly as written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import rca
from rca.evaluation.bench.methods import get_method
from rca.evaluation.datasets import load_cases
from rca.evaluation.datasets.cases import load_case_folders, write_case
from rca.evaluation.datasets.synthetic import demo_case, generate_cases


@pytest.fixture(scope="module")
def synthetic():
    return list(generate_cases("n=20,cases=4,seed=5"))


def _ranking(case):
    return list(get_method("engine")(case))


def test_written_cases_load_back_and_rank_the_same(synthetic, tmp_path):
    for k, case in enumerate(synthetic):
        write_case(case, tmp_path / case.group / f"case-{k}")
    loaded = {c.case_id: c for c in load_cases(f"cases:{tmp_path}")}  # in path order
    assert list(loaded) == sorted(f"{c.group}/case-{k}" for k, c in enumerate(synthetic))
    for k, before in enumerate(synthetic):
        after = loaded[f"{before.group}/case-{k}"]
        assert (after.dataset, after.group, after.root_causes, after.fault_type) == ("cases", before.group, before.root_causes, before.fault_type)
        assert after.incident == before.incident and after.graph == before.graph
        assert _ranking(after) == _ranking(before)


def test_shared_topology_and_baseline_above_and_a_normal_window(tmp_path):
    demo = demo_case()
    start = demo.incident.start
    m = demo.metrics
    shop = tmp_path / "shop"
    (shop / "incidents" / "slow-payment").mkdir(parents=True)
    (shop / "incidents" / "quiet-night").mkdir(parents=True)
    shop.joinpath("topology.json").write_text(json.dumps(demo.graph.to_dict()))
    m[m["timestamp"] < start - pd.Timedelta("10min")].to_csv(shop / "baseline.csv", index=False)
    m[m["timestamp"] >= start - pd.Timedelta("10min")].to_csv(shop / "incidents" / "slow-payment" / "metrics.csv", index=False)
    (shop / "incidents" / "slow-payment" / "case.yaml").write_text(
        yaml.safe_dump({"incident": {"service": "frontend", "metric": "latency", "start": start.isoformat()}, "root_causes": ["payment"]})
    )
    quiet = m[m["timestamp"] < start]
    quiet.to_parquet(shop / "incidents" / "quiet-night" / "window.parquet")
    (shop / "incidents" / "quiet-night" / "case.json").write_text(
        json.dumps({
            "incident": {"service": "frontend", "metric": "latency", "start": (start - pd.Timedelta("15min")).isoformat()},
            "metrics": "window.parquet", "group": "nights", "baseline": "../../baseline.csv",
        })
    )
    night, slow = load_case_folders(tmp_path)  # path order
    assert (slow.case_id, slow.group, slow.root_causes) == ("shop/incidents/slow-payment", "shop/incidents", ("payment",))
    assert slow.baseline is not None and slow.baseline["timestamp"].max() < start - pd.Timedelta("10min")
    assert _ranking(slow)[0] == "payment"
    assert (night.group, night.root_causes, night.is_normal) == ("nights", (), True)
    assert [c.case_id for c in load_case_folders(tmp_path, groups="nights")] == [night.case_id]
    with pytest.raises(rca.InvalidInputError, match="unknown group 'days'; found: nights, shop/incidents"):
        load_case_folders(tmp_path, groups=["days"])


def test_one_case_folder_is_a_dataset_and_causal_edges_are_reversed(tmp_path):
    demo = demo_case()
    folder = write_case(demo, tmp_path / "payment")
    calls = demo.graph.calls
    (folder / "topology.json").unlink()
    (folder / "causal.csv").write_text("source,target\n" + "".join(f"{c.callee},{c.caller}\n" for c in calls))
    doc = yaml.safe_load((folder / "case.yaml").read_text())
    (folder / "case.yaml").write_text(yaml.safe_dump({**doc, "topology": "causal.csv", "edges": "causal"}))
    (case,) = load_cases(f"cases:{folder}")
    assert case.case_id == "payment"
    assert sorted((c.caller, c.callee) for c in case.graph.calls) == sorted((c.caller, c.callee) for c in calls)
    assert _ranking(case)[0] == "payment"


def _bad(tmp_path: Path, **changes) -> Path:
    folder = write_case(demo_case(), tmp_path / "c")
    doc = {**yaml.safe_load((folder / "case.yaml").read_text()), **changes}
    (folder / "case.yaml").write_text(yaml.safe_dump({k: v for k, v in doc.items() if v is not None}))
    return folder


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"incident": None}, "'incident' is required"),
        ({"incident": {"service": "frontend", "metric": "latency"}}, "incident.start is required"),
        ({"incident": {"service": "ghost", "metric": "latency", "start": "2024-05-01T13:00:00Z"}}, "incident.service 'ghost' is not in the topology"),
        ({"root_causes": ["payment", "nowhere"]}, "root_causes 'nowhere' is not in the topology"),
        ({"root_causes": "payment, db"}, "root_causes 'payment, db' is not in the topology"),
        ({"root_causes": [3]}, "'root_causes' must be a list of service names"),
        ({"metrics": "missing.csv"}, "metrics file 'missing.csv' does not exist"),
        ({"topology": "nope.yaml"}, "topology file 'nope.yaml' does not exist"),
        ({"edges": "sideways"}, "edges must be 'calls'"),
        ({"severity": "high"}, "unknown key 'severity'"),
        ({"group": ""}, "'group' must be a non-empty string"),
    ],
)
def test_bad_manifests_name_the_file_and_the_problem(tmp_path, changes, message):
    folder = _bad(tmp_path, **changes)
    with pytest.raises(rca.InvalidInputError, match=message) as info:
        load_cases(f"cases:{tmp_path}")
    assert info.value.field == "dataset" and str(folder / "case.yaml") in str(info.value)


def test_missing_folders_files_and_paths(tmp_path):
    with pytest.raises(rca.InvalidInputError, match="needs the folder: write 'cases:PATH'"):
        load_cases("cases")
    with pytest.raises(rca.InvalidInputError, match="does not exist"):
        load_cases(f"cases:{tmp_path / 'nowhere'}")
    with pytest.raises(rca.InvalidInputError, match="no case under"):
        load_cases(f"cases:{tmp_path}")
    folder = write_case(demo_case(), tmp_path / "c")
    (folder / "metrics.csv").unlink()
    with pytest.raises(rca.InvalidInputError, match="no metrics: name a file"):
        load_cases(f"cases:{tmp_path}")
    (folder / "metrics.csv").write_text("when,what\n1,2\n")
    with pytest.raises(rca.InvalidInputError, match="metrics"):
        load_cases(f"cases:{tmp_path}")
    (folder / "case.yaml").write_text("incident: [unclosed\n")
    with pytest.raises(rca.InvalidInputError, match="cannot read the manifest"):
        load_cases(f"cases:{tmp_path}")


def test_rca_bench_runs_on_case_folders(tmp_path):
    from rca.cli import app

    write_case(demo_case(), tmp_path / "cases" / "shop" / "payment")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["bench", "-d", f"cases:{tmp_path / 'cases'}", "--method", "engine", "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out / "cases.csv")
    assert rows[["dataset", "case_id", "rank"]].values.tolist() == [["cases", "shop/payment", 1]]


def test_doctests():
    import doctest

    import rca.evaluation.datasets.cases as module

    assert doctest.testmod(module).failed == 0


def test_export_then_bench_gives_the_same_ranks(tmp_path):
    from rca.cli import app

    spec = "synthetic:n=15,cases=3,seed=2"
    runner = CliRunner()
    exported = runner.invoke(app, ["bench", "-d", spec, "--export", str(tmp_path / "cases")])
    assert exported.exit_code == 0, exported.output
    assert "wrote 3 case folders" in exported.output
    runs = {}
    for name, dataset in (("direct", spec), ("exported", f"cases:{tmp_path / 'cases'}")):
        out = tmp_path / name
        result = runner.invoke(app, ["bench", "-d", dataset, "--method", "engine", "--out", str(out), "--no-progress"])
        assert result.exit_code == 0, result.output
        rows = pd.read_csv(out / "cases.csv")
        runs[name] = dict(zip(rows["case_id"].str.removeprefix("synthetic/"), rows["top5"], strict=True))
    assert runs["exported"] == runs["direct"]


def test_normal_data_shared_by_cases_is_written_once(tmp_path):
    from dataclasses import replace

    from rca.evaluation.datasets.cases import write_cases

    demo = demo_case()
    m, start = demo.metrics, demo.incident.start
    base = m[m["timestamp"] < start - pd.Timedelta("10min")]
    recent = m[m["timestamp"] >= start - pd.Timedelta("10min")]
    cases = [replace(demo, case_id=f"shop/{k}", metrics=recent, baseline=base) for k in range(3)]
    assert write_cases(cases, tmp_path) == 3
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("baseline.*")) == ["synthetic/shop/0/baseline.parquet"]
    assert len(list(tmp_path.rglob("metrics.parquet"))) == 3
    loaded = load_case_folders(tmp_path)
    assert [len(c.baseline) for c in loaded] == [len(base.dropna(subset=["value"]))] * 3
    assert loaded[0].baseline is loaded[1].baseline is loaded[2].baseline  # read once, one frame for all
    assert {_ranking(c)[0] for c in loaded} == {"payment"}


def test_csv_and_parquet_case_folders_read_back_alike(tmp_path):
    demo = demo_case()
    write_case(demo, tmp_path / "csv" / "c", fmt="csv")
    write_case(demo, tmp_path / "pq" / "c", fmt="parquet")
    assert (tmp_path / "csv" / "c" / "metrics.csv").is_file() and (tmp_path / "pq" / "c" / "metrics.parquet").is_file()
    (a,), (b,) = load_case_folders(tmp_path / "csv"), load_case_folders(tmp_path / "pq")
    pd.testing.assert_frame_equal(a.metrics, b.metrics, check_categorical=False, check_dtype=False)
    with pytest.raises(rca.InvalidInputError, match="fmt must be 'csv' or 'parquet'"):
        write_case(demo, tmp_path / "x", fmt="xlsx")
