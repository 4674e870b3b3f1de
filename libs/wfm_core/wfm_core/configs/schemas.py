"""Request and response models of the configs domain (reference.md §2.3 "Configs")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from wfm_core.configs.awg_schemas import AwgConfigParamsInput
from wfm_core.schemas import ChangeHint, ResponseModel

PORT = Field(ge=1, le=65535)


class ConfigRequest(AwgConfigParamsInput):
    """Body of POST /configs and PUT /configs/{id}; on update only the fields sent change."""

    name: str = ""
    description: str = Field(default="", max_length=4096)
    enabled: bool = True
    virtual_subnet: str = "10.66.0.0/24"
    default_listen_port: int = Field(default=51820, ge=1, le=65535)
    default_mtu: int | None = Field(default=None, ge=576, le=65535)
    default_dns: str | None = Field(default=None, max_length=255)
    auto_sync: bool = True
    tunnel_protocol: str = "wireguard"
    awg_version: str | None = None
    awg_node_updates: dict[str, dict[str, Any]] | None = None


class ConfigRead(ResponseModel):
    id: str
    name: str
    description: str
    enabled: bool
    virtual_subnet: str
    default_listen_port: int
    default_mtu: int | None
    default_dns: str | None
    auto_sync: bool
    tunnel_protocol: str
    awg_version: str | None
    awg_options: dict[str, Any]
    awg_s1: int | None
    awg_s2: int | None
    awg_s3: int | None
    awg_s4: int | None
    awg_h1: str | None
    awg_h2: str | None
    awg_h3: str | None
    awg_h4: str | None
    created_at: datetime
    updated_at: datetime
    node_count: int = 0
    dynamic_node_count: int = 0
    online_node_count: int = 0
    offline_node_count: int = 0
    disabled_node_count: int = 0
    topology_invalid: bool = False
    topology_error_count: int = 0


class ConfigUpdateResult(ConfigRead):
    adjustments: list[dict[str, str]] = Field(default_factory=list)
    change_hints: list[ChangeHint] = Field(default_factory=list)
    affected_node_ids: list[str] = Field(default_factory=list)


class ConfigDeleteResult(ResponseModel):
    """DELETE /configs/{id}."""

    message: str
