"""Test support for the alerting tests: a synthetic incident, OpenMetrics, a real Prometheus.

The Prometheus server is Debian's ``prometheus`` binary started on a free
127.0.0.1 port with its TSDB in a temporary directory, loaded with
``promtool tsdb create-blocks-from openmetrics``.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from topology import ServiceGraph

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
HAVE_PROMETHEUS = bool(PROMETHEUS and PROMTOOL)
SKIP_REASON = "needs the prometheus and promtool binaries (apt-get install prometheus; .ci/run installs it)"

STEP = 15  # seconds between samples
CALLS = [("frontend", "checkout"), ("checkout", "payments"), ("checkout", "cart"), ("cart", "redis")]
ROOT = "redis"


@dataclass(frozen=True)
class SyntheticIncident:
    graph: ServiceGraph
    frame: pd.DataFrame  # long: timestamp, service, metric, value (metric = engine name)
    start: pd.Timestamp  # incident start
    end: pd.Timestamp
    baseline: pd.Timedelta
    root: str
    symptom: str = "frontend"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_incident(
    *, end: pd.Timestamp | None = None, baseline_min: int = 60, incident_min: int = 15, seed: int = 7
) -> SyntheticIncident:
    """Redis slows down; cart, checkout and frontend follow a step later each."""
    rng = np.random.default_rng(seed)
    if end is None:
        # Recent-ish, on the step grid, and clear of the head block's time range.
        end = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=1)
    n_base, n_inc = baseline_min * 60 // STEP, incident_min * 60 // STEP
    n = n_base + n_inc
    t0 = end - pd.Timedelta(seconds=STEP * (n - 1))
    ts = pd.date_range(t0, periods=n, freq=f"{STEP}s", tz="UTC")
    start = ts[n_base]
    graph = ServiceGraph(calls=CALLS)
    base = {"frontend": 0.30, "checkout": 0.20, "payments": 0.08, "cart": 0.06, "redis": 0.004}
    lag = {"redis": 0, "cart": 1, "checkout": 2, "frontend": 3}
    rows = []
    for svc in graph.services:
        lat = base[svc] * (1 + 0.05 * rng.standard_normal(n))
        err = np.abs(0.002 + 0.001 * rng.standard_normal(n))
        if svc in lag:
            onset = n_base + lag[svc]
            lat[onset:] += 1.5 * (1 + 0.05 * rng.standard_normal(n - onset))
            err[onset:] += 0.05
        for metric, vals in (("latency", lat), ("error_rate", err)):
            rows.append(pd.DataFrame({"timestamp": ts, "service": svc, "metric": metric, "value": np.round(vals, 6)}))
    frame = pd.concat(rows, ignore_index=True)
    return SyntheticIncident(graph, frame, start, end, pd.Timedelta(minutes=baseline_min), ROOT)


# engine metric -> (Prometheus metric name, test catalog entry)
PROM_NAMES = {"latency": "demo_latency_seconds", "error_rate": "demo_error_ratio"}


def catalog_doc() -> dict:
    return {
        "version": 1,
        "metrics": {
            m: {"query": f'max by (service) ({p}{{service=~"{{services}}"}})', "service_label": "service"}
            for m, p in PROM_NAMES.items()
        },
    }


def _istio_lines(inc: SyntheticIncident) -> list[str]:
    ts = sorted(set(inc.frame["timestamp"]))
    out = ["# TYPE istio_requests counter"]
    for k, call in enumerate(inc.graph.calls):
        rate = 10.0 * (k + 1)
        for reporter in ("destination", "source"):
            labels = (
                f'destination_service_name="{call.callee}",reporter="{reporter}",'
                f'response_code="200",source_workload="{call.caller}"'
            )
            for i, t in enumerate(ts):
                out.append(f"istio_requests_total{{{labels}}} {rate * STEP * i!r} {t.value // 10**9}")
    # ingress traffic from a caller Istio cannot name
    for i, t in enumerate(ts):
        out.append(
            'istio_requests_total{destination_service_name="frontend",reporter="destination",'
            f'response_code="200",source_workload="unknown"}} {5.0 * STEP * i!r} {t.value // 10**9}'
        )
    return out


def _servicegraph_lines(inc: SyntheticIncident) -> list[str]:
    ts = sorted(set(inc.frame["timestamp"]))
    out = ["# TYPE traces_service_graph_request counter"]
    for call in inc.graph.calls:
        for i, t in enumerate(ts):
            out.append(
                f'traces_service_graph_request_total{{client="{call.caller}",server="{call.callee}"}} '
                f"{2.0 * STEP * i!r} {t.value // 10**9}"
            )
    return out


# -- the bundled demo incident (rca/data/demo): payment slows down at 13:00, frontend's latency alert fires
DEMO_DIR = Path(__file__).resolve().parents[2] / "rca" / "data" / "demo"
DEMO_START = pd.Timestamp("2024-05-01T13:00:00Z")
DEMO_ROOT = "payment"
DEMO_STEP = 60


def demo_frame() -> pd.DataFrame:
    df = pd.read_csv(DEMO_DIR / "metrics.csv", dtype={"service": str, "metric": str})
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df


def demo_topology_yaml() -> bytes:
    return (DEMO_DIR / "topology.yaml").read_bytes()


def demo_catalog_doc() -> dict:
    metrics = sorted(demo_frame()["metric"].unique())
    return {
        "version": 1,
        "metrics": {
            m: {"query": f'max by (service) (rca_demo_{m}{{service=~"{{services}}"}})', "service_label": "service"}
            for m in metrics
        },
    }


def _demo_lines() -> list[str]:
    df = demo_frame()
    out: list[str] = []
    for metric, sub in df.groupby("metric", sort=True):
        out.append(f"# TYPE rca_demo_{metric} gauge")
        for svc, g in sub.groupby("service", sort=True):
            for t, v in zip(g["timestamp"], g["value"], strict=True):
                out.append(f'rca_demo_{metric}{{service="{svc}"}} {float(v)!r} {t.value // 10**9}')
    return out


def openmetrics_text(inc: SyntheticIncident) -> str:
    lines: list[str] = []
    for metric, pname in PROM_NAMES.items():
        lines.append(f"# TYPE {pname} gauge")
        sub = inc.frame[inc.frame["metric"] == metric]
        for svc, g in sub.groupby("service", sort=True):
            for t, v in zip(g["timestamp"], g["value"], strict=True):
                lines.append(f'{pname}{{service="{svc}"}} {float(v)!r} {t.value // 10**9}')
    lines += _istio_lines(inc)
    lines += _servicegraph_lines(inc)
    lines += _demo_lines()
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


class PrometheusServer:
    """A real Prometheus on 127.0.0.1: with the given OpenMetrics loaded, or scraping what ``config`` says.

    ``config`` is the ``prometheus.yml`` text (scrape configs, rule files,
    Alertmanagers); ``files`` are written beside it (e.g. ``rules.yml``).
    """

    def __init__(self, workdir: Path, openmetrics: str | None, *, config: str | None = None,
                 files: dict[str, str] | None = None) -> None:  # fmt: skip
        self.workdir = Path(workdir)
        self.data = self.workdir / "tsdb"
        self.data.mkdir(parents=True, exist_ok=True)
        if openmetrics is not None:
            src = self.workdir / "incident.om"
            src.write_text(openmetrics)
            subprocess.run(
                [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(src), str(self.data)],
                check=True,
                capture_output=True,
                timeout=120,
            )
        for name, text in (files or {}).items():
            (self.workdir / name).write_text(text)
        cfg = self.workdir / "prometheus.yml"
        cfg.write_text(config or "global:\n  scrape_interval: 1h\nscrape_configs: []\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus did not become ready in 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self.log.close()


# -- live parts: an exporter in the test process, a real Alertmanager ------------------------
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
ALERTMANAGER_SKIP = "needs Debian's prometheus-alertmanager binary (apt-get install prometheus-alertmanager; .ci/run installs it)"
BASE_LATENCY = {"frontend": 0.30, "checkout": 0.20, "payments": 0.08, "cart": 0.06, "redis": 0.004}


class Exporter:
    """The shop's services as one scrape target on 127.0.0.1, in Prometheus text format, values changed live.

    Each scrape serves ``demo_latency_seconds`` and ``demo_error_ratio`` per
    service (the names :func:`catalog_doc` queries) with a little seeded
    noise.  :meth:`inject` slows one service down; every service that depends
    on it is slowed down too, ``hop_seconds`` later per call hop (0: at once,
    as a slow dependency makes its synchronous callers slow).
    """

    def __init__(self, graph: ServiceGraph, *, seed: int = 11, hop_seconds: float = 0.0) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.graph, self.hop_seconds = graph, hop_seconds
        self.rng = np.random.default_rng(seed)
        self.faults: dict[str, tuple[float, float]] = {}  # service -> (unix start, added latency)
        self.scrapes = 0
        self.lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="exporter", daemon=True)
        self.thread.start()
        self.target = f"127.0.0.1:{self.port}"

    def inject(self, service: str, added_latency: float = 1.5) -> float:
        """Slow ``service`` down from now on; the unix time of the fault."""
        t = time.time()
        with self.lock:
            self.faults[service] = (t, added_latency)
        return t

    def _hops(self, caller: str, callee: str) -> int | None:
        import networkx as nx

        try:
            return int(nx.shortest_path_length(self.graph.to_networkx(), caller, callee))
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None

    def render(self) -> str:
        now = time.time()
        lines = ["# TYPE demo_latency_seconds gauge", "# TYPE demo_error_ratio gauge"]
        with self.lock:
            self.scrapes += 1
            for svc in sorted(self.graph.services):
                lat = BASE_LATENCY.get(svc, 0.1) * (1 + 0.05 * self.rng.standard_normal())
                err = abs(0.002 + 0.001 * self.rng.standard_normal())
                for root, (t0, added) in self.faults.items():
                    hops = self._hops(svc, root)
                    if hops is not None and now >= t0 + hops * self.hop_seconds:
                        lat += added * (1 + 0.05 * self.rng.standard_normal())
                        err += 0.05
                lines.append(f'demo_latency_seconds{{service="{svc}"}} {lat:.6f}')
                lines.append(f'demo_error_ratio{{service="{svc}"}} {err:.6f}')
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AlertmanagerServer:
    """Debian's ``prometheus-alertmanager`` on 127.0.0.1 (no cluster port), with the given ``alertmanager.yml``."""

    def __init__(self, workdir: Path, config: str, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        (self.workdir / "am-data").mkdir(parents=True, exist_ok=True)
        (self.workdir / "alertmanager.yml").write_text(config)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.workdir / "alertmanager.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={self.workdir / 'alertmanager.yml'}",
             f"--storage.path={self.workdir / 'am-data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", "--log.level=warn"],
            stdout=self.log, stderr=self.log,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alertmanager exited: {(self.workdir / 'alertmanager.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("alertmanager did not become ready in 30 s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def nearly(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


# -- processes of the end-to-end tests ------------------------------------------------
RECEIVER = Path(__file__).with_name("alerts_receiver.py")


class Receiver:
    """``alerts_receiver.py`` in its own process: PagerDuty REST API and Slack webhook stand-in."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = Path(workdir) / "received.jsonl"
        self.logfile.touch()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        import sys

        self.proc = subprocess.Popen([sys.executable, str(RECEIVER), str(self.port), str(self.logfile)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url, timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the receiver did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def received(self, path_prefix: str = "") -> list[dict]:
        import json

        lines = self.logfile.read_text().splitlines()
        return [e for e in (json.loads(x) for x in lines if x.strip()) if e["path"].startswith(path_prefix)]

    def wait_for(self, path_prefix: str, n: int = 1, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path_prefix)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"fewer than {n} request(s) to {path_prefix} within {timeout:g}s: {self.received()}")


class RcaServer:
    """The RCA service as a real uvicorn process on 127.0.0.1."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        import os

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(workdir) / f"rca-server-{self.port}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RCA_")} | env
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        import sys

        cmd = [sys.executable, "-m", "uvicorn", "--factory", "rca.service.app:create_app_from_env",
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]  # fmt: skip
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the RCA server exited:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the RCA server did not become ready:\n{self.log.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


# -- PostgreSQL (RCA_TEST_POSTGRES_URL, or the local server on 127.0.0.1:5432) ------------
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/rca_test"
PG_SKIP = "PostgreSQL unavailable: RCA_TEST_POSTGRES_URL is unset and nothing answers on 127.0.0.1:5432"


def postgres_url() -> str | None:
    import os

    from rca.store.session import Database

    url = os.environ.get("RCA_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
        db = Database(PG_DEFAULT)
        db.ping()
        db.dispose()
    except Exception:
        return None
    return PG_DEFAULT


def pg_schema_url() -> Iterator[str]:
    """A fresh schema of the test PostgreSQL, dropped afterwards (a generator: ``next`` it, ``close`` it).

    Skips on a developer's machine without PostgreSQL, fails where real parts are required.
    """
    import uuid

    from real_parts import missing_part
    from sqlalchemy import text

    from rca.store.session import Database

    base = postgres_url()
    if base is None:
        missing_part(PG_SKIP)
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
