"""The service graph: a thin, typed wrapper around :class:`networkx.DiGraph`.

Convention (the only one used anywhere in this project): an edge ``A -> B``
means **A calls B**, i.e. A depends on B.  Faults travel *against* the arrows:
a slow B makes A slow.  The dependencies of a symptom service are therefore the
nodes reachable from it along the arrows, and the propagation path of a fault
from a cause C to a symptom S is the reverse of a call path ``S -> ... -> C``.

Mutual calls and cycles are allowed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import networkx as nx

from topology.errors import TopologyError

__all__ = ["EDGE_MEANINGS", "NodeKind", "Node", "Call", "ServiceGraph", "check_edges"]


class NodeKind(str, Enum):
    """What a node is.

    Informative, with one exception: an ``EXTERNAL`` endpoint is seen only
    from its callers' side, so the ranking weighs its own anomaly as a
    client-side measurement (:data:`rca.engine.detect.CLIENT_SIDE_WEIGHT`).
    """

    SERVICE = "service"
    DATABASE = "database"
    QUEUE = "queue"
    EXTERNAL = "external"
    HOST = "host"

    @classmethod
    def parse(cls, value: str | NodeKind, *, field: str | None = None) -> NodeKind:
        """Return the kind named by ``value``; raise :class:`TopologyError` otherwise."""
        if isinstance(value, NodeKind):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(k.value for k in cls)
            raise TopologyError(
                f"unknown node kind {value!r}; use one of: {allowed}", field=field
            ) from None


@dataclass(frozen=True)
class Node:
    """A service (or database, queue, external endpoint, host) in the graph."""

    name: str
    kind: NodeKind = NodeKind.SERVICE
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind.value}
        if self.tags:
            out["tags"] = dict(self.tags)
        return out


@dataclass(frozen=True)
class Call:
    """A call edge: ``caller`` calls ``callee``.

    ``weight`` is a free relative weight (e.g. share of traffic); ``calls`` the
    observed number of calls, when known (from traces).
    """

    caller: str
    callee: str
    weight: float | None = None
    calls: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"caller": self.caller, "callee": self.callee}
        if self.weight is not None:
            out["weight"] = self.weight
        if self.calls is not None:
            out["calls"] = self.calls
        return out


def _check_name(name: object, *, field: str | None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise TopologyError(
            f"a node name must be a non-empty string, got {name!r}", field=field
        )
    return name.strip()


#: What the edges of an input graph mean: ``calls`` (``A -> B``: A calls B, the
#: convention here) or ``causal`` (``A -> B``: A's behaviour drives B's, the
#: reverse).
EDGE_MEANINGS: tuple[str, ...] = ("calls", "causal")


def check_edges(edges: object, *, field: str = "edges") -> str:
    """``edges`` as one of :data:`EDGE_MEANINGS`, or a :class:`TopologyError` naming ``field``."""
    if isinstance(edges, str) and edges.strip().lower() in EDGE_MEANINGS:
        return edges.strip().lower()
    raise TopologyError(
        f"edges must be 'calls' (A -> B: A calls B) or 'causal' (A -> B: A causes B), got {edges!r}",
        field=field,
    )


class ServiceGraph:
    """Who calls whom.  Edge ``A -> B`` means A calls (depends on) B.

    Parameters
    ----------
    services : iterable of str or Node, optional
        Nodes to add first.
    calls : iterable of (caller, callee) pairs or Call, optional
        Call edges; unknown endpoints are added as services.

    Examples
    --------
    >>> g = ServiceGraph(calls=[("frontend", "checkout"), ("checkout", "db")])
    >>> sorted(g.dependencies("frontend"))
    ['checkout', 'db']
    >>> g.propagation_path("db", "frontend")
    ['db', 'checkout', 'frontend']
    """

    def __init__(
        self,
        services: Iterable[str | Node] = (),
        calls: Iterable[tuple[str, str] | Call] = (),
    ) -> None:
        self._g: nx.DiGraph = nx.DiGraph()
        for s in services:
            if isinstance(s, Node):
                self.add_service(s.name, kind=s.kind, tags=s.tags)
            else:
                self.add_service(s)
        for c in calls:
            if isinstance(c, Call):
                self.add_call(c.caller, c.callee, weight=c.weight, calls=c.calls)
            else:
                caller, callee = c
                self.add_call(caller, callee)

    # -- building -------------------------------------------------------------
    def add_service(
        self,
        name: str,
        *,
        kind: NodeKind | str = NodeKind.SERVICE,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Add a node, or update the kind and tags of an existing one."""
        name = _check_name(name, field="name")
        kind = NodeKind.parse(kind, field="kind")
        self._g.add_node(name, kind=kind, tags=dict(tags or {}))

    def add_call(
        self,
        caller: str,
        callee: str,
        *,
        weight: float | None = None,
        calls: int | None = None,
    ) -> None:
        """Add ``caller -> callee``; repeated edges add up their call counts."""
        caller = _check_name(caller, field="caller")
        callee = _check_name(callee, field="callee")
        for n in (caller, callee):
            if n not in self._g:
                self._g.add_node(n, kind=NodeKind.SERVICE, tags={})
        if self._g.has_edge(caller, callee):
            data = self._g.edges[caller, callee]
            if calls is not None:
                data["calls"] = (data.get("calls") or 0) + int(calls)
            if weight is not None:
                data["weight"] = weight
        else:
            self._g.add_edge(
                caller,
                callee,
                weight=None if weight is None else float(weight),
                calls=None if calls is None else int(calls),
            )

    # -- reading --------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def __iter__(self) -> Iterator[str]:
        return iter(self._g.nodes)

    def __eq__(self, other: object) -> bool:
        # Order-independent, like the digest: a graph is a set of nodes and calls.
        if not isinstance(other, ServiceGraph):
            return NotImplemented
        return self._canonical() == other._canonical()

    def __repr__(self) -> str:
        return f"ServiceGraph({len(self)} nodes, {self._g.number_of_edges()} calls)"

    @property
    def services(self) -> list[str]:
        """Node names, in insertion order."""
        return list(self._g.nodes)

    @property
    def nodes(self) -> list[Node]:
        return [self.node(n) for n in self._g.nodes]

    @property
    def calls(self) -> list[Call]:
        return [
            Call(u, v, d.get("weight"), d.get("calls"))
            for u, v, d in self._g.edges(data=True)
        ]

    def node(self, name: str) -> Node:
        """The node called ``name``; :class:`TopologyError` if absent."""
        self._require(name)
        d = self._g.nodes[name]
        return Node(name, d.get("kind", NodeKind.SERVICE), dict(d.get("tags", {})))

    def kind(self, name: str) -> NodeKind:
        return self.node(name).kind

    def has_call(self, caller: str, callee: str) -> bool:
        return self._g.has_edge(caller, callee)

    def callees(self, name: str) -> list[str]:
        """Direct dependencies of ``name`` (what it calls)."""
        self._require(name)
        return list(self._g.successors(name))

    def callers(self, name: str) -> list[str]:
        """Direct dependents of ``name`` (who calls it)."""
        self._require(name)
        return list(self._g.predecessors(name))

    def dependencies(self, name: str, max_depth: int | None = None) -> set[str]:
        """Everything ``name`` depends on, transitively (not ``name`` itself).

        ``max_depth`` limits the number of call hops (1 = direct callees).
        """
        self._require(name)
        lengths = nx.single_source_shortest_path_length(self._g, name, cutoff=max_depth)
        return {n for n in lengths if n != name}

    def dependents(self, name: str, max_depth: int | None = None) -> set[str]:
        """Everything that depends on ``name``, transitively (not ``name`` itself)."""
        self._require(name)
        lengths = nx.single_source_shortest_path_length(
            self._g.reverse(copy=False), name, cutoff=max_depth
        )
        return {n for n in lengths if n != name}

    def call_distance(self, caller: str, callee: str) -> int | None:
        """Number of call hops from ``caller`` to ``callee``; None if unreachable."""
        self._require(caller)
        self._require(callee)
        try:
            return int(nx.shortest_path_length(self._g, caller, callee))
        except nx.NetworkXNoPath:
            return None

    def propagation_path(self, cause: str, symptom: str) -> list[str] | None:
        """Shortest path a fault in ``cause`` travels to ``symptom``.

        Returned in propagation order ``[cause, ..., symptom]`` (the reverse of
        the call path ``symptom -> ... -> cause``), or None when ``symptom``
        does not depend on ``cause``.
        """
        self._require(cause)
        self._require(symptom)
        try:
            path = nx.shortest_path(self._g, symptom, cause)
        except nx.NetworkXNoPath:
            return None
        return list(reversed(path))

    def subgraph(self, names: Iterable[str]) -> ServiceGraph:
        """A new graph with only ``names`` and the calls among them."""
        # Built explicitly rather than via ``DiGraph.subgraph(...).copy()``: the
        # view iterates a set for small subsets, so node order would depend on
        # the string hash seed.  This keeps the parent's insertion order.
        keep = set(names)
        out = ServiceGraph()
        out._g.add_nodes_from((n, dict(d)) for n, d in self._g.nodes(data=True) if n in keep)
        out._g.add_edges_from(
            (u, v, dict(d)) for u, v, d in self._g.edges(data=True) if u in keep and v in keep
        )
        return out

    def scope(self, symptom: str, max_depth: int | None = None) -> ServiceGraph:
        """The symptom and everything it depends on (the candidate root causes)."""
        return self.subgraph({symptom} | self.dependencies(symptom, max_depth))

    def relabel(self, mapping: Mapping[str, str]) -> ServiceGraph:
        """Rename nodes; nodes mapped to the same name are merged."""
        out = ServiceGraph()
        for n in self._g.nodes:
            d = self._g.nodes[n]
            new = mapping.get(n, n)
            if new not in out:
                out.add_service(new, kind=d.get("kind", NodeKind.SERVICE), tags=d.get("tags"))
        for u, v, d in self._g.edges(data=True):
            a, b = mapping.get(u, u), mapping.get(v, v)
            if a != b or u == v:  # drop only calls that the merge made internal
                out.add_call(a, b, weight=d.get("weight"), calls=d.get("calls"))
        return out

    def reversed(self) -> ServiceGraph:
        """The same nodes with every edge flipped.

        A causal graph (an edge ``A -> B``: a change in A causes one in B, as
        PyRCA's and CIRCA's generators and most causal-discovery output have
        it) is the reverse of a call graph, where faults travel against the
        arrows; this turns one into the other.

        Examples
        --------
        >>> causal = ServiceGraph(calls=[("db", "checkout"), ("checkout", "frontend")])
        >>> causal.reversed().propagation_path("db", "frontend")
        ['db', 'checkout', 'frontend']
        """
        out = ServiceGraph()
        out._g.add_nodes_from((n, dict(d)) for n, d in self._g.nodes(data=True))
        out._g.add_edges_from((v, u, dict(d)) for u, v, d in self._g.edges(data=True))
        return out

    def as_calls(self, edges: str) -> ServiceGraph:
        """This graph as calls, given what its arrows mean: itself for ``"calls"``, :meth:`reversed` for ``"causal"``.

        Raises
        ------
        TopologyError
            ``edges`` is not one of :data:`EDGE_MEANINGS` (``field="edges"``).
        """
        return self.reversed() if check_edges(edges) == "causal" else self

    # -- conversion -----------------------------------------------------------
    def to_networkx(self) -> nx.DiGraph:
        """A copy as a networkx DiGraph (edges caller -> callee)."""
        return self._g.copy()

    @classmethod
    def from_networkx(cls, g: nx.DiGraph, *, edges: str = "calls") -> ServiceGraph:
        """Build from a DiGraph whose edges mean caller -> callee (``edges="calls"``)
        or cause -> effect (``edges="causal"``, see :meth:`reversed`)."""
        check_edges(edges)  # before the copy
        out = cls()
        for n, d in g.nodes(data=True):
            out.add_service(str(n), kind=d.get("kind", NodeKind.SERVICE), tags=d.get("tags"))
        for u, v, d in g.edges(data=True):
            out.add_call(str(u), str(v), weight=d.get("weight"), calls=d.get("calls"))
        return out.as_calls(edges)

    def to_dict(self) -> dict[str, Any]:
        """The document form read and written by the JSON/YAML loaders."""
        return {
            "services": [n.to_dict() for n in self.nodes],
            "calls": [c.to_dict() for c in self.calls],
        }

    def digest(self) -> str:
        """A stable SHA-256 of the graph's content (order-independent)."""
        blob = json.dumps(self._canonical(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    def _canonical(self) -> dict[str, Any]:
        """The document form with services and calls sorted (for digest and ==)."""
        doc = self.to_dict()
        doc["services"] = sorted(doc["services"], key=lambda s: s["name"])
        doc["calls"] = sorted(doc["calls"], key=lambda c: (c["caller"], c["callee"]))
        return doc

    def _require(self, name: str) -> None:
        if name not in self._g:
            raise TopologyError(f"unknown service {name!r}; the graph has {len(self)} nodes")
