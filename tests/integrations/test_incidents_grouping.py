"""Grouping alerts into incidents: the decision rule, and the grouping pass on SQLite and PostgreSQL (two processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import alerts_support as S
import pytest
from sqlalchemy import select, text

import topology
from rca.integrations.alerts.grouping import (
    Decision,
    GroupingRules,
    GroupingTopology,
    OpenIncident,
    alert_labels,
    decide,
    group_pending,
)
from rca.store.alerts import AlertRow
from rca.store.incidents import IncidentAlertRow, IncidentRow
from rca.store.migrate import upgrade_database
from rca.store.session import Database, utcnow

ROOT = Path(__file__).resolve().parents[2]
GRAPH = topology.load(ROOT / "rca" / "data" / "demo" / "topology.yaml")
T0 = datetime(2024, 5, 1, 13, 0)
RULES = GroupingRules()


def _inc(id_: int, *services: str, minute: int = 0, labels: frozenset[str] = frozenset()) -> OpenIncident:
    topo = GroupingTopology(GRAPH, RULES.hops)
    roots: set[str] | None = None
    for s in services:
        down = set(topo.down(s))
        roots = down if roots is None else roots & down
    t = T0 + timedelta(minutes=minute)
    return OpenIncident(id_, frozenset(services), frozenset(roots or ()), labels, t, t)


def _decide(service: str, incidents: list[OpenIncident], minute: int = 1, rules: GroupingRules = RULES,
            labels: frozenset[str] = frozenset()) -> Decision:  # fmt: skip
    return decide(service, T0 + timedelta(minutes=minute), labels, GroupingTopology(GRAPH, rules.hops), incidents, rules)


def test_a_caller_of_the_incidents_root_joins_it_with_the_reason():
    d = _decide("frontend", [_inc(1, "payment", "checkout")])
    assert d.incident_id == 1 and d.hops == 1  # frontend calls currency, which payment calls too
    assert "frontend depends on currency (1 hop(s))" in d.reason and "within 10 min" in d.reason
    assert d.roots == {"payment", "currency"}


def test_the_root_itself_joins_and_narrows_the_roots():
    d = _decide("payment", [_inc(1, "checkout")])
    assert d.incident_id == 1 and d.hops == 0 and "payment is a possible root" in d.reason
    assert "orders-db" not in d.roots and "payment" in d.roots


def test_two_branches_under_one_caller_stay_apart_with_roots_but_not_undirected():
    catalog_fault = [_inc(1, "catalog-db", "catalog")]
    d = _decide("payment", catalog_fault)
    assert d.incident_id is None and d.reason.startswith("opened: payment is linked within 5 hop(s) (roots) to none")
    undirected = GroupingRules(link="undirected")
    merged = _decide("payment", catalog_fault, rules=undirected)  # payment -> checkout -> frontend -> catalog
    assert merged.incident_id == 1 and "payment is 3 hop(s) from catalog (edges both ways)" in merged.reason
    near = _decide("recommendation", [_inc(1, "cart")], rules=undirected)
    assert near.incident_id == 1 and "edges both ways" in near.reason  # via frontend: the hub links them
    assert _decide("recommendation", [_inc(1, "cart")]).incident_id is None


def test_time_window_bounds_the_join():
    assert _decide("frontend", [_inc(1, "payment", minute=0)], minute=11).incident_id is None
    assert _decide("frontend", [_inc(1, "payment", minute=20)], minute=11).incident_id == 1  # late delivery of an earlier alert


def test_the_nearest_incident_wins():
    d = _decide("frontend", [_inc(1, "orders-db"), _inc(2, "checkout")])  # 2 hops to orders-db, 1 to checkout
    assert d.incident_id == 2 and d.hops == 1


def test_services_outside_the_topology_group_by_time_and_labels():
    shop = frozenset({"namespace=shop"})
    incs = [_inc(1, "payment", labels=shop), _inc(2, "catalog", labels=frozenset({"namespace=other"}))]
    d = _decide("edge-lb", incs, labels=shop)
    assert d.incident_id == 1 and "not in the topology, grouped by time and labels" in d.reason and "namespace=shop" in d.reason
    assert _decide("edge-lb", incs, labels=frozenset({"namespace=billing"})).incident_id is None
    alone = _decide("edge-lb", incs)  # no grouping label at all: by time alone, the most recent
    assert alone.incident_id in (1, 2) and "by time alone" in alone.reason


def test_a_topology_alert_joins_an_incident_of_unknown_services_by_labels():
    shop = frozenset({"namespace=shop"})
    lb = OpenIncident(1, frozenset(), frozenset(), shop, T0, T0)
    d = _decide("payment", [lb], labels=shop)
    assert d.incident_id == 1 and "all outside the topology, grouped by time and labels" in d.reason
    assert "payment" in d.roots
    assert _decide("payment", [lb], labels=frozenset({"namespace=other"})).incident_id is None


def test_alert_labels_and_rules_validate():
    assert alert_labels({"labels": {"namespace": "shop", "x": "1"}}, ("namespace", "cluster")) == {"namespace=shop"}
    assert alert_labels({"event": {}}, ("namespace",)) == frozenset()
    with pytest.raises(ValueError, match="link must be one of"):
        GroupingRules(link="nearest")


# -- the grouping pass on a real database ------------------------------------------------------
def _pg_base() -> str | None:
    return S.postgres_url()


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = _pg_base()
    if base is None:
        if os.environ.get("CI") == "true":
            pytest.fail(S.PG_SKIP)
        pytest.skip(S.PG_SKIP)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(base)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'rca.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(url)
    upgrade_database(database)
    try:
        yield database
    finally:
        database.dispose()


def _add_alerts(db: Database, specs: list[tuple[str, int]], *, tag: str = "a") -> list[int]:
    now = utcnow()
    rows = []
    with db.session() as s:
        for i, (service, minute) in enumerate(specs):
            in_graph = service in GRAPH
            row = AlertRow(
                source="alertmanager", dedup_key=f"{tag}-{i}", open_key=f"{tag}-{i}",
                status="firing" if in_graph else "unmappable", service=service, metric="latency",
                started_at=T0 + timedelta(minutes=minute), received_at=now, receipts=1,
                raw=json.dumps({"labels": {"service": service, "namespace": "shop"}}),
                analysis_state="pending" if in_graph else "none",
            )  # fmt: skip
            s.add(row)
            rows.append(row)
        s.flush()
        return [r.id for r in rows]


def _partition(db: Database) -> dict[int, int]:
    with db.session() as s:
        return dict(s.execute(select(IncidentAlertRow.alert_id, IncidentAlertRow.incident_id)).all())


STORM = [("payment", 0), ("checkout", 1), ("frontend", 2), ("edge-lb", 2), ("catalog-db", 1), ("catalog", 2),
         ("recommendation", 3), ("payment", 30), ("auth", 5)]  # fmt: skip


def _groups(partition: dict[int, int], ids: list[int]) -> list[set[int]]:
    by: dict[int, set[int]] = {}
    for pos, aid in enumerate(ids):
        by.setdefault(partition[aid], set()).add(pos)
    return sorted(by.values(), key=min)


def test_group_pending_makes_the_incidents_of_a_storm(db: Database):
    ids = _add_alerts(db, STORM)
    out = group_pending(db, RULES, GRAPH, debounce=timedelta(seconds=5), max_delay=timedelta(seconds=30))
    assert len(out) == len(STORM)
    assert _groups(_partition(db), ids) == [{0, 1, 2, 3}, {4, 5, 6}, {7}, {8}]
    with db.session() as s:
        incs = {r.id: r for r in s.scalars(select(IncidentRow))}
        states = set(s.scalars(select(AlertRow.analysis_state).where(AlertRow.status == "firing")))
        reasons = list(s.scalars(select(IncidentAlertRow.reason)))
    assert states == {"grouped"}
    shop = incs[_partition(db)[ids[0]]]
    assert shop.alerts == 4 and json.loads(shop.unknown_services) == ["edge-lb"] and shop.revision == 3
    assert shop.analysis_due_at is not None
    assert all(r.startswith(("joined incident", "opened")) for r in reasons)
    # nothing left: a second pass groups nothing and changes nothing
    assert group_pending(db, RULES, GRAPH, debounce=timedelta(seconds=5), max_delay=timedelta(seconds=30)) == []


_WORKER = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    import topology
    from rca.integrations.alerts.grouping import GroupingRules, group_pending
    from rca.store.session import Database
    url, graph_path, seconds, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    db, graph = Database(url), topology.load(graph_path)
    group_pending(db, GroupingRules(), graph, debounce=timedelta(0), max_delay=timedelta(0), limit=7)  # warm: nothing pending yet
    open(ready, "w").close()
    n, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        n += len(group_pending(db, GroupingRules(), graph, debounce=timedelta(0), max_delay=timedelta(0), limit=7))
    print(n)
    """
)


