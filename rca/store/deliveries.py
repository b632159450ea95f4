"""The ``deliveries`` table: the persisted outbox of write-backs (PagerDuty notes, webhooks, Slack).

``status``: ``pending`` (waiting for ``next_attempt_at``) -> ``sending`` (claimed
by one sender, leased) -> ``delivered`` | ``failed`` (gave up: ``last_error``).
A sender that dies mid-send leaves a lease that expires; the delivery is then
sent again with the same ``idempotency_key`` (sent as the ``Idempotency-Key``
header) so a receiver can drop the repeat.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rca.store.models import Base

__all__ = ["DeliveryRow", "DELIVERY_KINDS", "DELIVERY_STATUSES"]

DELIVERY_KINDS = ("pagerduty_note", "webhook", "slack", "servicenow_work_note", "jira_comment", "slack_chat")
"""Kinds of write-back target (``deliveries.kind``)."""

DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed")


class DeliveryRow(Base):
    """One message to send, with its retry state."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    target: Mapped[str] = mapped_column(Text, nullable=False)  # URL; credentials come from settings at send time
    payload: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True)
    analysis_id: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
