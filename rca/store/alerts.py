"""The ``alerts`` table: every authenticated webhook delivery, kept even when nothing can be done with it.

An alert is *open* while it fires: ``open_key`` then equals ``dedup_key`` and
the unique constraint on ``(source, open_key)`` makes a duplicate delivery of
an open alert collide instead of starting a second analysis.  Resolving sets
``open_key`` to NULL (NULLs never collide), so the same alert firing again
later is a new row with a new analysis.

``analysis_state`` follows the alert through the pipeline::

    pending --(metrics fetched, job queued)--> queued --(job finished, write-back enqueued)--> done
       |                                                                                     ^
       +--(Prometheus failed: a failed analysis is recorded, write-back says so)-------------+
    none: nothing to analyze (resolved, ignored, unmappable)

With incidents enabled (``RCA_INCIDENTS_ENABLED``), ``pending`` becomes
``grouped`` when the alert joins an incident, and ``queued``/``done`` follow
the incident's analysis (see :mod:`rca.integrations.alerts.incident_worker`).

Times are naive UTC, like every table of the service.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rca.store.models import Base

__all__ = ["AlertRow", "ALERT_STATUSES", "ANALYSIS_STATES"]

ALERT_STATUSES = ("firing", "resolved", "ignored", "unmappable")
"""Status of a stored alert (``alerts.status``)."""

ANALYSIS_STATES = ("none", "pending", "grouped", "queued", "done")


class AlertRow(Base):
    """One alert as received, with what became of it."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("source", "open_key", name="uq_alerts_source_open_key"),
        Index("ix_alerts_state", "analysis_state", "received_at"),
        Index("ix_alerts_received", "received_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    dedup_key: Mapped[str] = mapped_column(String(256), nullable=False, index=True)
    open_key: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(String(256))
    metric: Mapped[str | None] = mapped_column(String(256))
    title: Mapped[str | None] = mapped_column(String(512))
    external_id: Mapped[str | None] = mapped_column(String(256))
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    receipts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # deliveries of this alert received
    raw: Mapped[str] = mapped_column(Text, nullable=False)  # JSON as received (this alert's part for groups)
    analysis_state: Mapped[str] = mapped_column(String(16), nullable=False, default="none")
    analysis_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # Problems met on the way: Prometheus warnings and series without data, skipped write-backs, failure reason.
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
