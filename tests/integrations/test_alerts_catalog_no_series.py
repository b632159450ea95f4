"""A catalog entry that selects no series is said in the answer, per alert and per incident, on a real server.

Prometheus loaded with the bundled demo incident; the catalog has one more
entry whose metric name is misspelt.  The analysis still runs on the other
entries, and its result, its note and the alert record name the empty entry,
its query and the closest metric name Prometheus has.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import alerts_payloads as P
import alerts_support as S
import httpx
import pytest
import yaml

from rca.service.security import create_api_key
from rca.store.migrate import upgrade_database
from rca.store.session import Database

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

AM_TOKEN = "am-token"
TYPO = {"query": 'max by (service) (rca_demo_latncy{service=~"{services}"})', "service_label": "service"}


@dataclass
class Stack:
    receiver: S.Receiver
    server: S.RcaServer
    api: httpx.Client


@pytest.fixture(scope="module", params=["per-alert", "incidents"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          prometheus: S.PrometheusServer) -> Iterator[Stack]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("no-series")
    url = f"sqlite:///{tmp / 'rca.db'}"
    db = Database(url)
    upgrade_database(db)
    key = create_api_key(db, scopes=("read", "write"), name="t")
    db.dispose()
    doc = S.demo_catalog_doc()
    doc["metrics"]["saturation"] = TYPO
    catalog = tmp / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(doc))
    receiver = S.Receiver(tmp)
    server = S.RcaServer(tmp, {
        "RCA_DATABASE_URL": url,
        "RCA_DATA_DIR": str(tmp / "data"),
        "RCA_JOB_POLL_SECONDS": "0.2",
        "RCA_PROMETHEUS_URL": prometheus.url,
        "RCA_PROMETHEUS_ATTEMPTS": "1",
        "RCA_PROMETHEUS_STEP_SECONDS": str(S.DEMO_STEP),
        "RCA_METRICS_CATALOG": str(catalog),
        "RCA_ALERT_TOPOLOGY": "shop",
        "RCA_ALERTMANAGER_TOKENS": AM_TOKEN,
        "RCA_SLACK_WEBHOOK_URL": f"{receiver.url}/slack/T000/B000",
        "RCA_NOTIFY_TARGETS": json.dumps({"alertmanager": ["slack"]}),
        "RCA_OUTBOX_POLL_SECONDS": "0.1",
        "RCA_INCIDENTS_ENABLED": str(request.param == "incidents").lower(),
        "RCA_INCIDENT_DEBOUNCE_SECONDS": "0.2",
    })  # fmt: skip
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert api.put("/v1/topologies/shop", content=S.demo_topology_yaml(), params={"format": "yaml"}).status_code in (200, 201)
    try:
        yield Stack(receiver, server, api)
    finally:
        api.close()
        server.stop()
        receiver.stop()


def test_the_empty_entry_is_in_the_result_and_the_note_with_its_query_and_the_closest_name(stack: Stack) -> None:
    doc = P.alertmanager(service="frontend", fingerprint="no-series-1", starts_at=S.DEMO_START.isoformat())
    r = httpx.post(f"{stack.server.url}/v1/webhooks/alertmanager", json=doc,
                   headers={"Authorization": f"Bearer {AM_TOKEN}"}, timeout=10)  # fmt: skip
    assert r.status_code == 202, r.text
    [msg] = stack.receiver.wait_for("/slack/")
    text = json.loads(msg["body"])["blocks"][0]["text"]["text"]
    assert f"1. {S.DEMO_ROOT} (latency)" in text  # the other entries still give the answer
    assert "Catalog: metrics catalog" in text and "entry 'saturation' matched no series" in text, text

    alert_id = r.json()["alerts"][0]["id"]
    deadline = time.monotonic() + 30
    while (alert := stack.api.get(f"/v1/alerts/{alert_id}").json())["analysis_id"] is None and time.monotonic() < deadline:
        time.sleep(0.1)
    analysis = stack.api.get(f"/v1/analyses/{alert['analysis_id']}").json()
    assert analysis["status"] == "succeeded"
    [issue] = [i for i in analysis["result"]["issues"] if i["kind"] == "catalog_no_series"]
    assert issue["metric"] == "saturation"
    assert "Prometheus has no metric 'rca_demo_latncy' in that window; did you mean 'rca_demo_latency'" in issue["message"]
    assert issue["message"].startswith("metrics catalog ") and "entry 'saturation' matched no series of the 12 services" in issue["message"]
    assert '; query: max by (service) (rca_demo_latncy{service=~"auth|cart|' in issue["message"]
    assert "saturation" in (alert["error"] or ""), alert  # the alert record says so too (its missing series)
