"""Ticket and monitoring webhook payloads in the shapes the vendors document (docs/integrations/tickets.md).

Each builder cites the page its shape comes from; values are the examples' own where they
exist, with the service and time changed to the demo incident's.
"""

from __future__ import annotations

import copy
import json
from typing import Any

SN_SYS_ID = "9d385017c611228701d22104cc95c371"


def servicenow_incident(sys_id: str = SN_SYS_ID, *, ci: str = "Shop Frontend", state: str = "2",
                        opened_at: str = "2024-05-01 13:00:00", number: str = "INC0010001") -> dict[str, Any]:
    """An incident as a Business Rule's REST message sends it with ``sysparm_display_value=all``-style fields.

    Field names and the ``{"value", "display_value", "link"}`` form of reference fields: ServiceNow
    Table API, "GET /now/table/{tableName}" response with ``sysparm_display_value=all``
    (https://developer.servicenow.com/dev.do#!/reference/api/latest/rest/c_TableAPI); incident
    ``state`` values 1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8 Canceled
    (https://www.servicenow.com/docs/r/it-service-management/incident-management/c_IncidentManagementStateModel.html).
    """
    return {
        "sys_id": sys_id,
        "number": number,
        "short_description": "Checkout latency p99 above 4 s",
        "state": {"value": state, "display_value": {"2": "In Progress", "6": "Resolved", "7": "Closed"}.get(state, "New")},
        "priority": {"value": "2", "display_value": "2 - High"},
        "opened_at": {"value": opened_at, "display_value": opened_at},
        "cmdb_ci": {"value": "b0c25d1bc0a800090168be1bfcdcd759", "display_value": ci,
                    "link": "https://instance.service-now.com/api/now/table/cmdb_ci/b0c25d1bc0a800090168be1bfcdcd759"},
        "business_service": {"value": "", "display_value": ""},
        "caller_id": {"value": "5137153cc611227c000bbd1bd8cd2005", "display_value": "Fred Luddy"},
    }


def jira_issue(event: str = "jira:issue_created", *, key: str = "SUP-12", issue_id: str = "10012",
               component: str = "frontend", created: str = "2024-05-01T13:00:00.000+0000",
               status_category: str = "new") -> dict[str, Any]:
    """A Jira Cloud issue webhook: ``timestamp``, ``webhookEvent``, ``issue_event_type_name``, ``user``, ``issue``.

    Shape: Jira Cloud platform, "Webhooks", example callback for an issue-related event
    (https://developer.atlassian.com/cloud/jira/platform/webhooks/#example-callback-for-an-issue-related-event);
    ``fields.created`` in Jira's ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` form.
    """
    return {
        "timestamp": 1714568400123,
        "webhookEvent": event,
        "issue_event_type_name": "issue_created" if event.endswith("created") else "issue_generic",
        "user": {"self": "https://site.atlassian.net/rest/api/2/user?accountId=5b10a2844c20165700ede21g",
                 "accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof", "active": True},
        "issue": {
            "id": issue_id,
            "self": f"https://site.atlassian.net/rest/api/2/{issue_id}",
            "key": key,
            "fields": {
                "summary": "Checkout is slow for customers",
                "issuetype": {"id": "10003", "name": "[System] Incident"},
                "project": {"id": "10000", "key": key.split("-")[0], "name": "Support"},
                "labels": ["service:frontend", "p1"],
                "components": [{"id": "10000", "name": component}],
                "status": {"name": "Open", "statusCategory": {"id": 2, "key": status_category, "name": "To Do"}},
                "resolution": None,
                "created": created,
                "customfield_10051": {"id": "10020", "value": "latency"},
            },
        },
    }


def splunk_alert(*, sid: str = "scheduler_admin_search_W2_at_14232356_132", service: str = "frontend",
                 time_: str | None = "1714568400") -> dict[str, Any]:
    """Splunk's webhook alert action body: ``result`` (first row), ``sid``, ``results_link``, ``search_name``,
    ``owner``, ``app`` (Splunk Enterprise Alerting Manual, "Use a webhook alert action", example payload,
    https://help.splunk.com/splunk-enterprise/alert-and-respond/alerting-manual/10.0/configure-alert-actions/use-a-webhook-alert-action).
    The result row carries the search's fields: here ``service``, ``_time`` and a count.
    """
    result: dict[str, Any] = {"sourcetype": "access_combined", "count": "8", "service": service}
    if time_ is not None:
        result["_time"] = time_
    return {
        "result": result,
        "sid": sid,
        "results_link": f"http://web.example.local:8000/app/search/@go?sid={sid}",
        "search_name": "Frontend latency p99",
        "owner": "admin",
        "app": "search",
    }


def dynatrace_problem(*, pid: str = "-1234567890123456789_1714568400000V2", state: str = "OPEN",
                      tag_service: str | None = "frontend", start_ms: int = 1714568400000) -> dict[str, Any]:
    """A Dynatrace problem notification rendered from our documented custom payload template.

    Placeholders: Dynatrace, "Problem notifications: webhook integration", custom payload
    placeholders {ProblemID} {PID} {State} {ProblemTitle} {ImpactedEntity} {ImpactedEntities}
    {ProblemURL} {Tags} {ProblemDetailsJSON}
    (https://docs.dynatrace.com/docs/analyze-explore-automate/notifications-and-alerting/problem-notifications/webhook-integration);
    {ImpactedEntities} renders a JSON array of ``{type, name, entity}``.
    """
    tags = "environment:production" + (f", service:{tag_service}" if tag_service else "")
    return {
        "ProblemID": "P-240501",
        "PID": pid,
        "State": state,
        "ProblemTitle": "Response time degradation",
        "ImpactedEntity": "Response time degradation on Web service frontend",
        "ImpactedEntities": [{"type": "SERVICE", "name": "frontend", "entity": "SERVICE-F5D7459A6CD9842B"}],
        "ProblemURL": f"https://abc12345.live.dynatrace.com/#problems/problemdetails;pid={pid}",
        "Tags": tags,
        "ProblemSeverity": "PERFORMANCE",
        "ProblemDetailsJSON": {"id": pid, "startTime": start_ms, "status": state},
    }


def appdynamics_event(*, event_id: str = "44571", app: str = "frontend", event_type: str = "POLICY_OPEN_CRITICAL",
                      time_: str = "2024-05-01T13:00:00Z") -> dict[str, Any]:
    """An AppDynamics HTTP request template's body, with the template variables the docs list
    (``${latestEvent.id}``, ``${latestEvent.application.name}``, ``${latestEvent.eventType}``,
    ``${latestEvent.summaryMessage}``: AppDynamics, "Predefined Templating Variables" and "Info Class
    Fields", https://help.splunk.com/en/appdynamics-saas/get-started/26.4.0/alert-and-respond/actions/predefined-templating-variables);
    the layout is the user's own template, mapped by RCA_GENERIC_WEBHOOKS.  ``eventTime`` is a Java
    ``Date`` that Velocity renders as ``Wed May 01 13:00:00 UTC 2024``, so the docs' template leaves it
    out (the start is then the receipt minus RCA_ALERT_WINDOW); here an ISO ``time`` stands for a
    template that formats it, so the analysis sees the demo incident's window.
    """
    return {"event": {"id": event_id, "type": event_type, "time": time_, "summary": "Business transaction health violated"},
            "application": {"name": app}, "rca": {"metric": "latency"}}


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def with_(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out.update(changes)
    return out
