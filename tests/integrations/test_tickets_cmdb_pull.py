"""``rca topology pull servicenow`` against a local stand-in of the Table API that pages like the real one.

The stand-in answers ``GET /api/now/table/cmdb_rel_ci`` as the Table API documents it
(https://developer.servicenow.com/dev.do#!/reference/api/latest/rest/c_TableAPI): ``sysparm_limit`` /
``sysparm_offset`` paging, ``sysparm_query`` filtering (only ``type.nameIN...`` is understood
here), ``sysparm_display_value=true`` giving names, Basic auth, 401 otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import topology

AUTH = "Basic " + base64.b64encode(b"cmdb.reader:pw").decode()
RELS = [
    ("frontend", "Depends on::Used by", "checkout"),
    ("checkout", "Depends on::Used by", "payment"),
    ("checkout", "Sends data to::Receives data from", "cart"),
    ("redis", "Receives data from::Sends data to", "cart"),
    ("payment", "Runs on::Runs", "lnx-pay-01"),
    ("Shop", "Contains::Contained by", "frontend"),
]


@pytest.fixture(scope="module")
def instance() -> Iterator[tuple[str, list[dict]]]:
    seen: list[dict] = []
    records = [{"sys_id": f"{i:032x}", "parent": p, "type": t, "child": c} for i, (p, t, c) in enumerate(RELS)]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            seen.append({"path": url.path, "query": q, "auth": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != AUTH:
                status, doc = 401, {"error": {"message": "User Not Authenticated"}, "status": "failure"}
            elif url.path != "/api/now/table/cmdb_rel_ci" or q.get("sysparm_display_value") != "true":
                status, doc = 400, {"error": {"message": "unexpected request"}}
            else:
                types = q["sysparm_query"].split("type.nameIN", 1)[1].split("^")[0].split(",")
                hits = [r for r in records if r["type"] in types]
                off, lim = int(q.get("sysparm_offset", 0)), int(q.get("sysparm_limit", 10000))
                status, doc = 200, {"result": hits[off:off + lim]}
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _rca(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RCA_")}
    return subprocess.run([sys.executable, "-c", "from rca.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=60, check=False, env={**clean, **(env or {})})  # fmt: skip


def test_pull_pages_through_the_call_relationships(instance: tuple[str, list[dict]], tmp_path: Path) -> None:
    url, seen = instance
    seen.clear()
    out = tmp_path / "topology.yaml"
    proc = _rca("topology", "pull", "servicenow", "--instance", url, "--out", str(out), "--page-size", "2",
                env={"RCA_SERVICENOW_USER": "cmdb.reader", "RCA_SERVICENOW_PASSWORD": "pw"})
    assert proc.returncode == 0, proc.stderr
    assert "4 calls" in proc.stderr
    g = topology.load(out)
    assert {(c.caller, c.callee) for c in g.calls} == {("frontend", "checkout"), ("checkout", "payment"),
                                                       ("checkout", "cart"), ("cart", "redis")}
    # four matching records in pages of two: offsets 0, 2, 4 (the short page ends it)
    assert [s["query"]["sysparm_offset"] for s in seen] == ["0", "2", "4"]
    assert "Runs on::Runs" not in seen[0]["query"]["sysparm_query"]


def test_pull_with_an_extra_type_and_bad_credentials(instance: tuple[str, list[dict]]) -> None:
    url, _ = instance
    proc = _rca("topology", "pull", "servicenow", "--instance", url, "--user", "cmdb.reader", "--password", "pw",
                "--type", "Runs on::Runs=parent")
    assert proc.returncode == 0, proc.stderr
    assert "lnx-pay-01" in proc.stdout
    proc = _rca("topology", "pull", "servicenow", "--instance", url, "--user", "cmdb.reader", "--password", "nope")
    assert proc.returncode == 1 and "answered 401" in proc.stderr and "Traceback" not in proc.stderr
    proc = _rca("topology", "pull", "servicenow", "--instance", url, "--user", "a", "--password", "b", "--type", "Runs on")
    assert proc.returncode == 2 and "must be '<relationship type>=parent|child|skip'" in proc.stderr
