"""PetShop loader and the ``load_cases`` registry, on a small fixture modelled on the real format."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from rca.engine.errors import InvalidInputError
from rca.evaluation.datasets import DATASETS, default_dataset_path, load_cases
from rca.evaluation.datasets.petshop import (
    load_petshop,
    petshop_node_kind,
    read_petshop_graph,
    read_petshop_metrics,
)
from topology import NodeKind

FIXTURES = Path(__file__).parent / "fixtures" / "petshop"


def _real_root() -> Path:
    env = os.environ.get("RCA_DATASETS")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "datasets"


@pytest.fixture
def petshop_root(tmp_path: Path) -> Path:
    """A writable copy of the fixture tree (tests may add or break files)."""
    dst = tmp_path / "petshop"
    shutil.copytree(FIXTURES, dst)
    return dst


# -- graph -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kind", "raw"),
    [
        ("PetSite", NodeKind.SERVICE, None),
        ("PetSearch_AWS::ECS::Fargate", NodeKind.SERVICE, "AWS::ECS::Fargate"),
        ("petInfo_AWS::DynamoDB::Table", NodeKind.DATABASE, "AWS::DynamoDB::Table"),
        ("DynamoDB_AWS::DynamoDB", NodeKind.DATABASE, "AWS::DynamoDB"),
        ("adoptions@db.example.com_Database::SQL", NodeKind.DATABASE, "Database::SQL"),
        ("S3_AWS::S3", NodeKind.DATABASE, "AWS::S3"),
        ("https://sqs.example.com/q_AWS::SQS::Queue", NodeKind.QUEUE, "AWS::SQS::Queue"),
        ("amazon.com_remote", NodeKind.EXTERNAL, "remote"),
        ("PetSearch_client", NodeKind.SERVICE, "client"),
        ("AWS::StepFunctions::StateMachine", NodeKind.SERVICE, "AWS::StepFunctions::StateMachine"),
    ],
)
def test_node_kind_from_suffix(name: str, kind: NodeKind, raw: str | None) -> None:
    assert petshop_node_kind(name) == (kind, raw)


def test_graph_rows_call_columns() -> None:
    g = read_petshop_graph(FIXTURES / "mini" / "graph.csv")
    assert g.has_call("Front", "Search_AWS::ECS::Fargate")
    assert not g.has_call("Search_AWS::ECS::Fargate", "Front")
    assert g.has_call("Search_AWS::ECS::Fargate", "petInfo_AWS::DynamoDB::Table")
    assert g.kind("jobs_AWS::SQS::Queue") is NodeKind.QUEUE
    assert g.node("petInfo_AWS::DynamoDB::Table").tags == {"aws_type": "AWS::DynamoDB::Table"}
    assert g.kind("api.example.com_remote") is NodeKind.EXTERNAL


# -- metrics ---------------------------------------------------------------------
def test_metrics_long_format_names_and_missing_values() -> None:
    frame, issues = read_petshop_metrics(FIXTURES / "mini" / "train" / "issue_0" / "metrics.csv")
    assert list(frame.columns) == ["timestamp", "service", "metric", "value"]
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["value"].dtype == float
    assert set(frame["metric"]) == {
        "latency",
        "latency_p50",
        "latency_p90",
        "latency_p95",
        "latency_p99",
        "requests",
        "availability",
    }
    assert frame["timestamp"].min() == pd.Timestamp(1681879020, unit="s", tz="UTC")
    assert frame["timestamp"].nunique() == 5
    assert frame["timestamp"].is_monotonic_increasing
    # a missing cell is absent, not NaN
    assert not frame["value"].isna().any()
    p99 = frame[(frame.service == "Front") & (frame.metric == "latency_p99")]
    assert len(p99) == 4
    # the all-empty series is dropped and reported
    assert not ((frame.service == "api.example.com_remote") & (frame.metric == "availability")).any()
    assert [(i.kind, i.service, i.metric) for i in issues] == [("empty", "api.example.com_remote", "availability")]


def test_unreadable_metrics_is_invalid_input(tmp_path: Path) -> None:
    bad = tmp_path / "metrics.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInputError, match="three header rows|cannot read"):
        read_petshop_metrics(bad)


# -- cases -----------------------------------------------------------------------
def test_issue_cases(petshop_root: Path) -> None:
    cases = load_petshop(petshop_root, normal_windows=False)
    by_id = {c.case_id: c for c in cases}
    assert sorted(by_id) == ["mini/test/issue_0", "mini/train/issue_0", "mini/train/issue_1"]
    c = by_id["mini/train/issue_0"]
    assert c.dataset == "petshop"
    assert c.group == "mini/latency"
    assert c.incident.service == "Front"
    assert c.incident.metric == "latency"
    assert c.incident.start == pd.Timestamp(1681879611, unit="s", tz="UTC")
    assert c.root_causes == ("Search_AWS::ECS::Fargate",)
    assert c.fault_type == "searchdelay"
    assert c.baseline is not None and c.baseline["timestamp"].nunique() == 48
    assert any(i.kind == "empty" for i in c.issues)
    avail = by_id["mini/train/issue_1"]
    assert avail.group == "mini/availability" and avail.incident.metric == "availability"
    assert avail.fault_type == "searcherrorpercent"
    assert by_id["mini/test/issue_0"].fault_type is None  # no reproducibility command
    # the normal data is parsed once per scenario and shared
    assert c.baseline is avail.baseline


def test_splits_and_scenarios_filters(petshop_root: Path) -> None:
    assert [c.case_id for c in load_petshop(petshop_root, splits=("test",), normal_windows=False)] == [
        "mini/test/issue_0"
    ]
    with pytest.raises(InvalidInputError, match="unknown PetShop scenario 'nope'; found: mini"):
        load_petshop(petshop_root, scenarios=["nope"])


def test_scenarios_are_discovered_not_hard_coded(petshop_root: Path) -> None:
    shutil.copytree(petshop_root / "mini", petshop_root / "another_one")
    shutil.rmtree(petshop_root / "another_one" / "noissue")
    cases = load_petshop(petshop_root)
    assert Counter(c.meta["scenario"] for c in cases if not c.is_normal) == {"mini": 3, "another_one": 3}
    # without noissue data: no specificity cases, and the issues borrow the others' normal data
    other = [c for c in cases if c.meta["scenario"] == "another_one"]
    assert other and not any(c.is_normal for c in other)
    own = next(c for c in cases if c.meta["scenario"] == "mini" and not c.is_normal)
    for c in other:
        pd.testing.assert_frame_equal(c.baseline.reset_index(drop=True), own.baseline.reset_index(drop=True))
        borrowed = [i for i in c.issues if i.kind == "borrowed_baseline"]
        assert len(borrowed) == 1 and "mini" in borrowed[0].message
    assert not any(i.kind == "borrowed_baseline" for i in own.issues)


def test_borrowed_baseline_joins_every_scenario_with_normal_data(petshop_root: Path) -> None:
    shutil.copytree(petshop_root / "mini", petshop_root / "second")
    shutil.copytree(petshop_root / "mini", petshop_root / "temporal")
    shutil.rmtree(petshop_root / "temporal" / "noissue")
    cases = load_petshop(petshop_root)
    temporal = [c for c in cases if c.meta["scenario"] == "temporal"]
    own = next(c for c in cases if c.meta["scenario"] == "mini" and not c.is_normal)
    assert len(temporal) == 3
    assert len(temporal[0].baseline) == 2 * len(own.baseline)
    assert all(c.baseline is temporal[0].baseline for c in temporal)  # read once, shared
    note = next(i for i in temporal[0].issues if i.kind == "borrowed_baseline")
    assert "mini" in note.message and "second" in note.message


def test_borrow_normal_can_be_switched_off(petshop_root: Path) -> None:
    shutil.copytree(petshop_root / "mini", petshop_root / "another_one")
    shutil.rmtree(petshop_root / "another_one" / "noissue")
    cases = load_petshop(petshop_root, borrow_normal=False)
    other = [c for c in cases if c.meta["scenario"] == "another_one"]
    assert other and all(c.baseline is None for c in other)


def test_specificity_windows(petshop_root: Path) -> None:
    cases = load_petshop(petshop_root, normal_per_metric=3, normal_splits=0)
    normal = [c for c in cases if c.is_normal]
    # 3 windows x the two target metrics seen in the issues
    assert sorted(c.case_id for c in normal) == [
        f"mini/normal/{m}/{k:02d}" for m in ("availability", "latency") for k in range(3)
    ]
    windows = []
    for c in normal:
        assert c.root_causes == () and c.fault_type is None
        assert c.group == f"mini/{c.case_id.split('/')[2]}"
        assert c.incident.service == "Front"
        stamps = c.metrics["timestamp"].drop_duplicates()
        assert len(stamps) == 5  # as many rows as the issue windows
        lo, hi = stamps.min(), stamps.max()
        # the incident sits at the median offset of the issue targets (591 s, 620 s, 570 s)
        assert c.incident.start - lo == pd.Timedelta(seconds=591)
        # the baseline never touches the window nor the hour either side of it
        assert c.baseline is not None
        b = c.baseline["timestamp"]
        assert not ((b >= lo - pd.Timedelta(hours=1)) & (b <= hi + pd.Timedelta(hours=1))).any()
        assert len(b) > 0
        windows.append((lo, hi))
    distinct = sorted(set(windows))
    assert len(distinct) == 3
    for (_, hi), (lo, _) in zip(distinct, distinct[1:]):
        assert hi < lo  # non-overlapping


def test_specificity_window_reports_series_missing_from_it(petshop_root: Path) -> None:
    path = petshop_root / "mini" / "noissue" / "metrics.csv"
    lines = path.read_text().splitlines()
    col = next(
        k
        for k, (n, m, st) in enumerate(zip(*(line.split(",") for line in lines[:3]), strict=True))
        if (n, m, st) == ("jobs_AWS::SQS::Queue", "requests", "Sum")
    )
    for r in range(4, 4 + 5):  # blank the series in the first five rows = the first window
        cells = lines[r].split(",")
        cells[col] = ""
        lines[r] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    cases = {c.case_id: c for c in load_petshop(petshop_root, normal_per_metric=3)}
    first = cases["mini/normal/latency/00"]
    hits = [i for i in first.issues if i.kind == "empty" and i.service == "jobs_AWS::SQS::Queue"]
    assert [(i.metric, "normal window" in i.message) for i in hits] == [("requests", True)]
    assert not any(i.service == "jobs_AWS::SQS::Queue" for i in cases["mini/normal/latency/01"].issues)


def test_no_normal_windows_option(petshop_root: Path) -> None:
    assert not any(c.is_normal for c in load_petshop(petshop_root, normal_windows=False))


def test_missing_root_and_bad_target(tmp_path: Path, petshop_root: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_petshop(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no PetShop scenario"):
        load_petshop(tmp_path / "empty")
    (petshop_root / "mini" / "train" / "issue_0" / "target.json").write_text("{}")
    with pytest.raises(InvalidInputError, match=r"target\.json"):
        load_petshop(petshop_root)


# -- registry --------------------------------------------------------------------
def test_registry_names() -> None:
    assert set(DATASETS) == {"petshop", "nezha", "cases", "inject", "synthetic"}


def test_load_cases_with_path(petshop_root: Path) -> None:
    cases = load_cases(f"petshop:{petshop_root}", normal_windows=False)
    assert len(cases) == 3


def test_load_cases_synthetic_is_a_list() -> None:
    pytest.importorskip("rca.evaluation.datasets.synthetic", reason="the synthetic generator is not there yet")
    cases = load_cases("synthetic:family=chain,n=10,cases=2,seed=0")
    assert isinstance(cases, list) and len(cases) == 2
    assert all(c.dataset == "synthetic" for c in cases)


def test_load_cases_default_path_from_env(petshop_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCA_DATASETS", str(petshop_root.parent))
    assert default_dataset_path("petshop") == petshop_root
    assert len(load_cases("petshop", normal_windows=False)) == 3


def test_load_cases_default_path_relative_to_cwd(
    tmp_path: Path, petshop_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RCA_DATASETS", raising=False)
    shared = tmp_path / "shared" / "datasets"
    shared.mkdir(parents=True)
    shutil.move(str(petshop_root), shared / "petshop")
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    assert len(load_cases("petshop", normal_windows=False)) == 3


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        ("", {}, "non-empty string"),
        ("mnist:/tmp", {}, "unknown dataset 'mnist'"),
        ("petshop:", {}, "empty PATH"),
        ("synthetic:", {}, "empty SPEC"),
        ("petshop:/definitely/not/here", {}, "does not exist"),
        ("petshop:{root}", {"colour": "red"}, "unknown option 'colour' for dataset 'petshop'"),
    ],
)
def test_load_cases_spec_errors(spec: str, options: dict[str, object], message: str, petshop_root: Path) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        load_cases(spec.format(root=petshop_root), **options)
    assert info.value.field == "dataset"


def test_load_cases_missing_default_path_says_how_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCA_DATASETS", str(tmp_path))
    with pytest.raises(InvalidInputError, match="set RCA_DATASETS or pass 'petshop:PATH'"):
        load_cases("petshop")


# -- the real data ---------------------------------------------------------------
@pytest.mark.datasets
def test_real_petshop_smoke() -> None:
    root = _real_root() / "petshop"
    if not (root / "low_traffic" / "graph.csv").is_file():
        pytest.skip(f"PetShop data not found at {root} (set RCA_DATASETS to the datasets folder)")
    t0 = time.process_time()  # CPU time: robust to a busy machine
    cases = load_petshop(root)
    seconds = time.process_time() - t0
    issues = [c for c in cases if not c.is_normal]
    assert sum(c.meta["split"] == "train" for c in issues) == 20
    assert {c.group for c in issues} >= {"low_traffic/latency", "high_traffic/availability"}
    for c in issues:
        assert c.incident.service in c.graph
        assert all(r in c.graph for r in c.root_causes)
        assert c.fault_type in {"searchdelay", "searcherrorpercent"}
    normal = Counter(c.group for c in cases if c.is_normal)
    assert normal == {
        f"{s}/{m}{kind}": count
        for s in ("low_traffic", "high_traffic")
        for m in ("latency", "availability")
        for kind, count in (("", 20), ("/split", 9))
    }
    assert seconds < 4, f"loading PetShop took {seconds:.1f} s of CPU"


def test_specificity_splits_the_authors_way(petshop_root: Path) -> None:
    cases = [c for c in load_petshop(petshop_root, normal_per_metric=0, normal_splits=3) if c.is_normal]
    assert sorted(c.case_id for c in cases) == [f"mini/split/{m}/{k:02d}" for m in ("availability", "latency") for k in range(3)]
    fractions = sorted({c.meta["fraction"] for c in cases})
    assert fractions == [0.1, 0.5, 0.9]
    for c in cases:
        assert c.group.endswith("/split") and c.incident.end is None
        b, w = c.baseline["timestamp"], c.metrics["timestamp"]
        # everything before the split is the baseline, everything from it on the window
        assert b.max() < c.incident.start == w.min()
    with pytest.raises(InvalidInputError):
        load_petshop(petshop_root, normal_splits=-1)
