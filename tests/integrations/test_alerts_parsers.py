from __future__ import annotations

from datetime import UTC, datetime

import alerts_payloads as P
import pytest

from rca.engine.errors import InvalidInputError
from rca.integrations.alerts.parsers import (
    ParserConfig,
    PayloadError,
    parse_alert,
    parse_alertmanager,
    parse_opsgenie,
    parse_pagerduty,
)


def test_alertmanager_v4() -> None:
    [ev] = parse_alertmanager(P.dumps(P.alertmanager()))
    assert (ev.source, ev.action, ev.service, ev.metric, ev.dedup_key) == (
        "alertmanager", "trigger", "checkout", "latency", "1a30ba71cca2921f")
    assert ev.started_at == datetime(2023, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    assert ev.title == "HighLatency"


def test_alertmanager_resolved_closes() -> None:
    [ev] = parse_alertmanager(P.dumps(P.alertmanager(status="resolved")))
    assert ev.action == "resolve" and ev.dedup_key == "1a30ba71cca2921f"


def test_service_label_order_is_configurable_and_metric_label_read() -> None:
    doc = P.alertmanager(destination_service_name="cart", rca_metric="error_rate")
    cfg = ParserConfig(service_labels=("destination_service_name", "service"))
    [ev] = parse_alertmanager(doc, cfg)
    assert ev.service == "cart" and ev.metric == "error_rate"


def test_alert_without_a_service_label_keeps_a_reason() -> None:
    doc = P.alertmanager()
    del doc["alerts"][0]["labels"]["service"]
    [ev] = parse_alertmanager(doc, ParserConfig(service_labels=("service", "app")))
    assert ev.service is None and ev.action == "trigger"
    assert ev.reason == "no service label: none of ['service', 'app'] is set on the alert"


def test_grafana_same_parser_with_org_in_dedup_key() -> None:
    [ev] = parse_alert("grafana", P.dumps(P.grafana()))
    assert ev.source == "grafana" and ev.dedup_key == "1:1a30ba71cca2921f" and ev.service == "checkout"
    assert ev.raw["values"] == {"B": 4.2}


def test_nanosecond_timestamps_from_go_parse() -> None:
    [ev] = parse_alertmanager(P.alertmanager(starts_at="2023-02-06T13:08:45.123456789+01:00"))
    assert ev.started_at == datetime(2023, 2, 6, 12, 8, 45, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (P.without(P.alertmanager(), "alerts"), "alerts"),
        (P.with_value(P.alertmanager(), "alerts", {}), "alerts"),
        (P.without(P.alertmanager(), "alerts.0.startsAt"), "alerts[0].startsAt"),
        (P.with_value(P.alertmanager(), "alerts.0.startsAt", "yesterday"), "alerts[0].startsAt"),
        (P.with_value(P.alertmanager(), "alerts.0.status", "burning"), "alerts[0].status"),
        (P.without(P.alertmanager(), "alerts.0.labels"), "alerts[0].labels"),
        (P.with_value(P.alertmanager(), "alerts.0.labels.service", 3), "alerts[0].labels.service"),
        (P.with_value(P.alertmanager(), "alerts.0", "x"), "alerts[0]"),
    ],
)
def test_alertmanager_malformed_names_the_field(doc: dict, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_alertmanager(P.dumps(doc))
    assert info.value.field == field and field in str(info.value)
    assert isinstance(info.value, InvalidInputError)


@pytest.mark.parametrize(("body", "match"), [(b"{not json", "not valid JSON"), (b"[1]", "must be a JSON object")])
def test_non_json_bodies(body: bytes, match: str) -> None:
    with pytest.raises(PayloadError, match=match) as info:
        parse_alert("alertmanager", body)
    assert info.value.field == "body"


def test_pagerduty_triggered() -> None:
    [ev] = parse_pagerduty(P.dumps(P.pagerduty()), ParserConfig(service_map={"API Service": "checkout"}))
    assert (ev.action, ev.service, ev.external_id, ev.dedup_key) == (
        "trigger", "checkout", "PGR0VU2", "d3640fbd41094207a1c11e58e46b1662")
    assert ev.started_at == datetime(2020, 4, 9, 15, 16, 27, tzinfo=UTC)
    assert ev.title == "A little bump in the road"


def test_pagerduty_service_by_id_then_summary() -> None:
    [ev] = parse_pagerduty(P.pagerduty(), ParserConfig(service_map={"PF9KMXH": "api"}))
    assert ev.service == "api"
    [ev] = parse_pagerduty(P.pagerduty())
    assert ev.service == "API Service"


@pytest.mark.parametrize(
    ("etype", "action", "reason"),
    [
        ("incident.annotated", "ignore", "our own notes"),
        ("incident.acknowledged", "ignore", "'incident.acknowledged' is not acted on"),
        ("incident.resolved", "resolve", None),
        ("incident.reopened", "trigger", None),
    ],
)
def test_pagerduty_event_types(etype: str, action: str, reason: str | None) -> None:
    [ev] = parse_pagerduty(P.pagerduty(event_type=etype))
    assert ev.action == action
    if reason:
        assert reason in (ev.reason or "")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (P.without(P.pagerduty(), "event"), "event"),
        (P.without(P.pagerduty(), "event.event_type"), "event.event_type"),
        (P.with_value(P.pagerduty(), "event.event_type", 7), "event.event_type"),
        (P.without(P.pagerduty(), "event.data"), "event.data"),
        (P.without(P.pagerduty(), "event.data.id"), "event.data.id"),
        (P.with_value(P.pagerduty(), "event.data.service", "API"), "event.data.service"),
        (P.with_value(P.pagerduty(), "event.data.created_at", "noon"), "event.data.created_at"),
    ],
)
def test_pagerduty_malformed_names_the_field(doc: dict, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_pagerduty(P.dumps(doc))
    assert info.value.field == field


def test_opsgenie_create_from_tags() -> None:
    [ev] = parse_opsgenie(P.dumps(P.opsgenie()))
    assert (ev.action, ev.service, ev.dedup_key, ev.external_id) == (
        "trigger", "checkout", "aliastest", "052652ac-5d1c-464a-812a-7dd18bbfba8c")
    assert ev.started_at == datetime(2015, 1, 5, 10, 3, 11, 104000, tzinfo=UTC)


def test_opsgenie_service_from_entity_and_details() -> None:
    [ev] = parse_opsgenie(P.opsgenie(tags=[], entity="cart"), ParserConfig(opsgenie_service_from="entity"))
    assert ev.service == "cart"
    doc = P.opsgenie(tags=[])
    doc["alert"]["details"] = {"svc": "db"}
    [ev] = parse_opsgenie(doc, ParserConfig(opsgenie_service_from="details", opsgenie_details_key="svc"))
    assert ev.service == "db"


def test_opsgenie_unmappable_and_other_actions() -> None:
    [ev] = parse_opsgenie(P.opsgenie(tags=["team:x"]))
    assert ev.service is None and ev.reason == "no tag 'service:<service>' on the alert"
    [ev] = parse_opsgenie(P.opsgenie(action="Close"))
    assert ev.action == "resolve"
    [ev] = parse_opsgenie(P.opsgenie(action="AddNote"))
    assert ev.action == "ignore" and "'AddNote'" in (ev.reason or "")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (P.without(P.opsgenie(), "action"), "action"),
        (P.without(P.opsgenie(), "alert"), "alert"),
        (P.with_value(P.opsgenie(), "alert.createdAt", "2015-01-05"), "alert.createdAt"),
        (P.without(P.opsgenie(), "alert.createdAt"), "alert.createdAt"),
        (P.without(P.without(P.opsgenie(), "alert.alias"), "alert.alertId"), "alert.alertId"),
    ],
)
def test_opsgenie_malformed_names_the_field(doc: dict, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_opsgenie(doc)
    assert info.value.field == field


def test_unknown_source() -> None:
    with pytest.raises(InvalidInputError, match="unknown alert source 'nagios'"):
        parse_alert("nagios", b"{}")
