"""Helpers of the visual tests: real local servers on free ports (fixtures are in the test files)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

_API_LAUNCHER = textwrap.dedent(
    """
    import sys, uvicorn
    from rca.service.app import create_app
    from rca.service.routes import ROUTERS
    from rca.service.routes import report
    from rca.service.settings import Settings

    routers = list(ROUTERS)
    if report.router not in routers:  # until the route is in ROUTERS
        routers.append(report.router)
    settings = Settings(data_dir=sys.argv[2], auth_disabled=True, workers=int(sys.argv[3]))
    uvicorn.run(create_app(settings, routers=routers), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"server at {url} did not answer within {timeout}s: {log.read_text()[-2000:]}")


@contextmanager
def _serve(cmd: list[str], probe: str, base: str, log: Path, cwd: Path, timeout: float) -> Iterator[str]:
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=cwd, env=dict(os.environ))
    try:
        _wait_http(base + probe, proc, log, timeout)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def static_site(folder: Path, log: Path) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1 serving ``folder``; yields the base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)]
    with _serve(cmd, "/", f"http://127.0.0.1:{port}", log, folder, 30) as base:
        yield base


@contextmanager
def api_service(data_dir: Path, log: Path, *, workers: int = 1) -> Iterator[str]:
    """The FastAPI app with the report route under uvicorn on 127.0.0.1 (auth off); yields the base URL."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-c", _API_LAUNCHER, str(port), str(data_dir), str(workers)]
    with _serve(cmd, "/openapi.json", f"http://127.0.0.1:{port}", log, data_dir, 60) as base:
        yield base
