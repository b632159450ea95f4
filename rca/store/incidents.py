"""The ``incidents`` tables: alerts grouped into incidents, each decision with its reason.

* ``incidents``: one row per incident, ``open`` until all its alerts have
  resolved and a quiet period has passed (then ``closed``).  It carries the
  state of its one analysis (``revision`` counts joins, ``analysis_due_at``
  is the debounced time to (re)run, ``analysed_revision`` the revision the
  current ``analysis_id`` covers) and of its one write-back per target
  (``noted_analysis_id``, ``noted_top``, ``notes_seq``, Slack's ``ts``).
* ``incident_alerts``: alert -> incident, with the decision.  ``alert_id`` is
  the primary key, so an alert can be grouped once only, whatever the number
  of server processes.
* ``incident_locks``: one row per lock name.  Every grouping transaction
  starts by updating the ``grouping`` row, which takes a row lock on
  PostgreSQL (and the write lock on SQLite): grouping decisions are made one
  at a time, each seeing the previous one committed.

Times are naive UTC, like every table of the service.  List-valued columns
are JSON text.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from rca.store.models import Base

__all__ = [
    "GROUPING_LOCK",
    "INCIDENT_STATUSES",
    "IncidentAlertRow",
    "IncidentLockRow",
    "IncidentRow",
    "json_list",
    "take_lock",
]

INCIDENT_STATUSES = ("open", "closed")
GROUPING_LOCK = "grouping"


class IncidentRow(Base):
    """One incident: its alerts' services, times, analysis and write-back state."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status_last", "status", "last_alert_at"),
        Index("ix_incidents_due", "analysis_due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    title: Mapped[str | None] = mapped_column(String(512))
    services: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON: services in the topology
    unknown_services: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON: services not in it
    roots: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON: services every alert depends on
    labels: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON: "name=value" grouping labels seen
    first_alert_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)  # earliest alert start
    last_alert_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)  # latest alert start
    alerts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    opened_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    quiet_since: Mapped[datetime | None] = mapped_column(DateTime)  # when its last open alert resolved
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    close_reason: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    analysis_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    analysis_pending_since: Mapped[datetime | None] = mapped_column(DateTime)  # first join not yet analysed
    analysis_id: Mapped[str | None] = mapped_column(String(32), index=True)
    analysed_revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    analyses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    noted_analysis_id: Mapped[str | None] = mapped_column(String(32))
    noted_top: Mapped[str | None] = mapped_column(String(256))  # top cause of the last PagerDuty note
    notes_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # webhook incident.updated sequence
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)


class IncidentAlertRow(Base):
    """Which incident an alert joined, and why."""

    __tablename__ = "incident_alerts"

    alert_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    incident_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    opened: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # 1 when this alert opened the incident
    hops: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, nullable=False)


class IncidentLockRow(Base):
    """A named lock row (see the module docstring); ``taken`` counts the transactions that held it."""

    __tablename__ = "incident_locks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    taken: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


def take_lock(s: Session, name: str = GROUPING_LOCK) -> None:
    """Hold the lock ``name`` until the end of the caller's transaction (creating its row on first use)."""
    res = s.execute(update(IncidentLockRow).where(IncidentLockRow.name == name).values(taken=IncidentLockRow.taken + 1))
    if res.rowcount == 1:
        return
    s.add(IncidentLockRow(name=name, taken=1))
    s.flush()  # a concurrent first use collides on the primary key: the caller's retry then finds the row


def json_list(text: str | None) -> list[Any]:
    """The list stored in a JSON column (``[]`` for NULL)."""
    return list(json.loads(text)) if text else []
