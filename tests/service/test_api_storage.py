"""Repository and job-state functions, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, update

from rca.store import repository as repo
from rca.store.migrate import upgrade_database
from rca.store.models import AnalysisInputRow, AnalysisRow
from rca.store.session import Database, utcnow


def _queue(db: Database, n: int, *, service: str = "frontend") -> list[str]:
    ids = []
    for i in range(n):
        row = AnalysisRow(
            id=uuid.uuid4().hex,
            status="queued",
            created_at=utcnow() + timedelta(microseconds=i),
            incident="{}",
            incident_service=service,
            config="{}",
            topology_digest="t" * 64,
            metrics_digest="m" * 64,
            metrics_points=1,
            attempts=0,
            executions=0,
        )
        with db.session() as s:
            repo.add_analysis(s, row, AnalysisInputRow(analysis_id=row.id, topology_document="{}", metrics_csv_gz=b""))
        ids.append(row.id)
    return ids


def test_migrations_are_idempotent(database: Database) -> None:
    upgrade_database(database)
    tables = set(inspect(database.engine).get_table_names())
    assert {"topologies", "analyses", "analysis_inputs", "api_keys", "alembic_version"} <= tables


def test_topology_versions_from_racing_writers_are_distinct(database: Database) -> None:
    versions: list[int] = []

    def put() -> None:
        row = repo.add_topology_version(database, name="race", format="json", digest="d", document="{}", services=1, calls=0)
        versions.append(row.version)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    with database.session() as s:
        assert repo.get_topology(s, "race").version == 6  # type: ignore[union-attr]
        assert repo.delete_topology(s, "race") == 6
    with database.session() as s:
        assert repo.get_topology(s, "race") is None
        assert repo.list_topologies(s) == []


def test_concurrent_claimers_take_each_job_once(db_url: str) -> None:
    # Two engines, as two server processes would have, with two threads each.
    dbs = [Database(db_url), Database(db_url)]
    upgrade_database(dbs[0])
    ids = _queue(dbs[0], 30)
    claims: list[str] = []
    lock = threading.Lock()

    def claimer(db: Database, owner: str) -> None:
        while True:
            job = repo.claim_next_job(db, owner=owner, lease_seconds=60)
            if job is None:
                return
            with lock:
                claims.append(job)

    threads = [threading.Thread(target=claimer, args=(dbs[i % 2], f"w{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(claims) == Counter(ids)
    with dbs[0].session() as s:
        rows = list(s.scalars(select(AnalysisRow)))
    assert {r.status for r in rows} == {"running"} and {r.attempts for r in rows} == {1}
    for db in dbs:
        db.dispose()


def test_expired_leases_are_requeued_then_failed(database: Database) -> None:
    (job,) = _queue(database, 1)
    assert repo.claim_next_job(database, owner="dead-1", lease_seconds=0.01) == job
    time.sleep(0.05)
    report = repo.reap_expired_leases(database, max_attempts=2)
    assert report.requeued == [job] and report.failed == []
    assert repo.claim_next_job(database, owner="dead-2", lease_seconds=0.01) == job
    time.sleep(0.05)
    report = repo.reap_expired_leases(database, max_attempts=2)
    assert report.failed == [job]
    with database.session() as s:
        row = repo.get_analysis(s, job)
        assert row is not None
        assert (row.status, row.error_code, row.attempts) == ("failed", "worker_lost", 2)
        assert "RCA_JOB_MAX_ATTEMPTS=2" in (row.error_detail or "")


def test_a_run_lost_on_the_cluster_is_requeued_then_failed_by_its_lease_owner_only(database: Database) -> None:
    (job,) = _queue(database, 1)
    assert repo.claim_next_job(database, owner="a", lease_seconds=60) == job
    assert repo.release_lost_job(database, job, owner="b", max_attempts=2, reason="lost") is None  # not b's
    assert repo.release_lost_job(database, job, owner="a", max_attempts=2, reason="the worker died") == "queued"
    assert repo.release_lost_job(database, job, owner="a", max_attempts=2, reason="again") is None  # given back already
    assert repo.claim_next_job(database, owner="a", lease_seconds=60) == job
    assert repo.release_lost_job(database, job, owner="a", max_attempts=2, reason="the worker died") == "failed"
    assert not repo.finish_job(database, job, owner="a", status="succeeded", result="{}")  # nothing written after
    with database.session() as s:
        row = repo.get_analysis(s, job)
        assert row is not None
        assert (row.status, row.error_code, row.attempts, row.lease_owner) == ("failed", "worker_lost", 2, None)
        assert row.error_detail == "the worker died, 2 time(s); giving up after RCA_JOB_MAX_ATTEMPTS=2"


def test_live_leases_are_renewed_not_reaped(database: Database) -> None:
    (job,) = _queue(database, 1)
    repo.claim_next_job(database, owner="alive", lease_seconds=0.2)
    repo.renew_leases(database, owner="alive", job_ids=[job], lease_seconds=60)
    time.sleep(0.3)
    assert repo.reap_expired_leases(database, max_attempts=1).failed == []


def test_only_the_lease_owner_records_the_outcome(database: Database) -> None:
    (job,) = _queue(database, 1)
    repo.claim_next_job(database, owner="a", lease_seconds=60)
    assert not repo.mark_execution(database, job, owner="b")
    assert repo.mark_execution(database, job, owner="a")
    assert not repo.finish_job(database, job, owner="b", status="succeeded", result="{}")
    assert repo.finish_job(database, job, owner="a", status="succeeded", result="{}")
    assert not repo.finish_job(database, job, owner="a", status="failed")  # once only
    with database.session() as s:
        row = repo.get_analysis(s, job)
        assert row is not None and (row.status, row.executions, row.lease_owner) == ("succeeded", 1, None)


def test_graceful_shutdown_gives_jobs_back(database: Database) -> None:
    ids = _queue(database, 2)
    repo.claim_next_job(database, owner="me", lease_seconds=60)
    assert repo.requeue_owned_jobs(database, owner="me") == 1
    with database.session() as s:
        assert {r.status for r in s.scalars(select(AnalysisRow).where(AnalysisRow.id.in_(ids)))} == {"queued"}


def test_list_pages_through_equal_timestamps(database: Database) -> None:
    ids = _queue(database, 5, service="svc")
    with database.session() as s:  # the same created_at for all: the id breaks the tie
        s.execute(update(AnalysisRow).values(created_at=utcnow()))
    seen: list[str] = []
    before = None
    while True:
        with database.session() as s:
            page = repo.list_analyses(s, service="svc", status=None, since=None, before=before, limit=2)
        if not page:
            break
        seen += [r.id for r in page]
        before = (page[-1].created_at, page[-1].id)
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    with database.session() as s:
        assert repo.count_analyses_by_status(s) == {"queued": 5}


@pytest.mark.parametrize("status", ["queued", "running", "succeeded", "failed"])
def test_status_filter(database: Database, status: str) -> None:
    (job,) = _queue(database, 1)
    with database.session() as s:
        s.execute(update(AnalysisRow).values(status=status))
    with database.session() as s:
        rows = repo.list_analyses(s, service=None, status=status, since=None, before=None, limit=10)
    assert [r.id for r in rows] == [job]
