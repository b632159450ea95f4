"""One write-back per incident: what to send when an incident's analysis has finished.

* **PagerDuty** (``pagerduty_note``): one note on the PagerDuty incident of the
  incident's first PagerDuty alert; later analyses add a note only when the
  top cause changes.
* **Slack**: with ``RCA_SLACK_BOT_TOKEN`` (Web API), one message posted with
  ``chat.postMessage`` and then edited in place with ``chat.update``
  (``slack_chat``, see :mod:`rca.integrations.notify.slack_chat`); with only an
  incoming webhook (which cannot edit), one message, and another only when
  the top cause changes.
* **Webhook**: an ``incident.updated`` event after every analysis, numbered by
  ``sequence`` (1, 2, ...) so a receiver keeps the highest.

The text is the analysis note of :mod:`rca.integrations.alerts.messages` with
two lines about the incident: its alerts and which symptoms the top cause
explains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rca.integrations.alerts.messages import (
    NoteContext,
    render_text,
    slack_message,
    webhook_body,
)
from rca.integrations.alerts.settings import AlertSettings
from rca.integrations.notify.outbox import pagerduty_note_url
from rca.integrations.tickets.writeback import TICKET_KINDS, ticket_delivery
from rca.store.alerts import AlertRow
from rca.store.incidents import IncidentRow, json_list

__all__ = ["IncidentNotes", "incident_notes", "incident_text", "top_key"]


@dataclass(frozen=True)
class IncidentNotes:
    """The deliveries ``[(kind, target, payload)]``, skipped kinds with why, and the new note state.

    ``ticket_items`` are the write-backs on tickets ``[(alert id, kind, target, payload)]``: each
    belongs to its own ticket's alert, not to the incident's first.
    """

    items: list[tuple[str, str, dict[str, Any]]]
    skipped: list[str]
    top: str
    sequence: int
    ticket_items: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)


def top_key(result: Mapping[str, Any] | None, error: str | None) -> str:
    """What "the top cause changed" compares: the top service, ``(none)`` or ``(failed)``."""
    if result is None or error:
        return "(failed)"
    causes = result.get("causes") or []
    return str(causes[0].get("service")) if causes else "(none)"


def _incident_lines(inc: IncidentRow, alerts: Sequence[AlertRow], result: Mapping[str, Any] | None) -> list[str]:
    services = json_list(inc.services)
    unknown = json_list(inc.unknown_services)
    line = f"Incident {inc.id}: {len(alerts)} alert(s) on {len(services)} service(s) ({', '.join(services[:8])}"
    line += " ...)" if len(services) > 8 else ")"
    if unknown:
        line += f"; {len(unknown)} outside the topology, grouped by time and labels ({', '.join(unknown[:5])})"
    out = [line]
    symptoms = (result or {}).get("symptoms") or []
    causes = (result or {}).get("causes") or []
    if len(symptoms) > 1 and causes:
        top = causes[0]
        out.append(
            f"Symptoms analysed together: {len(symptoms)}; {top.get('service')} explains "
            f"{len(top.get('explains') or [])} of them"
        )
    return out


def incident_text(
    result: Mapping[str, Any] | None, ctx: NoteContext, inc: IncidentRow, alerts: Sequence[AlertRow], *, error: str | None
) -> str:
    """The note: the analysis note with the incident's lines after its first line."""
    text = render_text(result, ctx, error=error)
    first, _, rest = text.partition("\n")
    return "\n".join([first, *_incident_lines(inc, alerts, result), rest]) if rest else "\n".join([first, *_incident_lines(inc, alerts, result)])


