"""Small frozen stand-ins for NodeView / LinkView / DirectionInput used by the mesh unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_PORT = 51820
SUBNET = "10.66.0.0/24"


@dataclass(frozen=True)
class FakeNode:
    id: str
    name: str
    virtual_ip: str | None = None
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    listen_port: int | None = None
    enabled: bool = True
    config_id: str = "cfg_test"
    mtu: int | None = None
    dns: str | None = None
    node_type: str = "static"
    public_key: str = "pub"
    private_key: str = "priv"
    pre_up_json: list[str] = field(default_factory=list)
    post_up_json: list[str] = field(default_factory=list)
    pre_down_json: list[str] = field(default_factory=list)
    post_down_json: list[str] = field(default_factory=list)
    awg_jc: int | None = None
    awg_jmin: int | None = None
    awg_jmax: int | None = None
    awg_i1: str | None = None
    awg_i2: str | None = None
    awg_i3: str | None = None
    awg_i4: str | None = None
    awg_i5: str | None = None
    awg_options_json: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = BASE_TIME


@dataclass(frozen=True)
class FakeLink:
    id: str
    local_node_id: str
    peer_node_id: str
    link_group_id: str
    direction: str = "forward"
    enabled: bool = True
    allowed_ips: str = ""
    persistent_keepalive: int | None = None
    preshared_key: str | None = None
    endpoint_mode: str = "auto"
    endpoint_ref_family: str | None = "ipv4"
    endpoint_manual_host: str | None = None
    endpoint_port_mode: str = "ref_peer_listen_port"
    endpoint_manual_port: int | None = None
    notes: str = ""
    config_id: str = "cfg_test"
    created_at: datetime = BASE_TIME
    updated_at: datetime = BASE_TIME


@dataclass(frozen=True)
class FakeDirection:
    local_node_id: str
    peer_node_id: str
    allowed_ips: str = "10.66.0.2/32"
    persistent_keepalive: int | None = 25
    endpoint_mode: str = "auto"
    endpoint_ref_family: str | None = "ipv4"
    endpoint_manual_host: str | None = None
    endpoint_port_mode: str = "ref_peer_listen_port"
    endpoint_manual_port: int | None = None


def node(
    index: int,
    *,
    public: bool = True,
    vip: bool = True,
    enabled: bool = True,
    **overrides: Any,
) -> FakeNode:
    """Node `n<i>` named `node-<i>`, vip 10.66.0.<i>/32, public IPv4 203.0.113.<i>."""
    values: dict[str, Any] = {
        "id": f"n{index}",
        "name": f"node-{index}",
        "virtual_ip": f"10.66.0.{index}/32" if vip else None,
        "ipv4_address": f"203.0.113.{index}" if public else None,
        "enabled": enabled,
        "created_at": BASE_TIME + timedelta(seconds=index),
    }
    values.update(overrides)
    return FakeNode(**values)


def link_group(
    group_id: str,
    local: str,
    peer: str,
    *,
    enabled: bool = True,
    forward: dict[str, Any] | None = None,
    reverse: dict[str, Any] | None = None,
    with_reverse: bool = True,
) -> list[FakeLink]:
    """The forward (local→peer) and reverse (peer→local) rows of one group."""
    rows = [
        FakeLink(
            id=f"{group_id}-f",
            local_node_id=local,
            peer_node_id=peer,
            link_group_id=group_id,
            direction="forward",
            enabled=enabled,
            **(forward or {}),
        )
    ]
    if with_reverse:
        rows.append(
            FakeLink(
                id=f"{group_id}-r",
                local_node_id=peer,
                peer_node_id=local,
                link_group_id=group_id,
                direction="reverse",
                enabled=enabled,
                **(reverse or {}),
            )
        )
    return rows
