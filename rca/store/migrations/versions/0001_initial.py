"""The service's first tables: topologies, analyses, analysis_inputs, api_keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "topologies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("services", sa.Integer, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_topologies_name_version"),
    )
    op.create_index("ix_topologies_name", "topologies", ["name"])
    op.create_table(
        "analyses",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("incident", sa.Text, nullable=False),
        sa.Column("incident_service", sa.String(256), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("topology_name", sa.String(128)),
        sa.Column("topology_version", sa.Integer),
        sa.Column("topology_digest", sa.String(64), nullable=False),
        sa.Column("metrics_digest", sa.String(64), nullable=False),
        sa.Column("metrics_points", sa.Integer, nullable=False),
        sa.Column("engine_version", sa.String(64)),
        sa.Column("result", sa.Text),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_detail", sa.Text),
        sa.Column("error_field", sa.String(256)),
        sa.Column("run_seconds", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("executions", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_expires_at", sa.DateTime),
        sa.Column("worker", sa.String(64)),
    )
    op.create_index("ix_analyses_incident_service", "analyses", ["incident_service"])
    op.create_index("ix_analyses_status_created", "analyses", ["status", "created_at"])
    op.create_index("ix_analyses_created_id", "analyses", ["created_at", "id"])
    op.create_table(
        "analysis_inputs",
        sa.Column(
            "analysis_id",
            sa.String(32),
            sa.ForeignKey("analyses.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("topology_document", sa.Text, nullable=False),
        sa.Column("metrics_csv_gz", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("analysis_inputs")
    op.drop_table("analyses")
    op.drop_table("topologies")
