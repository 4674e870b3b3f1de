"""Request and response models of the nodes domain (reference.md §2.3 "Nodes, keys, tags")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from wfm_core.configs.awg_schemas import AwgNodeParamsInput
from wfm_core.schemas import ChangeHint, RequestModel, ResponseModel

NODE_TYPES = ("dynamic", "static")


class NodeRequest(AwgNodeParamsInput):
    """Body of POST /configs/{cid}/nodes and PUT /nodes/{nid}; on update only sent fields change."""

    name: str = ""
    ipv4_address: str | None = Field(default=None, max_length=255)
    ipv6_address: str | None = Field(default=None, max_length=255)
    listen_port: int | None = Field(default=None, ge=1, le=65535)
    virtual_ip: str | None = Field(default=None, max_length=64)
    mtu: int | None = Field(default=None, ge=576, le=65535)
    dns: str | None = Field(default=None, max_length=255)
    auto_sync: bool | None = None
    enabled: bool = True
    node_type: str = "dynamic"
    public_key: str | None = None
    private_key: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=64)
    pre_up: list[str] = Field(default_factory=list, max_length=64)
    post_up: list[str] = Field(default_factory=list, max_length=64)
    pre_down: list[str] = Field(default_factory=list, max_length=64)
    post_down: list[str] = Field(default_factory=list, max_length=64)


class NodeRead(ResponseModel):
    id: str
    config_id: str
    name: str
    ipv4_address: str | None
    ipv6_address: str | None
    listen_port: int | None
    virtual_ip: str | None
    mtu: int | None
    dns: str | None
    auto_sync: bool
    enabled: bool
    node_type: str
    public_key: str
    private_key: str
    tags: list[str]
    pre_up: list[str]
    post_up: list[str]
    pre_down: list[str]
    post_down: list[str]
    awg_jc: int | None
    awg_jmin: int | None
    awg_jmax: int | None
    awg_i1: str | None
    awg_i2: str | None
    awg_i3: str | None
    awg_i4: str | None
    awg_i5: str | None
    awg_options: dict[str, Any]
    managed_hooks: dict[str, list[dict[str, str]]] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class NodeUpdateResult(NodeRead):
    change_hints: list[ChangeHint] = Field(default_factory=list)
    affected_node_ids: list[str] = Field(default_factory=list)


class TagRead(ResponseModel):
    name: str
    count: int


class NodeDeleteResult(ResponseModel):
    """DELETE /nodes/{id}."""

    message: str


class TagCreateRequest(RequestModel):
    """POST /configs/{cid}/tags; the name rules (1–64 chars) answer INVALID_TAG."""

    name: str = Field(max_length=1024)


class TagApplyRequest(RequestModel):
    """POST /configs/{cid}/tags/apply: every node must belong to the config."""

    tag: str = Field(max_length=1024)
    node_ids: list[str] = Field(default_factory=list, max_length=10_000)


class TagDeleteResult(ResponseModel):
    """DELETE /configs/{cid}/tags/{tag}: how many nodes lost the tag."""

    message: str
    removed_count: int


class NodeTagsRequest(RequestModel):
    """PUT /nodes/{nid}/tags: the node's new tag list (replaces the old one)."""

    tags: list[str] = Field(default_factory=list, max_length=64)


class IpSuggestion(ResponseModel):
    """POST /configs/{cid}/nodes/suggest-ip."""

    ip: str


class IpValidateRequest(RequestModel):
    """POST /configs/{cid}/nodes/validate-ip; `node_id` leaves the edited node's own IP out."""

    virtual_ip: str | None = Field(default=None, max_length=64)
    node_id: str | None = Field(default=None, max_length=64)


class IpValidation(ResponseModel):
    valid: bool
    warning: str | None = None


class KeyPair(ResponseModel):
    """POST /nodes/keys/generate and /nodes/keys/derive-public."""

    private_key: str
    public_key: str


class DerivePublicKeyRequest(RequestModel):
    private_key: str = ""
