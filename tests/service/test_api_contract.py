"""The server keeps the contract it publishes: schemathesis against a real uvicorn server.

Every check runs (``--checks all``: no 5xx, status codes, content types and
bodies as documented, schema-valid requests accepted and schema-invalid ones
rejected, ``Allow`` headers, authentication enforced), over a few hundred
generated requests with a fixed seed in deterministic mode.  The only widening
is in ``schemathesis.toml`` beside this file, with its reasons.  The smaller
tests pin the contract's parts that a generator reaches only by luck.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from api_support import launch, make_key

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def contract_server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("contract")
    url = f"sqlite:///{tmp / 'rca.db'}"
    key = make_key(url, "read", "write")
    server = launch(
        tmp, url, max_body_bytes=200_000, max_metric_points=2_000, sync_max_points=500,
        alertmanager_tokens=key, grafana_tokens=key, opsgenie_tokens=key,
        servicenow_tokens=key, jira_tokens=key, splunk_tokens=key, dynatrace_tokens=key,
    )  # fmt: skip
    yield server, key
    server.stop()


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_contract_failure(contract_server, tmp_path: Path) -> None:
    server, key = contract_server
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{server.url}/openapi.json",
        "--checks", "all", "--max-examples", "25", "--seed", "22", "--generation-deterministic", "--workers", "1",
        "--header", f"Authorization: Bearer {key}", "--header", f"X-RCA-Token: {key}", "--no-color",
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", out)
    assert generated, out[-3000:]
    assert int(generated.group(1)) >= 300 and generated.group(1) == generated.group(2), out[-3000:]
    assert "Server error" not in out and "Runtime Error" not in out


def test_the_schema_documents_the_error_body_and_the_limits(contract_server) -> None:
    server, _ = contract_server
    doc = httpx.get(f"{server.url}/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and set(schemas["ErrorBody"]["required"]) == {"error", "detail", "field"}
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', httpx.get(f"{server.url}/openapi.json").text))
    assert refs <= set(schemas), refs - set(schemas)  # every reference resolves (TopologyRef among them)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for code, resp in op["responses"].items():
                if code.startswith("4"):
                    assert resp["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}, (path, method, code)
    params = {p["name"]: p["schema"] for p in doc["paths"]["/v1/analyses"]["get"]["parameters"]}
    assert params["limit"]["maximum"] == 200
    assert any(s.get("format") == "date-time" for s in params["since"]["anyOf"])
    alert_params = {p["name"]: p["schema"] for p in doc["paths"]["/v1/alerts"]["get"]["parameters"]}
    assert alert_params["status"]["anyOf"][0]["enum"] == ["firing", "resolved", "ignored", "unmappable"]
    report = doc["paths"]["/v1/analyses/{analysis_id}/report"]["get"]["responses"]["200"]["content"]
    assert list(report) == ["text/html"]
    # config is typed field by field from the engine's parameter table
    body = doc["paths"]["/v1/analyses"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    config = schemas[body["properties"]["config"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]]
    granger = schemas[config["properties"]["granger"]["$ref"].rsplit("/", 1)[1]]
    assert granger["properties"]["max_lag"] == {**granger["properties"]["max_lag"], "type": "integer", "minimum": 1, "maximum": 50}
    assert granger["additionalProperties"] is False


def test_since_must_be_a_date_time_with_a_zone(contract_server) -> None:
    server, key = contract_server
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as api:
        for bad in ("0.5", "1714564800", "2024-05-01", "2024-05-01T12:00:00"):
            r = api.get("/v1/analyses", params={"since": bad})
            assert r.status_code == 422 and r.json()["field"] == "since", (bad, r.text)
        assert api.get("/v1/analyses", params={"since": "2024-05-01T12:00:00Z"}).status_code == 200
        assert api.get("/v1/accuracy", params={"since": "2024-05-01T12:00:00+08:00"}).status_code == 200


def test_options_answers_every_method_of_the_path(contract_server) -> None:
    server, key = contract_server
    r = httpx.request("OPTIONS", f"{server.url}/v1/analyses", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST" and r.json()["error"] == "method_not_allowed"


def test_a_config_value_outside_the_schema_is_refused_naming_it(contract_server) -> None:
    server, key = contract_server
    from api_support import analysis_body

    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
        r = api.post("/v1/analyses", json=analysis_body(config={"granger": {"max_lag": "3"}}))
        assert r.status_code == 422 and r.json() == {**r.json(), "error": "invalid_config", "field": "granger.max_lag"}, r.text
        r = api.post("/v1/analyses", json=analysis_body(config={"detect": {"window": "5 minutes"}}))
        assert r.status_code == 422 and r.json()["field"] == "detect.window", r.text
        r = api.post("/v1/analyses", json=analysis_body(config={"granger": {"max_lag": 3.0}, "rank": {"top_k": 3}}))
        assert r.status_code == 201, r.text
        assert r.json()["config"]["granger"]["max_lag"] == 3 and r.json()["config"]["rank"]["top_k"] == 3


def test_an_unknown_config_parameter_is_refused_with_the_closest_names(contract_server) -> None:
    server, key = contract_server
    from api_support import analysis_body

    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as api:
        r = api.post("/v1/analyses", json=analysis_body(config={"granger": {"max_lags": 3}}))
    assert r.status_code == 422 and r.json()["field"] == "granger.max_lags", r.text
    assert "did you mean 'max_lag'?" in r.json()["detail"], r.text


def test_the_config_schema_has_every_engine_parameter_with_its_default() -> None:
    import rca
    from rca.service.config_schema import ConfigBody, config_names

    defaults = rca.RCAConfig().to_dict()
    assert config_names([]) == sorted(defaults)
    for section, params in defaults.items():
        assert config_names([section]) == sorted(params), section
        model = ConfigBody.model_fields[section].annotation
        for name, value in params.items():
            assert model.model_fields[name].default == value, (section, name)
