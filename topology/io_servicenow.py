"""ServiceNow CMDB relationships (``cmdb_rel_ci``) as a call graph.

A ``cmdb_rel_ci`` record links a **parent** CI and a **child** CI with a relationship
**type** named ``"<parent descriptor>::<child descriptor>"`` (``"Depends on::Used by"``: the
parent depends on the child).  Accepted shapes:

* the Table API's JSON, ``GET /api/now/table/cmdb_rel_ci?sysparm_display_value=true``
  (``{"result": [{"parent": "frontend", "child": "checkout", "type": "Depends on::Used by"}]}``),
  or with ``sysparm_display_value=all`` (each field ``{"value", "display_value", "link"}``;
  the display value is the CI name used), or a bare list of records;
* a CSV export of the list (``parent``, ``child``, ``type`` columns, display values).

Which relationship types become calls, and in which direction, is the explicit table
:data:`CALL_TYPES` (``"parent"``: parent calls child; ``"child"``: child calls parent).
Types of :data:`NON_CALL_TYPES` (hosting, containment, ownership...) are skipped; any other
type is an error naming the record, unless ``types=`` maps it (``None`` skips it).
Every error names the record (index and ``sys_id``) and the field.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Mapping
from typing import Any

from topology.errors import TopologyError
from topology.model import ServiceGraph

__all__ = ["CALL_TYPES", "NON_CALL_TYPES", "graph_from_cmdb", "loads_cmdb_json", "loads_cmdb_csv"]

CALL_TYPES: dict[str, str] = {
    "Depends on::Used by": "parent",  # the parent needs the child: parent -> child
    "Uses::Used by": "parent",
    "Calls::Called by": "parent",
    "Sends data to::Receives data from": "parent",
    "Connects to::Connected by": "parent",
    "Receives data from::Sends data to": "child",  # the child sends to (calls) the parent
    "Used by::Depends on": "child",
    "Used by::Uses": "child",
}
"""Relationship types that mean "calls / depends on": which end is the caller."""

NON_CALL_TYPES: frozenset[str] = frozenset({
    "Runs on::Runs", "Hosted on::Hosts", "Contains::Contained by", "Virtualized by::Virtualizes",
    "Members::Member of", "Member of::Members", "Managed by::Manages", "Owns::Owned by", "Cluster of::Cluster",
    "Instantiates::Instantiated by", "Located in::Houses", "Defines resources for::Gets resources from",
    "Allocated to::Allocated from", "Provides storage for::Stored on", "Powered by::Powers",
    "Registered on::Has registered", "Implement End Point To::Implement End Point From",
    "Applicative Flow To::Applicative Flow From", "IP Connection::IP Connection", "Backed up by::Backs up",
    "Exchanges data with::Exchanges data with", "Monitored by::Monitors", "Protected by::Protects",
})  # fmt: skip
"""Relationship types skipped: they say where a CI runs or who owns it, not who calls whom."""


def _name(record: Mapping[str, Any], key: str, where: str, label: str, source: str | None) -> str:
    v = record.get(key)
    if isinstance(v, Mapping):
        v = v.get("display_value") or v.get("value")
    if not isinstance(v, str | int) or not str(v).strip():
        raise TopologyError(f"{label}: {key} is empty (export with display values: sysparm_display_value=true)",
                            source=source, field=f"{where}.{key}")
    return str(v).strip()


def _record_label(i: int, record: Mapping[str, Any], prefix: str) -> str:
    sid = record.get("sys_id")
    if isinstance(sid, Mapping):
        sid = sid.get("value")
    return f"{prefix}[{i}]" + (f" (sys_id {sid})" if isinstance(sid, str) and sid else "")


def graph_from_cmdb(
    records: list[Any], *, source: str | None = None, types: Mapping[str, str | None] | None = None,
    prefix: str = "result",
) -> ServiceGraph:
    """A call graph from ``cmdb_rel_ci`` records (see the module docstring).

    Examples
    --------
    >>> g = graph_from_cmdb([{"parent": "frontend", "child": "checkout", "type": "Depends on::Used by"},
    ...                      {"parent": "checkout", "child": "db-host-1", "type": "Runs on::Runs"}])
    >>> [(c.caller, c.callee) for c in g.calls]
    [('frontend', 'checkout')]
    """
    table: dict[str, str | None] = {**CALL_TYPES, **{t: None for t in NON_CALL_TYPES}, **(types or {})}
    g = ServiceGraph()
    for i, record in enumerate(records):
        where = f"{prefix}[{i}]"
        if not isinstance(record, Mapping):
            raise TopologyError(f"{where} must be an object with parent, child and type", source=source, field=where)
        label = _record_label(i, record, prefix)
        kind = _name(record, "type", where, label, source)
        if kind not in table:
            close = difflib.get_close_matches(kind, sorted(table), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise TopologyError(
                f"{label}: relationship type {kind!r} is not mapped to a call direction{hint} "
                "(pass types={...: 'parent' | 'child' | None})", source=source, field=f"{where}.type")
        direction = table[kind]
        if direction is None:
            continue
        if direction not in ("parent", "child"):
            raise TopologyError(f"types[{kind!r}] must be 'parent', 'child' or None, got {direction!r}",
                                source=source, field="types")
        parent, child = _name(record, "parent", where, label, source), _name(record, "child", where, label, source)
        if parent == child:
            raise TopologyError(f"{label}: parent and child are the same CI {parent!r}", source=source,
                                field=f"{where}.child")
        g.add_call(*((parent, child) if direction == "parent" else (child, parent)))
    return g


def loads_cmdb_json(text: str | Any, *, source: str | None = None, types: Mapping[str, str | None] | None = None) -> ServiceGraph:
    """From the Table API's JSON (``{"result": [...]}``) or a list of records.

    Examples
    --------
    >>> doc = {"result": [{"sys_id": "4a1", "type": {"display_value": "Sends data to::Receives data from"},
    ...                    "parent": {"display_value": "cart", "value": "9f2"}, "child": {"display_value": "redis"}}]}
    >>> [(c.caller, c.callee) for c in loads_cmdb_json(doc).calls]
    [('cart', 'redis')]
    """
    doc = text
    if isinstance(text, str):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise TopologyError(f"not JSON: {exc}", source=source) from None
    if isinstance(doc, Mapping):
        if not isinstance(doc.get("result"), list):
            raise TopologyError("a cmdb_rel_ci export must have a 'result' array", source=source, field="result")
        return graph_from_cmdb(doc["result"], source=source, types=types)
    if isinstance(doc, list):
        return graph_from_cmdb(doc, source=source, types=types, prefix="records")
    raise TopologyError("a cmdb_rel_ci export must be an object with 'result' or an array", source=source)


def loads_cmdb_csv(text: str, *, source: str | None = None, types: Mapping[str, str | None] | None = None) -> ServiceGraph:
    """From a CSV export of the ``cmdb_rel_ci`` list (``parent``, ``child``, ``type`` columns).

    Examples
    --------
    >>> text = 'parent,type,child\\nfrontend,Depends on::Used by,checkout\\nredis,Receives data from::Sends data to,cart\\n'
    >>> [(c.caller, c.callee) for c in loads_cmdb_csv(text).calls]
    [('frontend', 'checkout'), ('cart', 'redis')]
    """
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    missing = [c for c in ("parent", "child", "type") if c not in fields]
    if missing:
        raise TopologyError(f"the CSV has no {', '.join(missing)} column (header: {reader.fieldnames})",
                            source=source, line=1, field=missing[0])
    rows = [{k: row.get(fields[k]) for k in ("parent", "child", "type", "sys_id") if k in fields} for row in reader]
    return graph_from_cmdb(rows, source=source, types=types, prefix="row")


def looks_like_cmdb(doc: object) -> bool:
    """A parsed JSON document shaped like a ``cmdb_rel_ci`` export."""
    records = doc.get("result") if isinstance(doc, Mapping) else doc
    first = records[0] if isinstance(records, list) and records else None
    return isinstance(first, Mapping) and {"parent", "child", "type"} <= set(first)
