"""Smoke check against quadratic regressions: render every config of a 250-node full mesh."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from wfm_core.render.wireguard import render_node_config, sha256_text

NODE_COUNT = 250
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Config:
    id: str = "cfg_big"
    name: str = "big"
    virtual_subnet: str = "10.66.0.0/16"
    default_listen_port: int = 51820
    default_mtu: int | None = 1420
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


@dataclass(frozen=True)
class Node:
    id: str
    name: str
    private_key: str
    public_key: str
    virtual_ip: str
    ipv4_address: str
    ipv6_address: str
    created_at: datetime
    listen_port: int | None = None
    mtu: int | None = None
    dns: str | None = None
    config_id: str = "cfg_big"
    enabled: bool = True
    node_type: str = "dynamic"
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


@dataclass(frozen=True)
class Link:
    id: str
    local_node_id: str
    peer_node_id: str
    allowed_ips: str
    created_at: datetime
    endpoint_ref_family: str
    preshared_key: str | None
    config_id: str = "cfg_big"
    link_group_id: str = "group_x"
    direction: str = "forward"
    enabled: bool = True
    persistent_keepalive: int | None = 25
    endpoint_mode: str = "auto"
    endpoint_manual_host: str | None = None
    endpoint_port_mode: str = "ref_peer_listen_port"
    endpoint_manual_port: int | None = None


def build_mesh() -> tuple[list[Node], dict[str, list[Link]]]:
    key = "A" * 43 + "="
    nodes = [
        Node(
            id=f"node_{i:04d}",
            name=f"node-{i}",
            private_key=key,
            public_key=key,
            virtual_ip=f"10.66.{i // 250}.{i % 250 + 1}/32",
            ipv4_address=f"198.51.{i // 250}.{i % 250 + 1}",
            ipv6_address=f"2001:db8::{i + 1:x}",
            created_at=T0 + timedelta(seconds=i),
        )
        for i in range(NODE_COUNT)
    ]
    links: dict[str, list[Link]] = defaultdict(list)
    seq = 0
    for i, local in enumerate(nodes):
        for j, peer in enumerate(nodes):
            if i == j:
                continue
            seq += 1
            links[local.id].append(
                Link(
                    id=f"plink_{seq:06d}",
                    local_node_id=local.id,
                    peer_node_id=peer.id,
                    allowed_ips=peer.virtual_ip,
                    # reversed creation order so the renderer really has to sort
                    created_at=T0 + timedelta(seconds=100_000 - seq),
                    endpoint_ref_family="ipv6" if j % 2 else "ipv4",
                    preshared_key=key if j % 3 == 0 else None,
                )
            )
    return nodes, links


def test_full_mesh_of_250_renders_fast() -> None:
    nodes, links = build_mesh()
    assert sum(len(rows) for rows in links.values()) == NODE_COUNT * (NODE_COUNT - 1)
    nodes_by_id = {node.id: node for node in nodes}
    config = Config()
    start = time.perf_counter()
    texts = [
        render_node_config(config=config, node=node, links=links[node.id], nodes_by_id=nodes_by_id)
        for node in nodes
    ]
    hashes = [sha256_text(text) for text in texts]
    elapsed = time.perf_counter() - start
    assert len(set(hashes)) == NODE_COUNT
    assert all(text.count("[Peer]") == NODE_COUNT - 1 for text in texts)
    assert "Endpoint = [2001:db8::2]:51820\n" in texts[0]
    assert elapsed < 3.0, f"rendering 250 configs took {elapsed:.2f}s"
