"""Mesh workspace assembly (§2.3 mesh-workspace, §4.4): orientation and MeshConnection fields."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from wfm_core.mesh.workspace import mesh_connections

from .factories import BASE_TIME, DEFAULT_PORT, FakeLink, FakeNode, link_group, node


def connections(
    subject: FakeNode, links: Sequence[FakeLink], nodes: Sequence[FakeNode]
) -> list[dict[str, Any]]:
    return mesh_connections(
        node=subject,
        links=links,
        nodes_by_id={n.id: n for n in nodes},
        default_listen_port=DEFAULT_PORT,
    )


N1 = node(1, listen_port=51001)
N2 = node(2, public=False)
N3 = node(3)


def test_full_connection_shape_seen_from_the_reverse_side() -> None:
    later = BASE_TIME + timedelta(hours=1)
    links = link_group(
        "g1",
        "n1",
        "n2",
        forward={"allowed_ips": "10.66.0.2/32", "persistent_keepalive": None, "notes": ""},
        reverse={
            "allowed_ips": "10.66.0.1/32",
            "persistent_keepalive": 25,
            "preshared_key": "psk==",
            "notes": "office uplink",
            "updated_at": later,
        },
    )
    [conn] = connections(N2, links, [N1, N2])
    assert conn == {
        "link_group_id": "g1",
        "peer_node": {
            "id": "n1",
            "name": "node-1",
            "virtual_ip": "10.66.0.1/32",
            "ipv4_address": "203.0.113.1",
            "ipv6_address": None,
            "enabled": True,
        },
        "enabled": True,
        "has_preshared_key": True,
        "preshared_key": "psk==",
        "notes": "office uplink",
        "updated_at": later,
        # forward = this node (n2) → peer (n1): the row stored as direction "reverse".
        "forward": {
            "link_id": "g1-r",
            "local_node_id": "n2",
            "peer_node_id": "n1",
            "allowed_ips": "10.66.0.1/32",
            "persistent_keepalive": 25,
            "endpoint_mode": "auto",
            "endpoint_ref_family": "ipv4",
            "endpoint_manual_host": None,
            "endpoint_port_mode": "ref_peer_listen_port",
            "endpoint_manual_port": None,
            "endpoint_summary": "Auto uses 203.0.113.1:51001",
            "keepalive_display": "25",
        },
        "reverse": {
            "link_id": "g1-f",
            "local_node_id": "n1",
            "peer_node_id": "n2",
            "allowed_ips": "10.66.0.2/32",
            "persistent_keepalive": None,
            "endpoint_mode": "auto",
            "endpoint_ref_family": "ipv4",
            "endpoint_manual_host": None,
            "endpoint_port_mode": "ref_peer_listen_port",
            "endpoint_manual_port": None,
            "endpoint_summary": "node-2 has no public IPV4 entry; auto mode leaves it empty",
            "keepalive_display": "/",
        },
        "integrity_status": "healthy",
        "integrity_message": "",
        "duplicate_enabled_pair": False,
        "duplicate_message": "",
        "readonly": False,
        "peer_disabled": False,
    }


def test_forward_is_the_row_of_the_subject_node() -> None:
    links = link_group("g1", "n1", "n2")
    [from_n1] = connections(N1, links, [N1, N2])
    assert from_n1["forward"]["link_id"] == "g1-f"
    assert from_n1["reverse"]["link_id"] == "g1-r"
    assert from_n1["peer_node"]["id"] == "n2"


def test_only_groups_of_the_node_in_link_order() -> None:
    links = [
        *link_group("g2", "n3", "n1"),
        *link_group("g9", "n2", "n3"),
        *link_group("g1", "n1", "n2"),
    ]
    result = connections(N1, links, [N1, N2, N3])
    assert [c["link_group_id"] for c in result] == ["g2", "g1"]
    assert [c["peer_node"]["id"] for c in result] == ["n3", "n2"]


def test_forward_psk_and_notes_win_and_missing_reverse() -> None:
    links = link_group(
        "g1",
        "n1",
        "n3",
        with_reverse=False,
        forward={"preshared_key": "fwd", "notes": "n", "endpoint_mode": "none"},
    )
    [conn] = connections(N1, links, [N1, N3])
    assert conn["preshared_key"] == "fwd"
    assert conn["notes"] == "n"
    assert conn["reverse"] is None
    assert conn["forward"]["endpoint_summary"] == "No Endpoint"
    assert conn["forward"]["keepalive_display"] == "/"
    assert conn["integrity_status"] == "healthy"
    assert conn["updated_at"] == BASE_TIME


def test_no_preshared_key() -> None:
    [conn] = connections(N1, link_group("g1", "n1", "n3"), [N1, N3])
    assert conn["has_preshared_key"] is False
    assert conn["preshared_key"] is None


def test_disabled_peer_is_broken_and_flagged() -> None:
    peer = node(3, enabled=False)
    [conn] = connections(N1, link_group("g1", "n1", "n3"), [N1, peer])
    assert conn["integrity_status"] == "broken"
    assert conn["integrity_message"] == "Mesh link from node-1 references disabled endpoint node-3."
    assert conn["peer_disabled"] is True
    assert conn["readonly"] is False


def test_disabled_subject_is_readonly() -> None:
    subject = node(1, enabled=False)
    [conn] = connections(subject, link_group("g1", "n1", "n3", enabled=False), [subject, N3])
    assert conn["readonly"] is True
    assert conn["enabled"] is False
    assert conn["integrity_status"] == "healthy"


def test_both_sides_unresolved_is_broken() -> None:
    a, b = node(1, public=False), node(2, public=False)
    [conn] = connections(b, link_group("g1", "n1", "n2"), [a, b])
    assert conn["integrity_status"] == "broken"
    assert conn["integrity_message"] == (
        "Mesh link between node-2 and node-1 is broken because both sides have no public endpoint."
    )


def test_duplicate_groups_are_flagged() -> None:
    links = [
        *link_group("g1", "n1", "n3"),
        *link_group("g2", "n3", "n1"),
        *link_group("g3", "n1", "n2"),
    ]
    result = connections(N1, links, [N1, N2, N3])
    message = (
        "Duplicate enabled peer links found between node-1 and node-3. "
        "Only one enabled link group is allowed for the same node pair."
    )
    assert [(c["duplicate_enabled_pair"], c["duplicate_message"]) for c in result] == [
        (True, message),
        (True, message),
        (False, ""),
    ]


def test_links_to_unknown_nodes_are_skipped() -> None:
    assert connections(N1, link_group("g1", "n1", "nX"), [N1]) == []


def test_workspace_of_a_250_node_mesh_is_fast() -> None:
    nodes = [node(i, ipv4_address=f"198.51.100.{i % 250}") for i in range(1, 251)]
    links: list[FakeLink] = []
    for i in range(1, 251):
        for j in range(i + 1, 251):
            links.extend(link_group(f"g{i}-{j}", f"n{i}", f"n{j}"))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = connections(nodes[99], links, nodes)
        best = min(best, time.perf_counter() - start)
    assert len(result) == 249
    assert {c["forward"]["local_node_id"] for c in result} == {"n100"}
    assert best < 0.05
