"""Ticket and monitoring webhooks -> :class:`~rca.integrations.alerts.parsers.AlertEvent`.

* **ServiceNow**: an incident record as a Business Rule or Flow Designer REST step sends it.
  A field is a plain string or, as the Table API writes it with
  ``sysparm_display_value=all``, an object ``{"value": ..., "display_value": ...}``
  (reference fields add ``link``).  Dedup by ``sys_id``; the service is the display value
  of the first of ``cmdb_ci``, ``business_service`` that is set; the time is ``opened_at``
  (the Table API's ``value``: UTC ``YYYY-MM-DD HH:MM:SS``); ``state`` 6/7/8 (Resolved,
  Closed, Canceled) closes.
* **Jira** (``jira:issue_created`` / ``jira:issue_updated``): dedup by ``issue.id``; the
  service from a mapped field (components, labels with a prefix, or a custom field); the
  time from ``fields.created``; status category ``done`` or a resolution closes.
* **Splunk** webhook alert action: dedup by ``sid``; the service and the metric from fields
  of ``result`` (the first result row); the time from ``result._time``, else ``default_start``.
* **Dynatrace** custom integration with the payload template of the docs: dedup by ``PID``
  (or ``ProblemID``); ``State`` OPEN triggers, RESOLVED/CLOSED/MERGED close; the service from a
  ``service:<name>`` tag, else the first impacted entity's name, else ``ImpactedEntity``; the metric
  from a ``rca_metric:<name>`` tag; the time from ``ProblemDetailsJSON.startTime``, else ``default_start``.

``default_start`` (the routes pass the receipt time minus ``RCA_ALERT_WINDOW``, so the incident
window is the last minutes before the alert) is used when a payload carries no time; without it, now.

Each parser raises :class:`~rca.integrations.alerts.parsers.PayloadError` naming the
field (422); an event whose service cannot be found is returned with ``service=None``
and a ``reason`` (stored as ``unmappable``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rca.integrations.alerts.parsers import AlertEvent, PayloadError, _get, _load, _time

__all__ = [
    "TicketParserConfig",
    "parse_servicenow",
    "parse_jira",
    "parse_splunk",
    "parse_dynatrace",
    "parse_time",
    "TICKET_SOURCES",
]

TICKET_SOURCES = ("servicenow", "jira", "splunk", "dynatrace")

# ServiceNow incident states (sys_choice incident.state): 6 Resolved, 7 Closed, 8 Canceled.
_SN_CLOSED = {"6", "7", "8", "resolved", "closed", "canceled", "cancelled"}
_DT_CLOSED = {"RESOLVED", "CLOSED", "MERGED"}


@dataclass(frozen=True)
class TicketParserConfig:
    """Where each tool names the service and the metric (the ``RCA_SERVICENOW_*``, ``RCA_JIRA_*``... settings)."""

    default_metric: str = "latency"
    service_map: Mapping[str, str] = field(default_factory=dict)
    servicenow_service_fields: Sequence[str] = ("cmdb_ci", "business_service")
    servicenow_metric_field: str = "u_rca_metric"
    jira_service_field: str = "components"
    jira_service_prefix: str = "service:"
    jira_metric_field: str | None = None
    splunk_service_field: str = "service"
    splunk_metric_field: str = "rca_metric"
    dynatrace_tag_prefix: str = "service:"


def _mapped(cfg: TicketParserConfig, *names: str | None) -> str | None:
    for n in names:
        if n and n in cfg.service_map:
            return cfg.service_map[n]
    return next((n for n in names if n), None)


def parse_time(value: Any, path: str) -> datetime:
    """RFC 3339, ServiceNow's ``YYYY-MM-DD HH:MM:SS`` (UTC), Jira's ``+0000`` offsets, or unix seconds/milliseconds."""
    if isinstance(value, bool):
        raise PayloadError(f"{path} must be a time, got {value!r}", field=path)
    if isinstance(value, int | float) or isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        x = float(value)
        return datetime.fromtimestamp(x / 1000 if x > 1e11 else x, tz=UTC)  # > year 5138 in seconds: milliseconds
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{path} must be a time, got {value!r}", field=path)
    text = value.strip()
    if len(text) >= 19 and text[10] == " ":
        text = text[:10] + "T" + text[11:]
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():  # +0000 -> +00:00
        text = f"{text[:-2]}:{text[-2:]}"
    return _time(text, path)


# -- ServiceNow -----------------------------------------------------------------------------
def _sn_field(doc: Mapping[str, Any], name: str) -> tuple[str | None, str | None]:
    """``(value, display value)`` of a ServiceNow field in either serialization."""
    v = doc.get(name)
    if v is None or v == "":
        return None, None
    if isinstance(v, Mapping):
        value, display = v.get("value"), v.get("display_value")
        value = str(value) if value not in (None, "") else None
        display = str(display) if display not in (None, "") else None
        return value, display or value
    if isinstance(v, str | int | float):
        return str(v), str(v)
    raise PayloadError(f"{name} must be a string or an object with value/display_value", field=name)


def parse_servicenow(body: bytes | str | Mapping[str, Any], config: TicketParserConfig | None = None) -> list[AlertEvent]:
    """A ServiceNow incident record (Business Rule / Flow Designer REST step).

    Examples
    --------
    >>> [ev] = parse_servicenow({"sys_id": "9d385017c611228701d22104cc95c371", "number": "INC0010001",
    ...     "short_description": "Checkout slow", "state": "2", "opened_at": "2024-05-01 13:00:00",
    ...     "cmdb_ci": {"value": "a9c0c8d2c6112276018f7705562f9cb0", "display_value": "frontend"}})
    >>> ev.service, ev.action, ev.started_at.isoformat()
    ('frontend', 'trigger', '2024-05-01T13:00:00+00:00')
    """
    cfg = config or TicketParserConfig()
    doc = _load(body)
    if isinstance(doc.get("result"), Mapping):  # a Table API answer pasted as is
        doc = doc["result"]
    sys_id, _ = _sn_field(doc, "sys_id")
    if not sys_id:
        raise PayloadError("sys_id is required (the incident's sys_id)", field="sys_id")
    number = _sn_field(doc, "number")[1]
    state_value, state_display = _sn_field(doc, "state")
    closed = bool({(state_value or "").lower(), (state_display or "").lower()} & _SN_CLOSED)
    title = " ".join(x for x in (number, _sn_field(doc, "short_description")[1]) if x) or None
    if closed:
        return [AlertEvent("servicenow", sys_id, "resolve", None, cfg.default_metric, None, sys_id, title, None, doc)]
    opened_value, _ = _sn_field(doc, "opened_at")
    if not opened_value:
        raise PayloadError("opened_at is required (send its value: UTC 'YYYY-MM-DD HH:MM:SS')", field="opened_at")
    started = parse_time(opened_value, "opened_at")
    names: list[str | None] = []
    for f in cfg.servicenow_service_fields:
        names.append(_sn_field(doc, f)[1])
    service = _mapped(cfg, *names)
    reason = None if service else f"none of {list(cfg.servicenow_service_fields)} is set on the incident"
    metric = _sn_field(doc, cfg.servicenow_metric_field)[0] or cfg.default_metric
    return [AlertEvent("servicenow", sys_id, "trigger", service, metric, started, sys_id, title, reason, doc)]


# -- Jira -----------------------------------------------------------------------------------
_JIRA_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")


def _jira_values(v: Any) -> list[str]:
    """Names of a Jira field value: a string, an option ``{"value"}``, a component ``{"name"}``, or a list of them."""
    if v is None:
        return []
    if isinstance(v, str):
        return [v] if v else []
    if isinstance(v, int | float) and not isinstance(v, bool):
        return [str(v)]
    if isinstance(v, Mapping):
        got = v.get("value") or v.get("name") or v.get("displayName")
        return [str(got)] if got else []
    if isinstance(v, list):
        return [x for item in v for x in _jira_values(item)]
    return []


def parse_jira(body: bytes | str | Mapping[str, Any], config: TicketParserConfig | None = None) -> list[AlertEvent]:
    """Jira Cloud / Data Center issue webhook (``webhookEvent`` ``jira:issue_created`` or ``jira:issue_updated``)."""
    cfg = config or TicketParserConfig()
    doc = _load(body)
    event = _get(doc, "webhookEvent", str, "webhookEvent")
    issue = _get(doc, "issue", dict, "issue")
    issue_id = str(_get(issue, "id", (str, int), "issue.id"))
    key = _get(issue, "key", str, "issue.key")
    fields = _get(issue, "fields", dict, "issue.fields")
    title = " ".join(x for x in (key, fields.get("summary") if isinstance(fields.get("summary"), str) else None) if x)
    if event not in _JIRA_EVENTS:
        return [AlertEvent("jira", issue_id, "ignore", None, cfg.default_metric, None, key, title,
                           f"webhookEvent {event!r} is not acted on (use {list(_JIRA_EVENTS[:2])})", doc)]
    status = fields.get("status") if isinstance(fields.get("status"), Mapping) else {}
    category = (status.get("statusCategory") or {}).get("key") if isinstance(status.get("statusCategory"), Mapping) else None
    if event == "jira:issue_deleted" or category == "done" or fields.get("resolution"):
        return [AlertEvent("jira", issue_id, "resolve", None, cfg.default_metric, None, key, title, None, doc)]
    created = fields.get("created")
    if created is None:
        raise PayloadError("issue.fields.created is required", field="issue.fields.created")
    started = parse_time(created, "issue.fields.created")
    fname = cfg.jira_service_field
    values = _jira_values(fields.get(fname))
    if fname == "labels":
        values = [v[len(cfg.jira_service_prefix):] for v in values if v.startswith(cfg.jira_service_prefix)]
        why = f"no label '{cfg.jira_service_prefix}<service>' on the issue"
    else:
        why = f"issue.fields.{fname} is empty (RCA_JIRA_SERVICE_FIELD)"
    service = _mapped(cfg, *values) if values else None
    metric = (_jira_values(fields.get(cfg.jira_metric_field)) or [cfg.default_metric])[0] if cfg.jira_metric_field else cfg.default_metric
    return [AlertEvent("jira", issue_id, "trigger", service, metric, started, key, title, None if service else why, doc)]


# -- Splunk ---------------------------------------------------------------------------------
def parse_splunk(
    body: bytes | str | Mapping[str, Any], config: TicketParserConfig | None = None, *, default_start: datetime | None = None
) -> list[AlertEvent]:
    """Splunk's webhook alert action: ``result`` (the first result row), ``sid``, ``search_name``, ``results_link``..."""
    cfg = config or TicketParserConfig()
    doc = _load(body)
    sid = _get(doc, "sid", str, "sid")
    result = _get(doc, "result", dict, "result")
    raw_service = result.get(cfg.splunk_service_field)
    service = _mapped(cfg, *_jira_values(raw_service))
    reason = None if service else f"result.{cfg.splunk_service_field} is not set (RCA_SPLUNK_SERVICE_FIELD)"
    metric = (_jira_values(result.get(cfg.splunk_metric_field)) or [cfg.default_metric])[0]
    when = result.get("_time")
    started = parse_time(when, "result._time") if when not in (None, "") else (default_start or datetime.now(UTC))
    title = doc.get("search_name") if isinstance(doc.get("search_name"), str) else None
    return [AlertEvent("splunk", sid, "trigger", service, metric, started, sid, title or sid, reason, doc)]


