"""Ticket write-backs through the outbox: what to enqueue, and how one is sent.

* ``servicenow_work_note``: ``PATCH {RCA_SERVICENOW_INSTANCE_URL}/api/now/table/{RCA_SERVICENOW_TABLE}/{sys_id}``
  with ``{"work_notes": "<text>"}``, ``Accept``/``Content-Type: application/json``, Basic auth
  (``RCA_SERVICENOW_USER``/``PASSWORD``) or ``Authorization: Bearer <RCA_SERVICENOW_OAUTH_TOKEN>``
  (ServiceNow Table API, "PATCH /now/table/{tableName}/{sys_id}").
* ``jira_comment``: ``POST {RCA_JIRA_BASE_URL}/rest/api/3/issue/{key}/comment`` with
  ``{"body": <ADF document>}`` (plus the ``sd.public.comment`` property ``{"internal": true}``
  unless ``RCA_JIRA_COMMENT_INTERNAL=false``: an internal note, not a reply to the customer), Basic ``email:api_token`` or a bearer personal access token
  (Jira Cloud REST API v3, "Add comment").

Answers: 2xx delivered; 401 (credentials may be rotated), 408, 409, 425, 429 (``Retry-After``
honoured) and 5xx are retried with backoff; other 4xx fail at once.  Before a **retry** the
ticket is read first (ServiceNow ``sys_journal_field``, Jira's comment list): when the
note of this analysis is already there, because an earlier attempt landed but its answer was
lost, the delivery is marked delivered instead of writing the note twice.

A Jira comment carries the property ``rca.alert`` (``{"alert_id": ...}``); when the alert's
analysis is rerun (``POST /v1/analyses/{id}/rerun``), the new answer **replaces** that comment
(``PUT .../comment/{id}``) instead of adding one.  ServiceNow work notes are a journal that
cannot be edited: a rerun adds a note.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from rca.integrations.alerts.messages import NoteContext
from rca.integrations.tickets.notes import (
    jira_comment_adf,
    note_marker,
    servicenow_work_note,
)
from rca.integrations.tickets.settings import TicketCredentials

__all__ = ["TICKET_KINDS", "TicketOutcome", "ticket_delivery", "send_ticket", "servicenow_record_url", "jira_comment_url"]

TICKET_KINDS = ("servicenow_work_note", "jira_comment")
JIRA_PROPERTY = "rca.alert"
"""Comment property naming the alert a Jira comment answers: a rerun's comment replaces that one."""
_RETRYABLE = (401, 408, 409, 425, 429)


@dataclass(frozen=True)
class TicketOutcome:
    """How one send went (the outbox records it like its own ``SendResult``)."""

    ok: bool
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None


def servicenow_record_url(instance_url: str, table: str, sys_id: str) -> str:
    return f"{instance_url.rstrip('/')}/api/now/table/{quote(table)}/{quote(sys_id)}"


