"""The ServiceNow CMDB as a topology: page through ``cmdb_rel_ci`` with the Table API.

``GET {instance}/api/now/table/cmdb_rel_ci`` with
``sysparm_query=type.nameIN<the call types>^ORDERBYsys_id`` (only the relationship types of
:data:`topology.CALL_TYPES`, or those given), ``sysparm_display_value=true`` (CI names,
not sys_ids), ``sysparm_fields=sys_id,parent,child,type``, and ``sysparm_limit`` /
``sysparm_offset`` pages until a page comes back short (ServiceNow Table API,
"GET /now/table/{tableName}").  Basic auth or an OAuth bearer token.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from rca.engine.errors import AnalysisError, InvalidInputError
from topology import CALL_TYPES, ServiceGraph, graph_from_cmdb

__all__ = ["ServiceNowError", "fetch_cmdb_relationships", "pull_cmdb_topology"]


class ServiceNowError(AnalysisError):
    """The instance could not be read (unreachable, refused, or not a Table API answer)."""


def _auth(user: str | None, password: str | None, token: str | None) -> str:
    if token:
        return f"Bearer {token}"
    if user and password:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    raise InvalidInputError("give --user and --password (or --oauth-token); RCA_SERVICENOW_USER / "
                            "RCA_SERVICENOW_PASSWORD / RCA_SERVICENOW_OAUTH_TOKEN work too", field="user")


def fetch_cmdb_relationships(
    instance: str, *, user: str | None = None, password: str | None = None, oauth_token: str | None = None,
    types: Sequence[str] | None = None, page_size: int = 1000, timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> list[dict[str, Any]]:
    """Every ``cmdb_rel_ci`` record of the given relationship types (default: the call types)."""
    if not instance.startswith(("http://", "https://")):
        raise InvalidInputError(f"--instance must be a URL like https://acme.service-now.com, got {instance!r}",
                                field="instance")
    if page_size < 1:
        raise InvalidInputError(f"page_size must be >= 1, got {page_size}", field="page_size")
    wanted = list(types or CALL_TYPES)
    headers = {"Authorization": _auth(user, password, oauth_token), "Accept": "application/json"}
    url = f"{instance.rstrip('/')}/api/now/table/cmdb_rel_ci"
    records: list[dict[str, Any]] = []
    with httpx.Client(timeout=timeout, transport=transport) as http:
        while True:
            params = {
                "sysparm_query": f"type.nameIN{','.join(wanted)}^ORDERBYsys_id",
                "sysparm_display_value": "true",
                "sysparm_exclude_reference_link": "true",
                "sysparm_fields": "sys_id,parent,child,type",
                "sysparm_limit": str(page_size),
                "sysparm_offset": str(len(records)),
            }
            try:
                resp = http.get(url, params=params, headers=headers)
            except httpx.HTTPError as exc:
                raise ServiceNowError(f"{instance} is unreachable: {type(exc).__name__}: {exc}") from None
            if resp.status_code != 200:
                raise ServiceNowError(f"{url} answered {resp.status_code}: {resp.text[:300]}")
            try:
                page = resp.json().get("result")
            except (ValueError, AttributeError):
                page = None
            if not isinstance(page, list):
                raise ServiceNowError(f"{url} did not answer a Table API result list: {resp.text[:200]}")
            records += page
            if len(page) < page_size:
                return records


def pull_cmdb_topology(
    instance: str, *, types: Mapping[str, str | None] | None = None, **kwargs: Any
) -> ServiceGraph:
    """Fetch the call relationships and read them as a call graph (``types`` as :func:`topology.graph_from_cmdb`)."""
    wanted = [t for t, d in {**CALL_TYPES, **(types or {})}.items() if d is not None]
    records = fetch_cmdb_relationships(instance, types=wanted, **kwargs)
    return graph_from_cmdb(records, source=f"{instance} cmdb_rel_ci", types=types)