# -- Dynatrace ------------------------------------------------------------------------------
def parse_dynatrace(
    body: bytes | str | Mapping[str, Any], config: TicketParserConfig | None = None, *, default_start: datetime | None = None
) -> list[AlertEvent]:
    """A Dynatrace problem notification sent with the custom payload template of the docs."""
    cfg = config or TicketParserConfig()
    doc = _load(body)
    pid = _get(doc, "PID", (str, int), "PID", required=False) or _get(doc, "ProblemID", (str, int), "ProblemID")
    pid = str(pid)
    state = str(_get(doc, "State", str, "State")).upper()
    title = doc.get("ProblemTitle") if isinstance(doc.get("ProblemTitle"), str) else None
    if state in _DT_CLOSED:
        return [AlertEvent("dynatrace", pid, "resolve", None, cfg.default_metric, None, pid, title, None, doc)]
    if state != "OPEN":
        return [AlertEvent("dynatrace", pid, "ignore", None, cfg.default_metric, None, pid, title,
                           f"State {state!r} is not acted on (OPEN analyses, RESOLVED closes)", doc)]
    tags = doc.get("Tags")
    tag_list = [t.strip() for t in tags.split(",")] if isinstance(tags, str) else _jira_values(tags)
    from_tag = [t[len(cfg.dynatrace_tag_prefix):] for t in tag_list if t.startswith(cfg.dynatrace_tag_prefix)]
    entities = doc.get("ImpactedEntities")
    if entities is not None and not isinstance(entities, list):
        raise PayloadError("ImpactedEntities must be an array (write {ImpactedEntities} unquoted in the template)",
                           field="ImpactedEntities")
    names = [e.get("name") for e in entities or [] if isinstance(e, Mapping) and isinstance(e.get("name"), str)]
    entity = doc.get("ImpactedEntity") if isinstance(doc.get("ImpactedEntity"), str) else None
    service = _mapped(cfg, *(from_tag[:1] + names[:1] + [entity]))
    metric = next((t[len("rca_metric:"):] for t in tag_list if t.startswith("rca_metric:")), None) or cfg.default_metric
    reason = None if service else f"no '{cfg.dynatrace_tag_prefix}<service>' tag and no impacted entity name"
    details = doc.get("ProblemDetailsJSON")
    start = details.get("startTime") if isinstance(details, Mapping) else None
    started = parse_time(start, "ProblemDetailsJSON.startTime") if start else (default_start or datetime.now(UTC))
    return [AlertEvent("dynatrace", pid, "trigger", service, metric, started, pid, title, reason, doc)]
