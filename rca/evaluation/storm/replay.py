"""Replay storms against a running server, as real processes on 127.0.0.1, and measure.

One run: Prometheus (Debian's ``prometheus`` with the storms' metrics loaded by
``promtool tsdb create-blocks-from openmetrics``), a receiver thread standing
in for Slack (Web API and incoming webhook) and a webhook endpoint, and
``uvicorn rca.service.app:create_app_from_env`` (SQLite, or the PostgreSQL URL
given; ``RCA_AUTH_DISABLED``).  The topology (every copy of every storm) is
PUT as ``storm``; each alert is an Alertmanager webhook (payload version 4)
POSTed to ``/v1/webhooks/alertmanager``.  The run waits until every alert is
done and the outbox has gone quiet, then reads ``/v1/incidents`` and
``/v1/alerts`` and what the receiver got.

This module starts processes by command line only; it imports nothing of
the service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import yaml

from rca.evaluation.storm.score import pairwise_scores
from rca.evaluation.storm.synth import Storm, StormEvent
from topology import ServiceGraph

__all__ = ["RunResult", "note_latency", "replay", "score_run"]

TOKEN = "storm-bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the receiver ----------------------------------------------------------------------
class _Receiver:
    """Slack's Web API (chat.postMessage, chat.update), a Slack incoming webhook and a webhook, in a thread."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str, dict[str, Any]]] = []
        lock = threading.Lock()
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                with lock:
                    got.append((time.time(), self.path, body))
                if self.path.endswith(("/chat.postMessage", "/chat.update")):
                    ts = body.get("ts") or f"{time.time():.6f}"
                    reply = json.dumps({"ok": True, "channel": "C0STORM", "ts": ts}).encode()
                else:
                    reply = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- Prometheus ---------------------------------------------------------------------------
def _openmetrics(frame: pd.DataFrame) -> str:
    lines = ["# TYPE rca_storm gauge"]
    df = frame.sort_values(["service", "metric", "timestamp"])
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    secs = ((pd.to_datetime(df["timestamp"], utc=True) - epoch) // pd.Timedelta(seconds=1)).to_numpy()
    for svc, metric, v, t in zip(df["service"], df["metric"], df["value"].astype(float), secs, strict=True):
        lines.append(f'rca_storm{{metric="{metric}",service="{svc}"}} {v!r} {t}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


class _Prometheus:
    def __init__(self, workdir: Path, frame: pd.DataFrame) -> None:
        prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
        if not (prometheus and promtool):
            raise RuntimeError("the storm benchmark needs the prometheus and promtool binaries (apt-get install prometheus)")
        data = workdir / "tsdb"
        data.mkdir(parents=True, exist_ok=True)
        src = workdir / "storm.om"
        src.write_text(_openmetrics(frame))
        subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(src), str(data)],
                       check=True, capture_output=True, timeout=600)  # fmt: skip
        src.unlink()
        cfg = workdir / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=100y",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=self.log, stderr=self.log,
        )  # fmt: skip
        _wait_http(f"{self.url}/-/ready", self.proc, "prometheus")

    def close(self) -> None:
        _stop(self.proc)
        self.log.close()


def _wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready in {timeout:g} s")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) of process ``pid`` and its living descendants (analysis processes), from /proc."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    text = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
                stats[int(entry)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))  # ppid; utime stime cutime cstime
    except (OSError, ValueError):
        return None
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _) in stats.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(stats[p][1] for p in tree if p in stats) / ticks if pid in stats else None


def _server(workdir: Path, env: dict[str, str], name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("RCA_")} | env
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "rca.service.app:create_app_from_env",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    with open(workdir / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(cmd, env=full, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_http(f"{url}/readyz", proc, f"the RCA server ({workdir / f'{name}.log'})")
    return proc, url


# -- replaying ----------------------------------------------------------------------------
def _payload(ev: StormEvent) -> dict[str, Any]:
    a = ev.alert
    starts = a.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    alert = {
        "status": ev.status,
        "labels": {"alertname": f"High_{a.metric}", "service": a.service, "namespace": a.namespace, "rca_metric": a.metric},
        "annotations": {"summary": f"{a.service} {a.metric} is high"},
        "startsAt": starts,
        "endsAt": (a.starts_at + pd.Timedelta("10min")).strftime("%Y-%m-%dT%H:%M:%SZ") if ev.status == "resolved"
        else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": a.fingerprint,
    }  # fmt: skip
    # Alertmanager webhook payload version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="High_{a.metric}"}}', "truncatedAlerts": 0, "status": ev.status,
        "receiver": "rca", "groupLabels": {"alertname": f"High_{a.metric}"}, "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"], "externalURL": "http://alertmanager:9093", "alerts": [alert],
    }  # fmt: skip


