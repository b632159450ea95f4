"""The latest version of a stored topology, parsed once per process.

A stored version is immutable (``topologies`` rows are never edited, only
marked deleted), so its parsed :class:`~topology.ServiceGraph`, canonical
document and digest can be kept by its row id and stored digest (a key that also holds across the
several databases a test process opens).  Each call still asks the
database which version is the latest live one (one indexed query, without
the document), so a new version or a deletion is seen at once.

Why: the alert path reads the alert topology (``RCA_ALERT_TOPOLOGY``) on
every webhook and every worker pass.  In the 500-alert storm benchmark
(2,400 services, a 364 kB document) parsing it took 80 ms of CPU each time,
the document 50 ms and the digest 40 ms more per analysis prepared: most of
the server's CPU during a storm.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rca.store.documents import document_of, graph_from_document
from rca.store.models import TopologyRow
from topology import ServiceGraph

__all__ = ["LoadedTopology", "latest_topology"]

_KEEP = 8  # versions kept per process (a few names, a few versions each)
_cache: OrderedDict[tuple[int, int, str], LoadedTopology] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class LoadedTopology:
    """One stored version: the graph (shared, never to be modified), its version, canonical document and digest."""

    graph: ServiceGraph
    version: int
    row_id: int
    document: str
    digest: str


def latest_topology(s: Session, name: str) -> LoadedTopology | None:
    """The latest live version of ``name``, parsed (from the cache when this process has parsed it before)."""
    head = s.execute(
        select(TopologyRow.id, TopologyRow.version, TopologyRow.digest)
        .where(TopologyRow.name == name, TopologyRow.deleted.is_(False))
        .order_by(TopologyRow.version.desc())
        .limit(1)
    ).first()
    if head is None:
        return None
    row_id, version = int(head[0]), int(head[1])
    key = (row_id, version, str(head[2]))
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    text = s.scalar(select(TopologyRow.document).where(TopologyRow.id == row_id))
    if text is None:  # removed between the two queries
        return None
    graph = graph_from_document(json.loads(text))
    loaded = LoadedTopology(graph, version, row_id, document_of(graph), graph.digest())
    with _lock:
        _cache[key] = loaded
        while len(_cache) > _KEEP:
            _cache.popitem(last=False)
    return loaded
