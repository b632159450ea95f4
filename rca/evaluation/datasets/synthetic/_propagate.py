"""Linear propagation of series through the call graph (private).

Two directions are needed:

* **up** (against the call arrows, callees first): a caller's latency is its
  own work plus the weighted latency of its callees; the same recursion,
  in ``log(1 - error_rate)`` space, carries errors;
* **down** (along the arrows, callers first): a callee's traffic is the
  weighted traffic of its callers.

Both are ``x = own + W x`` on the condensation of the graph: singletons are
one numpy expression over the time axis; a strongly connected component is
one small linear solve for all time steps at once.  Lags (in steps) apply to
edges between components only.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np


@dataclass(frozen=True)
class _Block:
    members: np.ndarray  # node ids of the component
    sources: tuple[np.ndarray, ...]  # per member: upstream node ids outside the component
    weights: tuple[np.ndarray, ...]  # per member: matching weights
    lags: tuple[np.ndarray, ...]  # per member: matching lags (steps)
    solve: np.ndarray | None  # (I - W_internal)^-1 for a cycle, else None


@dataclass(frozen=True)
class PropagationPlan:
    """Blocks in evaluation order for one direction and one weight key."""

    blocks: tuple[_Block, ...]
    n: int

    def run(self, own: np.ndarray) -> np.ndarray:
        """Solve ``x = own + W x`` for ``own`` of shape ``(n, T)``."""
        x = np.array(own, dtype=float, copy=True)
        for b in self.blocks:
            for m, src, w, lag in zip(b.members, b.sources, b.weights, b.lags, strict=True):
                if len(src) == 0:
                    continue
                if not lag.any():
                    x[m] += w @ x[src]
                else:
                    for s, wi, li in zip(src, w, lag, strict=True):
                        x[m] += wi * _shift(x[s], int(li))
            if b.solve is not None:
                x[b.members] = b.solve @ x[b.members]
        return x


def _shift(x: np.ndarray, lag: int) -> np.ndarray:
    """``x`` delayed by ``lag`` steps, padding with the first value."""
    if lag <= 0:
        return x
    if lag >= len(x):
        return np.full_like(x, x[0])
    return np.concatenate([np.full(lag, x[0]), x[:-lag]])


def components(g: nx.DiGraph) -> list[list[int]]:
    """Strongly connected components, callers before callees, members sorted."""
    cond = nx.condensation(g)
    return [sorted(cond.nodes[c]["members"]) for c in nx.topological_sort(cond)]


def make_plan(
    g: nx.DiGraph,
    key: str,
    direction: str,
    *,
    lagged: bool = True,
    comps: list[list[int]] | None = None,
) -> PropagationPlan:
    """Plan for ``direction`` ``"up"`` (callees feed callers) or ``"down"``.

    ``lagged=False`` ignores the edges' ``lag`` (traffic is not delayed);
    ``comps`` reuses :func:`components` of ``g``.
    """
    n = g.number_of_nodes()
    order = components(g) if comps is None else comps
    if direction == "up":
        order = order[::-1]
    blocks = []
    for comp in order:
        members = np.array(comp, dtype=int)
        inside = set(members.tolist())
        srcs, ws, lags = [], [], []
        for m in members.tolist():
            if direction == "up":
                edges = [(v, g.edges[m, v]) for v in sorted(g.successors(m))]
            else:
                edges = [(u, g.edges[u, m]) for u in sorted(g.predecessors(m))]
            ext = [(s, d) for s, d in edges if s not in inside]
            srcs.append(np.array([s for s, _ in ext], dtype=int))
            ws.append(np.array([d[key] for _, d in ext], dtype=float))
            lags.append(np.array([d.get("lag", 0) if lagged else 0 for _, d in ext], dtype=int))
        solve = None
        if len(members) > 1 or g.has_edge(members[0], members[0]):
            idx = {v: i for i, v in enumerate(members.tolist())}
            w_int = np.zeros((len(members), len(members)))
            for u in members.tolist():
                for v in g.successors(u):
                    if v in idx:
                        if direction == "up":
                            w_int[idx[u], idx[v]] = g.edges[u, v][key]
                        else:
                            w_int[idx[v], idx[u]] = g.edges[u, v][key]
            solve = np.linalg.inv(np.eye(len(members)) - w_int)
        blocks.append(_Block(members, tuple(srcs), tuple(ws), tuple(lags), solve))
    return PropagationPlan(tuple(blocks), n)


def influence(plan_down: PropagationPlan, target: int) -> np.ndarray:
    """How much a unit change at each node moves ``target`` under the *up* recursion.

    ``plan_down`` must be the down plan with the same weight key: the
    sensitivities of one node to all others are the transposed system.
    """
    e = np.zeros((plan_down.n, 1))
    e[target, 0] = 1.0
    return plan_down.run(e)[:, 0]
