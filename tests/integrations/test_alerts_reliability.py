"""Alerts under duplicate deliveries, forged or replayed requests, and a server killed mid-analysis.

Real processes on 127.0.0.1, on SQLite and on PostgreSQL: Prometheus loaded
with the bundled demo incident (payment slows down at 13:00), the RCA server
(uvicorn) and the receiver standing in for PagerDuty's REST API and a webhook.
One analysis and one note per alert (``RCA_INCIDENTS_ENABLED=false``): each
delivery's effect can be counted.  The properties:

* the same delivery of each source sent twice, and ten times at once, is one
  alert, one analysis and one note;
* a bad signature or token, and a signed Grafana request whose timestamp is
  stale (a replay) or in the future, is answered 401 and stores nothing;
* a server SIGKILLed while analyses run loses no accepted alert: after the
  restart each one has one analysis and its note is sent once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import alerts_payloads as P
import alerts_support as S
import httpx
import pytest
import yaml
from sqlalchemy import func, select

from rca.integrations.alerts.signatures import hmac_hex
from rca.service.security import create_api_key
from rca.store.alerts import AlertRow
from rca.store.migrate import upgrade_database
from rca.store.models import AnalysisRow
from rca.store.session import Database

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

AM_TOKEN, OG_TOKEN = "am-token", "og-token"
PD_SECRET, GRAFANA_SECRET = "pd-webhook-secret", "grafana-secret"
GRAFANA_TS = "X-Grafana-Alerting-Timestamp"
SOURCES = ("alertmanager", "grafana", "pagerduty", "opsgenie")


@dataclass
class Stack:
    receiver: S.Receiver
    server: S.RcaServer
    api: httpx.Client
    db: Database

    def count(self, table: Any) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(table)) or 0)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          prometheus: S.PrometheusServer) -> Iterator[Stack]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("reliability")
    pg = S.pg_schema_url() if request.param == "postgres" else None
    url = next(pg) if pg is not None else f"sqlite:///{tmp / 'rca.db'}"
    db = Database(url)
    upgrade_database(db)
    key = create_api_key(db, scopes=("read", "write"), name="reliability")
    catalog = tmp / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(S.demo_catalog_doc()))
    receiver = S.Receiver(tmp)
    env = {
        "RCA_DATABASE_URL": url,
        "RCA_DATA_DIR": str(tmp / "data"),
        "RCA_WORKERS": "2",
        "RCA_JOB_POLL_SECONDS": "0.2",
        "RCA_JOB_LEASE_SECONDS": "1",  # a killed server's jobs are taken over a second later
        "RCA_PROMETHEUS_URL": prometheus.url,
        "RCA_PROMETHEUS_ATTEMPTS": "1",
        "RCA_PROMETHEUS_STEP_SECONDS": str(S.DEMO_STEP),
        "RCA_METRICS_CATALOG": str(catalog),
        "RCA_ALERT_TOPOLOGY": "shop",
        "RCA_ALERT_SERVICE_MAP": json.dumps({"Shop Frontend": "frontend"}),
        "RCA_ALERTMANAGER_TOKENS": AM_TOKEN,
        "RCA_GRAFANA_SECRET": GRAFANA_SECRET,
        "RCA_GRAFANA_TIMESTAMP_HEADER": GRAFANA_TS,
        "RCA_PAGERDUTY_WEBHOOK_SECRETS": PD_SECRET,
        "RCA_OPSGENIE_TOKENS": OG_TOKEN,
        "RCA_PAGERDUTY_API_URL": receiver.url,
        "RCA_PAGERDUTY_API_TOKEN": "pd-rest-key",
        "RCA_PAGERDUTY_FROM": "rca-bot@example.com",
        "RCA_NOTIFY_WEBHOOK_URL": f"{receiver.url}/hook",
        "RCA_NOTIFY_TARGETS": json.dumps({"pagerduty": ["pagerduty_note"]} | {s: ["webhook"] for s in SOURCES[:2] + SOURCES[3:]}),
        "RCA_INCIDENTS_ENABLED": "false",
        "RCA_OUTBOX_POLL_SECONDS": "0.1",
        "RCA_OUTBOX_BACKOFF_SECONDS": "0.3",
        "RCA_OUTBOX_LEASE_SECONDS": "3",
    }
    server = S.RcaServer(tmp, env)
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    r = api.put("/v1/topologies/shop", content=S.demo_topology_yaml(), params={"format": "yaml"})
    assert r.status_code in (200, 201), r.text
    try:
        yield Stack(receiver, server, api, db)
    finally:
        api.close()
        server.stop()
        receiver.stop()
        db.dispose()
        if pg is not None:
            pg.close()  # drops the schema


# -- deliveries as each vendor sends them ------------------------------------------------
def delivery(source: str, key: str, *, ts: int | None = None) -> tuple[str, bytes, dict[str, str]]:
    """``(path, body, headers)`` of a correctly authenticated firing alert ``key`` on the frontend at 13:00."""
    start = S.DEMO_START.isoformat().replace("+00:00", "Z")
    json_type = {"Content-Type": "application/json"}
    if source == "alertmanager":
        body = P.dumps(P.alertmanager(service="frontend", fingerprint=key, starts_at=start))
        return "/v1/webhooks/alertmanager", body, {**json_type, "Authorization": f"Bearer {AM_TOKEN}"}
    if source == "grafana":
        body = P.dumps(P.grafana(service="frontend", fingerprint=key, starts_at=start))
        t = str(int(time.time()) if ts is None else ts)
        sig = hmac_hex(GRAFANA_SECRET, t.encode() + b":" + body)
        return "/v1/webhooks/grafana", body, {**json_type, "X-Grafana-Alerting-Signature": sig, GRAFANA_TS: t}
    if source == "pagerduty":
        body = P.dumps(P.pagerduty(incident_id=key, service="Shop Frontend", created_at=start, incident_key=f"k-{key}"))
        return "/v1/webhooks/pagerduty", body, {**json_type, "X-PagerDuty-Signature": f"v1={hmac_hex(PD_SECRET, body)}"}
    body = P.dumps(P.opsgenie(alias=key, tags=["service:frontend"], created_ms=int(S.DEMO_START.timestamp() * 1000)))
    return "/v1/webhooks/opsgenie", body, {**json_type, "X-RCA-Token": OG_TOKEN}


def post(stack: Stack, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{stack.server.url}{path}", content=body, headers=headers, timeout=30)


def notes_of(stack: Stack, alert: dict[str, Any]) -> list[dict]:
    """The notes the receiver got for ``alert``: PagerDuty notes on its incident, webhooks naming its analysis."""
    if alert["source"] == "pagerduty":
        return stack.receiver.received(f"/incidents/{alert['external_id']}/notes")
    return [e for e in stack.receiver.received("/hook") if json.loads(e["body"])["analysis_id"] == alert["analysis_id"]]


def wait_delivered(stack: Stack, alert_id: int, timeout: float = 90) -> dict[str, Any]:
    """The alert once its analysis is done and every write-back delivered."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = stack.api.get(f"/v1/alerts/{alert_id}")
        if r.status_code == 200:
            body = r.json()
            wbs = body["write_backs"]
            if body["analysis_state"] == "done" and wbs and all(w["status"] == "delivered" for w in wbs):
                return body
        time.sleep(0.2)
    raise AssertionError(f"alert {alert_id} was not written back within {timeout:g}s: {body}")


