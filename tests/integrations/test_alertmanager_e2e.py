"""Nothing hand-written: a fault in an exporter's values becomes a signed note naming the cause.

Real processes on 127.0.0.1: an exporter in this test process (the shop's
services in Prometheus text format), Prometheus scraping it every second and
evaluating an alerting rule on the frontend's latency, Debian's
``prometheus-alertmanager`` delivering the alert to ``rca serve`` (uvicorn),
which pulls the metrics back from that Prometheus, runs the analysis and
sends a signed webhook to a receiver process.  Redis is slowed down, and with
it its synchronous callers cart, checkout and the frontend; the frontend's
alert fires.  The time from the fault to the note is printed (and only
bounded generously: the machine is shared).  Alertmanager's ``group_wait`` of
5 s is also the incident window the analysis sees: the service analyses an
alert when it arrives, on the points up to then.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import alerts_support as S
import httpx
import pandas as pd
import pytest
import yaml
from real_parts import missing_part
from typer.testing import CliRunner

from rca.cli import app
from rca.integrations.alerts.signatures import SignatureError, verify_outbound_signature
from rca.service.security import create_api_key
from rca.store.migrate import upgrade_database
from rca.store.session import Database
from topology import ServiceGraph

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

AM_TOKEN = "am-token"
WEBHOOK_SECRET = "note-signing-secret"
BASELINE_SECONDS = 30  # of live scrapes before the fault: the analysis' baseline

RULES = """
groups:
  - name: shop
    interval: 1s
    rules:
      - alert: FrontendLatencyHigh
        expr: demo_latency_seconds{service="frontend"} > 1
        for: 0s
        labels: {severity: page, rca_metric: latency}
        annotations: {summary: "frontend p99 latency above 1 s"}
"""


@dataclass
class Live:
    exporter: S.Exporter
    prometheus: S.PrometheusServer
    alertmanager: S.AlertmanagerServer
    receiver: S.Receiver
    server: S.RcaServer
    api: httpx.Client
    catalog: str
    topology: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if not S.HAVE_PROMETHEUS:
        missing_part(S.SKIP_REASON)
    if not S.ALERTMANAGER:
        missing_part(S.ALERTMANAGER_SKIP)
    tmp = tmp_path_factory.mktemp("alertmanager-e2e")
    graph = ServiceGraph(calls=S.CALLS)
    exporter = S.Exporter(graph)
    am_port = S.free_port()
    prom_cfg = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "shop", "static_configs": [{"targets": [exporter.target]}]}],
    }
    stack: list = [exporter]
    try:
        prometheus = S.PrometheusServer(tmp, None, config=yaml.safe_dump(prom_cfg), files={"rules.yml": RULES})
        stack.append(prometheus)
        url = f"sqlite:///{tmp / 'rca.db'}"
        db = Database(url)
        upgrade_database(db)
        key = create_api_key(db, scopes=("read", "write"), name="e2e")
        db.dispose()
        catalog = tmp / "catalog.yaml"
        catalog.write_text(yaml.safe_dump(S.catalog_doc()))
        receiver = S.Receiver(tmp)
        stack.append(receiver)
        server = S.RcaServer(tmp, {
            "RCA_DATABASE_URL": url,
            "RCA_DATA_DIR": str(tmp / "data"),
            "RCA_JOB_POLL_SECONDS": "0.2",
            "RCA_PROMETHEUS_URL": prometheus.url,
            "RCA_PROMETHEUS_TIMEOUT_SECONDS": "5",
            "RCA_PROMETHEUS_ATTEMPTS": "1",
            "RCA_PROMETHEUS_STEP_SECONDS": "1",
            "RCA_METRICS_CATALOG": str(catalog),
            "RCA_ALERT_TOPOLOGY": "shop",
            "RCA_ALERT_BASELINE": f"{BASELINE_SECONDS}s",
            "RCA_ALERTMANAGER_TOKENS": AM_TOKEN,
            "RCA_NOTIFY_TARGETS": json.dumps({"alertmanager": ["webhook"]}),
            "RCA_NOTIFY_WEBHOOK_URL": f"{receiver.url}/rca-notes",
            "RCA_NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "RCA_OUTBOX_POLL_SECONDS": "0.1",
            "RCA_INCIDENTS_ENABLED": "false",  # one alert, one analysis, one note (incidents: test_incidents_e2e.py)
        })  # fmt: skip
        stack.append(server)
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        topology = tmp / "shop.yaml"
        topology.write_text(yaml.safe_dump({"services": [{"name": n} for n in graph.services],
                                            "calls": [{"caller": a, "callee": b} for a, b in S.CALLS]}))  # fmt: skip
        r = api.put("/v1/topologies/shop", content=topology.read_bytes(), params={"format": "yaml"})
        assert r.status_code in (200, 201), r.text
        am_cfg = {
            "route": {"receiver": "rca", "group_by": ["alertname", "service"],
                      "group_wait": "5s", "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "rca", "webhook_configs": [{
                "url": f"{server.url}/v1/webhooks/alertmanager", "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials": AM_TOKEN}},
            }]}],
        }  # fmt: skip
        alertmanager = S.AlertmanagerServer(tmp, yaml.safe_dump(am_cfg), port=am_port)
        stack.append(alertmanager)
        yield Live(exporter, prometheus, alertmanager, receiver, server, api, str(catalog), str(topology))
        api.close()
    finally:
        for part in reversed(stack):
            (part.stop if isinstance(part, (S.Receiver, S.RcaServer)) else part.close)()


def _scraped(live: Live, n: int, timeout: float = 60) -> None:
    """Wait until Prometheus holds ``n`` seconds of the exporter's samples."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(f"{live.prometheus.url}/api/v1/query",
                      params={"query": f'count_over_time(demo_latency_seconds{{service="redis"}}[{n + 5}s])'}, timeout=5)  # fmt: skip
        got = r.json()["data"]["result"]
        if got and float(got[0]["value"][1]) >= n:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus did not scrape {n} samples of the exporter within {timeout:g}s")


