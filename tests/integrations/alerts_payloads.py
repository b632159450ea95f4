"""Webhook payloads as the vendors document them (see shared/docs/integrations.md)."""

from __future__ import annotations

import copy
import json
from typing import Any


def alertmanager(service: str = "checkout", status: str = "firing", fingerprint: str = "1a30ba71cca2921f",
                 starts_at: str = "2023-02-06T13:08:45.828Z", **labels: str) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "rca",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "severity": "critical"},
        "commonAnnotations": {"summary": "p99 latency high"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "HighLatency", "service": service, "namespace": "shop", **labels},
                "annotations": {"summary": "..."},
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
                "fingerprint": fingerprint,
            }
        ],
    }


def grafana(**kw: Any) -> dict[str, Any]:
    doc = alertmanager(**kw)
    doc["version"] = "1"
    doc["orgId"] = 1
    doc["alerts"][0]["values"] = {"B": 4.2}
    doc["alerts"][0]["silenceURL"] = "http://grafana/alerting/silence/new"
    return doc


def pagerduty(event_type: str = "incident.triggered", incident_id: str = "PGR0VU2", service: str = "API Service",
              created_at: str = "2020-04-09T15:16:27Z", event_id: str = "5ac64822-4adc-4fda-ade0-410becf0de4f",
              incident_key: str = "d3640fbd41094207a1c11e58e46b1662") -> dict[str, Any]:
    return {
        "event": {
            "id": event_id,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2020-10-02T18:45:22.169Z",
            "agent": {"id": "PLH1HKV", "type": "user_reference"},
            "client": {"name": "PagerDuty"},
            "data": {
                "id": incident_id,
                "type": "incident",
                "number": 2,
                "status": "triggered",
                "incident_key": incident_key,
                "created_at": created_at,
                "title": "A little bump in the road",
                "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
                "service": {"id": "PF9KMXH", "summary": service, "type": "service_reference"},
                "urgency": "high",
                "priority": {"summary": "P1"},
            },
        }
    }


def opsgenie(action: str = "Create", tags: list[str] | None = None, entity: str = "", alias: str = "aliastest",
             created_ms: int = 1420452191104) -> dict[str, Any]:
    return {
        "action": action,
        "integrationId": "37c8f316-17c6-49d7-a21f-c8a4b2a0a1c8",
        "integrationName": "Integration1",
        "source": {"name": "web", "type": "API"},
        "alert": {
            "alertId": "052652ac-5d1c-464a-812a-7dd18bbfba8c",
            "alias": alias,
            "tinyId": "23",
            "message": "test alert",
            "tags": ["service:checkout"] if tags is None else tags,
            "teams": ["team1"],
            "entity": entity,
            "createdAt": created_ms,
        },
    }


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def without(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """A deep copy of ``doc`` with the dotted ``path`` removed (``alerts.0.startsAt``)."""
    out = copy.deepcopy(doc)
    node: Any = out
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    del node[int(keys[-1]) if isinstance(node, list) else keys[-1]]
    return out


def with_value(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
    return out