@dataclass
class RunResult:
    """What one run saw: alert ids per storm event, incidents, write-backs, timings."""

    mode: str
    items: list[tuple[int, str, str, str]] = field(default_factory=list)  # (alert id, truth, kind, service)
    sent_at: dict[int, float] = field(default_factory=dict)  # alert id -> wall time its webhook was answered
    incident_of: dict[int, int] = field(default_factory=dict)
    incidents: dict[int, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[int, dict[str, Any]] = field(default_factory=dict)
    received: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    replay_seconds: float = 0.0
    settle_seconds: float = 0.0
    lost: int = 0
    server_cpu_seconds: float | None = None  # the servers' processes (and their analysis processes), replay + settle
    prometheus_cpu_seconds: float | None = None


def _get_all(api: httpx.Client, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor is not None:
            params["cursor"] = cursor
        page = api.get(path, params=params).json()
        out += page["items"]
        cursor = page.get("next_cursor")
        if cursor is None:
            return out


def _settle(api: httpx.Client, receiver: _Receiver, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        busy = [a for a in _get_all(api, "/v1/alerts") if a["analysis_state"] in ("pending", "grouped", "queued")]
        n = len(receiver.got)
        if n != last:
            last, stable_since = n, time.monotonic()
        if not busy and time.monotonic() - stable_since > 3.0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the server did not settle within {timeout:g} s")


def replay(
    storms: Sequence[Storm], workdir: Path, *, step: pd.Timedelta, incidents: bool, database_url: str | None = None,
    rate: float | None = None, servers: int = 1, settle_timeout: float = 900.0, extra_env: dict[str, str] | None = None,
    workers: int = 2,
) -> RunResult:  # fmt: skip
    """Replay ``storms`` against ``servers`` fresh server processes (sharing one database) and collect.

    ``workers``: analysis worker threads per server (``RCA_WORKERS``, the service's default 2).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    graph = ServiceGraph()
    for st in storms:
        for node in st.graph.nodes:
            graph.add_service(node.name, kind=node.kind)
        for call in st.graph.calls:
            graph.add_call(call.caller, call.callee)
    frame = pd.concat([st.metrics for st in storms], ignore_index=True)
    metrics = sorted(set(frame["metric"]))
    catalog = workdir / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"version": 1, "metrics": {
        m: {"query": f'max by (service) (rca_storm{{metric="{m}", service=~"{{services}}"}})', "service_label": "service"}
        for m in metrics}}))  # fmt: skip
    receiver = _Receiver()
    prom = _Prometheus(workdir, frame)
    env = {
        "RCA_DATABASE_URL": database_url or f"sqlite:///{workdir / 'rca.db'}",
        "RCA_DATA_DIR": str(workdir / "data"),
        "RCA_AUTH_DISABLED": "true",
        "RCA_WORKERS": str(workers),
        "RCA_JOB_POLL_SECONDS": "0.2",
        "RCA_PROMETHEUS_URL": prom.url,
        "RCA_PROMETHEUS_STEP_SECONDS": str(int(step.total_seconds())),
        "RCA_PROMETHEUS_ATTEMPTS": "2",
        "RCA_ALERT_BASELINE": f"{(6 * 3600)}s",
        "RCA_ALERT_WINDOW": "15m",
        "RCA_METRICS_CATALOG": str(catalog),
        "RCA_ALERT_TOPOLOGY": "storm",
        "RCA_ALERTMANAGER_TOKENS": TOKEN,
        "RCA_SLACK_WEBHOOK_URL": f"{receiver.url}/slack-webhook",
        "RCA_NOTIFY_WEBHOOK_URL": f"{receiver.url}/hook",
        "RCA_NOTIFY_TARGETS": json.dumps({"alertmanager": ["slack", "webhook"]}),
        "RCA_INCIDENTS_ENABLED": "true" if incidents else "false",
        "RCA_INCIDENT_DEBOUNCE_SECONDS": "2",
        "RCA_INCIDENT_MAX_DELAY_SECONDS": "10",
        "RCA_OUTBOX_POLL_SECONDS": "0.2",
    }
    if incidents:
        env |= {"RCA_SLACK_BOT_TOKEN": "xoxb-storm", "RCA_SLACK_CHANNEL": "#storm", "RCA_SLACK_API_URL": f"{receiver.url}/slack-api"}
    env |= extra_env or {}
    procs: list[subprocess.Popen[bytes]] = []
    result = RunResult("incidents" if incidents else "per-alert")
    try:
        urls = []
        for k in range(servers):
            proc, url = _server(workdir, env, f"server-{k}")
            procs.append(proc)
            urls.append(url)
        api = httpx.Client(base_url=urls[0], timeout=60)
        r = api.put("/v1/topologies/storm", json=graph.to_dict())
        if r.status_code not in (200, 201):
            raise RuntimeError(f"PUT /v1/topologies/storm answered {r.status_code}: {r.text[:300]}")
        events = [(st, ev) for st in storms for ev in st.events]
        cpu0 = [_cpu_seconds(p.pid) for p in (*procs, prom.proc)]
        t0 = time.monotonic()
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as hooks:
            for n, (_, ev) in enumerate(events):
                if rate:
                    time.sleep(max(0.0, t0 + n / rate - time.monotonic()))
                answers = []
                for url in urls:  # every server gets every alert: the duplicates must count, not group twice
                    resp = hooks.post(f"{url}/v1/webhooks/alertmanager", json=_payload(ev))
                    if resp.status_code != 202:
                        raise RuntimeError(f"webhook answered {resp.status_code}: {resp.text[:300]}")
                    answers.append(resp.json()["alerts"][0])
                if ev.status == "firing":
                    aid = answers[0]["id"]
                    if any(a["id"] != aid for a in answers):
                        raise RuntimeError(f"two servers stored one alert twice: {answers}")
                    result.items.append((aid, ev.alert.truth, ev.alert.kind, ev.alert.service))
                    result.sent_at[aid] = time.time()
        result.replay_seconds = time.monotonic() - t0
        _settle(api, receiver, settle_timeout)
        result.settle_seconds = time.monotonic() - t0 - result.replay_seconds
        cpu1 = [_cpu_seconds(p.pid) for p in (*procs, prom.proc)]
        spent = [None if a is None or b is None else b - a for a, b in zip(cpu0, cpu1, strict=True)]
        if all(x is not None for x in spent[:-1]):
            result.server_cpu_seconds = round(sum(x for x in spent[:-1] if x is not None), 1)
        result.prometheus_cpu_seconds = None if spent[-1] is None else round(spent[-1], 1)
        stored = {a["id"]: a for a in _get_all(api, "/v1/alerts")}
        result.lost = sum(1 for aid, *_ in result.items if aid not in stored)
        for aid, *_ in result.items:
            if aid in stored:
                result.alerts[aid] = api.get(f"/v1/alerts/{aid}").json()
        if incidents:
            for inc in _get_all(api, "/v1/incidents"):
                detail = api.get(f"/v1/incidents/{inc['id']}").json()
                result.incidents[inc["id"]] = detail
                for a in detail["alert_list"]:
                    result.incident_of[a["id"]] = inc["id"]
        else:
            for aid, alert in result.alerts.items():
                if alert.get("analysis_id"):
                    result.alerts[aid]["analysis"] = api.get(f"/v1/analyses/{alert['analysis_id']}").json()
        result.received = list(receiver.got)
        api.close()
    finally:
        for proc in procs:
            _stop(proc)
        prom.close()
        receiver.close()
    return result


_INCIDENT_IN_TEXT = re.compile(r"Incident (\d+):")


def _message_incident(body: dict[str, Any]) -> int | None:
    text = json.dumps(body.get("blocks") or body.get("text") or "")
    m = _INCIDENT_IN_TEXT.search(text)
    return int(m.group(1)) if m else None


def _top(result: dict[str, Any] | None) -> str | None:
    causes = (result or {}).get("causes") or []
    return causes[0].get("service") if causes else None


def note_latency(run: RunResult, analysed: set[int], bound: float = 60.0) -> dict[str, Any]:
    """Per incident, from the answer to its last analysed alert's webhook to its last message (Slack post or update).

    ``analysed``: the alerts an analysis covers (on services of the topology, noise included).  An incident
    with no message after that alert counts as never noted (infinite).  Returns p50, p95 and max (seconds),
    the incidents measured and how many were noted later than ``bound`` seconds (or never).
    """
    last_msg: dict[int, float] = {}
    for t, p, b in run.received:
        if p.endswith(("/chat.postMessage", "/chat.update")):
            i = _message_incident(b)
            if i is not None:
                last_msg[i] = max(last_msg.get(i, 0.0), t)
    last_alert: dict[int, float] = {}
    for aid, inc in run.incident_of.items():
        if aid in analysed and aid in run.sent_at:
            last_alert[inc] = max(last_alert.get(inc, 0.0), run.sent_at[aid])
    lat = sorted(
        last_msg[i] - at if i in last_msg and last_msg[i] >= at else float("inf") for i, at in last_alert.items()
    )

    def pick(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None

    return {
        "note_latency_p50_seconds": pick(0.5),
        "note_latency_p95_seconds": pick(0.95),
        "note_latency_max_seconds": round(lat[-1], 1) if lat else None,
        "note_latency_incidents": len(lat),
        f"notes_later_than_{bound:g}s": sum(1 for x in lat if x > bound),
    }


def score_run(run: RunResult, storms: Sequence[Storm]) -> dict[str, Any]:
    """The benchmark's figures for one run (see docs/integrations/incidents.md)."""
    roots = {f: r for st in storms for f, r in st.roots.items()}
    truth = {aid: t for aid, t, _, _ in run.items}
    kind = {aid: k for aid, _, k, _ in run.items}
    faults = sorted(roots)
    by_fault: dict[str, list[int]] = defaultdict(list)
    for aid, t, _, _ in run.items:
        if t in roots:
            by_fault[t].append(aid)
    analysable = {aid for aid, k in kind.items() if k in ("path", "caller", "flap")}
    out: dict[str, Any] = {"mode": run.mode, "alerts": len(run.items), "faults": len(faults), "lost": run.lost,
                           "replay_seconds": round(run.replay_seconds, 1), "settle_seconds": round(run.settle_seconds, 1),
                           "server_cpu_seconds": run.server_cpu_seconds, "prometheus_cpu_seconds": run.prometheus_cpu_seconds}  # fmt: skip
    if run.mode == "incidents":
        pred = dict(run.incident_of)
        out["pairwise"] = pairwise_scores(truth, pred).to_dict()
        posts = Counter(_message_incident(b) for _, p, b in run.received if p.endswith("/chat.postMessage"))
        notes, analyses, top1 = [], [], []
        for f in faults:
            incs = {pred[a] for a in by_fault[f] if a in pred}
            notes.append(sum(posts.get(i, 0) for i in incs))
            analyses.append(sum(run.incidents[i]["analyses"] for i in incs))
            main = Counter(pred[a] for a in by_fault[f] if a in pred and a in analysable).most_common(1)
            res = (run.incidents[main[0][0]].get("analysis") or {}).get("result") if main else None
            top1.append(_top(res) == roots[f])
        out["notes_per_true_incident"] = sum(notes) / len(faults)
        out["notes_histogram"] = dict(Counter(notes))
        out["analyses_per_true_incident"] = sum(analyses) / len(faults)
        out["incident_top1"] = sum(top1) / len(faults)
        out["incidents"] = len(run.incidents)
        out["duplicate_messages"] = sum(1 for n in posts.values() if n > 1)
        # a message not of an incident (an alert written back on its own) would be a second note: must be 0
        out["messages_outside_incidents"] = posts.get(None, 0) + sum(1 for _, p, _ in run.received if p.endswith("/slack-webhook"))
        out |= note_latency(run, {aid for aid, k in kind.items() if k != "unknown"})
    else:
        out["pairwise"] = pairwise_scores(truth, {a: ("alone", a) for a in truth}).to_dict()
        delivered = Counter(
            aid for aid, a in run.alerts.items() for w in a.get("write_backs", []) if w["kind"] == "slack" and w["status"] == "delivered"
        )
        out["notes_per_true_incident"] = sum(delivered.get(a, 0) for f in faults for a in by_fault[f]) / len(faults)
        out["analyses_per_true_incident"] = sum(1 for f in faults for a in by_fault[f] if a in analysable) / len(faults)
        hits = {f: [_top((run.alerts[a].get("analysis") or {}).get("result")) == roots[f]
                    for a in by_fault[f] if a in analysable and a in run.alerts] for f in faults}  # fmt: skip
        flat = [h for f in faults for h in hits[f]]
        out["per_alert_top1"] = sum(flat) / len(flat) if flat else None
        # comparable with incident_top1 (one figure per fault): the share of a fault's alerts named right, averaged
        shares = [sum(h) / len(h) for h in hits.values() if h]
        out["per_alert_top1_by_fault"] = sum(shares) / len(shares) if shares else None
    return out
