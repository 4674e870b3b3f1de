"""Request and response models of peer links and quick mesh (reference.md §2.3, §4.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


class LinkDraftRead(ResponseModel):
    local_node: dict[str, Any]
    peer_node: dict[str, Any]
    endpoint_ref_family: str
    forward: dict[str, Any]
    reverse: dict[str, Any]
    warnings: list[str]
