"""The persisted outbox on a real SQLite database, with fake HTTP targets."""

from __future__ import annotations

import json
import random
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import alerts_support as S
import httpx
import pytest
from real_parts import missing_part
from sqlalchemy import select, update

from rca.integrations.alerts.signatures import verify_outbound_signature
from rca.integrations.notify.outbox import (
    OutboxConfig,
    OutboxSender,
    backoff_seconds,
    enqueue_delivery,
)
from rca.store.deliveries import DeliveryRow
from rca.store.migrate import upgrade_database
from rca.store.session import Database, utcnow


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the module: a SQLite template file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("outbox") / "template.db"
        database = Database(f"sqlite:///{path}")
        upgrade_database(database)
        with database.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database.dispose()
        yield str(path)
        return
    base = S.postgres_url()
    if base is None:
        missing_part(S.PG_SKIP)
    schema = f"t_outbox_{uuid.uuid4().hex[:10]}"
    admin = Database(base)
    with admin.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    database = Database(url)
    upgrade_database(database)
    database.dispose()
    try:
        yield url
    finally:
        with admin.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def db(tmp_path: Path, backend: str) -> Iterator[Database]:
    if backend.startswith("postgresql"):
        database = Database(backend)
        with database.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE deliveries RESTART IDENTITY")
    else:
        shutil.copy(backend, tmp_path / "rca.db")  # migrating takes ~0.5 s: copy the template
        database = Database(f"sqlite:///{tmp_path / 'rca.db'}")
    yield database
    database.dispose()


