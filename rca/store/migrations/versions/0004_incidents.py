"""Incidents: alerts grouped into incidents (``incidents``, ``incident_alerts``, ``incident_locks``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(512)),
        sa.Column("services", sa.Text, nullable=False),
        sa.Column("unknown_services", sa.Text, nullable=False),
        sa.Column("roots", sa.Text, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("first_alert_at", sa.DateTime, nullable=False),
        sa.Column("last_alert_at", sa.DateTime, nullable=False),
        sa.Column("alerts", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("quiet_since", sa.DateTime),
        sa.Column("closed_at", sa.DateTime),
        sa.Column("close_reason", sa.Text),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("analysis_due_at", sa.DateTime),
        sa.Column("analysis_pending_since", sa.DateTime),
        sa.Column("analysis_id", sa.String(32)),
        sa.Column("analysed_revision", sa.Integer, nullable=False),
        sa.Column("analyses", sa.Integer, nullable=False),
        sa.Column("noted_analysis_id", sa.String(32)),
        sa.Column("noted_top", sa.String(256)),
        sa.Column("notes_seq", sa.Integer, nullable=False),
        sa.Column("slack_channel", sa.String(64)),
        sa.Column("slack_ts", sa.String(64)),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_expires_at", sa.DateTime),
    )
    op.create_index("ix_incidents_status_last", "incidents", ["status", "last_alert_at"])
    op.create_index("ix_incidents_due", "incidents", ["analysis_due_at"])
    op.create_index("ix_incidents_analysis_id", "incidents", ["analysis_id"])
    op.create_table(
        "incident_alerts",
        sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.Column("opened", sa.Integer, nullable=False),
        sa.Column("hops", sa.Integer),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_incident_alerts_incident_id", "incident_alerts", ["incident_id"])
    op.create_table(
        "incident_locks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("taken", sa.Integer, nullable=False),
    )
    op.bulk_insert(sa.table("incident_locks", sa.column("name", sa.String), sa.column("taken", sa.Integer)),
                   [{"name": "grouping", "taken": 0}])


def downgrade() -> None:
    op.drop_table("incident_locks")
    op.drop_table("incident_alerts")
    op.drop_table("incidents")