@pytest.mark.postgres
def test_two_processes_on_one_postgres_group_like_one(pg_url: str, tmp_path: Path):
    """Two real processes group a storm arriving in bursts: each alert once, the same incidents as one process."""
    storm = [(svc, m + 40 * k) for k in range(6) for svc, m in STORM]
    one = Database(pg_url)
    upgrade_database(one)
    # the reference: one process, same arrival in bursts
    ref_url = pg_url  # reuse the schema: first the reference run, then wipe and run with two processes
    ids = []
    for k in range(6):
        ids += _add_alerts(one, storm[k * len(STORM):(k + 1) * len(STORM)], tag=f"ref{k}")
        group_pending(one, GroupingRules(), GRAPH, debounce=timedelta(0), max_delay=timedelta(0), limit=7)
    while group_pending(one, GroupingRules(), GRAPH, debounce=timedelta(0), max_delay=timedelta(0)):
        pass
    expected = _groups(_partition(one), ids)
    with one.engine.begin() as conn:
        for table in ("incident_alerts", "incidents", "alerts"):
            conn.execute(text(f"DELETE FROM {table}"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    graph_path = str(ROOT / "rca" / "data" / "demo" / "topology.yaml")
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, ref_url, graph_path, "8", str(r)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ready]  # fmt: skip
    try:
        # both workers up (imports and connections take seconds on a loaded machine) before the storm starts
        started = __import__("time").monotonic()
        while not all(r.exists() for r in ready) and __import__("time").monotonic() - started < 60:
            __import__("time").sleep(0.05)
        ids = []
        for k in range(6):
            ids += _add_alerts(one, storm[k * len(STORM):(k + 1) * len(STORM)], tag=f"two{k}")
            __import__("time").sleep(0.3)
    finally:
        outs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    counts = [int(o.strip()) for o, _ in outs]
    assert sum(counts) == len(storm) and all(c > 0 for c in counts), counts  # both worked, no alert twice
    assert _groups(_partition(one), ids) == expected
    one.dispose()


def test_an_incident_is_claimed_for_a_rerun_only_once_its_analysis_has_finished(db: Database):
    """Joins while the incident's analysis is queued or running coalesce into one rerun, prepared after it."""
    from types import SimpleNamespace

    from rca.integrations.alerts.incident_worker import IncidentWorker
    from rca.integrations.alerts.settings import AlertSettings
    from rca.store.models import AnalysisRow

    ids = _add_alerts(db, [("payment", 0), ("checkout", 1)])
    group_pending(db, RULES, GRAPH, debounce=timedelta(0), max_delay=timedelta(0))
    iid = _partition(db)[ids[0]]
    worker = IncidentWorker(SimpleNamespace(db=db, settings=AlertSettings(), owner="unused"))  # type: ignore[arg-type]
    with db.session() as s:
        s.add(AnalysisRow(id="a1", status="queued", created_at=utcnow(), incident="{}", incident_service="payment",
                          config="{}", topology_digest="", metrics_digest="", metrics_points=0))  # fmt: skip
        s.get(IncidentRow, iid).analysis_id = "a1"  # type: ignore[union-attr]
    for status in ("queued", "running"):
        with db.session() as s:
            s.get(AnalysisRow, "a1").status = status  # type: ignore[union-attr]
        assert worker._claim() is None  # due, but its analysis is not finished: the joins wait for one rerun
    with db.session() as s:
        s.get(AnalysisRow, "a1").status = "succeeded"  # type: ignore[union-attr]
    assert worker._claim() == iid
    assert worker._claim() is None  # leased now: not claimed twice