class Target:
    """A fake HTTP target: answers from a script of status codes, records every request."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            status = self.script.pop(0) if self.script else 201
        return httpx.Response(status, json={"ok": status < 300})


def sender(db: Database, target: Target, **cfg: object) -> OutboxSender:
    config = OutboxConfig(**{"backoff_seconds": 0.001, "backoff_max_seconds": 0.002, "max_attempts": 4,
                             "pagerduty_api_token": "pd-key", "pagerduty_from": "rca@example.com",
                             "webhook_secret": "whsec", **cfg})  # type: ignore[arg-type]
    return OutboxSender(db, config, transport=httpx.MockTransport(target))


def add(db: Database, kind: str = "slack", target: str = "http://hooks/slack", payload: dict | None = None) -> int:
    with db.session() as s:
        row = enqueue_delivery(s, kind=kind, target=target, payload=payload or {"text": "hi"}, analysis_id="a1")
        s.flush()
        return row.id


def row(db: Database, did: int) -> DeliveryRow:
    with db.session() as s:
        r = s.get(DeliveryRow, did)
        assert r is not None
        return r


def drain(out: OutboxSender, rounds: int = 50) -> None:
    import time

    for _ in range(rounds):
        out.run_once()
        time.sleep(0.005)


def test_pagerduty_note_request_shape(db: Database) -> None:
    target = Target()
    did = add(db, "pagerduty_note", "http://pd.local/incidents/PGR0VU2/notes", {"note": {"content": "RCA: redis"}})
    out = sender(db, target)
    assert out.run_once() == 1
    [req] = target.requests
    assert req.method == "POST" and str(req.url) == "http://pd.local/incidents/PGR0VU2/notes"
    assert req.headers["Authorization"] == "Token token=pd-key"
    assert req.headers["Accept"] == "application/vnd.pagerduty+json;version=2"
    assert req.headers["From"] == "rca@example.com"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Idempotency-Key"] == row(db, did).idempotency_key
    assert json.loads(req.content) == {"note": {"content": "RCA: redis"}}
    r = row(db, did)
    assert (r.status, r.attempts, r.lease_owner) == ("delivered", 1, None) and r.delivered_at is not None


def test_webhook_is_signed_at_send_time(db: Database) -> None:
    target = Target()
    add(db, "webhook", "http://hooks/generic", {"analysis_id": "a1"})
    sender(db, target).run_once()
    [req] = target.requests
    verify_outbound_signature(req.content, req.headers["X-RCA-Signature"], "whsec")
    assert json.loads(req.content) == {"analysis_id": "a1"}


def test_retries_with_backoff_then_delivers_with_the_same_key(db: Database) -> None:
    import time

    target = Target([503, 500])
    did = add(db)
    out = sender(db, target, backoff_seconds=0.2, backoff_max_seconds=0.2)
    out.run_once()
    r = row(db, did)
    assert (r.status, r.attempts) == ("pending", 1) and "answered 503" in (r.last_error or "")
    assert r.next_attempt_at >= r.created_at + timedelta(seconds=0.1)
    deadline = time.monotonic() + 10
    while row(db, did).status != "delivered" and time.monotonic() < deadline:
        out.run_once()
        time.sleep(0.02)
    r = row(db, did)
    assert (r.status, r.attempts) == ("delivered", 3)
    assert len({q.headers["Idempotency-Key"] for q in target.requests}) == 1 and len(target.requests) == 3


def test_unreachable_target_is_retried(db: Database) -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200)

    did = add(db)
    out = OutboxSender(db, OutboxConfig(backoff_seconds=0.001, backoff_max_seconds=0.002), transport=httpx.MockTransport(flaky))
    drain(out)
    r = row(db, did)
    assert (r.status, r.attempts) == ("delivered", 3)


def test_gives_up_after_max_attempts(db: Database) -> None:
    did = add(db)
    drain(sender(db, Target([500] * 10), max_attempts=3))
    r = row(db, did)
    assert (r.status, r.attempts) == ("failed", 3) and "gave up after 3 attempt(s)" in (r.last_error or "")


def test_permanent_client_errors_fail_at_once_but_429_retries(db: Database) -> None:
    bad = add(db)
    drain(sender(db, Target([404])))
    assert (row(db, bad).status, row(db, bad).attempts) == ("failed", 1)
    assert "permanent error" in (row(db, bad).last_error or "")
    limited = add(db)
    drain(sender(db, Target([429])))
    assert (row(db, limited).status, row(db, limited).attempts) == ("delivered", 2)


def test_pagerduty_without_credentials_fails_with_the_setting_named(db: Database) -> None:
    did = add(db, "pagerduty_note", "http://pd/incidents/X/notes", {"note": {"content": "x"}})
    sender(db, Target(), pagerduty_api_token=None).run_once()
    assert "RCA_PAGERDUTY_API_TOKEN" in (row(db, did).last_error or "")


def test_an_expired_claim_of_a_dead_sender_is_sent_again(db: Database) -> None:
    did = add(db)
    with db.session() as s:  # a sender claimed it and died before recording the outcome
        s.execute(update(DeliveryRow).where(DeliveryRow.id == did).values(
            status="sending", lease_owner="dead", lease_expires_at=utcnow() - timedelta(seconds=1)))
    target = Target()
    sender(db, target).run_once()
    assert row(db, did).status == "delivered" and len(target.requests) == 1


def test_a_live_claim_is_not_taken(db: Database) -> None:
    did = add(db)
    with db.session() as s:
        s.execute(update(DeliveryRow).where(DeliveryRow.id == did).values(
            status="sending", lease_owner="alive", lease_expires_at=utcnow() + timedelta(seconds=60)))
    target = Target()
    assert sender(db, target).run_once() == 0 and target.requests == []


def test_concurrent_senders_send_each_delivery_once(db: Database) -> None:
    ids = [add(db, payload={"n": i}) for i in range(40)]
    target = Target()
    senders = [sender(db, target) for _ in range(4)]
    threads = [threading.Thread(target=drain, args=(s, 20)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [json.loads(r.content)["n"] for r in target.requests]
    assert sorted(sent) == list(range(40))
    with db.session() as s:
        assert set(s.scalars(select(DeliveryRow.status).where(DeliveryRow.id.in_(ids)))) == {"delivered"}


def test_enqueue_rolls_back_with_its_cause(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        enqueue_delivery(s, kind="slack", target="http://x", payload={})
        raise RuntimeError("the analysis update failed")
    with db.session() as s:
        assert s.scalars(select(DeliveryRow)).all() == []
    with pytest.raises(ValueError, match="unknown delivery kind 'fax'"), db.session() as s:
        enqueue_delivery(s, kind="fax", target="x", payload={})


@pytest.mark.parametrize("attempt", [1, 2, 5, 30])
def test_backoff_doubles_with_jitter_and_a_cap(attempt: int) -> None:
    rng = random.Random(3)
    nominal = min(60.0, 2.0 * 2 ** (attempt - 1))
    for _ in range(50):
        d = backoff_seconds(attempt, 2.0, 60.0, rng)
        assert nominal / 2 <= d <= nominal


def test_background_thread_delivers_on_wake(db: Database) -> None:
    import time

    target = Target()
    out = sender(db, target, poll_seconds=5.0)
    out.start()
    try:
        time.sleep(0.05)
        add(db)
        out.wake()
        deadline = time.monotonic() + 5
        while not target.requests and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        out.stop()
    assert len(target.requests) == 1
