"""Load test of ``POST /v1/analyses`` with the bundled example: N concurrent clients.

Usage (a server running, e.g. ``rca serve --port 8080``)::

    python scripts/load_analyses.py --url http://127.0.0.1:8080 --key "$KEY" --clients 20 --requests 200

Each client posts the demo analysis (incident ``frontend``/``latency`` at 13:00,
topology ``demo`` by name, ``rca/data/demo/metrics.csv`` as a multipart
upload) and waits for the result (201), then posts the next one.  Prints the
latency percentiles of the whole request (upload, queue, analysis, answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
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


async def _client(client: httpx.AsyncClient, jobs: asyncio.Queue[int], metrics: bytes, out: list[tuple[int, float]]) -> None:
    while True:
        try:
            jobs.get_nowait()
        except asyncio.QueueEmpty:
            return
        files = {
            "request": (None, json.dumps(REQUEST), "application/json"),
            "metrics": ("metrics.csv", metrics, "text/csv"),
        }
        t0 = time.perf_counter()
        r = await client.post("/v1/analyses", files=files)
        out.append((r.status_code, time.perf_counter() - t0))


async def run(url: str, key: str | None, clients: int, requests: int, warmup: int) -> dict[str, float | int | dict[str, int]]:
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
            await _client(client, _queue(1), metrics, [])
        jobs = _queue(requests)
        results: list[tuple[int, float]] = []
        t0 = time.perf_counter()
        await asyncio.gather(*(_client(client, jobs, metrics, results) for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = [s for _, s in results]
    return {
        "clients": clients,
        "requests": len(results),
        "status": dict(Counter(str(c) for c, _ in results)),
        "p50_s": round(_percentile(lat, 0.50), 3),
        "p95_s": round(_percentile(lat, 0.95), 3),
        "mean_s": round(statistics.fmean(lat), 3),
        "max_s": round(max(lat), 3),
        "throughput_per_s": round(len(results) / wall, 2),
    }


def _queue(n: int) -> asyncio.Queue[int]:
    q: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        q.put_nowait(i)
    return q


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--key", default=None, help="API key with read and write scopes (omit if RCA_AUTH_DISABLED=true)")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.key, args.clients, args.requests, args.warmup)), indent=2))


if __name__ == "__main__":
    main()
