"""Verdicts: the root causes a person confirmed for an analysis, after the incident.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("verdict", sa.Text))  # JSON: {"root_causes": [...], "note": ...}
        batch.add_column(sa.Column("verdict_at", sa.DateTime))
    op.create_index("ix_analyses_verdict_at", "analyses", ["verdict_at"])


def downgrade() -> None:
    op.drop_index("ix_analyses_verdict_at", table_name="analyses")
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("verdict_at")
        batch.drop_column("verdict")
