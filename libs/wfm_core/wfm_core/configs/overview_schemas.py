"""Response models of the config overview (GET /configs/{id}/overview, reference.md §2.3)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from wfm_core.configs.schemas import ConfigRead
from wfm_core.endpoints.schemas import RuntimeSnapshotItem
from wfm_core.nodes.schemas import NodeRead
from wfm_core.schemas import ResponseModel
from wfm_core.sync.schemas import SyncStatus
from wfm_core.system.schemas import TopologySummary


class OverviewStats(ResponseModel):
    total_nodes: int  # including disabled nodes
    dynamic_nodes: int  # this and the rest: enabled nodes only
    static_nodes: int
    disabled_nodes: int
    online_nodes: int
    peer_links: int  # link groups: link rows / 2


class NodeCard(ResponseModel):
    id: str
    name: str
    node_type: str
    enabled: bool
    virtual_ip: str | None
    ipv4_address: str | None
    ipv6_address: str | None
    tags: list[str] = Field(default_factory=list)
    created_at: datetime
    online: bool
    peers_total: int
    mesh_error: bool  # the node is part of a topology error


class ConfigOverview(ResponseModel):
    config: ConfigRead
    stats: OverviewStats
    nodes: list[NodeRead]
    node_cards: list[NodeCard]
    disabled_node_cards: list[NodeCard]
    runtime_snapshot: list[RuntimeSnapshotItem]
    sync_status: list[SyncStatus]
    topology: TopologySummary
