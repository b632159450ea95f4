"""Nezha loader on a small hand-made fixture (see fixtures/make_nezha_fixture.py) and on the real data."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from rca.engine.errors import InvalidInputError
from rca.evaluation.datasets import load_cases
from rca.evaluation.datasets.base import BenchCase
from rca.evaluation.datasets.nezha import load_nezha
from rca.evaluation.datasets.nezha_day import metric_name, read_nezha_day
from topology import NodeKind

FIXTURES = Path(__file__).parent / "fixtures" / "nezha"
POD_METRICS = {
    "cpu_usage",
    "cpu_usage_rate",
    "memory_usage",
    "memory_usage_rate",
    "syscall_read",
    "syscall_write",
    "network_receive_bytes",
    "network_transmit_bytes",
    "client_latency_p90",
    "client_latency_p95",
    "client_latency_p99",
    "server_latency_p90",
    "server_latency_p95",
    "server_latency_p99",
    "workload",
    "success_rate",
}


def _real_root() -> Path:
    env = os.environ.get("RCA_DATASETS")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "datasets"


@pytest.fixture(scope="module")
def cases() -> dict[str, BenchCase]:
    return {c.case_id: c for c in load_nezha(FIXTURES)}


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _series(case: BenchCase, service: str, metric: str, frame: str = "metrics") -> pd.Series:
    df = getattr(case, frame)
    sel = df[(df.service == service) & (df.metric == metric)]
    return sel.set_index("timestamp")["value"]


# -- names -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("column", "name"),
    [
        ("CpuUsage(m)", "cpu_usage"),
        ("CpuUsageRate(%)", "cpu_usage_rate"),
        ("MemoryUsage(Mi)", "memory_usage"),
        ("SyscallRead", "syscall_read"),
        ("NetworkTransmitBytes", "network_transmit_bytes"),
        ("PodClientLatencyP90(s)", "client_latency_p90"),
        ("PodServerLatencyP99(s)", "server_latency_p99"),
        ("PodWorkload(Ops)", "workload"),
        ("PodSuccessRate(%)", "success_rate"),
        ("NodeCpuUsageRate(%)", "node_cpu_usage_rate"),
    ],
)
def test_metric_names(column: str, name: str) -> None:
    assert metric_name(column) == name


# -- cases -----------------------------------------------------------------------
def test_one_case_per_fault(cases: dict[str, BenchCase]) -> None:
    assert sorted(cases) == [
        "shop/2022-08-22/00",
        "shop/2022-08-22/01",
        "shop/2022-08-22/02",
        "shop/2022-08-22/03",
        "tickets/2023-01-29/00",
        "tickets/2023-01-29/01",
        "tickets/2023-01-29/02",
        "tickets/2023-01-29/03",
        "tickets/2023-01-30/00",
    ]
    assert Counter(c.group for c in cases.values()) == {"shop": 4, "tickets": 5}
    c = cases["shop/2022-08-22/01"]
    assert c.dataset == "nezha"
    assert c.root_causes == ("cartservice",)
    assert c.fault_type == "return"
    assert c.incident.service == "frontend"
    assert c.incident.metric == "latency_p90"
    assert c.incident.start == _ts("2022-08-22 04:02")  # floored to the minute
    assert c.incident.end == _ts("2022-08-22 04:07")
    assert c.meta["inject_pod"] == "cartservice-579f59597d-wc2lz"


def test_pods_map_to_services_across_days(cases: dict[str, BenchCase]) -> None:
    # 2023-01-30 runs ts-order-service in a pod with another hash (another file name)
    c = cases["tickets/2023-01-30/00"]
    assert c.root_causes == ("ts-order-service",)
    assert "ts-order-service" in set(c.metrics["service"])
    assert not any("-" in s and s.endswith("zq2xk") for s in c.metrics["service"])
    assert set(cases["tickets/2023-01-29/00"].metrics["service"]) == set(c.metrics["service"])


def test_entry_service_is_the_root_of_most_traces(cases: dict[str, BenchCase]) -> None:
    assert cases["shop/2022-08-22/00"].incident.service == "frontend"
    assert cases["tickets/2023-01-29/00"].incident.service == "ts-gateway-service"


def test_entry_service_without_spans_is_the_top_caller(tmp_path: Path) -> None:
    day = tmp_path / "shop" / "2022-08-22"
    shutil.copytree(FIXTURES / "shop" / "2022-08-22", day)
    shutil.rmtree(day / "trace")
    d = read_nezha_day(day)
    # loadgenerator calls only hosts; it is neither dropped into the graph nor the entry
    assert d.entry == "frontend"


def test_without_front_service_the_symptom_is_the_entry_pods_latency(tmp_path: Path) -> None:
    day = tmp_path / "shop" / "2022-08-22"
    shutil.copytree(FIXTURES / "shop" / "2022-08-22", day)
    (day / "metric" / "front_service.csv").unlink()
    cases = load_nezha(tmp_path)
    assert cases and {c.incident.metric for c in cases} == {"server_latency_p90"}
    assert all(not _series(c, "frontend", "server_latency_p90").empty for c in cases)
    fallback = [i for i in cases[0].issues if i.kind == "symptom_fallback"]
    assert len(fallback) == 1 and "front_service.csv" in fallback[0].message
    assert (fallback[0].service, fallback[0].metric) == ("frontend", "server_latency_p90")


def test_with_front_service_the_symptom_is_the_user_facing_latency(cases: dict[str, BenchCase]) -> None:
    shop = [c for c in cases.values() if c.group == "shop"]
    assert {c.incident.metric for c in shop} == {"latency_p90"}
    assert not any(i.kind == "symptom_fallback" for c in shop for i in c.issues)


def test_a_fault_on_a_pod_without_metrics_is_kept_and_reported(tmp_path: Path) -> None:
    day = tmp_path / "shop" / "2022-08-22"
    shutil.copytree(FIXTURES / "shop" / "2022-08-22", day)
    faults = day / "fault_list.json"
    faults.write_text(faults.read_text().replace("cartservice-579f59597d-wc2lz", "ghostservice-579f59597d-abcde"))
    cases = load_nezha(tmp_path)
    ghost = [c for c in cases if c.meta["inject_pod"].startswith("ghostservice")]
    assert len(ghost) == 2, "the faults are kept: a method can only miss them"
    for c in ghost:
        (cause,) = c.root_causes
        assert cause in c.graph
        unobserved = [i for i in c.issues if i.kind == "fault_unobserved"]
        assert len(unobserved) == 1 and unobserved[0].service == cause and "no metric file" in unobserved[0].message
    others = [c for c in cases if c not in ghost]
    assert others and not any(i.kind == "fault_unobserved" for c in others for i in c.issues)


# -- metrics -----------------------------------------------------------------------
def test_metric_names_units_and_node_columns(cases: dict[str, BenchCase]) -> None:
    c = cases["shop/2022-08-22/03"]
    cart = set(c.metrics.loc[c.metrics.service == "cartservice", "metric"])
    assert cart == POD_METRICS | {"network_latency_p50"}  # spans are evidence, not metrics
    assert not any(m.startswith("node_") for m in c.metrics["metric"])
    assert list(c.metrics.columns) == ["timestamp", "service", "metric", "value"]
    assert str(c.metrics["timestamp"].dt.tz) == "UTC"
    assert (c.metrics["timestamp"] == c.metrics["timestamp"].dt.floor("min")).all()


def test_keep_node_metrics_option() -> None:
    d = read_nezha_day(FIXTURES / "shop" / "2022-08-22", keep_node_metrics=True)
    assert {"node_cpu_usage_rate", "node_memory_usage_rate", "node_network_receive_bytes"} <= set(d.metrics["metric"])


def test_front_service_becomes_the_entry_metrics(cases: dict[str, BenchCase]) -> None:
    c = cases["tickets/2023-01-29/01"]
    p90 = _series(c, "ts-gateway-service", "latency_p90")
    assert p90[_ts("2023-01-29 08:45")] == pytest.approx(0.84)
    # front_service's success rate (0) replaces the gateway pod's own (100)
    assert set(_series(c, "ts-gateway-service", "success_rate")) == {0.0}
    assert set(_series(c, "ts-order-service", "success_rate")) == {100.0}
    gw = set(c.metrics.loc[c.metrics.service == "ts-gateway-service", "metric"])
    assert {"latency_p50", "latency_p90", "latency_p95", "latency_p99"} <= gw


def test_missing_values_are_absent(cases: dict[str, BenchCase]) -> None:
    c = cases["tickets/2023-01-29/03"]
    assert not c.metrics["value"].isna().any()
    # NaN cells: the contacts pod has no server latency at all
    assert _series(c, "ts-contacts-service", "server_latency_p90").empty
    assert not _series(c, "ts-contacts-service", "client_latency_p90").empty
    # an empty cell: minute 7 (08:48) has no cpu_usage but has the other metrics
    d = read_nezha_day(FIXTURES / "tickets" / "2023-01-29")
    cpu = d.metrics[(d.metrics.service == "ts-order-service") & (d.metrics.metric == "cpu_usage")]
    assert _ts("2023-01-29 08:48") not in set(cpu["timestamp"])
    assert len(cpu) == 39


def test_cases_carry_spans_and_logs_as_evidence(cases: dict[str, BenchCase]) -> None:
    shop = cases["shop/2022-08-22/03"]
    spans = shop.evidence["spans"]
    assert set(spans.columns) >= {"trace_id", "span_id", "service", "start", "duration_us"}
    lo, hi = shop.incident.start - pd.Timedelta("60min"), shop.incident.end
    assert ((spans["start"] >= lo) & (spans["start"] < hi)).all()
    assert "logs" not in shop.evidence  # Online Boutique published no logs
    day = read_nezha_day(FIXTURES / "tickets" / "2023-01-29")
    assert day.logs is not None and len(day.logs) == 162 and day.normal_logs is not None
    assert day.logs["timestamp"].is_monotonic_increasing
    assert read_nezha_day(FIXTURES / "tickets" / "2023-01-29", use_logs=False).logs is None


def test_modalities_option_keeps_a_subset() -> None:
    only = load_nezha(FIXTURES / "shop", modalities="metrics")
    assert all(not c.evidence for c in only) and {c.group for c in only} == {"shop (metrics)"}
    both = load_cases(f"nezha:{FIXTURES / 'shop'}|modalities=metrics+spans")
    assert {c.group for c in both} == {"shop (metrics+spans)"} and any("spans" in c.evidence for c in both)
    with pytest.raises(InvalidInputError, match="unknown modality 'traces'"):
        load_nezha(FIXTURES / "shop", modalities="metrics+traces")
    with pytest.raises(InvalidInputError, match="must include 'metrics'"):
        load_nezha(FIXTURES / "shop", modalities="spans")


# -- topology ------------------------------------------------------------------------
def test_topology_from_dependency_drops_hosts(cases: dict[str, BenchCase]) -> None:
    g = cases["shop/2022-08-22/00"].graph
    assert sorted(g.services) == ["adservice", "cartservice", "frontend"]
    assert g.has_call("frontend", "cartservice") and g.has_call("frontend", "adservice")


def test_topology_hosts_option() -> None:
    g = read_nezha_day(FIXTURES / "shop" / "2022-08-22", hosts=True).graph
    assert g.kind("33.33.33.80") is NodeKind.HOST
    assert g.has_call("cartservice", "33.33.33.80")


def test_topology_from_spans_when_no_dependency_file(cases: dict[str, BenchCase]) -> None:
    g = cases["tickets/2023-01-29/00"].graph
    assert g.has_call("ts-gateway-service", "ts-order-service")
    assert g.has_call("ts-order-service", "ts-contacts-service")
    assert not g.has_call("ts-gateway-service", "ts-gateway-service")
    calls = {(c.caller, c.callee): c.calls for c in g.calls}
    assert calls[("ts-gateway-service", "ts-order-service")] == 2


# -- clock repairs -------------------------------------------------------------------
def _repairs(case: BenchCase) -> list[str]:
    return [i.message for i in case.issues if i.kind == "clock_repair"]


def test_metric_timestamp_repaired_from_time_column(cases: dict[str, BenchCase]) -> None:
    c = cases["shop/2022-08-22/01"]
    ad = _series(c, "adservice", "cpu_usage_rate")
    assert ad.index.min() >= _ts("2022-08-22 03:02") and ad.index.max() < _ts("2022-08-22 04:07")
    assert len(ad) == len(_series(c, "cartservice", "cpu_usage_rate"))  # aligned with the other pods
    messages = [m for m in _repairs(c) if "adservice" in m]
    assert len(messages) == 1
    assert "+200,000,000 s" in messages[0] and "40 of 40 rows" in messages[0] and "used Time" in messages[0]
    # every case of the day carries the repair of its metrics
    assert all(any("adservice" in m for m in _repairs(x)) for k, x in cases.items() if k.startswith("shop/"))
    assert not any("TimeStamp" in m for k, x in cases.items() if k.startswith("tickets/") for m in _repairs(x))


def test_inject_timestamp_repaired_from_inject_time(cases: dict[str, BenchCase]) -> None:
    c = cases["tickets/2023-01-29/00"]
    assert c.incident.start == _ts("2023-01-29 08:43")
    (msg,) = [m for m in _repairs(c) if "inject_time" in m]
    assert "1674953044" in msg and "+28,740 s" in msg and "used inject_time" in msg


def test_inject_timestamp_within_a_minute_is_kept(cases: dict[str, BenchCase]) -> None:
    c = cases["shop/2022-08-22/02"]  # epoch exactly 60 s before inject_time
    assert c.incident.start == _ts("2022-08-22 04:09")
    assert not any("inject" in m for m in _repairs(c))
    assert c.meta["inject_clock_offset_s"] == 60.0


def test_duplicated_inject_timestamps(cases: dict[str, BenchCase]) -> None:
    a, b = cases["tickets/2023-01-29/02"], cases["tickets/2023-01-29/03"]
    assert (a.incident.start, b.incident.start) == (_ts("2023-01-29 09:03"), _ts("2023-01-29 09:12"))
    assert (a.fault_type, b.fault_type) == ("return", "exception")
    for c in (a, b):
        assert any("shared with 1 other fault" in m for m in _repairs(c))
    # the fault listed twice gives one case, which says so
    at_0852 = [c for c in cases.values() if c.incident.start == _ts("2023-01-29 08:52")]
    assert len(at_0852) == 1
    assert any("listed more than once" in m for m in _repairs(at_0852[0]))


# -- windows -------------------------------------------------------------------------
def test_windows_never_overlap_neighbouring_faults() -> None:
    loaded = load_nezha(FIXTURES, history="30min", abnormal="5min")
    by_day: dict[str, list[BenchCase]] = {}
    for c in loaded:
        by_day.setdefault(c.case_id.rsplit("/", 1)[0], []).append(c)
    for day_cases in by_day.values():
        injects = [c.incident.start for c in day_cases]
        for c in day_cases:
            t = c.incident.start
            m = c.metrics["timestamp"]
            assert m.min() >= t - pd.Timedelta("30min") and m.max() < t + pd.Timedelta("5min")
            assert c.baseline is not None
            b = c.baseline["timestamp"]
            assert (b < t).all() and (b >= t - pd.Timedelta("30min")).all()
            for other in injects:
                if other == t:
                    continue
                lo, hi = other - pd.Timedelta("1min"), other + pd.Timedelta("6min")
                assert not ((b >= lo) & (b < hi)).any(), (c.case_id, other)


def test_baseline_is_the_history_minus_neighbours(cases: dict[str, BenchCase]) -> None:
    c = cases["shop/2022-08-22/03"]  # 04:20; earlier faults at 03:53, 04:02, 04:09
    assert c.baseline is not None
    minutes = sorted(c.baseline["timestamp"].unique())
    expected = [
        t
        for t in pd.date_range("2022-08-22 03:51", "2022-08-22 04:19", freq="1min", tz="UTC")
        if not any(lo <= t < hi for lo, hi in [("03:52", "03:59"), ("04:01", "04:08"), ("04:08", "04:15")] for lo, hi in [(_ts(f"2022-08-22 {lo}"), _ts(f"2022-08-22 {hi}"))])
    ]
    assert [pd.Timestamp(t) for t in minutes] == expected
    assert not any(i.kind == "short_baseline" for i in c.issues)
    first = cases["shop/2022-08-22/00"]  # two minutes of data before the first fault
    assert any(i.kind == "short_baseline" for i in first.issues)


# -- options and errors --------------------------------------------------------------
def test_systems_filter_and_errors(tmp_path: Path) -> None:
    assert {c.group for c in load_nezha(FIXTURES, systems=["tickets"])} == {"tickets"}
    with pytest.raises(InvalidInputError, match="unknown Nezha system 'nope'; found: shop, tickets"):
        load_nezha(FIXTURES, systems=["nope"])
    with pytest.raises(InvalidInputError, match="abnormal must be a duration") as info:
        load_nezha(FIXTURES, abnormal="soon")
    assert info.value.field == "abnormal"
    with pytest.raises(InvalidInputError, match="history must be at least one minute"):
        load_nezha(FIXTURES, history="10s")
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_nezha(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="no Nezha system"):
        load_nezha(tmp_path)


def test_root_may_be_a_system_or_a_day() -> None:
    assert len(load_nezha(FIXTURES / "tickets")) == 5
    day = load_nezha(FIXTURES / "tickets" / "2023-01-30")
    assert [c.case_id for c in day] == ["tickets/2023-01-30/00"]


def test_load_cases_spec() -> None:
    assert len(load_cases(f"nezha:{FIXTURES}", systems=["shop"])) == 4


# -- the real data -------------------------------------------------------------------
@pytest.mark.datasets
def test_real_nezha_smoke() -> None:
    root = _real_root() / "nezha"
    if not (root / "online-boutique").is_dir():
        pytest.skip(f"Nezha data not found at {root} (set RCA_DATASETS to the datasets folder)")
    t0 = time.process_time()  # CPU time: robust to a busy machine
    loaded = load_nezha(root)
    seconds = time.process_time() - t0
    assert Counter(c.group for c in loaded) == {"online-boutique": 24, "train-ticket": 28}
    ob = [c for c in loaded if c.group == "online-boutique"]
    tt = [c for c in loaded if c.group == "train-ticket"]
    assert {c.incident.service for c in ob} == {"frontend"}
    assert {c.incident.service for c in tt} == {"ts-gateway-service"}
    # the adservice TimeStamp quirk, reported on every Online Boutique case
    assert all(any("adservice" in i.message and "TimeStamp" in i.message for i in c.issues) for c in ob)
    # Train Ticket's epoch ~8 h behind: repaired for the faults where it is
    repaired = [c for c in tt if any("used inject_time" in i.message for i in c.issues)]
    assert len(repaired) == 24
    assert not any("used inject_time" in i.message for c in ob for i in c.issues)
    assert sum(any("shared with" in i.message for i in c.issues) for c in tt) == 2
    for c in loaded:
        assert c.incident.service in c.graph
        assert all(r in c.graph for r in c.root_causes)
        assert not c.metrics.empty
        assert c.baseline is not None and (c.baseline["timestamp"] < c.incident.start).all()
        window = c.metrics[c.metrics.timestamp >= c.incident.start]
        assert ((window.service == c.incident.service) & (window.metric == "latency_p90")).any()
    # metrics and spans took about 4 s; the whole day's logs (168 files, 173,000 lines) add about 3
    assert seconds < 12, f"loading Nezha took {seconds:.1f} s of CPU"


# -- per-edge latency -------------------------------------------------------------
def test_network_latency_is_the_median_caller_minus_callee_gap_over_a_services_edges(cases):
    case = next(c for c in cases.values() if c.case_id.startswith("shop/") and c.fault_type == "network_delay")
    before, after = _ts("2022-08-22 04:19"), _ts("2022-08-22 04:20")
    cart = _series(case, "cartservice", "network_latency_p50")
    ad = _series(case, "adservice", "network_latency_p50")
    fe = _series(case, "frontend", "network_latency_p50")
    assert cart[before] == pytest.approx(0.003) and cart[after] == pytest.approx(0.203)
    assert ad[before] == pytest.approx(0.002) and ad[after] == pytest.approx(0.002)
    # frontend has both edges: the median of two is their mean
    assert fe[after] == pytest.approx((0.203 + 0.002) / 2)
    baseline = _series(case, "cartservice", "network_latency_p50", frame="baseline")
    assert len(baseline) and baseline.max() == pytest.approx(0.003)


def test_days_without_edge_files_have_no_network_latency(cases):
    tickets = [c for c in cases.values() if c.case_id.startswith("tickets/")]
    assert tickets and all("network_latency_p50" not in set(c.metrics["metric"]) for c in tickets)
