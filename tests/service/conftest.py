"""Fixtures of the API tests: real uvicorn servers on free ports, SQLite and PostgreSQL databases.

PostgreSQL comes from ``RCA_TEST_POSTGRES_URL`` (or the local server on
127.0.0.1:5432 when it answers); each test gets its own schema.  Tests that
need it are skipped, with the reason, only when neither is available.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import Server, launch, make_key
from real_parts import missing_part

from rca.store.migrate import upgrade_database
from rca.store.session import Database

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
        missing_part(PG_SKIP)
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