def jira_comment_url(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/rest/api/3/issue/{quote(key)}/comment"


def ticket_delivery(
    settings: Any, kind: str, external_id: str | None, ctx: NoteContext, result: Mapping[str, Any] | None,
    error: str | None, *, alert_id: int | None = None,
) -> tuple[str, dict[str, Any]] | str:
    """``(target URL, payload)`` of a ticket write-back, or why it is skipped (a setting is missing)."""
    if not external_id:
        return f"{kind}: the alert has no ticket id"
    if kind == "servicenow_work_note":
        if not settings.servicenow_instance_url:
            return "servicenow_work_note: RCA_SERVICENOW_INSTANCE_URL is not set"
        instance = settings.servicenow_instance_url.rstrip("/")
        journal = (f"{instance}/api/now/table/sys_journal_field?sysparm_query="
                   f"{quote(f'element_id={external_id}^element=work_notes^valueLIKE{note_marker(ctx)}')}"
                   "&sysparm_fields=sys_id&sysparm_limit=1")
        return servicenow_record_url(instance, settings.servicenow_table, external_id), {
            "body": {"work_notes": servicenow_work_note(result, ctx, error=error)},
            "marker": note_marker(ctx),
            "check_url": journal,
        }
    if kind == "jira_comment":
        if not settings.jira_base_url:
            return "jira_comment: RCA_JIRA_BASE_URL is not set"
        url = jira_comment_url(settings.jira_base_url, external_id)
        comment: dict[str, Any] = {"body": jira_comment_adf(result, ctx, error=error)}
        props = [{"key": JIRA_PROPERTY, "value": {"alert_id": alert_id}}]
        if getattr(settings, "jira_comment_internal", True):
            # Jira Service Management shows platform-API comments to the customer unless marked internal.
            props.append({"key": "sd.public.comment", "value": {"internal": True}})
        comment["properties"] = props
        return url, {
            "body": comment,
            "marker": note_marker(ctx),
            "alert_id": alert_id,
            "check_url": f"{url}?orderBy=-created&maxResults=100&expand=properties",
        }
    raise ValueError(f"not a ticket write-back kind: {kind!r}; use one of {list(TICKET_KINDS)}")


def _auth(kind: str, creds: TicketCredentials) -> str | None:
    if kind == "servicenow_work_note":
        if creds.servicenow_oauth_token:
            return f"Bearer {creds.servicenow_oauth_token}"
        if creds.servicenow_user and creds.servicenow_password:
            return "Basic " + base64.b64encode(f"{creds.servicenow_user}:{creds.servicenow_password}".encode()).decode()
        return None
    if creds.jira_bearer_token:
        return f"Bearer {creds.jira_bearer_token}"
    if creds.jira_user_email and creds.jira_api_token:
        return "Basic " + base64.b64encode(f"{creds.jira_user_email}:{creds.jira_api_token}".encode()).decode()
    return None


_MISSING_CREDS = {
    "servicenow_work_note": "RCA_SERVICENOW_USER and RCA_SERVICENOW_PASSWORD (or RCA_SERVICENOW_OAUTH_TOKEN) must be set",
    "jira_comment": "RCA_JIRA_USER_EMAIL and RCA_JIRA_API_TOKEN (or RCA_JIRA_BEARER_TOKEN) must be set",
}


def _our_jira_comment(http: httpx.Client, payload: Mapping[str, Any], headers: Mapping[str, str]) -> tuple[str, bool] | None:
    """``(comment id, has this analysis's note)`` of the comment answering this alert, or None (none, or unreadable)."""
    try:
        resp = http.get(payload["check_url"], headers=dict(headers))
        doc = resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    for c in (doc.get("comments") if isinstance(doc, Mapping) else None) or []:
        if not isinstance(c, Mapping):
            continue
        props = {p.get("key"): p.get("value") for p in c.get("properties") or [] if isinstance(p, Mapping)}
        ours = props.get(JIRA_PROPERTY)
        if isinstance(ours, Mapping) and ours.get("alert_id") == payload.get("alert_id") and c.get("id"):
            return str(c["id"]), payload["marker"] in json.dumps(c.get("body"))
    return None


def _already_there(http: httpx.Client, kind: str, payload: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    """Whether an earlier attempt's note is in the ticket already; False when the ticket cannot be read."""
    try:
        resp = http.get(payload["check_url"], headers=dict(headers))
    except httpx.HTTPError:
        return False
    if resp.status_code != 200:
        return False
    try:
        doc = resp.json()
    except ValueError:
        return False
    if kind == "servicenow_work_note":
        return bool(doc.get("result")) if isinstance(doc, Mapping) else False
    comments = doc.get("comments") if isinstance(doc, Mapping) else None
    return any(payload["marker"] in json.dumps(c.get("body")) for c in comments or [] if isinstance(c, Mapping))


def send_ticket(
    http: httpx.Client, kind: str, target: str, payload: Mapping[str, Any], creds: TicketCredentials | None,
    *, idempotency_key: str, delivery_id: int, attempts: int,
) -> TicketOutcome:
    """Send one ticket write-back (see the module docstring)."""
    auth = _auth(kind, creds or TicketCredentials())
    if auth is None:
        return TicketOutcome(False, _MISSING_CREDS[kind], permanent=True)
    headers = {"Authorization": auth, "Accept": "application/json", "Content-Type": "application/json",
               "Idempotency-Key": idempotency_key, "X-RCA-Delivery": str(delivery_id)}  # fmt: skip
    method = "PATCH" if kind == "servicenow_work_note" else "POST"
    if kind == "jira_comment" and payload.get("alert_id") is not None:
        found = _our_jira_comment(http, payload, headers)
        if found is not None and found[1]:
            return TicketOutcome(True)  # this analysis's comment is there (an earlier attempt landed)
        if found is not None:  # a rerun: replace the alert's comment instead of adding one
            method, target = "PUT", f"{target}/{quote(found[0])}"
    elif attempts > 0 and _already_there(http, kind, payload, headers):
        return TicketOutcome(True)
    try:
        resp = http.request(method, target, content=json.dumps(payload["body"]).encode(), headers=headers)
    except httpx.HTTPError as exc:
        return TicketOutcome(False, f"{kind} target {target} unreachable: {type(exc).__name__}: {exc}")
    if 200 <= resp.status_code < 300:
        return TicketOutcome(True)
    error = f"{kind} target answered {resp.status_code}: {resp.text[:200]}"
    if resp.status_code == 401:
        error += f" (check {_MISSING_CREDS[kind].split(' must')[0]})"
    retry_after = None
    if resp.headers.get("retry-after"):
        try:
            retry_after = max(0.0, float(resp.headers["retry-after"]))
        except ValueError:
            retry_after = None
    permanent = 400 <= resp.status_code < 500 and resp.status_code not in _RETRYABLE
    return TicketOutcome(False, error, permanent=permanent, retry_after=retry_after)
