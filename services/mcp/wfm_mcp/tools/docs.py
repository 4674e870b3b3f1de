"""Field descriptions for the tool input schemas.

The tools take the REST request models themselves (ConfigRequest, NodeRequest, …), so a tool
validates exactly like its route. Those models carry few field descriptions, and a model
driving WFM through MCP has nothing else to read, so the schema of every tool is completed
here: each property gets a description (a unit test checks that none is missing) and closed
value sets get an `enum`.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic import BaseModel

from wfm_core.downloads.artifacts import (
    ARCHITECTURES,
    SOURCE_ALIASES,
    SOURCE_BUNDLED,
    SOURCE_GITHUB,
    SYSTEMS,
)
from wfm_core.endpoints.control import ACTIONS
from wfm_core.mesh.endpoints import ENDPOINT_FAMILIES, ENDPOINT_MODES, PORT_MODES
from wfm_core.mesh.quick_mesh import QUICK_MESH_MODES
from wfm_core.nodes.schemas import NODE_TYPES
from wfm_core.portforward.hooks import PLATFORMS, PROTOCOLS
from wfm_core.render.awg import AWG_VERSIONS

_AWG_CONFIG = {
    "awg_s1": "AmneziaWG S1 (init packet junk size), 0–65535; empty = random on create",
    "awg_s2": "AmneziaWG S2 (response packet junk size), 0–65535; 1.5 forbids S2 = S1 + 56",
    "awg_s3": "AmneziaWG S3 (cookie packet junk size), 0–65535; must be 0/empty for 1.5",
    "awg_s4": "AmneziaWG S4 (transport packet junk size), 0–65535; must be 0/empty for 1.5",
    "awg_h1": "AmneziaWG H1 header: uint32 or 'start-end' range (2.0); ranges must not overlap",
    "awg_h2": "AmneziaWG H2 header: uint32 or 'start-end' range (2.0)",
    "awg_h3": "AmneziaWG H3 header: uint32 or 'start-end' range (2.0)",
    "awg_h4": "AmneziaWG H4 header: uint32 or 'start-end' range (2.0)",
}
_AWG_NODE = {
    "awg_jc": "AmneziaWG Jc (junk packet count), 0–65535; empty = random on create",
    "awg_jmin": "AmneziaWG Jmin (junk packet minimum size), 0–65535, below Jmax",
    "awg_jmax": "AmneziaWG Jmax (junk packet maximum size), 0–65535, above Jmin",
    "awg_i1": "AmneziaWG I1 CPS chain: tags <b 0xHEX>, <t>, <r N>, <rc N>, <rd N> (N ≤ 1000)",
    "awg_i2": "AmneziaWG I2 CPS chain (same grammar as I1)",
    "awg_i3": "AmneziaWG I3 CPS chain (same grammar as I1)",
    "awg_i4": "AmneziaWG I4 CPS chain (same grammar as I1)",
    "awg_i5": "AmneziaWG I5 CPS chain (same grammar as I1)",
    "awg_options": "Node-level AmneziaWG options by version (3.1: content_padding_addition, "
    "rekey_after_time, rekey_timeout, reject_after_time, keepalive_timeout, "
    "max_handshake_attempts, random_trailers, disable_cookies; 1.5: j1..j3, itime)",
}

_DIRECTION = {
    "local_node_id": "Node whose config gets this [Peer] section",
    "peer_node_id": "Node described by the [Peer] section (the other end)",
    "allowed_ips": "AllowedIPs of the [Peer], comma separated CIDRs, e.g. '10.66.0.3/32'",
    "persistent_keepalive": "PersistentKeepalive seconds (0–65535, usually 25); dropped when "
    "this direction has no Endpoint",
    "endpoint_mode": "auto = the peer's public address of endpoint_ref_family; none = no "
    "Endpoint line; manual = endpoint_manual_host/port",
    "endpoint_ref_family": "Which public address of the peer auto mode uses: ipv4 or ipv6",
    "endpoint_manual_host": "Endpoint host for manual mode (IP or domain name)",
    "endpoint_port_mode": "ref_peer_listen_port = the peer's listen port; manual = "
    "endpoint_manual_port",
    "endpoint_manual_port": "Endpoint port for port mode manual, 1–65535",
}

FIELD_DOCS: dict[str, dict[str, str]] = {
    "ConfigRequest": {
        "name": "Config (mesh) name, 1–32 chars of [A-Za-z0-9_=+.-], unique; not a Windows "
        "reserved name (CON, NUL, COM1…)",
        "description": "Free text shown in the console",
        "enabled": "false excludes the config from topology checks, MQTT and detection",
        "virtual_subnet": "Mesh subnet (CIDR) used to suggest node virtual IPs and as AllowedIPs "
        "in quick mesh, e.g. 10.66.0.0/24",
        "default_listen_port": "ListenPort of nodes without their own, 1–65535",
        "default_mtu": "MTU of nodes without their own, 576–65535; empty = none",
        "default_dns": "DNS of nodes without their own; empty = none",
        "auto_sync": "Default auto_sync of new nodes (stage every new rendering automatically)",
        "tunnel_protocol": "wireguard or amneziawg",
        "awg_version": "AmneziaWG version (1.5, 2.0 or 3.1) when tunnel_protocol is amneziawg; "
        "must be empty for wireguard",
        "awg_node_updates": "Update only: per-node AmneziaWG values {node_id: {awg_jc: …, "
        "awg_options: {…}}}, e.g. from a generated draft",
        "awg_options": "Config-level AmneziaWG options (3.1: header_protection_key, "
        "random_trailers)",
        **_AWG_CONFIG,
    },
    "NodeRequest": {
        "name": "Node name, 1–128 characters",
        "ipv4_address": "Public IPv4 entry (IP or domain) peers use to reach this node; empty "
        "for a node behind NAT",
        "ipv6_address": "Public IPv6 entry (IP or domain); empty when none",
        "listen_port": "ListenPort, 1–65535; empty = the config's default_listen_port",
        "virtual_ip": "Mesh address with prefix, e.g. 10.66.0.2/32; empty = next free address "
        "of the config's subnet",
        "mtu": "MTU, 576–65535; empty = the config's default",
        "dns": "DNS servers; empty = the config's default",
        "auto_sync": "Stage each new rendering automatically; empty = the config's auto_sync",
        "enabled": "false disables the node (its links are disabled, it is left out of configs)",
        "node_type": "dynamic = managed by the wfm agent over MQTT; static = config downloaded "
        "by hand",
        "public_key": "WireGuard public key (base64); empty = derived from private_key",
        "private_key": "WireGuard private key (base64); empty = generated",
        "tags": "Tags of the node (each 1–64 chars)",
        "pre_up": "PreUp hook commands",
        "post_up": "PostUp hook commands",
        "pre_down": "PreDown hook commands",
        "post_down": "PostDown hook commands",
        **_AWG_NODE,
    },
    "DirectionRequest": _DIRECTION,
    "PeerLinkGroupRequest": {
        "forward": "Direction rendered in the first node's config (local = first node)",
        "reverse": "Mirror direction: local/peer swapped relative to forward",
        "preshared_key": "PresharedKey shared by both directions (base64 of 32 bytes); empty = "
        "none",
        "notes": "Free text",
        "enabled": "false keeps the pair but leaves it out of both configs",
    },
    "QuickMeshRequestModel": {
        "mode": "hub_spoke (one hub with a public address), full_mesh (every node needs a "
        "public address) or free_mesh (gateways with public addresses, leaves behind them)",
        "endpoint_ref_family": "Public address family used for Endpoints: ipv4 or ipv6",
        "hub_node_id": "hub_spoke: the hub node id",
        "gateway_node_ids": "free_mesh: gateway node ids (meshed with each other)",
        "leaf_assignments": "free_mesh: {leaf node id: gateway node id} for every other node",
        "use_preshared_key": "Give every generated pair a fresh PresharedKey",
    },
    "PortForwardRequest": {
        "from_node_id": "Node running the service (traffic is forwarded to it through the mesh)",
        "from_port": "Service port on the From node, 1–65535",
        "to_node_id": "Node users connect to (it gets the DNAT hooks); Linux or macOS",
        "to_port": "Port opened on the To node, 1–65535",
        "to_platform": "OS of the To node: linux (iptables), linux-nft (nftables) or darwin (pf)",
        "protocol": "tcp, udp or all",
    },
    "BuildArtifactArgs": {
        "source": "bundled (the agent served by this server; local_build is accepted as an "
        "alias) or github_release",
        "goos": "Target system: linux, darwin or windows (one agent file serves all)",
        "goarch": "Target architecture: amd64, arm64 (or 386 on windows)",
    },
    "BulkPackageArgs": {
        "config_id": "Config id (`cfg_…`), as listed by read_configs",
        "node_ids": "Nodes of the config whose staged configs go into the zip (at least one)",
    },
}

_ARCHES = list(dict.fromkeys(arch for arches in ARCHITECTURES.values() for arch in arches))

ENUMS: dict[tuple[str, str], list[str]] = {
    ("ConfigRequest", "tunnel_protocol"): ["wireguard", "amneziawg"],
    ("NodeRequest", "node_type"): list(NODE_TYPES),
    ("DirectionRequest", "endpoint_mode"): list(ENDPOINT_MODES),
    ("DirectionRequest", "endpoint_port_mode"): list(PORT_MODES),
    ("QuickMeshRequestModel", "mode"): list(QUICK_MESH_MODES),
    ("QuickMeshRequestModel", "endpoint_ref_family"): list(ENDPOINT_FAMILIES),
    ("PortForwardRequest", "to_platform"): list(PLATFORMS),
    ("PortForwardRequest", "protocol"): list(PROTOCOLS),
    ("BuildArtifactArgs", "source"): [SOURCE_BUNDLED, *SOURCE_ALIASES, SOURCE_GITHUB],
    ("BuildArtifactArgs", "goos"): list(SYSTEMS),
    ("BuildArtifactArgs", "goarch"): _ARCHES,
}
# Values listed for fields that may also be empty.
OPTIONAL_ENUMS: dict[tuple[str, str], list[str]] = {
    ("ConfigRequest", "awg_version"): list(AWG_VERSIONS),
    ("DirectionRequest", "endpoint_ref_family"): list(ENDPOINT_FAMILIES),
}
CONTROL_ACTIONS: list[Any] = list(ACTIONS)


def _complete(name: str, definition: dict[str, Any]) -> None:
    docs = FIELD_DOCS.get(name, {})
    for field, prop in definition.get("properties", {}).items():
        if "description" not in prop and field in docs:
            prop["description"] = docs[field]
        if (name, field) in ENUMS and prop.get("type") == "string":
            prop["enum"] = ENUMS[(name, field)]
        if (name, field) in OPTIONAL_ENUMS:
            for branch in prop.get("anyOf", []):
                if branch.get("type") == "string":
                    branch["enum"] = OPTIONAL_ENUMS[(name, field)]


@cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    _complete(model.__name__, schema)
    for name, definition in schema.get("$defs", {}).items():
        _complete(name, definition)
    return schema


def described_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every property described (a copy: callers may keep it)."""
    return copy.deepcopy(_schema(model))
