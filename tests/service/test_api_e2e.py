"""End to end against a real uvicorn server: topology upload, analyses (sync, async, uploads), reads."""

from __future__ import annotations

import hashlib
import io
import json

import httpx
import pandas as pd
import yaml
from api_support import INCIDENT, TOPOLOGY, analysis_body, make_metrics, wait_status


def test_topology_versions_formats_and_delete(api: httpx.Client) -> None:
    r = api.put("/v1/topologies/e2e-shop", json=TOPOLOGY)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/v1/topologies/e2e-shop?version=1"
    v1 = r.json()
    assert (v1["version"], v1["services"], v1["calls"], v1["format"]) == (1, 3, 2, "json")

    r = api.put("/v1/topologies/e2e-shop", content=yaml.safe_dump(TOPOLOGY), headers={"content-type": "application/yaml"})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    assert r.json()["digest"] == v1["digest"]  # same graph, new version

    csv = "caller,callee\nfrontend,checkout\ncheckout,db\ncheckout,cache\n"
    r = api.put("/v1/topologies/e2e-shop", params={"format": "edges-csv"}, content=csv)
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["services"], r.json()["format"]) == (3, 4, "edges-csv")

    assert api.get("/v1/topologies/e2e-shop").json()["version"] == 3
    old = api.get("/v1/topologies/e2e-shop", params={"version": 1}).json()
    assert old["document"]["calls"] == v1["document"]["calls"]
    names = {t["name"]: t["version"] for t in api.get("/v1/topologies").json()["items"]}
    assert names["e2e-shop"] == 3

    assert api.delete("/v1/topologies/e2e-shop").status_code == 204
    assert api.get("/v1/topologies/e2e-shop").status_code == 404
    assert "e2e-shop" not in {t["name"] for t in api.get("/v1/topologies").json()["items"]}
    r = api.put("/v1/topologies/e2e-shop", json=TOPOLOGY)
    assert r.json()["version"] == 4  # numbers are never reused


def test_sync_analysis_by_name_records_everything(api: httpx.Client) -> None:
    topo = api.put("/v1/topologies/e2e-sync", json=TOPOLOGY).json()
    body = analysis_body(topology={"name": "e2e-sync"}, config={"rank": {"top_k": 2}})
    r = api.post("/v1/analyses", json=body)
    assert r.status_code == 201, r.text
    a = r.json()
    assert r.headers["location"] == f"/v1/analyses/{a['id']}"
    assert a["status"] == "succeeded"
    assert a["result"]["causes"][0]["service"] == "db"
    assert a["top_cause"] == "db"
    assert len(a["result"]["causes"]) <= 2
    assert a["config"]["rank"]["top_k"] == 2 and "granger" in a["config"]  # the full effective config
    assert a["inputs"]["topology_name"] == "e2e-sync" and a["inputs"]["topology_version"] == topo["version"]
    assert a["inputs"]["topology_digest"] == topo["digest"]
    assert a["inputs"]["metrics_points"] == len(body["metrics"])
    assert len(a["inputs"]["metrics_digest"]) == 64
    assert a["engine_version"] == a["result"]["engine_version"]
    assert a["timings"]["run_seconds"] is not None and a["attempts"] == 1
    assert a["error"] is None
    assert api.get(f"/v1/analyses/{a['id']}").json() == a


def test_metrics_digest_ignores_point_order(api: httpx.Client) -> None:
    body = analysis_body()
    first = api.post("/v1/analyses", json=body).json()
    body["metrics"] = list(reversed(body["metrics"]))
    second = api.post("/v1/analyses", json=body).json()
    assert first["inputs"]["metrics_digest"] == second["inputs"]["metrics_digest"]
    assert first["id"] != second["id"]


