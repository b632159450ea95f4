"""Random call graphs for the synthetic generator (private).

Nodes are integers ``0..n-1`` internally (so set iteration order never
depends on ``PYTHONHASHSEED``); names and kinds live in :class:`SynthTopology`.
Edge ``u -> v`` means u calls v.  Every edge carries

* ``weight`` -- mean calls to v per request of u; it scales both the traffic
  u sends to v and the share of v's latency u waits for;
* ``err`` -- the share of v's errors that surface in u (the rest is retried
  or handled);
* ``lag`` -- steps before a change in v shows in u (0 almost everywhere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from topology import NodeKind, ServiceGraph
from topology.model import Call, Node

FAMILIES = ("chain", "tree", "layered", "mutual")


@dataclass(frozen=True)
class SynthTopology:
    """A generated graph with what the simulator needs to know about it."""

    g: nx.DiGraph
    names: tuple[str, ...]
    kinds: tuple[NodeKind, ...]
    entries: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.names)

    def to_service_graph(self) -> ServiceGraph:
        """The public :class:`ServiceGraph` (edge weight = calls per request)."""
        nodes = [Node(self.names[i], self.kinds[i]) for i in range(self.n)]
        calls = [
            Call(self.names[u], self.names[v], weight=round(float(d["weight"]), 3))
            for u, v, d in self.g.edges(data=True)
        ]
        return ServiceGraph(nodes, calls)


def build_topology(family: str, n: int, rng: np.random.Generator) -> SynthTopology:
    """Build a random graph of ``family`` with ``n`` nodes."""
    builders = {"chain": _chain, "tree": _tree, "layered": _layered, "mutual": _mutual}
    return builders[family](n, rng)


def _width(n: int) -> int:
    return max(2, len(str(n - 1)))


def _assign_weights(g: nx.DiGraph, rng: np.random.Generator, *, lo: float = 0.3) -> None:
    """Draw calls-per-request and error pass-through on every out-edge."""
    for u in sorted(g.nodes):
        out = sorted(g.successors(u))
        if not out:
            continue
        w = rng.uniform(lo, 1.0, size=len(out))
        cap = rng.uniform(1.0, 1.6)
        if w.sum() > cap:
            w *= cap / w.sum()
        p = rng.uniform(0.4, 0.95, size=len(out))
        for v, wi, pi in zip(out, w, p, strict=True):
            g.edges[u, v].update(weight=float(wi), err=float(pi * min(1.0, wi)), lag=0)


def _chain(n: int, rng: np.random.Generator) -> SynthTopology:
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from((i, i + 1) for i in range(n - 1))
    _assign_weights(g, rng, lo=0.8)
    w = _width(n)
    names = ["api-0"] + [f"svc-{i:0{w}d}" for i in range(1, n - 1)] + ["db-0"]
    kinds = [NodeKind.SERVICE] * (n - 1) + [NodeKind.DATABASE]
    return SynthTopology(g, tuple(names), tuple(kinds), (0,))


def _tree(n: int, rng: np.random.Generator) -> SynthTopology:
    g = nx.DiGraph()
    g.add_node(0)
    frontier = [0]
    nxt = 1
    while nxt < n:
        parent = frontier.pop(0)
        for _ in range(int(rng.integers(2, 5))):
            if nxt >= n:
                break
            g.add_edge(parent, nxt)
            frontier.append(nxt)
            nxt += 1
    _assign_weights(g, rng)
    leaves = [v for v in range(n) if g.out_degree(v) == 0]
    dbs = set(rng.choice(leaves, size=max(1, len(leaves) // 4), replace=False).tolist())
    w = _width(n)
    names, kinds = [], []
    for v in range(n):
        if v == 0:
            names.append("api-0")
            kinds.append(NodeKind.SERVICE)
        elif v in dbs:
            names.append(f"db-{v:0{w}d}")
            kinds.append(NodeKind.DATABASE)
        else:
            names.append(f"svc-{v:0{w}d}")
            kinds.append(NodeKind.SERVICE)
    return SynthTopology(g, tuple(names), tuple(kinds), (0,))


def _split(total: int, parts: int, rng: np.random.Generator) -> list[int]:
    """Split ``total`` into ``parts`` positive sizes, roughly equal with jitter."""
    share = rng.uniform(0.7, 1.3, size=parts)
    sizes = np.maximum(1, np.floor(share / share.sum() * total)).astype(int)
    while sizes.sum() > total:
        sizes[int(np.argmax(sizes))] -= 1
    while sizes.sum() < total:
        sizes[int(rng.integers(parts))] += 1
    return sizes.tolist()


def _layers(n: int, rng: np.random.Generator) -> tuple[list[list[int]], list[int]]:
    """Entry layer, middle layers and the storage layer (node ids in order)."""
    n_entry = min(6, 1 + n // 60)
    n_db = min(60, max(1, round(n * 0.12)))
    n_mid = n - n_entry - n_db
    n_layers = int(min(8, max(2, round(math.log2(n_mid) / 1.3))))
    n_layers = min(n_layers, n_mid)
    sizes = [n_entry, *_split(n_mid, n_layers, rng)]
    layers: list[list[int]] = []
    start = 0
    for s in sizes:
        layers.append(list(range(start, start + s)))
        start += s
    return layers, list(range(start, start + n_db))


def _pick(pool: np.ndarray, k: int, pop: np.ndarray, rng: np.random.Generator) -> list[int]:
    """``k`` distinct nodes from ``pool``, popular ones (shared services) more often."""
    k = min(k, len(pool))
    p = pop[pool]
    return rng.choice(pool, size=k, replace=False, p=p / p.sum()).tolist()


def _layered_graph(n: int, rng: np.random.Generator) -> tuple[nx.DiGraph, list[list[int]], list[int]]:
    layers, dbs = _layers(n, rng)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    # Zipf-like popularity: a few services (auth, config...) are called by many.
    pop = rng.pareto(1.5, size=n) + 1.0
    last = len(layers) - 1
    db_pool = np.array(dbs)
    for i, layer in enumerate(layers):
        below = np.array(layers[i + 1]) if i < last else db_pool
        deeper = np.array([v for layer_j in layers[i + 2 :] for v in layer_j], dtype=int)
        for u in layer:
            if i == last:
                for v in _pick(db_pool, int(rng.integers(1, 3)), pop, rng):
                    g.add_edge(u, v)
                continue
            k = 1 + min(4, int(rng.poisson(1.3 if i else 2.5)))
            for v in _pick(below, k, pop, rng):
                g.add_edge(u, v)
            if len(deeper) and rng.random() < 0.2:
                g.add_edge(u, _pick(deeper, 1, pop, rng)[0])
            if i > 0 and rng.random() < 0.3:
                g.add_edge(u, _pick(db_pool, 1, pop, rng)[0])
    # Everything below the entry layer must have a caller.
    for i in range(1, len(layers)):
        for v in layers[i]:
            if g.in_degree(v) == 0:
                g.add_edge(int(rng.choice(layers[i - 1])), v)
    mids = [v for layer in layers[1:] for v in layer]
    for v in dbs:
        if g.in_degree(v) == 0:
            g.add_edge(int(rng.choice(mids)), v)
    _assign_weights(g, rng)
    return g, layers, dbs


def _layered_names(n: int, layers: list[list[int]], dbs: list[int]) -> tuple[list[str], list[NodeKind]]:
    w = _width(n)
    names = [""] * n
    kinds = [NodeKind.SERVICE] * n
    for j, v in enumerate(layers[0]):
        names[v] = f"api-{j}"
    for layer in layers[1:]:
        for v in layer:
            names[v] = f"svc-{v:0{w}d}"
    for j, v in enumerate(dbs):
        names[v] = f"{'db' if j % 2 == 0 else 'cache'}-{j:02d}"
        kinds[v] = NodeKind.DATABASE
    return names, kinds


def _layered(n: int, rng: np.random.Generator) -> SynthTopology:
    g, layers, dbs = _layered_graph(n, rng)
    names, kinds = _layered_names(n, layers, dbs)
    return SynthTopology(g, tuple(names), tuple(kinds), tuple(layers[0]))


def _mutual(n: int, rng: np.random.Generator) -> SynthTopology:
    g, layers, dbs = _layered_graph(n, rng)
    mids = layers[1:]
    layer_of = {v: i for i, layer in enumerate(layers) for v in layer}
    # Only calls between adjacent middle layers get a call back: reversing a
    # call that skips layers would pull every service in between into a cycle.
    mid_edges = [
        (u, v)
        for u, v in sorted(g.edges)
        if layer_of.get(u, 0) > 0 and layer_of.get(v, -1) == layer_of[u] + 1
    ]
    n_back = max(1, round(0.04 * len(mid_edges)))
    extra: list[tuple[int, int]] = []
    # Mutual calls: reverse some middle edges (A calls B, B calls A back);
    # each service in at most one such pair, so cycles stay small.
    used: set[int] = set()
    for j in rng.permutation(len(mid_edges)).tolist():
        u, v = mid_edges[j]
        if u in used or v in used:
            continue
        extra.append((v, u))
        used.update((u, v))
        if len(extra) == n_back:
            break
    # Longer cycles: a few services call back their callers' callers
    # (a three-service loop; kept local, as cycles in real systems are).
    deep = [v for layer in mids[2:] for v in layer]
    for _ in range(max(1, min(5, n_back // 10)) if deep else 0):
        u = int(rng.choice(deep))
        parents = sorted(g.predecessors(u))
        parents = [c for c in parents if layer_of[c] == layer_of[u] - 1]
        if not parents:
            continue
        c = int(rng.choice(parents))
        grand = [v for v in sorted(g.predecessors(c)) if layer_of.get(v, 0) == layer_of[u] - 2]
        if grand:
            extra.append((u, int(rng.choice(grand))))
    for u, v in extra:
        if u != v and not g.has_edge(u, v):
            w = float(rng.uniform(0.05, 0.2))
            g.add_edge(u, v, weight=w, err=float(w * rng.uniform(0.4, 0.95)), lag=0)
    _tame_cycles(g)
    names, kinds = _layered_names(n, layers, dbs)
    return SynthTopology(g, tuple(names), tuple(kinds), tuple(layers[0]))


def _tame_cycles(g: nx.DiGraph) -> None:
    """Scale weights inside each cycle so traffic and latency sums converge."""
    for comp in nx.strongly_connected_components(g):
        if len(comp) < 2:
            continue
        members = sorted(comp)
        idx = {v: i for i, v in enumerate(members)}
        for key in ("weight", "err"):
            m = np.zeros((len(members), len(members)))
            for u in members:
                for v in g.successors(u):
                    if v in idx:
                        m[idx[u], idx[v]] = g.edges[u, v][key]
            rho = float(np.max(np.abs(np.linalg.eigvals(m))))
            if rho > 0.6:
                f = 0.6 / rho
                for u in members:
                    for v in g.successors(u):
                        if v in idx:
                            g.edges[u, v][key] *= f
