"""Tickets in an incident: each ticket gets the incident's answer on its own record, once."""

from __future__ import annotations

from datetime import datetime

from rca.integrations.alerts.incident_notes import incident_notes
from rca.integrations.alerts.settings import AlertSettings
from rca.store.alerts import AlertRow
from rca.store.incidents import IncidentRow

T = datetime(2024, 5, 1, 13, 0)
RESULT = {
    "status": "found",
    "causes": [{"service": "payment", "metric": "latency", "confidence": 0.8, "path": ["payment", "checkout", "frontend"],
                "evidence": {}}],
    "no_cause_probability": 0.1,
}


def _alert(id_: int, source: str, external_id: str) -> AlertRow:
    return AlertRow(id=id_, source=source, dedup_key=external_id, status="firing", service="frontend", metric="latency",
                    title=f"ticket {external_id}", external_id=external_id, started_at=T, received_at=T, raw="{}")


def _settings() -> AlertSettings:
    return AlertSettings(
        servicenow_instance_url="https://acme.service-now.com",
        notify_targets={"servicenow": ["servicenow_work_note"], "alertmanager": ["webhook"]},
        notify_webhook_url="http://127.0.0.1:9/hook",
    )


def _incident(noted_top: str | None) -> IncidentRow:
    return IncidentRow(id=7, status="open", services='["frontend"]', unknown_services="[]", first_alert_at=T,
                       last_alert_at=T, opened_at=T, updated_at=T, noted_top=noted_top, notes_seq=0)


def test_every_ticket_of_an_incident_gets_a_note_on_its_own_record():
    alerts = [_alert(1, "servicenow", "a" * 32), _alert(2, "alertmanager", "fp1"), _alert(3, "servicenow", "b" * 32)]
    plan = incident_notes(_settings(), _incident(None), alerts, "an1", RESULT, None)
    assert [(a, k) for a, k, _, _ in plan.ticket_items] == [(1, "servicenow_work_note"), (3, "servicenow_work_note")]
    assert [t.rsplit("/", 1)[-1] for _, _, t, _ in plan.ticket_items] == ["a" * 32, "b" * 32]
    assert [k for k, _, _ in plan.items] == ["webhook"]


def test_a_ticket_that_joins_later_gets_the_answer_and_the_others_do_not_again():
    alerts = [_alert(1, "servicenow", "a" * 32), _alert(3, "servicenow", "b" * 32)]
    plan = incident_notes(_settings(), _incident("payment"), alerts, "an2", RESULT, None, frozenset({1}))
    assert [a for a, *_ in plan.ticket_items] == [3]
    # the top cause changed: every ticket hears of it
    moved = {**RESULT, "causes": [{**RESULT["causes"][0], "service": "db"}]}
    plan = incident_notes(_settings(), _incident("payment"), alerts, "an3", moved, None, frozenset({1, 3}))
    assert [a for a, *_ in plan.ticket_items] == [1, 3]