def assert_one_analysis_and_one_note(stack: Stack, alert: dict[str, Any]) -> None:
    analysis = stack.api.get(f"/v1/analyses/{alert['analysis_id']}").json()
    assert analysis["status"] == "succeeded", analysis.get("error")
    assert analysis["result"]["causes"][0]["service"] == S.DEMO_ROOT
    assert [w["kind"] for w in alert["write_backs"]] == ["pagerduty_note" if alert["source"] == "pagerduty" else "webhook"]
    assert len(notes_of(stack, alert)) == 1, notes_of(stack, alert)


# -- the same delivery, again and at once -------------------------------------------------
@pytest.mark.parametrize("times", [2, 10], ids=["twice", "ten-at-once"])
@pytest.mark.parametrize("source", SOURCES)
def test_repeated_deliveries_are_one_alert_one_analysis_one_note(stack: Stack, source: str, times: int) -> None:
    path, body, headers = delivery(source, f"dup-{source}-{times}-{stack.server.port}")
    analyses = stack.count(AnalysisRow)
    if times == 2:
        answers = [post(stack, path, body, headers) for _ in range(times)]
    else:  # ten identical requests in flight together
        with ThreadPoolExecutor(times) as pool:
            answers = list(pool.map(lambda _: post(stack, path, body, headers), range(times)))
    assert [r.status_code for r in answers] == [202] * times, [r.text for r in answers if r.status_code != 202]
    accepted = [r.json()["alerts"][0] for r in answers]
    assert len({a["id"] for a in accepted}) == 1
    assert sorted(a["duplicate"] for a in accepted) == [False] + [True] * (times - 1)
    alert = wait_delivered(stack, accepted[0]["id"])
    time.sleep(1.0)  # room for a second analysis or note, were one coming
    assert alert["receipts"] == times and alert["source"] == source
    assert stack.count(AnalysisRow) == analyses + 1
    assert_one_analysis_and_one_note(stack, alert)


