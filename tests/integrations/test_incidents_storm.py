"""A 500-alert storm in 60 s against one real server (SQLite and PostgreSQL): nothing lost, nothing doubled, notes in time.

The storm of ``rca storm --storms 10 --faults 7 --noise 8 --rate 8.4`` (501 alerts of 70 faults on a 2,400-service
topology), replayed by the benchmark's own harness (:func:`rca.evaluation.storm.replay.replay`: uvicorn, a real
Prometheus, a Slack stand-in).  The latency bound is generous (the machine may be shared); the benchmark prints the
measured p50/p95/max (docs/integrations/incidents.md#the-storm-benchmark).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import alerts_support as S
import pytest
from real_parts import missing_part
from sqlalchemy import text

from rca.evaluation.storm.__main__ import case_step_of, storms_of
from rca.evaluation.storm.replay import replay, score_run
from rca.store.session import Database

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]

BOUND_SECONDS = 180.0  # the aim is 60 s (issue #20); on a loaded 2-core machine the test allows three times that


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    base = S.postgres_url()
    if base is None:
        if os.environ.get("CI") == "true":
            pytest.fail(S.PG_SKIP)
        pytest.skip(S.PG_SKIP)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(base)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.parametrize("database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_500_alert_storm_loses_nothing_doubles_nothing_and_is_noted_in_time(database_url: str | None, tmp_path: Path):
    if not S.HAVE_PROMETHEUS:
        missing_part(S.SKIP_REASON)
    storms = storms_of("synthetic", Path("."), storms=10, faults=7, seed=1, noise=8, flapping=1, unknown=1)
    step = max(case_step_of(st) for st in storms)
    run = replay(storms, tmp_path / "run", step=step, incidents=True, database_url=database_url, rate=8.4)
    got = score_run(run, storms)
    print(got)  # the figures, for the log of a slow run
    assert got["alerts"] >= 500 and got["replay_seconds"] < 120
    assert got["lost"] == 0
    # one note for each fault's incident: none missing, none twice
    assert got["notes_histogram"] == {1: 70}
    assert got["duplicate_messages"] == 0 and got["messages_outside_incidents"] == 0
    # every incident with an alert on a service of the topology was measured
    assert got["note_latency_incidents"] == sum(1 for d in run.incidents.values() if d["services"])
    assert got["note_latency_max_seconds"] < BOUND_SECONDS, got