def incident_notes(
    settings: AlertSettings,
    inc: IncidentRow,
    alerts: Sequence[AlertRow],
    analysis_id: str,
    result: Mapping[str, Any] | None,
    error: str | None,
    ticketed: frozenset[int] = frozenset(),
) -> IncidentNotes:
    """What to send for ``inc``'s finished analysis ``analysis_id`` (see the module docstring).

    ``ticketed`` holds the alerts whose ticket already got a note: a ticket that
    joined later gets the incident's answer now, the others only when the top
    cause changes.
    """
    lead = alerts[0]
    ctx = NoteContext(
        analysis_id=analysis_id, base_url=settings.public_url, service=lead.service, metric=lead.metric,
        alert_title=lead.title, source=lead.source,
    )  # fmt: skip
    top = top_key(result, error)
    changed = inc.noted_top is None or inc.noted_top != top
    kinds: list[str] = []
    for a in alerts:
        for k in _targets(settings, a.source):
            if k not in kinds:
                kinds.append(k)
    items: list[tuple[str, str, dict[str, Any]]] = []
    ticket_items: list[tuple[int, str, str, dict[str, Any]]] = []
    skipped: list[str] = []
    text = incident_text(result, ctx, inc, alerts, error=error)
    seq = inc.notes_seq
    for kind in kinds:
        if kind in TICKET_KINDS:
            # Every ticket of the incident (a ServiceNow incident, a Jira issue) gets the incident's answer,
            # once, and again only when the top cause changes, as PagerDuty does.
            for a in alerts:
                if kind not in _targets(settings, a.source) or not a.external_id:
                    continue
                if not changed and a.id in ticketed:
                    continue
                item = ticket_delivery(settings, kind, a.external_id, ctx, result, error, alert_id=a.id)
                if isinstance(item, str):
                    skipped.append(item)
                else:
                    ticket_items.append((a.id, kind, *item))
        elif kind == "pagerduty_note":
            pd = next((a for a in alerts if a.source == "pagerduty" and a.external_id), None)
            if not settings.pagerduty_api_token or pd is None:
                skipped.append("pagerduty_note: RCA_PAGERDUTY_API_TOKEN is not set")
            elif changed:
                items.append((kind, pagerduty_note_url(settings.pagerduty_api_url, pd.external_id or ""), {"note": {"content": text}}))
        elif kind == "slack":
            message = slack_message(result, ctx, error=error)
            message["blocks"][0]["text"]["text"] = _slack_text(text)
            if settings.slack_bot_token and settings.slack_channel:
                items.append(("slack_chat", settings.slack_api_url, {"incident_id": inc.id, "channel": settings.slack_channel, **message}))
            elif not settings.slack_webhook_url:
                skipped.append("slack: RCA_SLACK_WEBHOOK_URL (or RCA_SLACK_BOT_TOKEN and RCA_SLACK_CHANNEL) is not set")
            elif changed:
                items.append((kind, settings.slack_webhook_url, message))
        elif kind == "webhook":
            if not settings.notify_webhook_url:
                skipped.append("webhook: RCA_NOTIFY_WEBHOOK_URL is not set")
                continue
            seq += 1
            body = webhook_body(result, ctx, error=error)
            body.update(
                type="incident.updated",
                sequence=seq,
                text=text,
                incident={
                    "id": inc.id,
                    "url": f"{settings.public_url.rstrip('/')}/v1/incidents/{inc.id}",
                    "alerts": len(alerts),
                    "services": json_list(inc.services),
                    "unknown_services": json_list(inc.unknown_services),
                    "top_cause_changed": changed,
                },
            )
            items.append((kind, settings.notify_webhook_url, body))
    return IncidentNotes(items, skipped, top, seq, ticket_items)


def _targets(settings: AlertSettings, source: str) -> list[str]:
    """The write-back kinds of an alert source (a mapped generic source falls back to ``generic``'s)."""
    kinds = settings.notify_targets.get(source)
    if kinds is None and source.startswith("generic:"):
        kinds = settings.notify_targets.get("generic")
    return list(kinds or [])


def _slack_text(text: str) -> str:
    first, _, rest = text.partition("\n")
    return f"*{first}*\n```{rest}```" if rest else f"*{first}*"
