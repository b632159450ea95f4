"""The persisted outbox: write-backs survive restarts and are retried with backoff.

A delivery is written in the same transaction as whatever caused it (an
analysis finishing), so it cannot be lost.  :class:`OutboxSender` then:

1. **claims** due deliveries atomically: a compare-and-set ``UPDATE ... WHERE
   status = 'pending' AND next_attempt_at <= now`` (or a ``sending`` lease that
   expired because its sender died) sets ``status = 'sending'`` with a lease,
   so of several senders (threads or server processes) exactly one gets it;
2. sends it over HTTP with an ``Idempotency-Key`` header (the delivery's key,
   the same on every attempt);
3. records the outcome **in one transaction that also releases the claim**:
   ``delivered``, or back to ``pending`` at ``now + backoff`` (exponential
   with jitter), or ``failed`` after ``RCA_OUTBOX_MAX_ATTEMPTS`` or on a
   permanent 4xx.  The update only applies while the lease is still ours.

A sender that dies between 2 and 3 leaves a lease that expires; the delivery
is sent again with the same key (at-least-once; receivers that honour the
key see it once).

PagerDuty note: ``POST {RCA_PAGERDUTY_API_URL}/incidents/{id}/notes`` with
``Authorization: Token token=...``, ``Accept: application/vnd.pagerduty+json;version=2``,
``From: <email>``, body ``{"note": {"content": ...}}``.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from rca.integrations.alerts.messages import signed_webhook
from rca.integrations.notify.slack_chat import send_slack_chat
from rca.integrations.tickets.settings import TicketCredentials
from rca.integrations.tickets.writeback import TICKET_KINDS, send_ticket
from rca.store.alerts import AlertRow
from rca.store.deliveries import DELIVERY_KINDS, DeliveryRow
from rca.store.polling import PollingThread, owner_id
from rca.store.session import Database, utcnow

__all__ = ["OutboxConfig", "enqueue_delivery", "OutboxSender", "backoff_seconds", "SendResult", "pagerduty_note_url"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxConfig:
    """Retry policy and credentials used at send time (never stored in the table)."""

    max_attempts: int = 10
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    poll_seconds: float = 0.5
    timeout_seconds: float = 10.0
    lease_seconds: float = 60.0
    pagerduty_api_token: str | None = None
    pagerduty_from: str | None = None
    webhook_secret: str | None = None
    tickets: TicketCredentials | None = None  # ServiceNow / Jira write-back credentials
    slack_bot_token: str | None = None


def pagerduty_note_url(api_url: str, incident_id: str) -> str:
    return f"{api_url.rstrip('/')}/incidents/{incident_id}/notes"


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1-based): ``min(cap, base * 2**(attempt-1))``, equal jitter.

    The result lies in ``[d/2, d]`` so retries of many deliveries spread out
    but never come sooner than half the nominal delay.
    """
    d = min(cap, base * 2 ** max(0, attempt - 1))
    return d / 2 + (rng or random.Random()).uniform(0, d / 2)


