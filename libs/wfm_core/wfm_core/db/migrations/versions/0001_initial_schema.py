"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "configs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("virtual_subnet", sa.String(length=64), nullable=False),
        sa.Column("default_listen_port", sa.Integer(), nullable=False),
        sa.Column("default_mtu", sa.Integer(), nullable=True),
        sa.Column("default_dns", sa.String(length=255), nullable=True),
        sa.Column("auto_sync", sa.Boolean(), nullable=False),
        sa.Column("tunnel_protocol", sa.String(length=16), nullable=False),
        sa.Column("awg_version", sa.String(length=8), nullable=True),
        sa.Column("awg_options_json", sa.JSON(), nullable=False),
        sa.Column("awg_s1", sa.Integer(), nullable=True),
        sa.Column("awg_s2", sa.Integer(), nullable=True),
        sa.Column("awg_s3", sa.Integer(), nullable=True),
        sa.Column("awg_s4", sa.Integer(), nullable=True),
        sa.Column("awg_h1", sa.String(length=32), nullable=True),
        sa.Column("awg_h2", sa.String(length=32), nullable=True),
        sa.Column("awg_h3", sa.String(length=32), nullable=True),
        sa.Column("awg_h4", sa.String(length=32), nullable=True),
        sa.Column("topology_error_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_configs")),
        sa.UniqueConstraint("name", name=op.f("uq_configs_name")),
    )
    op.create_table(
        "mcp_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=24), nullable=False),
        sa.Column("permission", sa.String(length=8), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_mcp_tokens_token_hash")),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_unsent", ["sent_at", "id"], unique=False)

    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        sa.UniqueConstraint("name", name=op.f("uq_snapshots_name")),
    )
    op.create_table(
        "system_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_system_settings")),
    )
    op.create_table(
        "config_tags",
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configs.id"],
            name=op.f("fk_config_tags_config_id_configs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("config_id", "name", name=op.f("pk_config_tags")),
    )
    op.create_table(
        "mcp_audit_logs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=True),
        sa.Column("token_name", sa.String(length=128), nullable=False),
        sa.Column("permission", sa.String(length=8), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_name", sa.String(length=128), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=False),
        sa.Column("confirmation_required", sa.Boolean(), nullable=False),
        sa.Column("confirmation_result", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["mcp_tokens.id"],
            name=op.f("fk_mcp_audit_logs_token_id_mcp_tokens"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_audit_logs")),
    )
    with op.batch_alter_table("mcp_audit_logs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mcp_audit_logs_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mcp_audit_logs_token_id"), ["token_id"], unique=False)

    op.create_table(
        "nodes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("ipv4_address", sa.String(length=255), nullable=True),
        sa.Column("ipv6_address", sa.String(length=255), nullable=True),
        sa.Column("listen_port", sa.Integer(), nullable=True),
        sa.Column("virtual_ip", sa.String(length=64), nullable=True),
        sa.Column("mtu", sa.Integer(), nullable=True),
        sa.Column("dns", sa.String(length=255), nullable=True),
        sa.Column("auto_sync", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("node_type", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("tags_json", sa.JSON(), nullable=False),
        sa.Column("pre_up_json", sa.JSON(), nullable=False),
        sa.Column("post_up_json", sa.JSON(), nullable=False),
        sa.Column("pre_down_json", sa.JSON(), nullable=False),
        sa.Column("post_down_json", sa.JSON(), nullable=False),
        sa.Column("awg_jc", sa.Integer(), nullable=True),
        sa.Column("awg_jmin", sa.Integer(), nullable=True),
        sa.Column("awg_jmax", sa.Integer(), nullable=True),
        sa.Column("awg_i1", sa.Text(), nullable=True),
        sa.Column("awg_i2", sa.Text(), nullable=True),
        sa.Column("awg_i3", sa.Text(), nullable=True),
        sa.Column("awg_i4", sa.Text(), nullable=True),
        sa.Column("awg_i5", sa.Text(), nullable=True),
        sa.Column("awg_options_json", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configs.id"],
            name=op.f("fk_nodes_config_id_configs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_nodes_config_id_created_at", ["config_id", "created_at"], unique=False
        )

    op.create_table(
        "endpoint_control_logs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ack_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configs.id"],
            name=op.f("fk_endpoint_control_logs_config_id_configs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_endpoint_control_logs_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_control_logs")),
        sa.UniqueConstraint("request_id", name=op.f("uq_endpoint_control_logs_request_id")),
    )
    with op.batch_alter_table("endpoint_control_logs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endpoint_control_logs_config_id"), ["config_id"], unique=False
        )
        batch_op.create_index(
            "ix_endpoint_control_logs_node_requested", ["node_id", "requested_at"], unique=False
        )

    op.create_table(
        "endpoint_runtime_status",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("connectivity_state", sa.String(length=16), nullable=False),
        sa.Column("wg_running", sa.Boolean(), nullable=False),
        sa.Column("wg_runtime_state", sa.String(length=16), nullable=False),
        sa.Column("config_sync_state", sa.String(length=16), nullable=False),
        sa.Column("peers_online", sa.Integer(), nullable=False),
        sa.Column("peers_total", sa.Integer(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_probe_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_probe_ack_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_control_channel_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_client_online", sa.Boolean(), nullable=False),
        sa.Column("heartbeat_wg_online", sa.Boolean(), nullable=False),
        sa.Column("detect_client_online", sa.Boolean(), nullable=False),
        sa.Column("detect_wg_online", sa.Boolean(), nullable=False),
        sa.Column("last_config_sync_error", sa.Text(), nullable=True),
        sa.Column("last_connectivity_reason", sa.String(length=128), nullable=True),
        sa.Column("reported_config_sha256", sa.String(length=64), nullable=True),
        sa.Column("client_downloaded", sa.Boolean(), nullable=False),
        sa.Column("client_downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configs.id"],
            name=op.f("fk_endpoint_runtime_status_config_id_configs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_endpoint_runtime_status_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_runtime_status")),
        sa.UniqueConstraint("node_id", name=op.f("uq_endpoint_runtime_status_node_id")),
    )
    with op.batch_alter_table("endpoint_runtime_status", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endpoint_runtime_status_config_id"), ["config_id"], unique=False
        )

    op.create_table(
        "node_client_state",
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("client_initialized", sa.Boolean(), nullable=False),
        sa.Column("client_platform", sa.String(length=64), nullable=True),
        sa.Column("client_version", sa.String(length=64), nullable=True),
        sa.Column("client_hostname", sa.String(length=128), nullable=True),
        sa.Column("mqtt_username", sa.String(length=64), nullable=True),
        sa.Column("mqtt_client_id", sa.String(length=80), nullable=True),
        sa.Column("mqtt_password", sa.Text(), nullable=True),
        sa.Column("bind_token_hash", sa.String(length=64), nullable=True),
        sa.Column("bind_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bind_token_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client_presence_state", sa.String(length=16), nullable=False),
        sa.Column("boot_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_detect_ack_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reachable_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_offline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_will_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event", sa.Text(), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configs.id"],
            name=op.f("fk_node_client_state_config_id_configs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_node_client_state_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_node_client_state")),
    )
    with op.batch_alter_table("node_client_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_node_client_state_bind_token_hash"), ["bind_token_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_node_client_state_config_id"), ["config_id"], unique=False
        )

    op.create_table(
        "node_config_state",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=32), nullable=False),
        sa.Column("desired_text", sa.Text(), nullable=True),
        sa.Column("desired_sha256", sa.String(length=64), nullable=True),
        sa.Column("desired_version", sa.Integer(), nullable=False),
        sa.Column("staged_text", sa.Text(), nullable=True),
        sa.Column("staged_sha256", sa.String(length=64), nullable=True),
        sa.Column("staged_version", sa.Integer(), nullable=False),
        sa.Column("confirmed_text", sa.Text(), nullable=True),
        sa.Column("confirmed_sha256", sa.String(length=64), nullable=True),
        sa.Column("confirmed_version", sa.Integer(), nullable=False),
        sa.Column("reported_local_sha256", sa.String(length=64), nullable=True),
        sa.Column("reported_local_version", sa.Integer(), nullable=True),
        sa.Column("desired_generated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("staged_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configs.id"],
            name=op.f("fk_node_config_state_config_id_configs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_node_config_state_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_config_state")),
        sa.UniqueConstraint("node_id", name=op.f("uq_node_config_state_node_id")),
    )
    with op.batch_alter_table("node_config_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_node_config_state_config_id"), ["config_id"], unique=False
        )

    op.create_table(
        "peer_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("local_node_id", sa.String(length=32), nullable=False),
        sa.Column("peer_node_id", sa.String(length=32), nullable=False),
        sa.Column("link_group_id", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("allowed_ips", sa.Text(), nullable=False),
        sa.Column("persistent_keepalive", sa.Integer(), nullable=True),
        sa.Column("preshared_key", sa.Text(), nullable=True),
        sa.Column("endpoint_mode", sa.String(length=8), nullable=False),
        sa.Column("endpoint_ref_family", sa.String(length=8), nullable=True),
        sa.Column("endpoint_manual_host", sa.String(length=255), nullable=True),
        sa.Column("endpoint_port_mode", sa.String(length=32), nullable=False),
        sa.Column("endpoint_manual_port", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_links")),
    )
    with op.batch_alter_table("peer_links", schema=None) as batch_op:
        batch_op.create_index("ix_peer_links_config_id", ["config_id"], unique=False)
        batch_op.create_index("ix_peer_links_link_group_id", ["link_group_id"], unique=False)
        batch_op.create_index("ix_peer_links_local_node_id", ["local_node_id"], unique=False)
        batch_op.create_index("ix_peer_links_peer_node_id", ["peer_node_id"], unique=False)

    op.create_table(
        "port_forward_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("from_node_id", sa.String(length=32), nullable=False),
        sa.Column("from_port", sa.Integer(), nullable=False),
        sa.Column("to_node_id", sa.String(length=32), nullable=False),
        sa.Column("to_port", sa.Integer(), nullable=False),
        sa.Column("to_platform", sa.String(length=16), nullable=False),
        sa.Column("protocol", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configs.id"],
            name=op.f("fk_port_forward_rules_config_id_configs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_node_id"],
            ["nodes.id"],
            name=op.f("fk_port_forward_rules_from_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_node_id"],
            ["nodes.id"],
            name=op.f("fk_port_forward_rules_to_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_port_forward_rules")),
    )
    with op.batch_alter_table("port_forward_rules", schema=None) as batch_op:
        batch_op.create_index("ix_port_forward_rules_config_id", ["config_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("port_forward_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_port_forward_rules_config_id")

    op.drop_table("port_forward_rules")
    with op.batch_alter_table("peer_links", schema=None) as batch_op:
        batch_op.drop_index("ix_peer_links_peer_node_id")
        batch_op.drop_index("ix_peer_links_local_node_id")
        batch_op.drop_index("ix_peer_links_link_group_id")
        batch_op.drop_index("ix_peer_links_config_id")

    op.drop_table("peer_links")
    with op.batch_alter_table("node_config_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_config_state_config_id"))

    op.drop_table("node_config_state")
    with op.batch_alter_table("node_client_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_client_state_config_id"))
        batch_op.drop_index(batch_op.f("ix_node_client_state_bind_token_hash"))

    op.drop_table("node_client_state")
    with op.batch_alter_table("endpoint_runtime_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endpoint_runtime_status_config_id"))

    op.drop_table("endpoint_runtime_status")
    with op.batch_alter_table("endpoint_control_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_endpoint_control_logs_node_requested")
        batch_op.drop_index(batch_op.f("ix_endpoint_control_logs_config_id"))

    op.drop_table("endpoint_control_logs")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_index("ix_nodes_config_id_created_at")

    op.drop_table("nodes")
    with op.batch_alter_table("mcp_audit_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mcp_audit_logs_token_id"))
        batch_op.drop_index(batch_op.f("ix_mcp_audit_logs_created_at"))

    op.drop_table("mcp_audit_logs")
    op.drop_table("config_tags")
    op.drop_table("system_settings")
    op.drop_table("snapshots")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_unsent")

    op.drop_table("outbox")
    op.drop_table("mcp_tokens")
    op.drop_table("configs")
