"""Request and response models of peer links and quick mesh (reference.md §2.3, §4.1)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from wfm_core.schemas import RequestModel, ResponseModel


class DirectionRequest(RequestModel):
    local_node_id: str
    peer_node_id: str
    allowed_ips: str = ""
    persistent_keepalive: int | None = None
    endpoint_mode: str = "auto"
    endpoint_ref_family: str | None = "ipv4"
    endpoint_manual_host: str | None = None
    endpoint_port_mode: str = "ref_peer_listen_port"
    endpoint_manual_port: int | None = None


class PeerLinkGroupRequest(RequestModel):
    forward: DirectionRequest
    reverse: DirectionRequest
    preshared_key: str | None = None
    notes: str = Field(default="", max_length=4096)
    enabled: bool = True


class QuickMeshRequestModel(RequestModel):
    mode: str
    endpoint_ref_family: str = "ipv4"
    hub_node_id: str | None = None
    gateway_node_ids: list[str] = Field(default_factory=list)
    leaf_assignments: dict[str, str] = Field(default_factory=dict)
    use_preshared_key: bool = False


class PeerLinkRead(ResponseModel):
    id: str
    config_id: str
    local_node_id: str
    peer_node_id: str
    link_group_id: str
    direction: str
    enabled: bool
    allowed_ips: str
    persistent_keepalive: int | None
    preshared_key: str | None
    endpoint_mode: str
    endpoint_ref_family: str | None
    endpoint_manual_host: str | None
    endpoint_port_mode: str
    endpoint_manual_port: int | None
    notes: str
    created_at: datetime
    updated_at: datetime


class QuickMeshResult(ResponseModel):
    mode: str
    endpoint_ref_family: str
    use_preshared_key: bool
    generated_groups: int
    deleted_links: int
    affected_node_ids: list[str]
    message: str = "Mesh links regenerated"


class MeshValidationRead(ResponseModel):
    valid: bool
    messages: list[str]
    errors: list[str]
    warnings: list[str]


class PeerNodeBrief(ResponseModel):
    """A node as shown on mesh pages (`node`, `peer_node`)."""

    id: str
    name: str
    virtual_ip: str | None
    ipv4_address: str | None
    ipv6_address: str | None
    enabled: bool


class DraftDirectionRead(ResponseModel):
    """One pre-filled direction of a new Mesh pair (reference.md §4.2)."""

    local_node_id: str
    peer_node_id: str
    allowed_ips: str
    persistent_keepalive: int | None
    endpoint_mode: str
    endpoint_ref_family: str | None
    endpoint_manual_host: str | None
    endpoint_port_mode: str
    endpoint_manual_port: int | None
    endpoint_summary: str
    keepalive_display: str


class LinkDirectionRead(DraftDirectionRead):
    """`Dir` of a MeshConnection: one stored link row, rendered inside its local node."""

    link_id: str


class LinkDraftRead(ResponseModel):
    local_node: PeerNodeBrief
    peer_node: PeerNodeBrief
    endpoint_ref_family: str
    forward: DraftDirectionRead
    reverse: DraftDirectionRead
    warnings: list[str]


class MeshConnectionRead(ResponseModel):
    """One link group seen from the workspace node (forward = this node → peer)."""

    link_group_id: str
    peer_node: PeerNodeBrief
    enabled: bool
    has_preshared_key: bool
    preshared_key: str | None
    notes: str
    updated_at: datetime | None
    forward: LinkDirectionRead
    reverse: LinkDirectionRead | None
    integrity_status: str
    integrity_message: str
    duplicate_enabled_pair: bool
    duplicate_message: str
    readonly: bool
    peer_disabled: bool


class MeshWorkspaceRead(ResponseModel):
    """GET /configs/{cid}/nodes/{nid}/mesh-workspace."""

    node: PeerNodeBrief
    connections: list[MeshConnectionRead]
    readonly: bool
    validation: MeshValidationRead


class PresharedKeyRead(ResponseModel):
    """POST /peer-links/psk/generate: 32 random bytes, base64."""

    preshared_key: str
