"""End to end on 127.0.0.1 with real processes.

Prometheus loaded with the bundled demo incident (``rca/data/demo``: payment
slows down at 13:00, frontend's latency alert fires), the RCA server
(uvicorn), and a receiver process standing in for PagerDuty's REST API and a
Slack webhook.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import alerts_payloads as P
import alerts_support as S
import httpx
import pytest
import yaml

from rca.integrations.alerts.signatures import hmac_hex
from rca.service.security import create_api_key
from rca.store.migrate import upgrade_database
from rca.store.session import Database

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

PD_SECRET_OLD, PD_SECRET = "pd-old-secret", "pd-webhook-secret"
AM_TOKEN = "am-token"


@dataclass
class Stack:
    prometheus: S.PrometheusServer
    receiver: S.Receiver
    server: S.RcaServer
    api: httpx.Client
    start: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, prometheus: S.PrometheusServer) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{tmp / 'rca.db'}"
    db = Database(url)
    upgrade_database(db)
    key = create_api_key(db, scopes=("read", "write"), name="e2e")
    db.dispose()
    catalog = tmp / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(S.demo_catalog_doc()))
    receiver = S.Receiver(tmp)
    env = {
        "RCA_DATABASE_URL": url,
        "RCA_DATA_DIR": str(tmp / "data"),
        "RCA_JOB_POLL_SECONDS": "0.2",
        "RCA_PROMETHEUS_URL": prometheus.url,
        "RCA_PROMETHEUS_TIMEOUT_SECONDS": "5",
        "RCA_PROMETHEUS_ATTEMPTS": "1",
        "RCA_PROMETHEUS_STEP_SECONDS": str(S.DEMO_STEP),
        "RCA_METRICS_CATALOG": str(catalog),
        "RCA_ALERT_TOPOLOGY": "shop",
        "RCA_ALERT_SERVICE_MAP": json.dumps({"Shop Frontend": "frontend"}),
        "RCA_PUBLIC_URL": "http://rca.example:8080",
        "RCA_ALERTMANAGER_TOKENS": AM_TOKEN,
        "RCA_PAGERDUTY_WEBHOOK_SECRETS": f"{PD_SECRET_OLD},{PD_SECRET}",
        "RCA_PAGERDUTY_API_URL": receiver.url,
        "RCA_PAGERDUTY_API_TOKEN": "pd-rest-key",
        "RCA_PAGERDUTY_FROM": "rca-bot@example.com",
        "RCA_SLACK_WEBHOOK_URL": f"{receiver.url}/slack/T000/B000",
        "RCA_NOTIFY_TARGETS": json.dumps({"pagerduty": ["pagerduty_note"], "alertmanager": ["slack"]}),
        "RCA_OUTBOX_BACKOFF_SECONDS": "0.3",
        "RCA_OUTBOX_BACKOFF_MAX_SECONDS": "1",
        "RCA_OUTBOX_POLL_SECONDS": "0.1",
        "RCA_OUTBOX_TIMEOUT_SECONDS": "2",
        "RCA_OUTBOX_LEASE_SECONDS": "3",
        # one analysis and one note per alert (the incident path is tests/integrations/test_incidents_e2e.py)
        "RCA_INCIDENTS_ENABLED": "false",
    }
    server = S.RcaServer(tmp, env)
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    r = api.put("/v1/topologies/shop", content=S.demo_topology_yaml(), params={"format": "yaml"})
    assert r.status_code in (200, 201), r.text
    try:
        yield Stack(prometheus, receiver, server, api, S.DEMO_START.isoformat())
    finally:
        api.close()
        server.stop()
        receiver.stop()


def pd_event(stack: Stack, incident_id: str, **kw: Any) -> bytes:
    doc = P.pagerduty(incident_id=incident_id, service="Shop Frontend", created_at=stack.start,
                      incident_key=f"key-{incident_id}", **kw)
    return P.dumps(doc)


def post_pd(stack: Stack, body: bytes, secret: str | None = PD_SECRET, header: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-PagerDuty-Signature"] = header
    elif secret is not None:
        headers["X-PagerDuty-Signature"] = f"v1={hmac_hex(PD_SECRET_OLD + 'x', body)},v1={hmac_hex(secret, body)}"
    return httpx.post(f"{stack.server.url}/v1/webhooks/pagerduty", content=body, headers=headers, timeout=10)


def alerts(stack: Stack, **params: str) -> list[dict]:
    r = stack.api.get("/v1/alerts", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def wait_alert(stack: Stack, alert_id: int, pred: Any, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = stack.api.get(f"/v1/alerts/{alert_id}").json()
        if pred(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"alert {alert_id} never reached the state wanted: {body}")


def test_signed_pagerduty_event_gets_exactly_one_note_naming_the_root_cause(stack: Stack) -> None:
    body = pd_event(stack, "PINC001")
    t0 = time.time()
    r = post_pd(stack, body)
    ack = time.time() - t0
    assert r.status_code == 202, r.text
    assert ack < 1.0, f"acknowledged in {ack:.3f}s"
    [accepted] = r.json()["alerts"]
    assert accepted["status"] == "firing" and accepted["service"] == "frontend"
    [note] = stack.receiver.wait_for("/incidents/PINC001/notes")
    elapsed = note["t"] - t0
    print(f"\nreceipt -> delivered note: {elapsed:.2f} s (acknowledged in {ack * 1000:.0f} ms)")
    headers = {k.lower(): v for k, v in note["headers"].items()}
    assert headers["authorization"] == "Token token=pd-rest-key"
    assert headers["from"] == "rca-bot@example.com"
    assert headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert headers["idempotency-key"]
    content = json.loads(note["body"])["note"]["content"]
    lines = content.splitlines()
    assert lines[0].startswith("RCA: probable root cause of frontend latency")
    assert lines[1].startswith(f"1. {S.DEMO_ROOT} (latency), confidence")
    assert lines[2] == "   path: payment -> checkout -> frontend"
    assert "/v1/analyses/" in lines[-1] and "/report" in lines[-1]
    assert elapsed < 60

    # the replayed delivery (same body, same signature) starts no second analysis and sends no second note
    again = post_pd(stack, body)
    assert again.status_code == 202 and again.json()["alerts"][0]["duplicate"] is True
    # our own note makes PagerDuty send incident.annotated: ignored
    annotated = post_pd(stack, pd_event(stack, "PINC001", event_type="incident.annotated"))
    assert annotated.status_code == 202 and annotated.json()["alerts"][0]["status"] == "ignored"
    time.sleep(1.0)
    assert len(stack.receiver.received("/incidents/PINC001/notes")) == 1
    [alert] = [a for a in alerts(stack, source="pagerduty", status="firing") if a["external_id"] == "PINC001"]
    assert alert["receipts"] == 2 and alert["analysis_state"] == "done"
    assert alert["error"] is None  # no Prometheus warnings, every series had data
    analysis = stack.api.get(f"/v1/analyses/{alert['analysis_id']}").json()
    assert analysis["status"] == "succeeded" and analysis["result"]["causes"][0]["service"] == S.DEMO_ROOT
    detail = stack.api.get(f"/v1/alerts/{alert['id']}").json()
    assert [(w["kind"], w["status"], w["attempts"]) for w in detail["write_backs"]] == [("pagerduty_note", "delivered", 1)]

    # resolved closes the alert
    resolved = post_pd(stack, pd_event(stack, "PINC001", event_type="incident.resolved"))
    assert resolved.json()["alerts"][0] == {**resolved.json()["alerts"][0], "id": alert["id"], "status": "resolved"}
    assert stack.api.get(f"/v1/alerts/{alert['id']}").json()["status"] == "resolved"


def test_alertmanager_alert_gets_a_slack_message(stack: Stack) -> None:
    doc = P.alertmanager(service="frontend", fingerprint="e2e-am-1", starts_at=stack.start)
    r = httpx.post(f"{stack.server.url}/v1/webhooks/alertmanager", json=doc,
                   headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)
    assert r.status_code == 202, r.text
    [msg] = stack.receiver.wait_for("/slack/")
    payload = json.loads(msg["body"])
    assert payload["text"].startswith("RCA: probable root cause of frontend latency (alert HighLatency)")
    assert f"1. {S.DEMO_ROOT} (latency)" in payload["blocks"][0]["text"]["text"]


def test_authentication_and_payload_errors(stack: Stack) -> None:
    body = pd_event(stack, "PINC002")
    for resp in (post_pd(stack, body, secret=None), post_pd(stack, body, secret="wrong"),
                 post_pd(stack, body, header="v1=" + "0" * 64)):
        assert resp.status_code == 401, resp.text
        assert resp.json()["field"] == "X-PagerDuty-Signature"
    am = httpx.post(f"{stack.server.url}/v1/webhooks/alertmanager", json=P.alertmanager(), timeout=10)
    assert am.status_code == 401 and am.json()["field"] == "Authorization"
    am = httpx.post(f"{stack.server.url}/v1/webhooks/alertmanager", json=P.alertmanager(),
                    headers={"Authorization": "Bearer nope"}, timeout=10)
    assert am.status_code == 401
    og = httpx.post(f"{stack.server.url}/v1/webhooks/opsgenie", json=P.opsgenie(), timeout=10)
    assert og.status_code == 401 and "RCA_OPSGENIE_TOKENS" in og.json()["detail"]
    malformed = P.dumps(P.without(P.pagerduty(), "event.data.id"))
    resp = post_pd(stack, malformed)
    assert resp.status_code == 422 and resp.json()["field"] == "event.data.id", resp.text
    resp = httpx.post(f"{stack.server.url}/v1/webhooks/alertmanager", json=P.without(P.alertmanager(), "alerts.0.startsAt"),
                      headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)
    assert resp.status_code == 422 and resp.json()["field"] == "alerts[0].startsAt"
    assert stack.receiver.received("/incidents/PINC002") == []


def test_unmappable_alert_is_stored_with_the_reason(stack: Stack) -> None:
    r = post_pd(stack, P.dumps(P.pagerduty(incident_id="PINC003", service="Billing", incident_key="k3")))
    assert r.status_code == 202
    [a] = r.json()["alerts"]
    assert a["status"] == "unmappable" and "'Billing' is not a node of topology 'shop'" in a["reason"]
    listed = alerts(stack, status="unmappable")
    assert any(x["id"] == a["id"] and "RCA_ALERT_SERVICE_MAP" in x["reason"] for x in listed)
    assert stack.api.get(f"/v1/alerts/{a['id']}").json()["raw"]["event"]["data"]["id"] == "PINC003"


def test_prometheus_down_fails_the_analysis_and_the_note_says_so(stack: Stack) -> None:
    stack.prometheus.stop()
    try:
        r = post_pd(stack, pd_event(stack, "PINC004"))
        assert r.status_code == 202
        [note] = stack.receiver.wait_for("/incidents/PINC004/notes")
    finally:
        stack.prometheus.start()
    content = json.loads(note["body"])["note"]["content"]
    assert content.startswith("RCA: the analysis of frontend latency")
    assert "failed: Prometheus at http://127.0.0.1:" in content and "is unreachable" in content
    alert = wait_alert(stack, r.json()["alerts"][0]["id"], lambda b: b["analysis_state"] == "done")
    analysis = stack.api.get(f"/v1/analyses/{alert['analysis_id']}").json()
    assert analysis["status"] == "failed" and analysis["error"]["error"] == "prometheus_unavailable"
    assert "unreachable" in analysis["error"]["detail"]


def test_receiver_down_is_retried_then_delivered(stack: Stack) -> None:
    stack.receiver.stop()
    try:
        r = post_pd(stack, pd_event(stack, "PINC005"))
        assert r.status_code == 202
        alert_id = r.json()["alerts"][0]["id"]
        detail = wait_alert(
            stack, alert_id, lambda b: any(w["attempts"] >= 2 for w in b["write_backs"]), timeout=60
        )
        [wb] = detail["write_backs"]
        assert wb["status"] == "pending" and "unreachable" in wb["last_error"]
    finally:
        stack.receiver.start()
    [note] = stack.receiver.wait_for("/incidents/PINC005/notes", timeout=30)
    assert f"1. {S.DEMO_ROOT}" in json.loads(note["body"])["note"]["content"]
    detail = wait_alert(stack, alert_id, lambda b: b["write_backs"][0]["status"] == "delivered", timeout=10)
    assert detail["write_backs"][0]["attempts"] >= 3
    time.sleep(0.5)
    assert len(stack.receiver.received("/incidents/PINC005/notes")) == 1


def test_no_data_for_the_symptom_fails_with_that_reason(stack: Stack) -> None:
    doc = P.alertmanager(service="frontend", fingerprint="e2e-nodata", starts_at="2020-01-01T00:00:00Z")
    r = httpx.post(f"{stack.server.url}/v1/webhooks/alertmanager", json=doc,
                   headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)
    assert r.status_code == 202, r.text
    alert = wait_alert(stack, r.json()["alerts"][0]["id"], lambda b: b["write_backs"] and b["write_backs"][0]["status"] == "delivered")
    analysis = stack.api.get(f"/v1/analyses/{alert['analysis_id']}").json()
    assert analysis["status"] == "failed" and analysis["error"]["error"] == "no_metrics"
    texts = [json.loads(m["body"])["text"] for m in stack.receiver.received("/slack/")]
    assert any(t.startswith("RCA: the analysis of frontend latency (alert HighLatency) failed: Prometheus returned no data") for t in texts)


def test_a_killed_server_loses_no_write_back_and_sends_it_once(stack: Stack) -> None:
    """Receiver down, the server is SIGKILLed with the note pending; after the restart it arrives once."""
    stack.receiver.stop()
    try:
        r = post_pd(stack, pd_event(stack, "PINC006"))
        alert_id = r.json()["alerts"][0]["id"]
        wait_alert(stack, alert_id, lambda b: any(w["attempts"] >= 1 for w in b["write_backs"]))
        stack.server.kill()
        stack.server.start()
    finally:
        stack.receiver.start()
    stack.receiver.wait_for("/incidents/PINC006/notes", timeout=30)
    detail = wait_alert(stack, alert_id, lambda b: b["write_backs"][0]["status"] == "delivered", timeout=10)
    assert len(detail["write_backs"]) == 1
    time.sleep(1.0)
    assert len(stack.receiver.received("/incidents/PINC006/notes")) == 1
