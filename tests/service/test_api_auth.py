"""API keys: Bearer tokens, hashed at rest, scopes read/write; auth off only when configured."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from api_support import TOPOLOGY, analysis_body
from sqlalchemy import select

from rca.service.security import create_api_key
from rca.store.models import ApiKeyRow
from rca.store.session import Database


def _error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


@pytest.mark.parametrize(
    ("headers", "detail_part"),
    [
        ({}, "missing API key"),
        ({"Authorization": "Bearer rca_not-a-real-key"}, "unknown or revoked"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "must be 'Bearer <key>'"),
        ({"Authorization": "Bearer"}, "must be 'Bearer <key>'"),
    ],
)
def test_requests_without_a_valid_key_are_401(shared: Any, headers: dict[str, str], detail_part: str) -> None:
    with httpx.Client(base_url=shared.server.url, headers=headers) as c:
        for method, path in (("GET", "/v1/topologies"), ("POST", "/v1/analyses"), ("GET", "/v1/analyses/x")):
            r = c.request(method, path)
            _error(r, 401, "unauthorized")
            assert detail_part in r.json()["detail"]
            assert r.headers["www-authenticate"] == "Bearer"


def test_scopes(shared: Any) -> None:
    with shared.client("read") as reader, shared.client("write") as writer:
        _error(reader.put("/v1/topologies/auth-shop", json=TOPOLOGY), 403, "forbidden")
        _error(reader.post("/v1/analyses", json=analysis_body()), 403, "forbidden")
        _error(reader.delete("/v1/topologies/auth-shop"), 403, "forbidden")
        assert writer.put("/v1/topologies/auth-shop", json=TOPOLOGY).status_code == 201
        _error(writer.get("/v1/topologies/auth-shop"), 403, "forbidden")
        assert reader.get("/v1/topologies/auth-shop").status_code == 200


def test_ops_endpoints_need_no_key(shared: Any) -> None:
    with httpx.Client(base_url=shared.server.url) as c:
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            assert c.get(path).status_code == 200, path


def test_keys_are_stored_hashed(database: Database) -> None:
    token = create_api_key(database, scopes=["read"], name="ci")
    with database.session() as s:
        rows = list(s.scalars(select(ApiKeyRow)))
    assert len(rows) == 1
    stored = rows[0]
    assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {stored.token_sha256, stored.prefix, stored.name, stored.scopes}
    assert stored.scopes == "read"


@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "root"]])
def test_create_api_key_rejects_bad_scopes(database: Database, scopes: list[str]) -> None:
    with pytest.raises(ValueError, match="scopes must be among"):
        create_api_key(database, scopes=scopes)
