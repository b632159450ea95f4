"""Load test of ``POST /v1/analyses`` with the bundled example: N concurrent clients.

Usage (a server running, e.g. ``rca serve --port 8080``)::

    python scripts/load_analyses.py --url http://127.0.0.1:8080 --key "$KEY" --clients 20 --requests 200
    python scripts/load_analyses.py --url http://127.0.0.1:8080 --key "$KEY" --clients 20 --duration 60

Each client posts the demo analysis (incident ``frontend``/``latency`` at 13:00,
topology ``demo`` by name, ``rca/data/demo/metrics.csv`` as a multipart
upload) and waits for the result (201), then posts the next one, until
``--requests`` were sent or ``--duration`` seconds have passed.  Prints the
latency percentiles of the whole request (upload, queue, analysis, answer) and
the errors: every answer other than 201 with a succeeded analysis, and every
request that got no answer.  ``tests/service/test_api_load.py`` runs it
against a real server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "rca" / "data" / "demo"
REQUEST = {
    "incident": {"service": "frontend", "metric": "latency", "start": "2024-05-01T13:00:00Z"},
    "topology": {"name": "demo"},
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def _client(client: httpx.AsyncClient, more: Callable[[], bool], metrics: bytes, out: list[tuple[str, float]]) -> None:
    while more():
        files = {
            "request": (None, json.dumps(REQUEST), "application/json"),
            "metrics": ("metrics.csv", metrics, "text/csv"),
        }
        t0 = time.perf_counter()
        try:
            r = await client.post("/v1/analyses", files=files)
            ok = r.status_code == 201 and r.json().get("status") == "succeeded"
            outcome = "201" if ok else f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:  # no answer at all: an error too
            outcome = f"{type(exc).__name__}: {exc}"
        out.append((outcome, time.perf_counter() - t0))


def _counter(n: int) -> Callable[[], bool]:
    """True ``n`` times in all, whichever client asks."""
    left = [n]

    def more() -> bool:
        left[0] -= 1
        return left[0] >= 0

    return more


def _until(deadline: float) -> Callable[[], bool]:
    return lambda: time.perf_counter() < deadline


async def run(url: str, key: str | None, clients: int, requests: int = 200, warmup: int = 2,
              duration: float | None = None) -> dict[str, object]:  # fmt: skip
    """Post from ``clients`` concurrent clients: ``requests`` in all, or for ``duration`` seconds when given."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    metrics = (DEMO / "metrics.csv").read_bytes()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600, limits=limits) as client:
        r = await client.put(
            "/v1/topologies/demo",
            content=(DEMO / "topology.yaml").read_bytes(),
            headers={"Content-Type": "application/yaml"},
        )
        r.raise_for_status()
        for _ in range(warmup):
            await _client(client, _counter(1), metrics, [])
        results: list[tuple[str, float]] = []
        t0 = time.perf_counter()
        more = _counter(requests) if duration is None else _until(t0 + duration)
        await asyncio.gather(*(_client(client, more, metrics, results) for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = [s for _, s in results]
    status = Counter(c.split(" ", 1)[0].split(":", 1)[0] for c, _ in results)
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(results),
        "status": dict(status),
        "errors": sum(n for c, n in status.items() if c != "201"),
        "first_errors": [c for c, _ in results if c != "201"][:3],
        "p50_s": round(_percentile(lat, 0.50), 3),
        "p95_s": round(_percentile(lat, 0.95), 3),
        "mean_s": round(statistics.fmean(lat), 3),
        "max_s": round(max(lat), 3),
        "throughput_per_s": round(len(results) / wall, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--key", default=None, help="API key with read and write scopes (omit if RCA_AUTH_DISABLED=true)")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--duration", type=float, default=None, help="post for this many seconds instead of --requests")
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()
    out = asyncio.run(run(args.url, args.key, args.clients, args.requests, args.warmup, args.duration))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
