"""ServiceNow ``cmdb_rel_ci`` exports as topologies.

The export below has the shape of ``GET /api/now/table/cmdb_rel_ci?sysparm_display_value=all``
(ServiceNow Table API, https://developer.servicenow.com/dev.do#!/reference/api/latest/rest/c_TableAPI:
every field ``{"display_value", "value"}``, references with ``link``); the relationship types
and their meaning ("Depends on::Used by": the parent depends on the child) are ServiceNow's
(https://www.servicenow.com/docs/r/servicenow-platform/configuration-management-database-cmdb/c_CIRelationships.html).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import topology
from topology import TopologyError, loads_cmdb_csv, loads_cmdb_json


def _ref(name: str, sys_id: str, table: str = "cmdb_ci_service") -> dict:
    return {"display_value": name, "value": sys_id,
            "link": f"https://acme.service-now.com/api/now/table/{table}/{sys_id}"}


def _rel(i: int, parent: str, kind: str, child: str) -> dict:
    return {
        "sys_id": {"display_value": f"{i:032x}", "value": f"{i:032x}"},
        "parent": _ref(parent, f"{i:031x}a"),
        "child": _ref(child, f"{i:031x}b"),
        "type": _ref(kind, f"{i:031x}c", "cmdb_rel_type"),
        "connection_strength": {"display_value": "Always", "value": "0"},
        "sys_updated_on": {"display_value": "2024-04-30 09:12:44", "value": "2024-04-30 09:12:44"},
    }


EXPORT = {
    "result": [
        _rel(1, "frontend", "Depends on::Used by", "checkout"),
        _rel(2, "checkout", "Depends on::Used by", "payment"),
        _rel(3, "checkout", "Sends data to::Receives data from", "cart"),
        _rel(4, "redis", "Receives data from::Sends data to", "cart"),  # cart sends to (calls) redis
        _rel(5, "payment", "Runs on::Runs", "lnx-pay-01"),  # hosting: not a call
        _rel(6, "Shop", "Contains::Contained by", "frontend"),  # containment: not a call
        _rel(7, "frontend", "Depends on::Used by", "checkout"),  # duplicate rows add nothing
    ]
}
EXPECTED = {("frontend", "checkout"), ("checkout", "payment"), ("checkout", "cart"), ("cart", "redis")}


def _edges(g: topology.ServiceGraph) -> set[tuple[str, str]]:
    return {(c.caller, c.callee) for c in g.calls}


def test_a_table_api_export_gives_the_call_graph(tmp_path: Path) -> None:
    p = tmp_path / "cmdb_rel_ci.json"
    p.write_text(json.dumps(EXPORT))
    g = topology.load(p)  # the format is recognised from the content
    assert _edges(g) == EXPECTED
    assert "lnx-pay-01" not in g and "Shop" not in g
    assert g.propagation_path("redis", "frontend") == ["redis", "cart", "checkout", "frontend"]


def test_display_value_true_export_and_csv_export_give_the_same_graph(tmp_path: Path) -> None:
    flat = {"result": [{k: v["display_value"] if isinstance(v, dict) else v for k, v in r.items()} for r in EXPORT["result"]]}
    assert _edges(loads_cmdb_json(json.dumps(flat))) == EXPECTED
    lines = ["sys_id,parent,type,child"] + [
        f"{r['sys_id']['value']},{r['parent']['display_value']},{r['type']['display_value']},{r['child']['display_value']}"
        for r in EXPORT["result"]
    ]
    p = tmp_path / "cmdb_rel_ci.csv"
    p.write_text("\n".join(lines) + "\n")
    assert _edges(topology.load(p)) == EXPECTED
    assert _edges(topology.load(p, format="servicenow-cmdb")) == EXPECTED


def test_an_explicit_mapping_adds_or_drops_types() -> None:
    g = loads_cmdb_json(EXPORT, types={"Runs on::Runs": "parent", "Sends data to::Receives data from": None})
    assert _edges(g) == (EXPECTED - {("checkout", "cart")}) | {("payment", "lnx-pay-01")}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r.update(parent={"display_value": "", "value": ""}), "result[1].parent", "parent is empty"),
        (lambda r: r.pop("child"), "result[1].child", "child is empty"),
        (lambda r: r.update(type={"display_value": "Depends On::Used By"}), "result[1].type", "did you mean 'Depends on::Used by'"),
        (lambda r: r.update(type={"display_value": "Feeds::Fed by"}), "result[1].type", "not mapped to a call direction"),
        (lambda r: r.update(child=r["parent"]), "result[1].child", "the same CI"),
    ],
)
def test_bad_records_are_named_with_their_field(change, field: str, message: str) -> None:  # noqa: ANN001
    doc = json.loads(json.dumps(EXPORT))
    change(doc["result"][1])
    with pytest.raises(TopologyError, match=message) as info:
        loads_cmdb_json(doc, source="cmdb_rel_ci.json")
    assert info.value.field == field
    assert f"{2:032x}" in str(info.value) and "cmdb_rel_ci.json" in str(info.value)  # the record's sys_id, the file


def test_bad_documents() -> None:
    with pytest.raises(TopologyError, match="'result' array") as info:
        loads_cmdb_json({"records": []})
    assert info.value.field == "result"
    with pytest.raises(TopologyError, match="no child column") as info:
        loads_cmdb_csv("parent,type\na,Depends on::Used by\n")
    assert info.value.field == "child" and info.value.line == 1
    with pytest.raises(TopologyError, match="records\\[0\\] must be an object"):
        loads_cmdb_json(["frontend"])
