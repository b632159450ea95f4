"""Imported by the analysis forkserver only: one tiny analysis, so that the engine's lazily
imported modules are loaded once there and every forked analysis starts warm."""

from __future__ import annotations


def _warm() -> None:
    import numpy as np
    import pandas as pd

    from rca.service.execution import Payload, execute_analysis
    from rca.store.documents import canonicalise_metrics

    ts = pd.date_range("2024-01-01", periods=60, freq="1min", tz="UTC")
    rng = np.random.default_rng(0)
    rows = [
        {"timestamp": t.isoformat(), "service": s, "metric": "latency", "value": float(v)}
        for s in ("a", "b")
        for t, v in zip(ts, 10 + rng.normal(0, 1, 60) + (np.arange(60) >= 45) * 20, strict=True)
    ]
    topology = {"services": [{"name": "a"}, {"name": "b"}], "calls": [{"caller": "a", "callee": "b"}]}
    incident = {"service": "a", "metric": "latency", "start": ts[45].isoformat()}
    blob = canonicalise_metrics(pd.DataFrame(rows)).csv_gz
    execute_analysis(Payload(incident=incident, config={}, topology=topology, metrics_csv_gz=blob))


try:
    _warm()
except Exception:  # noqa: BLE001 - warming is an optimisation; the real run reports any problem
    pass
