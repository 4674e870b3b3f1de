"""Request and response models of port forwarding (reference.md §2.3 "Tools — port forwarding")."""

from __future__ import annotations

from datetime import datetime

from wfm_core.schemas import RequestModel, ResponseModel


class PortForwardRequest(RequestModel):
    from_node_id: str
    from_port: int
    to_node_id: str
    to_port: int
    to_platform: str = "linux"
    protocol: str = "tcp"


class PortForwardEnabledRequest(RequestModel):
    enabled: bool


class RuleNode(ResponseModel):
    id: str
    name: str
    virtual_ip: str | None
    enabled: bool


class PortForwardRead(ResponseModel):
    id: str
    config_id: str
    from_node_id: str
    from_port: int
    to_node_id: str
    to_port: int
    to_platform: str
    protocol: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    from_node: RuleNode | None = None
    to_node: RuleNode | None = None
