"""The fixed demo incident behind ``rca demo`` (private module).

A small web shop: ``frontend`` calls ``checkout``, ``catalog``, ``cart``...;
at 13:00 UTC ``payment`` becomes about 300 ms slower.  ``checkout`` waits for
``payment`` on every order, ``frontend`` waits for ``checkout`` on a third of
its requests, so both become slow; everything else stays normal, including
``payment``'s own dependency ``currency``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import yaml

from rca.engine.types import Incident
from rca.evaluation.datasets.base import BenchCase
from rca.evaluation.datasets.synthetic._generate import make_plans, to_long_frame
from rca.evaluation.datasets.synthetic._simulate import (
    Effects,
    draw_noise,
    draw_params,
    simulate,
)
from rca.evaluation.datasets.synthetic._topology import SynthTopology
from topology import NodeKind

# name, kind, own work (ms)
_SERVICES = [
    ("frontend", NodeKind.SERVICE, 12.0),
    ("auth", NodeKind.SERVICE, 5.0),
    ("catalog", NodeKind.SERVICE, 6.0),
    ("recommendation", NodeKind.SERVICE, 10.0),
    ("cart", NodeKind.SERVICE, 4.0),
    ("checkout", NodeKind.SERVICE, 15.0),
    ("payment", NodeKind.SERVICE, 20.0),
    ("shipping", NodeKind.SERVICE, 8.0),
    ("currency", NodeKind.SERVICE, 2.0),
    ("catalog-db", NodeKind.DATABASE, 3.0),
    ("cart-cache", NodeKind.DATABASE, 1.0),
    ("orders-db", NodeKind.DATABASE, 4.0),
]
# caller, callee, calls per request
_CALLS = [
    ("frontend", "auth", 1.0),
    ("frontend", "catalog", 0.8),
    ("frontend", "recommendation", 0.6),
    ("frontend", "cart", 0.5),
    ("frontend", "currency", 0.9),
    ("frontend", "checkout", 0.3),
    ("recommendation", "catalog", 1.0),
    ("catalog", "catalog-db", 0.7),
    ("cart", "cart-cache", 1.0),
    ("checkout", "cart", 1.0),
    ("checkout", "payment", 1.0),
    ("checkout", "shipping", 1.0),
    ("checkout", "currency", 0.5),
    ("checkout", "orders-db", 1.0),
    ("payment", "currency", 0.3),
    ("shipping", "orders-db", 0.5),
]
_ROOT, _SYMPTOM, _DELAY_MS = "payment", "frontend", 300.0
_START = pd.Timestamp("2024-05-01T12:00:00Z")
_STEPS, _FAULT_STEP, _STEP = 90, 60, pd.Timedelta("1min")
_SEED = 20240501
_DECIMALS = {"latency": 2, "error_rate": 5, "requests": 2, "cpu": 4, "memory": 1}


def demo_case() -> BenchCase:
    """The demo incident: ``payment`` slows down, ``frontend`` latency shows it.

    Twelve services with readable names, 90 one-minute steps from
    2024-05-01 12:00 UTC; at 13:00 ``payment``'s own work gets 300 ms
    slower.  The fault reaches ``frontend`` through ``checkout``; ``currency``
    (called by ``payment``) and the rest of the shop stay normal.
    Deterministic: the same frame on every call and every machine.

    Returns
    -------
    BenchCase
        ``case_id="demo"``, ``root_causes=("payment",)``, incident
        ``frontend`` / ``latency`` from 13:00 UTC.

    Examples
    --------
    >>> case = demo_case()
    >>> case.incident.service, case.incident.metric, case.incident.start.isoformat()
    ('frontend', 'latency', '2024-05-01T13:00:00+00:00')
    >>> case.root_causes
    ('payment',)
    >>> case.graph.propagation_path("payment", "frontend")
    ['payment', 'checkout', 'frontend']
    """
    names = tuple(s[0] for s in _SERVICES)
    idx = {name: i for i, name in enumerate(names)}
    g = nx.DiGraph()
    g.add_nodes_from(range(len(names)))
    for caller, callee, w in _CALLS:
        g.add_edge(idx[caller], idx[callee], weight=w, err=0.8 * min(w, 1.0), lag=0)
    topo = SynthTopology(g, names, tuple(s[1] for s in _SERVICES), (idx[_SYMPTOM],))
    plans = make_plans(topo)
    ss_params, ss_noise, ss_frame = np.random.SeedSequence(_SEED).spawn(3)
    params = draw_params(topo, np.random.default_rng(ss_params), 1.0)
    entry = np.zeros(len(names))
    entry[idx[_SYMPTOM]] = 120.0
    params = dataclasses.replace(
        params, own_latency=np.array([s[2] for s in _SERVICES]), entry_traffic=entry
    )
    noise = draw_noise(len(names), _STEPS, np.random.default_rng(ss_noise), 1.0)
    effects = Effects(len(names), _STEPS)
    effects.lat_add[idx[_ROOT], _FAULT_STEP:] = _DELAY_MS
    values = simulate(plans, params, noise, effects, season=np.ones(_STEPS), step_seconds=_STEP.total_seconds())
    values = {m: np.round(v, _DECIMALS[m]) for m, v in values.items()}
    timestamps = pd.date_range(_START, periods=_STEPS, freq=_STEP)
    frame = to_long_frame(names, values, timestamps, missing=0.0, rng=np.random.default_rng(ss_frame))
    return BenchCase(
        case_id="demo",
        dataset="synthetic",
        group="demo",
        graph=topo.to_service_graph(),
        metrics=frame,
        incident=Incident(_SYMPTOM, "latency", timestamps[_FAULT_STEP]),
        root_causes=(_ROOT,),
        fault_type="latency_step",
        meta={
            "description": "payment gets 300 ms slower at 13:00 UTC",
            "seed": _SEED,
            "steps": _STEPS,
            "step": "1min",
            "baseline_steps": _FAULT_STEP,
            "roots": {_ROOT: {"latency_ms": _DELAY_MS}},
        },
    )


def write_demo_files(directory: str | Path) -> dict[str, Path]:
    """Write the demo's ``topology.yaml`` and ``metrics.csv`` into ``directory``.

    The directory is created if needed; existing files are overwritten.
    ``metrics.csv`` is the long format ``timestamp,service,metric,value``
    with ISO 8601 UTC timestamps.

    Returns
    -------
    dict
        ``{"topology": path, "metrics": path}``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sorted(p.name for p in write_demo_files(d).values())
    ['metrics.csv', 'topology.yaml']
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    case = demo_case()
    topo_path = out / "topology.yaml"
    topo_path.write_text(yaml.safe_dump(case.graph.to_dict(), sort_keys=False), encoding="utf-8")
    frame = case.metrics.assign(timestamp=case.metrics["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    metrics_path = out / "metrics.csv"
    frame.to_csv(metrics_path, index=False, lineterminator="\n")
    return {"topology": topo_path, "metrics": metrics_path}
