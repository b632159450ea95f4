"""Ticket and monitoring parsers, generic mappings, inbound authentication, settings (no server)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import tickets_payloads as T
from pydantic import ValidationError

from rca.integrations.alerts.parsers import PayloadError
from rca.integrations.alerts.settings import AlertSettings
from rca.integrations.alerts.signatures import SignatureError, hmac_hex
from rca.integrations.tickets.auth import (
    verify_jira,
    verify_servicenow,
    verify_token_or_bearer,
)
from rca.integrations.tickets.generic import (
    GenericMapping,
    UnmappablePayloadError,
    parse_generic,
)
from rca.integrations.tickets.parsers import (
    TicketParserConfig,
    parse_dynatrace,
    parse_jira,
    parse_servicenow,
    parse_splunk,
    parse_time,
)

CFG = TicketParserConfig(service_map={"Shop Frontend": "frontend"})
T0 = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["2024-05-01 13:00:00", "2024-05-01T13:00:00Z", "2024-05-01T13:00:00.000+0000",
                                   "2024-05-01T15:00:00+02:00", 1714568400, "1714568400", 1714568400000])
def test_times_in_every_vendor_form(value: object) -> None:
    assert parse_time(value, "t") == T0


def test_time_errors_name_the_field() -> None:
    for bad in ("yesterday", "", True, None):
        with pytest.raises(PayloadError) as info:
            parse_time(bad, "opened_at")
        assert info.value.field == "opened_at"


def test_servicenow_incident() -> None:
    [ev] = parse_servicenow(T.servicenow_incident(), CFG)
    assert (ev.source, ev.dedup_key, ev.action, ev.service, ev.metric, ev.started_at) == (
        "servicenow", T.SN_SYS_ID, "trigger", "frontend", "latency", T0)
    assert ev.external_id == T.SN_SYS_ID and ev.title == "INC0010001 Checkout latency p99 above 4 s"
    # plain strings (a script that sends values), and a Table API answer pasted whole
    flat = {k: (v["display_value"] if isinstance(v, dict) else v) for k, v in T.servicenow_incident().items()}
    flat["u_rca_metric"] = "error_rate"
    [ev] = parse_servicenow({"result": flat}, CFG)
    assert ev.service == "frontend" and ev.metric == "error_rate"


@pytest.mark.parametrize("state", ["6", "7", "8"])
def test_servicenow_resolved_closed_canceled_close(state: str) -> None:
    [ev] = parse_servicenow(T.servicenow_incident(state=state), CFG)
    assert ev.action == "resolve" and ev.dedup_key == T.SN_SYS_ID


def test_servicenow_falls_back_to_business_service_and_says_when_none() -> None:
    doc = T.servicenow_incident()
    doc["cmdb_ci"] = {"value": "", "display_value": ""}
    doc["business_service"] = {"value": "x", "display_value": "checkout"}
    assert parse_servicenow(doc, CFG)[0].service == "checkout"
    doc["business_service"] = ""
    [ev] = parse_servicenow(doc, CFG)
    assert ev.service is None and "cmdb_ci" in ev.reason


@pytest.mark.parametrize(("drop", "field"), [("sys_id", "sys_id"), ("opened_at", "opened_at")])
def test_servicenow_missing_fields(drop: str, field: str) -> None:
    doc = T.servicenow_incident()
    del doc[drop]
    with pytest.raises(PayloadError) as info:
        parse_servicenow(doc, CFG)
    assert info.value.field == field


def test_jira_issue_created_updated_done() -> None:
    [ev] = parse_jira(T.jira_issue(), CFG)
    assert (ev.dedup_key, ev.external_id, ev.action, ev.service, ev.started_at) == ("10012", "SUP-12", "trigger", "frontend", T0)
    labels = TicketParserConfig(jira_service_field="labels", jira_metric_field="customfield_10051")
    [ev] = parse_jira(T.jira_issue("jira:issue_updated"), labels)
    assert ev.service == "frontend" and ev.metric == "latency" and ev.action == "trigger"
    assert parse_jira(T.jira_issue(status_category="done"), CFG)[0].action == "resolve"
    [ev] = parse_jira(T.jira_issue("comment_created"), CFG)
    assert ev.action == "ignore" and "comment_created" in ev.reason
    custom = TicketParserConfig(jira_service_field="customfield_10099")
    [ev] = parse_jira(T.jira_issue(), custom)
    assert ev.service is None and "customfield_10099" in ev.reason


def test_jira_errors_name_the_field() -> None:
    doc = T.jira_issue()
    del doc["issue"]["fields"]["created"]
    with pytest.raises(PayloadError) as info:
        parse_jira(doc, CFG)
    assert info.value.field == "issue.fields.created"
    with pytest.raises(PayloadError) as info:
        parse_jira({"webhookEvent": "jira:issue_created"}, CFG)
    assert info.value.field == "issue"


def test_splunk_alert() -> None:
    [ev] = parse_splunk(T.splunk_alert(), CFG)
    assert (ev.dedup_key, ev.service, ev.started_at, ev.title) == (
        "scheduler_admin_search_W2_at_14232356_132", "frontend", T0, "Frontend latency p99")
    now = datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
    [ev] = parse_splunk(T.splunk_alert(time_=None), CFG, default_start=now)
    assert ev.started_at == now
    doc = T.splunk_alert()
    del doc["result"]["service"]
    [ev] = parse_splunk(doc, CFG)
    assert ev.service is None and "result.service" in ev.reason
    with pytest.raises(PayloadError) as info:
        parse_splunk({"result": {}}, CFG)
    assert info.value.field == "sid"


def test_dynatrace_problem() -> None:
    [ev] = parse_dynatrace(T.dynatrace_problem(), CFG)
    assert (ev.action, ev.service, ev.started_at) == ("trigger", "frontend", T0)
    [ev] = parse_dynatrace(T.dynatrace_problem(tag_service=None), CFG)
    assert ev.service == "frontend" and ev.metric == "latency"  # the first impacted entity's name
    doc = T.dynatrace_problem()
    doc["Tags"] += ", rca_metric:error_rate"
    del doc["ProblemDetailsJSON"]
    [ev] = parse_dynatrace(doc, CFG, default_start=T0)
    assert ev.metric == "error_rate" and ev.started_at == T0
    assert parse_dynatrace(T.dynatrace_problem(state="RESOLVED"), CFG)[0].action == "resolve"
    doc = T.dynatrace_problem()
    doc["ImpactedEntities"] = "[{...}]"  # the placeholder quoted in the template
    with pytest.raises(PayloadError) as info:
        parse_dynatrace(doc, CFG)
    assert info.value.field == "ImpactedEntities"
    with pytest.raises(PayloadError) as info:
        parse_dynatrace({"PID": "1"}, CFG)
    assert info.value.field == "State"


APPD = GenericMapping(id="/event/id", service="application.name", start="/event/time", status="/event/type",
                      resolved_values=["POLICY_CLOSE_CRITICAL"], metric="/rca/metric", tokens=["t"])


def test_generic_mapping_with_pointer_and_jmespath() -> None:
    [ev] = parse_generic("appd", T.appdynamics_event(), APPD)
    assert (ev.source, ev.dedup_key, ev.service, ev.metric, ev.started_at) == ("generic:appd", "44571", "frontend", "latency", T0)
    [ev] = parse_generic("appd", T.appdynamics_event(event_type="POLICY_CLOSE_CRITICAL"), APPD)
    assert ev.action == "resolve"
    [ev] = parse_generic("appd", T.appdynamics_event(app="Shop Frontend"), APPD, service_map={"Shop Frontend": "frontend"})
    assert ev.service == "frontend"


@pytest.mark.parametrize(("drop", "path"), [("application", "application.name"), ("event", "/event/id")])
def test_generic_mapping_that_selects_nothing_names_the_path(drop: str, path: str) -> None:
    doc = T.appdynamics_event()
    del doc[drop]
    with pytest.raises(UnmappablePayloadError, match="selects nothing") as info:
        parse_generic("appd", doc, APPD)
    assert info.value.field == path


def test_generic_mapping_validation() -> None:
    with pytest.raises(ValidationError, match="not a JMESPath expression"):
        GenericMapping(id="event[", service="/a")
    with pytest.raises(ValidationError, match="not a JSON Pointer"):
        GenericMapping(id="/a/~2", service="/a")
    with pytest.raises(ValidationError, match="extra"):
        GenericMapping(id="/a", service="/b", servce="/c")
    with pytest.raises(ValidationError, match="needs tokens or hmac_secret"):
        AlertSettings(generic_webhooks={"appd": {"id": "/a", "service": "/b"}})
    with pytest.raises(ValidationError, match="must match"):
        AlertSettings(generic_webhooks={"App D": {"id": "/a", "service": "/b", "tokens": ["x"]}})


def test_ticket_settings_validation() -> None:
    with pytest.raises(ValidationError, match="jira_comment writes on a jira ticket"):
        AlertSettings(notify_targets={"splunk": ["jira_comment"]})
    with pytest.raises(ValidationError, match="RCA_SERVICENOW_PASSWORD is required"):
        AlertSettings(servicenow_user="bot")
    with pytest.raises(ValidationError, match="user:password"):
        AlertSettings(servicenow_basic_auth="nocolon")
    s = AlertSettings(notify_targets={"generic:appd": ["webhook"], "servicenow": ["servicenow_work_note"]})
    assert s.notify_targets["generic:appd"] == ["webhook"]


def _basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


def test_inbound_authentication() -> None:
    verify_servicenow({"X-RCA-Token": "t"}, ["t"], [], header="X-RCA-Token")
    verify_servicenow({"Authorization": _basic("u:p")}, [], ["u:p"], header="X-RCA-Token")
    for headers, field in (({}, "X-RCA-Token"), ({"Authorization": _basic("u:x")}, "Authorization"),
                           ({"Authorization": "Basic %%%"}, "Authorization")):
        with pytest.raises(SignatureError) as info:
            verify_servicenow(headers, ["t"], ["u:p"], header="X-RCA-Token")
        assert info.value.field == field
    with pytest.raises(SignatureError, match="RCA_SERVICENOW_TOKENS"):
        verify_servicenow({"X-RCA-Token": "t"}, [], [], header="X-RCA-Token")
    body = b'{"webhookEvent":"jira:issue_created"}'
    verify_jira(body, {"X-Hub-Signature": f"sha256={hmac_hex('s', body)}"}, ["old", "s"], [], header="X-RCA-Token")
    verify_jira(body, {"X-RCA-Token": "tok"}, ["s"], ["tok"], header="X-RCA-Token")
    with pytest.raises(SignatureError, match="does not match"):
        verify_jira(body + b" ", {"X-Hub-Signature": f"sha256={hmac_hex('s', body)}"}, ["s"], [], header="X-RCA-Token")
    with pytest.raises(SignatureError, match="sha256="):
        verify_jira(body, {"X-Hub-Signature": hmac_hex("s", body)}, ["s"], [], header="X-RCA-Token")
    verify_token_or_bearer({}, ["k"], header="X-RCA-Token", setting="RCA_SPLUNK_TOKENS", query_token="k")
    verify_token_or_bearer({"Authorization": "Bearer k"}, ["k"], header="X-RCA-Token", setting="RCA_DYNATRACE_TOKENS")
    with pytest.raises(SignatureError, match=r"\?token="):
        verify_token_or_bearer({}, ["k"], header="X-RCA-Token", setting="RCA_SPLUNK_TOKENS", query_token="")


def test_generic_hmac_scheme() -> None:
    from rca.integrations.tickets.auth import verify_hmac_header

    body = b'{"event": {"id": "1"}}'
    verify_hmac_header(body, {"X-Signature": hmac_hex("k", body)}, ["k"], header="X-Signature", prefix="")
    verify_hmac_header(body, {"x-hub": f"sha256={hmac_hex('k', body)}"}, ["k"], header="X-Hub", prefix="sha256=")
    for headers in ({}, {"X-Signature": hmac_hex("other", body)}):
        with pytest.raises(SignatureError) as info:
            verify_hmac_header(body, headers, ["k"], header="X-Signature", prefix="")
        assert info.value.field == "X-Signature"
    m = GenericMapping(id="/event/id", service="/s", hmac_secret="k")
    s = AlertSettings(generic_webhooks={"inhouse": m.model_dump()})
    assert s.generic_webhooks["inhouse"].hmac_secret == "k"