def test_async_analysis_answers_202_and_location(api: httpx.Client) -> None:
    r = api.post("/v1/analyses", params={"wait": "false"}, json=analysis_body())
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("queued", "running", "succeeded")
    done = wait_status(api, r.headers["location"].rsplit("/", 1)[-1], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done


def test_large_request_answers_202(api: httpx.Client) -> None:
    r = api.post("/v1/analyses", json=analysis_body(metrics=make_metrics(400)))  # 1200 > RCA_SYNC_MAX_POINTS
    assert r.status_code == 202, r.text
    assert wait_status(api, r.json()["id"], {"succeeded", "failed"})["status"] == "succeeded"


def _multipart(metrics: bytes, filename: str, content_type: str) -> dict[str, tuple[str | None, bytes | str, str]]:
    request = {"incident": INCIDENT, "topology": {"inline": TOPOLOGY}}
    return {
        "request": (None, json.dumps(request), "application/json"),
        "metrics": (filename, metrics, content_type),
    }


def test_csv_and_parquet_uploads_give_the_same_digest(api: httpx.Client) -> None:
    frame = pd.DataFrame(make_metrics())
    csv = frame.to_csv(index=False).encode()
    buf = io.BytesIO()
    frame.to_parquet(buf)
    r_csv = api.post("/v1/analyses", files=_multipart(csv, "m.csv", "text/csv"))
    r_pq = api.post("/v1/analyses", files=_multipart(buf.getvalue(), "m.parquet", "application/octet-stream"))
    r_json = api.post("/v1/analyses", json=analysis_body())
    for r in (r_csv, r_pq, r_json):
        assert r.status_code == 201, r.text
        assert r.json()["result"]["causes"][0]["service"] == "db"
    digests = {r.json()["inputs"]["metrics_digest"] for r in (r_csv, r_pq, r_json)}
    assert len(digests) == 1


def test_list_filters_and_pagination(api: httpx.Client) -> None:
    since = pd.Timestamp.now(tz="UTC").isoformat()
    ids = set()
    for _ in range(3):
        body = analysis_body(incident={**INCIDENT, "service": "checkout"})
        r = api.post("/v1/analyses", params={"wait": "false"}, json=body)
        ids.add(r.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"service": "checkout", "since": since, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/analyses", params=params).json()
        seen += [item["id"] for item in page["items"]]
        assert all(item["incident"]["service"] == "checkout" for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(seen) == ids and len(seen) == 3
    for aid in ids:
        wait_status(api, aid, {"succeeded"})
    ok = api.get("/v1/analyses", params={"status": "succeeded", "service": "checkout", "since": since}).json()
    assert {i["id"] for i in ok["items"]} == ids
    assert api.get("/v1/analyses", params={"status": "queued", "service": "nobody"}).json()["items"] == []


def test_ops_endpoints(api: httpx.Client) -> None:
    assert api.get("/healthz").json()["status"] == "ok"
    assert api.get("/readyz").json()["status"] == "ready"
    api.post("/v1/analyses", json=analysis_body())
    text = api.get("/metrics").text
    assert 'rca_http_requests_total{method="POST",route="/v1/analyses",status="201"}' in text
    assert 'rca_analyses{status="succeeded"}' in text
    assert "rca_analysis_duration_seconds_count" in text
    assert "rca_http_request_duration_seconds_bucket" in text
    spec = api.get("/openapi.json").json()
    for path in ("/v1/topologies/{name}", "/v1/analyses", "/v1/analyses/{analysis_id}", "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"]
    assert api.get("/docs").status_code == 200


def test_canonical_digest_is_sha256_of_sorted_csv(api: httpx.Client) -> None:
    body = analysis_body()
    a = api.post("/v1/analyses", json=body).json()
    frame = pd.DataFrame(body["metrics"]).sort_values(["service", "metric", "timestamp"], kind="stable")
    expected = hashlib.sha256(frame.to_csv(index=False, lineterminator="\n").encode()).hexdigest()
    assert a["inputs"]["metrics_digest"] == expected


def test_report_route_is_wired_in(api: httpx.Client) -> None:
    a = api.post("/v1/analyses", json=analysis_body()).json()
    r = api.get(f"/v1/analyses/{a['id']}/report")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")


def test_rerun_uses_the_stored_inputs(api: httpx.Client) -> None:
    first = api.post("/v1/analyses", json=analysis_body()).json()
    again = api.post(f"/v1/analyses/{first['id']}/rerun")
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["id"] != first["id"]
    assert second["inputs"] == first["inputs"] and second["config"] == first["config"]
    assert second["result"]["causes"][0]["service"] == first["result"]["causes"][0]["service"]
    other = api.post(f"/v1/analyses/{first['id']}/rerun", json={"config": {"rank": {"top_k": 1}}}).json()
    assert other["config"]["rank"]["top_k"] == 1 and len(other["result"]["causes"]) == 1
    assert api.post("/v1/analyses/nope/rerun").status_code == 404
    bad = api.post(f"/v1/analyses/{first['id']}/rerun", json={"config": {"rank": {"top_k": 0}}})
    assert (bad.status_code, bad.json()["field"]) == (422, "rank.top_k")


def test_adjacency_csv_and_trace_formats_go_through_the_loaders(api: httpx.Client) -> None:
    r = api.put("/v1/topologies/e2e-adj", params={"format": "adjacency-csv"}, content=",web,db\nweb,0,1.0\ndb,0,0\n")
    assert r.status_code == 201, r.text
    assert r.json()["document"]["calls"] == [{"caller": "web", "callee": "db", "weight": 1.0}]
    spans = [
        {"traceId": "t", "id": "1", "localEndpoint": {"serviceName": "web"}},
        {"traceId": "t", "id": "2", "parentId": "1", "kind": "CLIENT", "localEndpoint": {"serviceName": "web"}},
        {"traceId": "t", "id": "2", "parentId": "1", "kind": "SERVER", "shared": True, "localEndpoint": {"serviceName": "cart"}},
    ]
    r = api.put("/v1/topologies/e2e-zipkin", params={"format": "zipkin"}, json=spans)
    assert r.status_code == 201, r.text
    assert (r.json()["format"], r.json()["calls"]) == ("zipkin", 1)
    r = api.put("/v1/topologies/e2e-zipkin", json=spans)  # application/json: sniffed as a Zipkin export
    assert (r.status_code, r.json()["format"]) == (201, "zipkin"), r.text
    r = api.put("/v1/topologies/e2e-sniff", content=b"caller,callee\nweb,db\n", headers={"content-type": "text/plain"})
    assert (r.status_code, r.json()["format"]) == (201, "edges-csv"), r.text


def test_causal_graphs_are_stored_and_used_as_calls(api: httpx.Client) -> None:
    causal = "source,target\ndb,checkout\ncheckout,frontend\n"  # cause -> effect: the reverse of TOPOLOGY's calls
    r = api.put("/v1/topologies/e2e-causal", params={"format": "edges-csv", "edges": "causal"}, content=causal)
    assert r.status_code == 201, r.text
    assert sorted((c["caller"], c["callee"]) for c in r.json()["document"]["calls"]) == [("checkout", "db"), ("frontend", "checkout")]
    r = api.post("/v1/analyses", json=analysis_body(topology={"data": causal, "format": "edges-csv", "edges": "causal"}))
    assert r.status_code == 201, r.text
    assert r.json()["top_cause"] == "db"
    flipped = {"calls": [{"caller": c["callee"], "callee": c["caller"]} for c in TOPOLOGY["calls"]]}
    r = api.post("/v1/analyses", json=analysis_body(topology={"inline": flipped, "edges": "causal"}))
    assert (r.status_code, r.json()["top_cause"]) == (201, "db"), r.text
