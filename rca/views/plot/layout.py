"""Layered layout of the topology around a symptom (no matplotlib, no graphviz).

The symptom sits on the top row; every other service sits on the row of its
BFS depth along the call arrows (depth 1 = what the symptom calls directly).
Causes the symptom does not depend on (possible when ranking ignores the
topology) go on one extra row at the bottom.  Rows wider than ``max_per_row``
wrap onto staggered sub-rows so that 50 services stay readable.  The order
inside a row is chosen by a few barycenter sweeps, which removes most edge
crossings on call graphs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import networkx as nx

from rca.engine.errors import InvalidTopologyError
from topology import ServiceGraph

__all__ = ["TopologyLayout", "layer_layout"]


@dataclass(frozen=True)
class TopologyLayout:
    """Where each drawn service goes.

    Attributes
    ----------
    positions : mapping of str to (x, y)
        Drawing coordinates; ``y`` decreases with depth, rows are one unit apart.
    depth : mapping of str to int
        Call hops from the symptom; ``-1`` for services it does not depend on.
    hidden : tuple of str
        Services of the symptom's scope left out to respect ``max_nodes``.
    """

    positions: Mapping[str, tuple[float, float]]
    depth: Mapping[str, int]
    hidden: tuple[str, ...] = ()
    rows: int = 1
    width: int = 1
    edges: tuple[tuple[str, str], ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "positions": {k: list(v) for k, v in self.positions.items()},
            "depth": dict(self.depth),
            "hidden": list(self.hidden),
            "rows": self.rows,
            "width": self.width,
            "edges": [list(e) for e in self.edges],
        }


def layer_layout(
    graph: ServiceGraph,
    symptom: str,
    *,
    keep: Iterable[str] = (),
    scores: Mapping[str, float] | None = None,
    max_nodes: int = 50,
    max_per_row: int = 10,
) -> TopologyLayout:
    """Lay out ``symptom`` and its dependencies in rows by call depth.

    Parameters
    ----------
    graph : ServiceGraph
        Edges mean caller -> callee.
    symptom : str
        The service on the top row.
    keep : iterable of str
        Services that must be drawn whatever ``max_nodes`` says (top causes,
        their propagation paths).
    scores : mapping, optional
        Used to choose which extra services to keep when the scope has more
        than ``max_nodes`` (highest score first, then shallowest).
    max_nodes : int
        Upper bound on drawn services (``keep`` may exceed it).
    max_per_row : int
        Wider rows wrap onto staggered sub-rows.

    Examples
    --------
    >>> g = ServiceGraph(calls=[("web", "api"), ("api", "db"), ("web", "cache")])
    >>> lay = layer_layout(g, "web")
    >>> lay.depth["db"], lay.positions["web"][1] > lay.positions["db"][1]
    (2, True)
    """
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise InvalidTopologyError(f"max_nodes must be an int >= 1, got {max_nodes!r}", field="max_nodes")
    if symptom not in graph:
        raise InvalidTopologyError(
            f"the symptom service {symptom!r} is not in the graph; pass the graph the analysis used",
            field="graph",
        )
    g = graph.to_networkx()
    depth: dict[str, int] = dict(nx.single_source_shortest_path_length(g, symptom))
    scores = dict(scores or {})

    must: list[str] = [symptom]
    for name in keep:
        if name not in must:
            must.append(name)
    for name in must:
        if name not in depth:
            depth[name] = -1  # not a dependency of the symptom
            if name not in g:
                g.add_node(name)

    others = [n for n in depth if n not in must]
    others.sort(key=lambda n: (-_finite(scores.get(n, 0.0)), depth[n], n))
    room = max(0, max_nodes - len(must))
    shown = must + others[:room]
    hidden = tuple(sorted(others[room:]))
    shown_set = set(shown)

    levels = sorted({d for n, d in depth.items() if n in shown_set and d >= 0})
    if any(depth[n] < 0 for n in shown):
        levels.append(-1)
    rows_by_level: dict[int, list[str]] = {d: sorted(n for n in shown if depth[n] == d) for d in levels}

    # Barycenter sweeps: order each row by the mean position of its neighbours
    # in the row above (down-sweep) or below (up-sweep).
    edges = [(u, v) for u, v in g.edges if u in shown_set and v in shown_set and u != v]
    nbrs: dict[str, set[str]] = {n: set() for n in shown}
    for u, v in edges:
        nbrs[u].add(v)
        nbrs[v].add(u)
    for _ in range(4):
        for seq in (levels, list(reversed(levels))):
            for i in range(1, len(seq)):
                ref = {n: k for k, n in enumerate(rows_by_level[seq[i - 1]])}
                row = rows_by_level[seq[i]]
                cur = {n: k for k, n in enumerate(row)}

                def key(n: str, ref: dict[str, int] = ref, cur: dict[str, int] = cur) -> tuple[float, str]:
                    near = [ref[m] for m in nbrs[n] if m in ref]
                    # Scale to the row's own width so unconnected nodes keep their place.
                    return (sum(near) / len(near) if near else cur[n] * max(len(ref), 1) / max(len(cur), 1), n)

                rows_by_level[seq[i]] = sorted(row, key=key)

    positions: dict[str, tuple[float, float]] = {}
    y = 0.0
    width = 1
    n_rows = 0
    for d in levels:
        row = rows_by_level[d]
        chunks = max(1, math.ceil(len(row) / max_per_row))
        per = math.ceil(len(row) / chunks)
        width = max(width, per)
        for c in range(chunks):
            part = row[c * per : (c + 1) * per]
            # Stagger wrapped sub-rows by half a slot so labels do not stack.
            shift = 0.5 if (chunks > 1 and c % 2 == 1) else 0.0
            for k, n in enumerate(part):
                positions[n] = (k - (len(part) - 1) / 2 + shift, y)
            y -= 0.8 if c < chunks - 1 else 1.0
            n_rows += 1
    return TopologyLayout(
        positions=positions,
        depth={n: depth[n] for n in shown},
        hidden=hidden,
        rows=n_rows,
        width=width,
        edges=tuple(edges),
    )


def _finite(x: float | None) -> float:
    if x is None:
        return 0.0
    try:
        x = float(x)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0
