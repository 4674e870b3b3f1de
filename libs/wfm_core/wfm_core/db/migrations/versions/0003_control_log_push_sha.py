"""endpoint_control_logs.config_sha256 (what a push carried) and the pending-log sweep index

A config-push ACK `applied` confirms the staged config only when it is the text that push
carried; the ACK timeout sweep reads pending logs by request time on every replica.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("endpoint_control_logs") as batch:
        batch.add_column(sa.Column("config_sha256", sa.String(64), nullable=True))
    op.create_index(
        "ix_endpoint_control_logs_status_requested",
        "endpoint_control_logs",
        ["status", "requested_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_endpoint_control_logs_status_requested", "endpoint_control_logs")
    with op.batch_alter_table("endpoint_control_logs") as batch:
        batch.drop_column("config_sha256")
