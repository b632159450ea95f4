"""The webhook routes and /v1/alerts on a real server (no Prometheus needed: nothing here waits for analyses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import alerts_payloads as P
import alerts_support as S
import httpx
import pytest

from rca.integrations.alerts.signatures import hmac_hex
from rca.service.security import create_api_key
from rca.store.migrate import upgrade_database
from rca.store.session import Database

GRAFANA_SECRET = "grafana-secret"
OG_TOKEN = "og-token"
AM_TOKEN = "am-token"


@dataclass
class Env:
    server: S.RcaServer
    api: httpx.Client
    url: str


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("webhooks")
    url = f"sqlite:///{tmp / 'rca.db'}"
    db = Database(url)
    upgrade_database(db)
    key = create_api_key(db, scopes=("read", "write"), name="t")
    db.dispose()
    server = S.RcaServer(tmp, {
        "RCA_DATABASE_URL": url,
        "RCA_DATA_DIR": str(tmp / "data"),
        "RCA_WORKERS": "0",  # accept, run nothing: these tests look at what is stored
        "RCA_PROMETHEUS_URL": f"http://127.0.0.1:{S.free_port()}",
        "RCA_PROMETHEUS_ATTEMPTS": "1",
        "RCA_ALERT_TOPOLOGY": "shop",
        "RCA_ALERTMANAGER_TOKENS": f"old-token,{AM_TOKEN}",
        "RCA_GRAFANA_SECRET": GRAFANA_SECRET,
        "RCA_OPSGENIE_TOKENS": OG_TOKEN,
        "RCA_NOTIFY_TARGETS": "{}",
    })
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    graph = {"services": [{"name": n} for n in ("frontend", "checkout", "cart", "redis", "payments")],
             "calls": [{"caller": a, "callee": b} for a, b in S.CALLS]}
    assert api.put("/v1/topologies/shop", json=graph).status_code in (200, 201)
    try:
        yield Env(server, api, server.url)
    finally:
        api.close()
        server.stop()


def am(env: Env, doc: object, token: str = AM_TOKEN) -> httpx.Response:
    return httpx.post(f"{env.url}/v1/webhooks/alertmanager", content=P.dumps(doc),
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, timeout=10)


def test_alertmanager_group_stores_each_alert_and_unmappable_ones_with_the_reason(env: Env) -> None:
    doc = P.alertmanager(service="checkout", fingerprint="grp-1")
    second = json.loads(json.dumps(doc["alerts"][0]))
    second["fingerprint"] = "grp-2"
    del second["labels"]["service"]
    doc["alerts"].append(second)
    r = am(env, doc, token="old-token")  # any configured token works (rotation)
    assert r.status_code == 202, r.text
    first, other = r.json()["alerts"]
    assert first["status"] == "firing" and first["service"] == "checkout"
    assert other["status"] == "unmappable" and other["reason"].startswith("no service label: none of ['service', 'job'")
    listed = env.api.get("/v1/alerts", params={"status": "unmappable", "source": "alertmanager"}).json()["items"]
    assert other["id"] in [a["id"] for a in listed]


def test_resolve_closes_and_a_new_firing_is_a_new_alert(env: Env) -> None:
    fired = am(env, P.alertmanager(service="cart", fingerprint="cycle-1")).json()["alerts"][0]
    resolved = am(env, P.alertmanager(service="cart", fingerprint="cycle-1", status="resolved")).json()["alerts"][0]
    assert resolved["id"] == fired["id"] and resolved["status"] == "resolved"
    detail = env.api.get(f"/v1/alerts/{fired['id']}").json()
    assert detail["status"] == "resolved" and detail["resolved_at"] and detail["receipts"] == 2
    again = am(env, P.alertmanager(service="cart", fingerprint="cycle-1")).json()["alerts"][0]
    assert again["id"] != fired["id"] and again["status"] == "firing" and not again["duplicate"]
    orphan = am(env, P.alertmanager(service="cart", fingerprint="never-fired", status="resolved")).json()["alerts"][0]
    assert orphan["status"] == "resolved" and "without an open alert" in orphan["reason"]


def test_concurrent_duplicate_deliveries_make_one_alert(env: Env) -> None:
    doc = P.alertmanager(service="payments", fingerprint="dup-burst")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: am(env, doc), range(16)))
    assert {r.status_code for r in results} == {202}
    ids = {r.json()["alerts"][0]["id"] for r in results}
    assert len(ids) == 1
    assert sum(not r.json()["alerts"][0]["duplicate"] for r in results) == 1
    assert env.api.get(f"/v1/alerts/{ids.pop()}").json()["receipts"] == 16


def test_unknown_metric_and_unknown_service_are_unmappable(env: Env) -> None:
    a = am(env, P.alertmanager(service="frontend", fingerprint="m-1", rca_metric="saturation")).json()["alerts"][0]
    assert a["status"] == "unmappable" and "metric 'saturation' is not in the metrics catalog" in a["reason"]
    b = am(env, P.alertmanager(service="billing", fingerprint="m-2")).json()["alerts"][0]
    assert b["status"] == "unmappable" and "'billing' is not a node of topology 'shop' v1" in b["reason"]
    c = am(env, P.alertmanager(service="payment", fingerprint="m-3")).json()["alerts"][0]  # a label typo: the closest node is named
    assert c["status"] == "unmappable" and "'payment' is not a node of topology 'shop' v1; did you mean 'payments'?" in c["reason"]
    d = am(env, P.alertmanager(service="frontend", fingerprint="m-4", rca_metric="latncy")).json()["alerts"][0]
    assert d["status"] == "unmappable" and "did you mean 'latency'" in d["reason"]


@pytest.mark.parametrize("header", ["X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature"])
def test_grafana_hmac_under_either_header_name(env: Env, header: str) -> None:
    body = P.dumps(P.grafana(service="redis", fingerprint=f"gf-{header}"))
    r = httpx.post(f"{env.url}/v1/webhooks/grafana", content=body,
                   headers={header: hmac_hex(GRAFANA_SECRET, body)}, timeout=10)
    assert r.status_code == 202, r.text
    alert = env.api.get(f"/v1/alerts/{r.json()['alerts'][0]['id']}").json()
    assert alert["source"] == "grafana" and alert["dedup_key"] == f"1:gf-{header}" and alert["raw"]["values"] == {"B": 4.2}


def test_grafana_bad_signature(env: Env) -> None:
    body = P.dumps(P.grafana())
    for headers in ({}, {"X-Grafana-Alerting-Signature": hmac_hex("other", body)}):
        r = httpx.post(f"{env.url}/v1/webhooks/grafana", content=body, headers=headers, timeout=10)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"


def test_opsgenie_create_close_and_other_actions(env: Env) -> None:
    def og(doc: object, token: str | None = OG_TOKEN) -> httpx.Response:
        headers = {"X-RCA-Token": token} if token else {}
        return httpx.post(f"{env.url}/v1/webhooks/opsgenie", content=P.dumps(doc), headers=headers, timeout=10)

    created = og(P.opsgenie(alias="og-1", tags=["service:cart"])).json()["alerts"][0]
    assert created["status"] == "firing" and created["service"] == "cart"
    assert og(P.opsgenie(alias="og-1", action="AddNote")).json()["alerts"][0]["status"] == "ignored"
    assert og(P.opsgenie(alias="og-1", action="Close")).json()["alerts"][0]["id"] == created["id"]
    assert og(P.opsgenie(), token="wrong").status_code == 401
    assert og(P.opsgenie(), token=None).status_code == 401


def test_payload_errors_are_422_with_the_field(env: Env) -> None:
    r = httpx.post(f"{env.url}/v1/webhooks/alertmanager", content=b"{nope",
                   headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)
    assert r.status_code == 422 and r.json()["field"] == "body" and r.json()["error"] == "invalid_payload"
    r = am(env, P.with_value(P.alertmanager(), "alerts.0.status", "burning"))
    assert r.status_code == 422 and r.json()["field"] == "alerts[0].status"


def test_unconfigured_pagerduty_is_refused(env: Env) -> None:
    r = httpx.post(f"{env.url}/v1/webhooks/pagerduty", content=P.dumps(P.pagerduty()),
                   headers={"X-PagerDuty-Signature": "v1=00"}, timeout=10)
    assert r.status_code == 401 and "RCA_PAGERDUTY_WEBHOOK_SECRETS" in r.json()["detail"]


def test_alert_listing_needs_a_key_pages_and_404s(env: Env) -> None:
    assert httpx.get(f"{env.url}/v1/alerts", timeout=10).status_code == 401
    for i in range(3):
        am(env, P.alertmanager(service="redis", fingerprint=f"page-{i}"))
    page = env.api.get("/v1/alerts", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"] is not None
    rest = env.api.get("/v1/alerts", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert rest["items"][0]["id"] < page["items"][-1]["id"]
    assert env.api.get("/v1/alerts", params={"status": "burning"}).status_code == 422
    missing = env.api.get("/v1/alerts/999999")
    assert missing.status_code == 404 and missing.json()["error"] == "alert_not_found"
