"""Analysis inputs keep the span and log files uploaded with them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analysis_inputs") as batch:
        batch.add_column(sa.Column("evidence_gz", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis_inputs") as batch:
        batch.drop_column("evidence_gz")