# -- forged and replayed requests ----------------------------------------------------------
def _forgeries(key: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """``(what, path, body, headers)``: each must be refused."""
    now = int(time.time())
    out = []
    for source in SOURCES:
        path, body, headers = delivery(source, f"{key}-{source}")
        auth = {"alertmanager": "Authorization", "grafana": "X-Grafana-Alerting-Signature",
                "pagerduty": "X-PagerDuty-Signature", "opsgenie": "X-RCA-Token"}[source]  # fmt: skip
        out.append((f"{source}: no {auth}", path, body, {k: v for k, v in headers.items() if k != auth}))
        wrong = {"alertmanager": "Bearer not-the-token", "grafana": hmac_hex("other", f"{now}:".encode() + body),
                 "pagerduty": f"v1={hmac_hex('other', body)}", "opsgenie": "not-the-token"}[source]  # fmt: skip
        out.append((f"{source}: wrong {auth}", path, body, {**headers, auth: wrong}))
        if source in ("grafana", "pagerduty"):  # the signature covers the body: a changed body does not match
            out.append((f"{source}: body changed after signing", path, body + b"\n", headers))
    path, body, _ = delivery("grafana", f"{key}-grafana")
    for what, ts in (("replayed 10 minutes later", now - 600), ("timestamp in the future", now + 600)):
        out.append((f"grafana: {what}", path, body, delivery("grafana", f"{key}-grafana", ts=ts)[2]))  # signed right
    signed = delivery("grafana", f"{key}-grafana")[2]
    out.append(("grafana: timestamp changed after signing", path, body, {**signed, GRAFANA_TS: str(now - 1)}))
    out.append(("grafana: no timestamp", path, body, {k: v for k, v in signed.items() if k != GRAFANA_TS}))
    return out


def test_bad_signatures_and_replayed_timestamps_are_401_and_store_nothing(stack: Stack) -> None:
    key = f"forged-{stack.server.port}"
    alerts, analyses, notes = stack.count(AlertRow), stack.count(AnalysisRow), len(stack.receiver.received())
    for what, path, body, headers in _forgeries(key):
        r = post(stack, path, body, headers)
        assert r.status_code == 401, (what, r.status_code, r.text)
        assert r.json()["error"] == "unauthorized" and r.json()["field"], (what, r.json())
    time.sleep(1.0)
    assert stack.count(AlertRow) == alerts, "a refused request stored an alert"
    assert stack.count(AnalysisRow) == analyses
    assert len(stack.receiver.received()) == notes
    # the same payloads, authenticated, are accepted: the refusals were about the credentials alone
    for source in SOURCES:
        r = post(stack, *delivery(source, f"{key}-{source}"))
        assert r.status_code == 202 and not r.json()["alerts"][0]["duplicate"], (source, r.text)
        wait_delivered(stack, r.json()["alerts"][0]["id"])
    assert stack.count(AlertRow) == alerts + len(SOURCES)


# -- a server killed mid-analysis ------------------------------------------------------------
def _executing(stack: Stack) -> int:
    with stack.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(AnalysisRow).where(AnalysisRow.status == "running",
                                                                                  AnalysisRow.executions > 0)) or 0)


def test_a_server_killed_mid_analysis_loses_no_alert_and_sends_each_note_once(stack: Stack) -> None:
    """Analyses held at 15 s so the SIGKILL lands while two run; more alerts arrive just before it."""
    key = f"kill-{stack.server.port}"
    stack.server.kill()
    stack.server.env["RCA_TEST_JOB_DELAY_SECONDS"] = "15"
    analyses = stack.count(AnalysisRow)
    try:
        stack.server.start()
        ids = [post(stack, *delivery(src, f"{key}-{src}")).json()["alerts"][0]["id"] for src in SOURCES]
        deadline = time.monotonic() + 60
        while _executing(stack) < 2:
            assert time.monotonic() < deadline, "no two analyses started running"
            time.sleep(0.05)
        late = [post(stack, *delivery(src, f"{key}-late-{src}")) for src in ("alertmanager", "pagerduty")]
        assert [r.status_code for r in late] == [202, 202]  # accepted: durable, though nothing was done with them yet
        ids += [r.json()["alerts"][0]["id"] for r in late]
        stack.server.kill()
    finally:
        stack.server.env.pop("RCA_TEST_JOB_DELAY_SECONDS")
        if stack.server.proc is None:
            stack.server.start()
    with stack.db.session() as s:
        states = sorted(s.scalars(select(AlertRow.analysis_state).where(AlertRow.id.in_(ids))))
    assert "done" not in states, states  # the kill came before any analysis finished
    assert len(stack.receiver.received(f"/incidents/{key}")) == 0

    alerts = [wait_delivered(stack, aid) for aid in ids]
    time.sleep(1.5)  # room for a duplicate note, were one coming
    assert stack.count(AnalysisRow) == analyses + len(ids), "an alert got no analysis, or two"
    for alert in alerts:
        assert alert["receipts"] == 1
        assert_one_analysis_and_one_note(stack, alert)
    with stack.db.session() as s:
        runs = list(s.execute(select(AnalysisRow.attempts, AnalysisRow.executions)
                              .where(AnalysisRow.id.in_([a["analysis_id"] for a in alerts]))))  # fmt: skip
    assert all(attempts == executions for attempts, executions in runs), runs
    assert sorted(attempts for attempts, _ in runs)[-2:] == [2, 2], runs  # the two killed runs ran again
