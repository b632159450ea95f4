"""Fixtures of the API tests: real uvicorn servers on free ports, SQLite and PostgreSQL databases.

PostgreSQL comes from ``RCA_TEST_POSTGRES_URL`` (or the local server on
127.0.0.1:5432 when it answers); each test gets its own schema.  Tests that
need it are skipped, with the reason, only when neither is available.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from rca.api.db.migrate import upgrade_database
from rca.api.db.session import Database
from rca.api.security import create_api_key

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/rca_test"


# -- databases -----------------------------------------------------------------
def _postgres_base_url() -> str | None:
    url = os.environ.get("RCA_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
    except OSError:
        return None
    try:
        db = Database(DEFAULT_PG)
        db.ping()
        db.dispose()
    except Exception:
        return None
    return DEFAULT_PG


_PG = _postgres_base_url()
PG_SKIP = "PostgreSQL unavailable: RCA_TEST_POSTGRES_URL is unset and nothing answers on 127.0.0.1:5432"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if _PG is None:
        pytest.skip(PG_SKIP)
    from sqlalchemy import text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(_PG)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in _PG else "?"
    try:
        yield f"{_PG}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rca.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Both backends: storage tests run once on each."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    upgrade_database(db)
    yield db
    db.dispose()


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
            sys.executable, "-m", "uvicorn", "--factory", "rca.api.app:create_app_from_env",
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


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``start_server(database_url, **settings)`` -> a running :class:`Server` (stopped at teardown)."""
    servers: list[Server] = []

    def start(database_url: str, **settings: Any) -> Server:
        server = launch(tmp_path, database_url, len(servers), **settings)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


def make_key(database_url: str, *scopes: str) -> str:
    db = Database(database_url)
    upgrade_database(db)
    token = create_api_key(db, scopes=scopes or ("read", "write"), name="test")
    db.dispose()
    return token


@dataclass
class Shared:
    """One server for the whole session, with keys of each scope."""

    server: Server
    database_url: str
    keys: dict[str, str]

    def client(self, scope: str = "rw") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[scope]}"} if scope in self.keys else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=60)


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    tmp = tmp_path_factory.mktemp("shared")
    url = f"sqlite:///{tmp / 'rca.db'}"
    keys = {"rw": make_key(url, "read", "write"), "read": make_key(url, "read"), "write": make_key(url, "write")}
    server = launch(tmp, url, max_body_bytes=1_000_000, max_metric_points=5_000, sync_max_points=1_000)
    yield Shared(server, url, keys)
    server.stop()


@pytest.fixture
def api(shared: Shared) -> Iterator[httpx.Client]:
    """A read+write client of the module's shared server."""
    with shared.client("rw") as client:
        yield client


