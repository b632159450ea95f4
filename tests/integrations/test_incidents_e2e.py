"""Incidents end to end: an alert storm on the demo shop becomes incidents, each analysed and written back once.

Real processes on 127.0.0.1: Prometheus loaded with the bundled demo incident
(payment slows down at 13:00), the RCA server (uvicorn), and the receiver
standing in for PagerDuty, Slack's Web API and a webhook.
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

PD_SECRET = "pd-webhook-secret"
AM_TOKEN = "am-token"


@dataclass
class Stack:
    receiver: S.Receiver
    server: S.RcaServer
    api: httpx.Client


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          prometheus: S.PrometheusServer) -> Iterator[Stack]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("incidents")
    pg = S.pg_schema_url() if request.param == "postgres" else None
    url = next(pg) if pg is not None else f"sqlite:///{tmp / 'rca.db'}"
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
        "RCA_PROMETHEUS_ATTEMPTS": "1",
        "RCA_PROMETHEUS_STEP_SECONDS": str(S.DEMO_STEP),
        "RCA_METRICS_CATALOG": str(catalog),
        "RCA_ALERT_TOPOLOGY": "shop",
        "RCA_ALERT_SERVICE_MAP": json.dumps({"Shop Frontend": "frontend"}),
        "RCA_ALERTMANAGER_TOKENS": AM_TOKEN,
        "RCA_PAGERDUTY_WEBHOOK_SECRETS": PD_SECRET,
        "RCA_PAGERDUTY_API_URL": receiver.url,
        "RCA_PAGERDUTY_API_TOKEN": "pd-rest-key",
        "RCA_PAGERDUTY_FROM": "rca-bot@example.com",
        "RCA_SLACK_BOT_TOKEN": "xoxb-test",
        "RCA_SLACK_CHANNEL": "#incidents",
        "RCA_SLACK_API_URL": f"{receiver.url}/slack-api",
        "RCA_NOTIFY_WEBHOOK_URL": f"{receiver.url}/hook",
        "RCA_NOTIFY_TARGETS": json.dumps({"pagerduty": ["pagerduty_note", "webhook"], "alertmanager": ["slack", "webhook"]}),
        "RCA_INCIDENT_DEBOUNCE_SECONDS": "1",
        "RCA_INCIDENT_MAX_DELAY_SECONDS": "4",
        "RCA_INCIDENT_QUIET": "2s",
        "RCA_OUTBOX_POLL_SECONDS": "0.1",
        "RCA_OUTBOX_BACKOFF_SECONDS": "0.3",
    }
    server = S.RcaServer(tmp, env)
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    r = api.put("/v1/topologies/shop", content=S.demo_topology_yaml(), params={"format": "yaml"})
    assert r.status_code in (200, 201), r.text
    try:
        yield Stack(receiver, server, api)
    finally:
        api.close()
        server.stop()
        receiver.stop()
        if pg is not None:
            pg.close()  # drops the schema


def am(stack: Stack, service: str, minute: int, fp: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    start = (S.DEMO_START + __import__("pandas").Timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
    doc = P.alertmanager(service=service, fingerprint=fp, starts_at=start, status=status, **labels)
    r = httpx.post(f"{stack.server.url}/v1/webhooks/alertmanager", json=doc,
                   headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)  # fmt: skip
    assert r.status_code == 202, r.text
    return r.json()["alerts"][0]


def pd(stack: Stack, incident_id: str) -> dict[str, Any]:
    body = P.dumps(P.pagerduty(incident_id=incident_id, service="Shop Frontend", created_at=S.DEMO_START.isoformat(),
                               incident_key=f"key-{incident_id}"))  # fmt: skip
    r = httpx.post(f"{stack.server.url}/v1/webhooks/pagerduty", content=body, timeout=10,
                   headers={"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1={hmac_hex(PD_SECRET, body)}"})
    assert r.status_code == 202, r.text
    return r.json()["alerts"][0]


def wait(pred: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout:g}s (last: {last})")


def hook_events(stack: Stack, incident_id: int) -> list[dict]:
    bodies = [json.loads(e["body"]) for e in stack.receiver.received("/hook")]
    return [b for b in bodies if b.get("incident", {}).get("id") == incident_id]


def test_a_storm_becomes_one_incident_with_one_analysis_of_all_symptoms_and_one_message(stack: Stack) -> None:
    # payment's fault: its own alert and its callers', a PagerDuty incident on the frontend, an alert on a
    # service outside the topology (same namespace), and an unrelated alert on auth (no shared root)
    a_pay = am(stack, "payment", 1, "storm-pay")
    a_chk = am(stack, "checkout", 2, "storm-chk")
    a_fe = am(stack, "frontend", 3, "storm-fe")
    p_fe = pd(stack, "PSTORM1")
    a_lb = am(stack, "edge-lb", 3, "storm-lb")
    a_auth = am(stack, "auth", 2, "storm-auth")
    assert a_lb["status"] == "unmappable"
    listed = wait(lambda: [i for i in stack.api.get("/v1/incidents").json()["items"] if i["top_cause"]],
                  "a written-back incident")  # fmt: skip
    incidents = stack.api.get("/v1/incidents").json()["items"]
    by_alert = {}
    for inc in incidents:
        detail = stack.api.get(f"/v1/incidents/{inc['id']}").json()
        for a in detail["alert_list"]:
            by_alert[a["id"]] = (inc["id"], a["reason"])
    shop = by_alert[a_pay["id"]][0]
    assert {by_alert[a["id"]][0] for a in (a_pay, a_chk, a_fe, p_fe, a_lb)} == {shop}
    assert by_alert[a_auth["id"]][0] != shop
    assert "not in the topology, grouped by time and labels" in by_alert[a_lb["id"]][1]
    assert "depends on payment" in by_alert[a_fe["id"]][1] or "depends on" in by_alert[a_fe["id"]][1]
    assert listed

    detail = wait(lambda: (d := stack.api.get(f"/v1/incidents/{shop}").json())["top_cause"] and d, "the shop incident's note")
    assert detail["top_cause"] == "payment" and detail["unknown_services"] == ["edge-lb"]
    result = detail["analysis"]["result"]
    assert result["causes"][0]["service"] == "payment"
    assert len(result["symptoms"]) >= 3 and len(result["causes"][0]["explains"]) >= 2
    notes = wait(lambda: stack.receiver.received("/incidents/PSTORM1/notes"), "the PagerDuty note")
    posts = wait(lambda: stack.receiver.received("/slack-api/chat.postMessage"), "the Slack message")
    assert "Incident" in json.loads(notes[0]["body"])["note"]["content"]
    assert {k.lower(): v for k, v in posts[0]["headers"].items()}["authorization"] == "Bearer xoxb-test"
    first = wait(lambda: hook_events(stack, shop), "the incident.updated event")
    assert first[0]["type"] == "incident.updated" and first[0]["sequence"] == 1

    # a late alert of the same fault: the analysis reruns, Slack's message is edited, the webhook says sequence 2,
    # and PagerDuty hears nothing new (the top cause did not change)
    runs = detail["analyses"]
    am(stack, "frontend", 4, "storm-fe-err", rca_metric="error_rate")
    wait(lambda: stack.api.get(f"/v1/incidents/{shop}").json()["analyses"] > runs, "the rerun")
    events = wait(lambda: [e for e in hook_events(stack, shop) if e["sequence"] == 2], "the second incident.updated")
    assert events[0]["incident"]["alerts"] == 6
    updates = wait(lambda: stack.receiver.received("/slack-api/chat.update"), "the Slack edit")
    assert json.loads(updates[-1]["body"])["channel"] == "C0RCA0001" and json.loads(updates[-1]["body"])["ts"]
    time.sleep(1.0)
    assert len(stack.receiver.received("/incidents/PSTORM1/notes")) == 1
    assert len(stack.receiver.received("/slack-api/chat.postMessage")) == len(
        {by_alert[a["id"]][0] for a in (a_pay, a_auth)}
    )  # one message per incident with an alertmanager alert


def test_an_incident_closes_when_all_its_alerts_resolved_and_it_stayed_quiet(stack: Stack) -> None:
    a = am(stack, "shipping", 40, "close-ship")
    inc = wait(lambda: [i for i in stack.api.get("/v1/incidents", params={"service": "shipping"}).json()["items"]],
               "the shipping incident")[0]  # fmt: skip
    am(stack, "shipping", 40, "close-ship", status="resolved")
    closed = wait(lambda: (d := stack.api.get(f"/v1/incidents/{inc['id']}").json())["status"] == "closed" and d, "closing")
    assert "resolved" in closed["close_reason"] and closed["alert_list"][0]["id"] == a["id"]


def test_incident_routes_refuse_bad_input(stack: Stack) -> None:
    r = stack.api.get("/v1/incidents", params={"status": "opne"})
    assert r.status_code == 422 and r.json()["field"] == "status"
    r = stack.api.get("/v1/incidents/999999")
    assert r.status_code == 404 and r.json()["field"] == "incident_id"
    assert httpx.get(f"{stack.server.url}/v1/incidents", timeout=5).status_code == 401