def enqueue_delivery(
    s: Session,
    *,
    kind: str,
    target: str,
    payload: Mapping[str, Any],
    alert_id: int | None = None,
    analysis_id: str | None = None,
) -> DeliveryRow:
    """Add a delivery in the caller's transaction (so it commits with its cause or not at all)."""
    if kind not in DELIVERY_KINDS:
        raise ValueError(f"unknown delivery kind {kind!r}; use one of {list(DELIVERY_KINDS)}")
    now = utcnow()
    row = DeliveryRow(
        idempotency_key=uuid.uuid4().hex,
        kind=kind,
        target=target,
        payload=json.dumps(payload, sort_keys=True),
        alert_id=alert_id,
        analysis_id=analysis_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    s.add(row)
    return row


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: str
    target: str
    payload: str
    idempotency_key: str
    attempts: int


class OutboxSender:
    """Claims due deliveries, sends them, records outcomes; one background thread.

    Parameters
    ----------
    db : Database
    config : OutboxConfig
    transport : httpx.BaseTransport, optional
        For tests.
    """

    def __init__(self, db: Database, config: OutboxConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.db = db
        self.config = config
        self.owner = owner_id("outbox")
        self._http = httpx.Client(timeout=config.timeout_seconds, transport=transport)
        self._rng = random.Random()
        self._poller = PollingThread("rca-outbox", self._pass, config.poll_seconds, "outbox pass")
        self.on_delivered: Callable[[int], None] | None = None

    # -- life cycle -----------------------------------------------------------
    def start(self) -> None:
        self._poller.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._poller.stop(timeout)
        self._http.close()

    def wake(self) -> None:
        """Something was enqueued: look now instead of at the next poll."""
        self._poller.wake()

    def _pass(self) -> bool:
        self.run_once()
        return False  # a full batch still waits for the next poll or a wake-up

    # -- one pass ---------------------------------------------------------------
    def run_once(self, limit: int = 20) -> int:
        """Claim and send what is due now; the number of deliveries attempted."""
        n = 0
        while not self._poller.stopping and n < limit:
            item = self._claim_one()
            if item is None:
                break
            n += 1
            try:
                result = self._send(item)
            except Exception as exc:  # a bug or an odd target: record it, never lose the delivery
                logger.exception("delivery %s: sending raised", item.id)
                result = SendResult(False, f"{type(exc).__name__}: {exc}")
            self._record(item, result)
        return n

    def _claim_one(self) -> _Claimed | None:
        now = utcnow()
        due = or_(
            and_(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now),
            and_(DeliveryRow.status == "sending", DeliveryRow.lease_expires_at < now),
        )
        for _ in range(10):
            with self.db.session() as s:
                q = select(DeliveryRow.id).where(due).order_by(DeliveryRow.next_attempt_at, DeliveryRow.id).limit(1)
                if self.db.is_postgres:
                    q = q.with_for_update(skip_locked=True)
                did = s.scalar(q)
                if did is None:
                    return None
                res = s.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id == did, due)
                    .values(
                        status="sending",
                        lease_owner=self.owner,
                        lease_expires_at=now + timedelta(seconds=self.config.lease_seconds),
                    )
                )
                if res.rowcount != 1:
                    continue  # another sender won the race
                row = s.get(DeliveryRow, did)
                if row is None:  # claimed a moment ago, so it must exist
                    raise RuntimeError(f"delivery {did} vanished after it was claimed")
                return _Claimed(row.id, row.kind, row.target, row.payload, row.idempotency_key, row.attempts)
        return None

    def _record(self, item: _Claimed, result: SendResult) -> None:
        attempts = item.attempts + 1
        now = utcnow()
        mine = (DeliveryRow.id == item.id, DeliveryRow.status == "sending", DeliveryRow.lease_owner == self.owner)
        values: dict[str, Any] = {"attempts": attempts, "lease_owner": None, "lease_expires_at": None}
        if result.ok:
            values.update(status="delivered", delivered_at=now, last_error=None)
        elif result.permanent or attempts >= self.config.max_attempts:
            why = "permanent error" if result.permanent else f"gave up after {attempts} attempt(s)"
            values.update(status="failed", last_error=f"{result.error} ({why})")
        else:
            delay = backoff_seconds(attempts, self.config.backoff_seconds, self.config.backoff_max_seconds, self._rng)
            if result.retry_after is not None:
                delay = max(delay, min(result.retry_after, self.config.backoff_max_seconds))
            values.update(status="pending", last_error=result.error, next_attempt_at=now + timedelta(seconds=delay))
        with self.db.session() as s:
            res = s.execute(update(DeliveryRow).where(*mine).values(**values))
            if res.rowcount == 1 and values.get("status") == "failed":
                _note_on_alert(s, item, values["last_error"])
        if res.rowcount != 1:
            logger.warning("delivery %s: lease lost before the outcome was recorded", item.id)
        elif result.ok:
            logger.info("delivery %s (%s) delivered after %d attempt(s)", item.id, item.kind, attempts)
            if self.on_delivered is not None:
                self.on_delivered(item.id)
        else:
            logger.warning("delivery %s (%s) attempt %d failed: %s", item.id, item.kind, attempts, result.error)

    # -- HTTP -------------------------------------------------------------------
    def _send(self, item: _Claimed) -> SendResult:
        if item.kind == "slack_chat":  # one message per incident, edited in place (rca.integrations.notify.slack_chat)
            ok, error, permanent, retry = send_slack_chat(
                self._http, self.db, delivery_id=item.id, target=item.target, payload=item.payload,
                token=self.config.slack_bot_token, idempotency_key=item.idempotency_key,
            )  # fmt: skip
            return SendResult(ok, error, permanent=permanent, retry_after=retry)
        payload = json.loads(item.payload)
        if item.kind in TICKET_KINDS:
            out = send_ticket(self._http, item.kind, item.target, payload, self.config.tickets,
                              idempotency_key=item.idempotency_key, delivery_id=item.id, attempts=item.attempts)
            return SendResult(out.ok, out.error, out.permanent, out.retry_after)
        headers = {"Idempotency-Key": item.idempotency_key, "X-RCA-Delivery": str(item.id)}
        if item.kind == "pagerduty_note":
            if not (self.config.pagerduty_api_token and self.config.pagerduty_from):
                return SendResult(False, "RCA_PAGERDUTY_API_TOKEN and RCA_PAGERDUTY_FROM must be set", permanent=True)
            headers.update(
                {
                    "Authorization": f"Token token={self.config.pagerduty_api_token}",
                    "Accept": "application/vnd.pagerduty+json;version=2",
                    "Content-Type": "application/json",
                    "From": self.config.pagerduty_from,
                }
            )
            body = json.dumps(payload).encode()
        elif item.kind == "webhook":
            body, signed = signed_webhook(payload, self.config.webhook_secret)
            headers.update(signed)
        else:  # slack
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        try:
            resp = self._http.post(item.target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(False, f"{item.kind} target {item.target} unreachable: {type(exc).__name__}: {exc}")
        if 200 <= resp.status_code < 300:
            return SendResult(True)
        error = f"{item.kind} target answered {resp.status_code}: {resp.text[:200]}"
        retry_after = _retry_after(resp.headers.get("retry-after"))
        # Client errors will not fix themselves, except timeouts, conflicts and rate limits.
        permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 409, 425, 429)
        return SendResult(False, error, permanent=permanent, retry_after=retry_after)


def _note_on_alert(s: Session, item: _Claimed, error: str) -> None:
    """A write-back that gave up is said on its alert too (``GET /v1/alerts`` shows ``error``)."""
    alert_id = s.scalar(select(DeliveryRow.alert_id).where(DeliveryRow.id == item.id))
    alert = None if alert_id is None else s.get(AlertRow, alert_id)
    if alert is not None:
        note = f"write-back {item.kind} failed: {error}"
        alert.error = f"{alert.error}; {note}" if alert.error else note


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
