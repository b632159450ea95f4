"""Helpers of the API tests (servers, keys, inputs, polling); fixtures are in conftest.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from rca.service.security import create_api_key
from rca.store.migrate import upgrade_database
from rca.store.session import Database


# -- servers --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A ``uvicorn`` subprocess serving the app on 127.0.0.1."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> Server:
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory", "rca.service.app:create_app_from_env",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not become ready in {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def launch(tmp_dir: Path, database_url: str, n: int = 0, **settings: Any) -> Server:
    """Start a server on ``database_url`` with ``RCA_*`` settings given as keywords."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCA_")}
    env.update(
        RCA_DATABASE_URL=database_url,
        RCA_DATA_DIR=str(tmp_dir / "data"),
        RCA_JOB_POLL_SECONDS="0.2",
    )
    env.update({f"RCA_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()})
    return Server(env=env, log=tmp_dir / f"server-{n}-{uuid.uuid4().hex[:6]}.log").start()


def make_key(database_url: str, *scopes: str) -> str:
    db = Database(database_url)
    upgrade_database(db)
    token = create_api_key(db, scopes=scopes or ("read", "write"), name="test")
    db.dispose()
    return token


# -- inputs ---------------------------------------------------------------------
TOPOLOGY = {
    "services": [{"name": "frontend"}, {"name": "checkout"}, {"name": "db", "kind": "database"}],
    "calls": [{"caller": "frontend", "callee": "checkout"}, {"caller": "checkout", "callee": "db"}],
}
INCIDENT = {"service": "frontend", "metric": "latency", "start": "2024-05-01T11:45:00+00:00"}


def make_metrics(points: int = 120, *, root: str = "db", seed: int = 0) -> list[dict[str, Any]]:
    """Latency of a three-service chain; ``root`` and everything calling it degrade at 11:45."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-05-01T11:00Z", periods=points, freq="30s")
    bad = np.asarray(ts >= pd.Timestamp("2024-05-01T11:45Z"), dtype=float)
    affected = {"db": {"db", "checkout", "frontend"}, "checkout": {"checkout", "frontend"}}[root]
    rows = []
    for svc, base in (("frontend", 100.0), ("checkout", 50.0), ("db", 10.0)):
        values = base + rng.normal(0, 1, points) + (40 * bad if svc in affected else 0)
        rows += [
            {"timestamp": t.isoformat(), "service": svc, "metric": "latency", "value": round(float(v), 6)}
            for t, v in zip(ts, values, strict=True)
        ]
    return rows


def analysis_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"incident": dict(INCIDENT), "topology": {"inline": TOPOLOGY}, "metrics": make_metrics()}
    body.update(overrides)
    return body


def wait_status(client: httpx.Client, analysis_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
    """Poll until the analysis reaches one of ``statuses`` (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = client.get(f"/v1/analyses/{analysis_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"analysis {analysis_id} stayed {body.get('status')!r}, wanted {statuses}")
