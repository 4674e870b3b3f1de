"""configs.peer_link_count and configs.revision: what the overview reads instead of counting

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("configs") as batch:
        batch.add_column(
            sa.Column("peer_link_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
    # Existing rows: count once here; every mesh write keeps it current afterwards.
    op.execute(
        "UPDATE configs SET peer_link_count = "
        "(SELECT COUNT(*) FROM peer_links WHERE peer_links.config_id = configs.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("configs") as batch:
        batch.drop_column("revision")
        batch.drop_column("peer_link_count")
