"""Endpoint display helpers (§4.3), workspace integrity (§4.4) and topology validation (§4.5)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from wfm_core.mesh.validation import (
    MeshValidation,
    direction_endpoint_state,
    duplicate_messages_by_group,
    endpoint_summary,
    group_integrity,
    keepalive_display,
    validate_mesh,
)

from .factories import DEFAULT_PORT, FakeLink, FakeNode, link_group, node

PEER = node(2)


def one_link(peer: FakeNode = PEER, **fields: Any) -> FakeLink:
    return FakeLink(id="l1", local_node_id="n1", peer_node_id=peer.id, link_group_id="g1", **fields)


# --- direction helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "peer", "port", "state"),
    [
        ({"endpoint_mode": "none"}, PEER, DEFAULT_PORT, "none"),
        ({}, PEER, DEFAULT_PORT, "resolved"),
        ({}, node(2, public=False), DEFAULT_PORT, "unresolved"),
        ({"endpoint_ref_family": "ipv6"}, PEER, DEFAULT_PORT, "unresolved"),
        ({"endpoint_mode": "manual"}, PEER, DEFAULT_PORT, "unresolved"),
        (
            {"endpoint_mode": "manual", "endpoint_manual_host": "h"},
            node(2, public=False),
            1,
            "resolved",
        ),
        ({"endpoint_port_mode": "manual"}, PEER, DEFAULT_PORT, "unresolved"),
        ({}, PEER, 0, "unresolved"),
        ({}, node(2, listen_port=4000), 0, "resolved"),
    ],
)
def test_direction_endpoint_state(
    fields: dict[str, Any], peer: FakeNode, port: int, state: str
) -> None:
    link = one_link(peer, **fields)
    assert direction_endpoint_state(link=link, peer=peer, default_listen_port=port) == state


@pytest.mark.parametrize(
    ("fields", "peer", "summary"),
    [
        ({"endpoint_mode": "none"}, PEER, "No Endpoint"),
        ({}, PEER, "Auto uses 203.0.113.2:51820"),
        ({}, node(2, listen_port=40000), "Auto uses 203.0.113.2:40000"),
        (
            {"endpoint_ref_family": "ipv6"},
            node(2, ipv6_address="2001:db8::2"),
            "Auto uses [2001:db8::2]:51820",
        ),
        ({}, node(2, public=False), "node-2 has no public IPV4 entry; auto mode leaves it empty"),
        (
            {"endpoint_ref_family": "ipv6"},
            PEER,
            "node-2 has no public IPV6 entry; auto mode leaves it empty",
        ),
        (
            {
                "endpoint_mode": "manual",
                "endpoint_manual_host": "2001:db8::9",
                "endpoint_port_mode": "manual",
                "endpoint_manual_port": 443,
            },
            PEER,
            "Manual uses [2001:db8::9]:443",
        ),
        (
            {"endpoint_mode": "manual", "endpoint_manual_host": "vpn.example.com"},
            node(2, listen_port=40000),
            "Manual uses vpn.example.com:40000",
        ),
        ({"endpoint_mode": "manual"}, PEER, "Manual mode requires Host and Port"),
        (
            {
                "endpoint_mode": "manual",
                "endpoint_manual_host": "h",
                "endpoint_port_mode": "manual",
            },
            PEER,
            "Manual mode requires Host and Port",
        ),
    ],
)
def test_endpoint_summary(fields: dict[str, Any], peer: FakeNode, summary: str) -> None:
    link = one_link(peer, **fields)
    assert endpoint_summary(link=link, peer=peer, default_listen_port=DEFAULT_PORT) == summary


def test_endpoint_summary_missing_reverse() -> None:
    summary = endpoint_summary(link=None, peer=PEER, default_listen_port=DEFAULT_PORT)
    assert summary == "Missing reverse link"


@pytest.mark.parametrize(
    ("fields", "peer", "display"),
    [
        ({"persistent_keepalive": 25}, PEER, "25"),
        ({"persistent_keepalive": 0}, PEER, "0"),
        ({"persistent_keepalive": None}, PEER, "Unset"),
        ({"persistent_keepalive": 25}, node(2, public=False), "/"),
        ({"persistent_keepalive": 25, "endpoint_mode": "none"}, PEER, "/"),
    ],
)
def test_keepalive_display(fields: dict[str, Any], peer: FakeNode, display: str) -> None:
    link = one_link(peer, **fields)
    assert keepalive_display(link=link, peer=peer, default_listen_port=DEFAULT_PORT) == display
    assert keepalive_display(link=None, peer=peer, default_listen_port=DEFAULT_PORT) == "/"


# --- group integrity ---------------------------------------------------------------------------


def integrity(node_id: str, links: Sequence[FakeLink], nodes: Sequence[FakeNode]) -> Any:
    return group_integrity(
        node_id=node_id,
        group_links=links,
        nodes_by_id={n.id: n for n in nodes},
        default_listen_port=DEFAULT_PORT,
    )


def test_integrity_healthy() -> None:
    assert integrity("n1", link_group("g1", "n1", "n2"), [node(1), node(2)]) == ("healthy", "")


def test_integrity_disabled_peer() -> None:
    nodes = [node(1), node(2, enabled=False)]
    links = link_group("g1", "n1", "n2")
    assert integrity("n1", links, nodes) == (
        "broken",
        "Mesh link from node-1 references disabled endpoint node-2.",
    )
    # Seen from the disabled node itself, or with the group disabled, it is not broken.
    assert integrity("n2", links, nodes) == ("healthy", "")
    assert integrity("n1", link_group("g1", "n1", "n2", enabled=False), nodes) == ("healthy", "")


def test_integrity_both_sides_unresolved() -> None:
    nodes = [node(1, public=False), node(2, public=False)]
    links = link_group("g1", "n1", "n2")
    assert integrity("n1", links, nodes) == (
        "broken",
        "Mesh link between node-1 and node-2 is broken because both sides have no public endpoint.",
    )
    assert integrity("n2", links, nodes)[1] == (
        "Mesh link between node-2 and node-1 is broken because both sides have no public endpoint."
    )


def test_integrity_one_side_resolved_or_none_is_healthy() -> None:
    assert integrity("n1", link_group("g1", "n1", "n2"), [node(1), node(2, public=False)]) == (
        "healthy",
        "",
    )
    nodes = [node(1, public=False), node(2, public=False)]
    links = link_group("g1", "n1", "n2", forward={"endpoint_mode": "none"})
    assert integrity("n1", links, nodes) == ("healthy", "")
    assert integrity("n1", link_group("g1", "n1", "n2", with_reverse=False), nodes) == (
        "healthy",
        "",
    )


# --- validate_mesh -----------------------------------------------------------------------------


def validate(nodes: Sequence[FakeNode], links: Sequence[FakeLink]) -> MeshValidation:
    return validate_mesh(nodes=nodes, links=links, default_listen_port=DEFAULT_PORT)


def test_passes_with_one_node_and_no_links() -> None:
    result = validate([node(1), node(2, enabled=False)], [])
    assert result.as_dict() == {
        "valid": True,
        "messages": ["Topology check passed."],
        "errors": [],
        "warnings": [],
    }


def test_warns_without_enabled_links() -> None:
    links = link_group("g1", "n1", "n2", enabled=False)
    result = validate([node(1), node(2)], links)
    assert result.valid is True
    assert result.warnings == ["Current config has no peer links."]
    assert result.messages == ["Current config has no peer links."]
    assert result.errors == []


def test_healthy_mesh_passes() -> None:
    result = validate([node(1), node(2)], link_group("g1", "n1", "n2"))
    assert result.messages == ["Topology check passed."]
    assert result.summary_dict() == {
        "valid": True,
        "errors": [],
        "error_count": 0,
        "invalid_node_ids": [],
        "invalid_node_count": 0,
    }


DUPLICATE_MESSAGE = (
    "Duplicate enabled peer links found between node-1 and node-2. "
    "Only one enabled link group is allowed for the same node pair."
)


def test_duplicate_enabled_groups_for_same_unordered_pair() -> None:
    nodes = [node(1), node(2), node(3)]
    links = [
        *link_group("g1", "n2", "n1"),
        *link_group("g2", "n1", "n3"),
        *link_group("g3", "n1", "n2"),
        *link_group("g4", "n1", "n2", enabled=False),
    ]
    result = validate(nodes, links)
    assert result.valid is False
    assert result.errors == [DUPLICATE_MESSAGE]
    assert result.messages == [DUPLICATE_MESSAGE]
    assert result.invalid_node_ids == ["n1", "n2"]
    nodes_by_id = {n.id: n for n in nodes}
    assert duplicate_messages_by_group(links=links, nodes_by_id=nodes_by_id) == {
        "g1": DUPLICATE_MESSAGE,
        "g3": DUPLICATE_MESSAGE,
    }


def test_duplicate_with_disabled_node_is_reported_as_reference_error_only() -> None:
    nodes = [node(1), node(2, enabled=False)]
    links = [*link_group("g1", "n1", "n2"), *link_group("g2", "n1", "n2")]
    result = validate(nodes, links)
    assert result.errors == [
        "Enabled Mesh link group g1 references missing or disabled endpoint: n2.",
        "Enabled Mesh link group g2 references missing or disabled endpoint: n2.",
    ]
    # Only the still-enabled counterpart is invalid.
    assert result.invalid_node_ids == ["n1"]
    assert result.error_count == 2
    assert result.invalid_node_count == 1


def test_reference_errors_missing_and_both_disabled() -> None:
    nodes = [node(1, enabled=False), node(2, enabled=False), node(3)]
    links = [*link_group("g1", "n1", "n2"), *link_group("g2", "n3", "n9")]
    result = validate(nodes, links)
    assert result.errors == [
        "Enabled Mesh link group g1 references missing or disabled endpoint: n1, n2.",
        "Enabled Mesh link group g2 references missing or disabled endpoint: n9.",
    ]
    assert result.invalid_node_ids == ["n3"]


def test_disabled_group_with_disabled_node_is_fine() -> None:
    nodes = [node(1), node(2, enabled=False), node(3)]
    links = [*link_group("g1", "n1", "n2", enabled=False), *link_group("g2", "n1", "n3")]
    assert validate(nodes, links).valid is True


def test_broken_group_and_error_order() -> None:
    nodes = [node(1, public=False), node(2, public=False), node(3), node(4)]
    links = [
        *link_group("g1", "n1", "n2"),
        *link_group("g2", "n3", "n4"),
        *link_group("g3", "n4", "n3"),
        *link_group("g4", "n1", "n2", enabled=False),
    ]
    result = validate(nodes, links)
    assert result.errors == [
        "Duplicate enabled peer links found between node-3 and node-4. "
        "Only one enabled link group is allowed for the same node pair.",
        "Mesh link between node-1 and node-2 is broken because both sides have no public endpoint.",
    ]
    assert result.invalid_node_ids == ["n1", "n2", "n3", "n4"]
    assert result.summary_dict()["error_count"] == 2


def test_broken_perspective_is_the_forward_row() -> None:
    nodes = [node(1, public=False), node(2, public=False)]
    links = list(reversed(link_group("g1", "n1", "n2")))
    assert validate(nodes, links).errors == [
        "Mesh link between node-1 and node-2 is broken because both sides have no public endpoint."
    ]


def test_validate_mesh_250_nodes_full_mesh_is_fast() -> None:
    nodes = [node(i, ipv4_address=f"198.51.100.{i % 250}") for i in range(1, 251)]
    links: list[FakeLink] = []
    for i in range(1, 251):
        for j in range(i + 1, 251):
            links.extend(link_group(f"g{i}-{j}", f"n{i}", f"n{j}"))
    assert len(links) == 62_250
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = validate(nodes, links)
        best = min(best, time.perf_counter() - start)
    assert result.valid is True
    # A guard against quadratic regressions, not a benchmark (bench/core.py has the figures:
    # ~0.06 s); loose enough for a loaded CI machine.
    assert best < 2.0