def test_a_fault_in_the_exporter_becomes_a_signed_note_naming_the_cause(live: Live) -> None:
    _scraped(live, BASELINE_SECONDS)
    fault_at = live.exporter.inject(S.ROOT)
    [note] = live.receiver.wait_for("/rca-notes", timeout=90)
    elapsed = note["t"] - fault_at
    print(f"\nfault in {S.ROOT} -> signed note delivered: {elapsed:.1f} s "
          "(1 s scrapes and rule evaluations, Alertmanager group_wait 5s)")  # fmt: skip
    assert elapsed < 60, f"fault -> note took {elapsed:.1f} s"

    headers = {k.lower(): v for k, v in note["headers"].items()}
    body = note["body"].encode()
    verify_outbound_signature(body, headers.get("x-rca-signature"), WEBHOOK_SECRET)  # raises when wrong
    with pytest.raises(SignatureError, match="X-RCA-Signature does not match the body"):
        verify_outbound_signature(body, headers.get("x-rca-signature"), WEBHOOK_SECRET + "x")
    doc = json.loads(body)
    assert doc["type"] == "rca.analysis.completed" and doc["source"] == "alertmanager"
    assert doc["service"] == "frontend" and doc["metric"] == "latency"
    assert doc["top_cause"]["service"] == S.ROOT, doc["text"]
    assert doc["top_cause"]["path"] == ["redis", "cart", "checkout", "frontend"]

    # the alert came from Alertmanager (no test wrote it), and its metrics from Prometheus' scrapes
    [alert] = [a for a in live.api.get("/v1/alerts", params={"source": "alertmanager"}).json()["items"]]
    raw = live.api.get(f"/v1/alerts/{alert['id']}").json()["raw"]
    assert raw["labels"]["alertname"] == "FrontendLatencyHigh" and raw["labels"]["job"] == "shop"
    assert pd.Timestamp(raw["startsAt"]).timestamp() == pytest.approx(fault_at, abs=10)
    analysis = live.api.get(f"/v1/analyses/{doc['analysis_id']}").json()
    assert analysis["status"] == "succeeded" and analysis["inputs"]["metrics_points"] > 2 * 5 * BASELINE_SECONDS
    assert not [i for i in analysis["result"]["issues"] if i["kind"] == "catalog_no_series"]

    # the same pull from the command line, against the same live Prometheus, names the same cause
    inc = analysis["incident"]
    res = CliRunner().invoke(app, ["analyze", "--graph", live.topology, "--prometheus", live.prometheus.url,
                                   "--catalog", live.catalog, "--service", "frontend", "--metric", "latency",
                                   "--at", inc["start"], "--end", inc["end"], "--lookback", f"{BASELINE_SECONDS}s",
                                   "--step", "1", "--format", "json"])  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["causes"][0]["service"] == S.ROOT
