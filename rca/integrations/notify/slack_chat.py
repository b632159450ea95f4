"""Slack Web API write-back: one message per incident, posted once and then edited in place.

A ``slack_chat`` delivery's payload is ``{"incident_id", "channel", "text",
"blocks"}``.  Sending it:

* when the incident has no Slack message yet: ``POST {api}/chat.postMessage``
  with ``channel``; the answer's ``channel`` (an ID) and ``ts`` are stored on
  the incident (``incidents.slack_channel``, ``incidents.slack_ts``);
* otherwise: ``POST {api}/chat.update`` with that channel ID and ``ts``
  (``chat.update`` takes a channel ID, not a name).

Both with ``Authorization: Bearer <RCA_SLACK_BOT_TOKEN>`` and a JSON body.
Slack answers HTTP 200 with ``{"ok": false, "error": ...}`` on failure and 429
with ``Retry-After`` when rate limited (https://api.slack.com/methods/chat.update,
https://api.slack.com/methods/chat.postMessage).  A delivery waits while an
earlier ``slack_chat`` delivery of the same incident is unsent, so the second
message of an incident is always an edit of the first.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select, update

from rca.store.deliveries import DeliveryRow
from rca.store.incidents import IncidentRow
from rca.store.session import Database

__all__ = ["RETRYABLE_ERRORS", "send_slack_chat"]

#: ``error`` values of a failed Slack call worth retrying.
RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})


def send_slack_chat(
    http: httpx.Client, db: Database, *, delivery_id: int, target: str, payload: str, token: str | None,
    idempotency_key: str,
) -> tuple[bool, str | None, bool, float | None]:  # fmt: skip
    """Post or update the incident's message: ``(ok, error, permanent, retry_after)``."""
    if not token:
        return False, "RCA_SLACK_BOT_TOKEN must be set to send slack_chat deliveries", True, None
    body: dict[str, Any] = json.loads(payload)
    incident_id = body.pop("incident_id")
    channel = body.pop("channel")
    with db.session() as s:
        row = s.get(IncidentRow, incident_id)
        if row is None:
            return False, f"incident {incident_id} does not exist", True, None
        earlier = s.scalar(
            select(DeliveryRow.id).where(
                DeliveryRow.kind == "slack_chat",
                DeliveryRow.id < delivery_id,
                DeliveryRow.status.in_(("pending", "sending")),
                DeliveryRow.payload.like(f'%"incident_id": {int(incident_id)},%'),
            )
        )
        ts, ch = row.slack_ts, row.slack_channel
    if earlier is not None:
        return False, f"waiting for delivery {earlier}, the earlier Slack message of incident {incident_id}", False, 1.0
    if ts and ch:
        url, data = f"{target.rstrip('/')}/chat.update", {"channel": ch, "ts": ts, **body}
    else:
        url, data = f"{target.rstrip('/')}/chat.postMessage", {"channel": channel, **body}
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": idempotency_key,
        "X-RCA-Delivery": str(delivery_id),
    }
    try:
        resp = http.post(url, content=json.dumps(data).encode(), headers=headers)
    except httpx.HTTPError as exc:
        return False, f"slack_chat target {url} unreachable: {type(exc).__name__}: {exc}", False, None
    if resp.status_code == 429:
        retry = resp.headers.get("retry-after")
        return False, "Slack rate limit (429)", False, float(retry) if retry and retry.isdigit() else None
    if not 200 <= resp.status_code < 300:
        return False, f"slack_chat target answered {resp.status_code}: {resp.text[:200]}", 400 <= resp.status_code < 500, None
    try:
        answer = resp.json()
    except ValueError:
        return False, f"Slack answered {resp.status_code} without JSON: {resp.text[:200]}", False, None
    if not answer.get("ok"):
        error = str(answer.get("error") or "unknown error")
        return False, f"Slack {url.rsplit('/', 1)[-1]} failed: {error}", error not in RETRYABLE_ERRORS, None
    if not ts:
        with db.session() as s:
            s.execute(
                update(IncidentRow)
                .where(IncidentRow.id == incident_id, IncidentRow.slack_ts.is_(None))
                .values(slack_ts=str(answer.get("ts")), slack_channel=str(answer.get("channel") or channel))
            )
    return True, None, False, None
