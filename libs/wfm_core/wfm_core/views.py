"""Read-only shapes the pure rule modules accept.

ORM instances, SQLAlchemy Core rows and plain test dataclasses all fit these protocols, so the
rules in render/, mesh/ and portforward/ never depend on the database layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Protocol

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ConfigView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def virtual_subnet(self) -> str: ...
    @property
    def default_listen_port(self) -> int: ...
    @property
    def default_mtu(self) -> int | None: ...
    @property
    def default_dns(self) -> str | None: ...
    @property
    def tunnel_protocol(self) -> str: ...
    @property
    def awg_version(self) -> str | None: ...
    @property
    def awg_options_json(self) -> dict[str, Any]: ...
    @property
    def awg_s1(self) -> int | None: ...
    @property
    def awg_s2(self) -> int | None: ...
    @property
    def awg_s3(self) -> int | None: ...
    @property
    def awg_s4(self) -> int | None: ...
    @property
    def awg_h1(self) -> str | None: ...
    @property
    def awg_h2(self) -> str | None: ...
    @property
    def awg_h3(self) -> str | None: ...
    @property
    def awg_h4(self) -> str | None: ...


class NodeView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def config_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def ipv4_address(self) -> str | None: ...
    @property
    def ipv6_address(self) -> str | None: ...
    @property
    def listen_port(self) -> int | None: ...
    @property
    def virtual_ip(self) -> str | None: ...
    @property
    def mtu(self) -> int | None: ...
    @property
    def dns(self) -> str | None: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def node_type(self) -> str: ...
    @property
    def public_key(self) -> str: ...
    @property
    def private_key(self) -> str: ...
    @property
    def pre_up_json(self) -> list[str]: ...
    @property
    def post_up_json(self) -> list[str]: ...
    @property
    def pre_down_json(self) -> list[str]: ...
    @property
    def post_down_json(self) -> list[str]: ...
    @property
    def awg_jc(self) -> int | None: ...
    @property
    def awg_jmin(self) -> int | None: ...
    @property
    def awg_jmax(self) -> int | None: ...
    @property
    def awg_i1(self) -> str | None: ...
    @property
    def awg_i2(self) -> str | None: ...
    @property
    def awg_i3(self) -> str | None: ...
    @property
    def awg_i4(self) -> str | None: ...
    @property
    def awg_i5(self) -> str | None: ...
    @property
    def awg_options_json(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> datetime: ...


class LinkView(Protocol):
    """One directional link row, rendered as a `[Peer]` (the peer node) in the local node config."""

    @property
    def id(self) -> str: ...
    @property
    def config_id(self) -> str: ...
    @property
    def local_node_id(self) -> str: ...
    @property
    def peer_node_id(self) -> str: ...
    @property
    def link_group_id(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def allowed_ips(self) -> str: ...
    @property
    def persistent_keepalive(self) -> int | None: ...
    @property
    def preshared_key(self) -> str | None: ...
    @property
    def endpoint_mode(self) -> str: ...
    @property
    def endpoint_ref_family(self) -> str | None: ...
    @property
    def endpoint_manual_host(self) -> str | None: ...
    @property
    def endpoint_port_mode(self) -> str: ...
    @property
    def endpoint_manual_port(self) -> int | None: ...
    @property
    def created_at(self) -> datetime: ...


class PortForwardView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def from_node_id(self) -> str: ...
    @property
    def from_port(self) -> int: ...
    @property
    def to_node_id(self) -> str: ...
    @property
    def to_port(self) -> int: ...
    @property
    def to_platform(self) -> str: ...
    @property
    def protocol(self) -> str: ...
    @property
    def enabled(self) -> bool: ...


# Plain implementations of the protocols: snapshots of ORM rows on hot paths (plain attribute
# reads are several times cheaper than instrumented ones), in-memory rows, benchmarks and tests.
# Not frozen: a frozen dataclass pays object.__setattr__ per field, and quick mesh builds 62k.


@dataclass(slots=True, kw_only=True)
class ConfigData:
    id: str
    name: str
    virtual_subnet: str = "10.66.0.0/24"
    default_listen_port: int = 51820
    default_mtu: int | None = None
    default_dns: str | None = None
    tunnel_protocol: str = "wireguard"
    awg_version: str | None = None
    awg_options_json: dict[str, Any] = field(default_factory=dict)
    awg_s1: int | None = None
    awg_s2: int | None = None
    awg_s3: int | None = None
    awg_s4: int | None = None
    awg_h1: str | None = None
    awg_h2: str | None = None
    awg_h3: str | None = None
    awg_h4: str | None = None


@dataclass(slots=True, kw_only=True)
class NodeData:
    id: str
    name: str
    config_id: str = ""
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    listen_port: int | None = None
    virtual_ip: str | None = None
    mtu: int | None = None
    dns: str | None = None
    auto_sync: bool = True
    enabled: bool = True
    node_type: str = "dynamic"
    public_key: str = ""
    private_key: str = ""
    tags_json: list[str] = field(default_factory=list)
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
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH


@dataclass(slots=True, kw_only=True)
class LinkData:
    id: str
    local_node_id: str
    peer_node_id: str
    link_group_id: str
    config_id: str = ""
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
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH


NODE_FIELDS = tuple(f.name for f in fields(NodeData))
