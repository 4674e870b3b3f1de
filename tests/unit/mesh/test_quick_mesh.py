"""Quick mesh planning (reference.md §4.1): order of checks, error details and exact pair lists."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wfm_core.errors import WfmError
from wfm_core.mesh.quick_mesh import PlannedPair, QuickMeshRequest, plan_quick_mesh

from .factories import DEFAULT_PORT, SUBNET, FakeNode, node


def plan(
    nodes: Sequence[FakeNode], default_listen_port: int = DEFAULT_PORT, **request: Any
) -> list[PlannedPair]:
    return plan_quick_mesh(
        request=QuickMeshRequest(**request),
        nodes=nodes,
        virtual_subnet=SUBNET,
        default_listen_port=default_listen_port,
    )


def plan_error(nodes: Sequence[FakeNode], **request: Any) -> WfmError:
    with pytest.raises(WfmError) as info:
        plan(nodes, **request)
    return info.value


# --- common checks -----------------------------------------------------------------------------


def test_invalid_mode_is_checked_first() -> None:
    err = plan_error([node(1)], mode="star", endpoint_ref_family="ipv5")
    assert err.code == "INVALID_QUICK_MESH_MODE"
    assert err.status == 400
    assert err.message == "Quick mesh mode is invalid"


def test_invalid_family_before_node_count() -> None:
    err = plan_error([node(1)], mode="full_mesh", endpoint_ref_family="ipv5")
    assert err.code == "INVALID_ENDPOINT_FAMILY"
    assert err.status == 400


def test_mode_is_trimmed() -> None:
    assert len(plan([node(1), node(2)], mode=" full_mesh ")) == 1


def test_not_enough_enabled_nodes_ignores_disabled_and_precedes_vip_check() -> None:
    nodes = [node(1, vip=False), node(2, enabled=False), node(3, enabled=False)]
    err = plan_error(nodes, mode="full_mesh")
    assert err.code == "QUICK_MESH_NOT_ENOUGH_NODES"
    assert err.message == "At least two enabled endpoints are required"


def test_virtual_ip_required_lists_enabled_nodes_only_before_mode_checks() -> None:
    nodes = [
        node(1, vip=False),
        node(2),
        node(3, vip=False, public=False),
        node(4, vip=False, enabled=False),
    ]
    err = plan_error(nodes, mode="hub_spoke", hub_node_id="missing")
    assert err.code == "QUICK_MESH_VIRTUAL_IP_REQUIRED"
    assert err.message == "All enabled endpoints need virtual IP before quick mesh generation."
    assert err.detail == {"nodes": [{"id": "n1", "name": "node-1"}, {"id": "n3", "name": "node-3"}]}


# --- hub_spoke ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hub_node_id", [None, "", "nX", "n3"])
def test_hub_required_when_missing_unknown_or_disabled(hub_node_id: str | None) -> None:
    nodes = [node(1), node(2), node(3, enabled=False)]
    err = plan_error(nodes, mode="hub_spoke", hub_node_id=hub_node_id)
    assert err.code == "QUICK_MESH_HUB_REQUIRED"
    assert err.message == "Gateway endpoint is required and must be enabled"


def test_hub_needs_public_entry_of_family() -> None:
    nodes = [node(1, public=False, ipv6_address="2001:db8::1"), node(2)]
    err = plan_error(nodes, mode="hub_spoke", hub_node_id="n1")
    assert err.code == "QUICK_MESH_HUB_ENDPOINT_REQUIRED"
    assert err.message == "Gateway endpoint needs public IPV4 entry."
    assert err.detail == {
        "nodes": [{"id": "n1", "name": "node-1"}],
        "endpoint_ref_family": "ipv4",
    }


def test_hub_spoke_pairs() -> None:
    nodes = [
        node(1),
        node(2, listen_port=51999),
        node(3, public=False),
        node(4, enabled=False, vip=False),
    ]
    pairs = plan(nodes, mode="hub_spoke", hub_node_id=" n2 ", endpoint_ref_family="ipv4")
    assert pairs == [
        PlannedPair("n2", "n1", "10.66.0.1/32", SUBNET, 25, 25),
        # The spoke has no public entry: the hub → spoke direction writes no Endpoint.
        PlannedPair("n2", "n3", "10.66.0.3/32", SUBNET, None, 25),
    ]


def test_keepalive_needs_a_port_too() -> None:
    nodes = [node(1, listen_port=40000), node(2)]
    pairs = plan(nodes, default_listen_port=0, mode="hub_spoke", hub_node_id="n1")
    assert pairs == [PlannedPair("n1", "n2", "10.66.0.2/32", SUBNET, None, 25)]


# --- full_mesh ---------------------------------------------------------------------------------


def test_full_mesh_requires_public_entry_on_every_enabled_node() -> None:
    nodes = [
        node(1),
        node(2, public=False),
        node(3, enabled=False, public=False),
        node(4, public=False),
    ]
    err = plan_error(nodes, mode="full_mesh")
    assert err.code == "QUICK_MESH_ENDPOINT_REQUIRED"
    assert err.message == "All enabled endpoints need public IPV4 entry."
    assert err.detail == {
        "nodes": [{"id": "n2", "name": "node-2"}, {"id": "n4", "name": "node-4"}],
        "endpoint_ref_family": "ipv4",
    }


def test_full_mesh_pairs_follow_creation_order() -> None:
    nodes = [node(3), node(1), node(9, enabled=False), node(2)]
    assert plan(nodes, mode="full_mesh") == [
        PlannedPair("n3", "n1", "10.66.0.1/32", "10.66.0.3/32", 25, 25),
        PlannedPair("n3", "n2", "10.66.0.2/32", "10.66.0.3/32", 25, 25),
        PlannedPair("n1", "n2", "10.66.0.2/32", "10.66.0.1/32", 25, 25),
    ]


def test_full_mesh_keepalive_per_direction() -> None:
    # Without a config default port only n1 (own listen port) can be an Endpoint target.
    nodes = [node(1, listen_port=5000), node(2), node(3, listen_port=6000)]
    assert plan(nodes, default_listen_port=0, mode="full_mesh") == [
        PlannedPair("n1", "n2", "10.66.0.2/32", "10.66.0.1/32", None, 25),
        PlannedPair("n1", "n3", "10.66.0.3/32", "10.66.0.1/32", 25, 25),
        PlannedPair("n2", "n3", "10.66.0.3/32", "10.66.0.2/32", 25, None),
    ]


def test_full_mesh_ipv6_family_uses_ipv6_entries() -> None:
    v6 = [
        node(1, public=False, ipv6_address="2001:db8::1"),
        node(2, public=False, ipv6_address="v6.example.net"),
    ]
    assert plan(v6, mode="full_mesh", endpoint_ref_family="ipv6") == [
        PlannedPair("n1", "n2", "10.66.0.2/32", "10.66.0.1/32", 25, 25)
    ]
    err = plan_error([node(1), *v6], mode="full_mesh", endpoint_ref_family="ipv6")
    assert err.code == "QUICK_MESH_ENDPOINT_REQUIRED"
    assert err.message == "All enabled endpoints need public IPV6 entry."
    assert err.detail["nodes"] == [{"id": "n1", "name": "node-1"}]
    assert err.detail["endpoint_ref_family"] == "ipv6"


def test_whitespace_public_entry_counts_as_missing() -> None:
    err = plan_error([node(1), node(2, ipv4_address="  ")], mode="full_mesh")
    assert err.code == "QUICK_MESH_ENDPOINT_REQUIRED"


def test_full_mesh_250_nodes_is_fast() -> None:
    nodes = [
        node(i, virtual_ip=f"10.66.{i // 250}.{i % 250}/32", ipv4_address=f"198.51.{i // 250}.{i}")
        for i in range(1, 251)
    ]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        pairs = plan(nodes, mode="full_mesh")
        best = min(best, time.perf_counter() - start)
    assert len(pairs) == 31_125
    assert best < 0.1


# --- free_mesh ---------------------------------------------------------------------------------

FREE_NODES = [
    node(1),
    node(2),
    node(3),
    node(4),
    node(5, public=False),
    node(6, enabled=False, public=False, vip=False),
]
GOOD_LEAVES = {"n3": "n1", "n4": "n1", "n5": "n2"}


@pytest.mark.parametrize("gateways", [[], ["", "  "]])
def test_free_mesh_needs_a_gateway(gateways: list[str]) -> None:
    err = plan_error(FREE_NODES, mode="free_mesh", gateway_node_ids=gateways)
    assert err.code == "QUICK_MESH_GATEWAY_REQUIRED"
    assert err.message == "At least one gateway endpoint is required"


def test_free_mesh_gateways_must_be_enabled_nodes() -> None:
    err = plan_error(FREE_NODES, mode="free_mesh", gateway_node_ids=["n1", "n6", "nX"])
    assert err.code == "QUICK_MESH_GATEWAY_REQUIRED"
    assert err.message == "Gateway endpoints must be enabled endpoints"
    assert err.detail == {"node_ids": ["n6", "nX"]}


def test_free_mesh_gateways_need_public_entry_before_leaf_checks() -> None:
    err = plan_error(
        FREE_NODES,
        mode="free_mesh",
        gateway_node_ids=["n1", "n5"],
        leaf_assignments={"nX": "n1"},
    )
    assert err.code == "QUICK_MESH_GATEWAY_ENDPOINT_REQUIRED"
    assert err.message == "Gateway endpoints need public IPV4 entry."
    assert err.detail == {"nodes": [{"id": "n5", "name": "node-5"}], "endpoint_ref_family": "ipv4"}


def test_free_mesh_leaves_must_be_enabled_before_role_conflict() -> None:
    err = plan_error(
        FREE_NODES,
        mode="free_mesh",
        gateway_node_ids=["n1", "n2"],
        leaf_assignments={"n6": "n1", "n2": "n1", "nX": "n1"},
    )
    assert err.code == "QUICK_MESH_LEAF_INVALID"
    assert err.message == "Leaf endpoints must be enabled endpoints"
    assert err.detail == {"node_ids": ["n6", "nX"]}


def test_free_mesh_role_conflict_before_leaf_gateway_check() -> None:
    err = plan_error(
        FREE_NODES,
        mode="free_mesh",
        gateway_node_ids=["n1", "n2"],
        leaf_assignments={"n2": "n1", "n3": "n4"},
    )
    assert err.code == "QUICK_MESH_NODE_ROLE_CONFLICT"
    assert err.message == "Endpoint cannot be both gateway and leaf"
    assert err.detail == {"node_ids": ["n2"]}


def test_free_mesh_leaf_gateway_must_be_selected_before_unassigned_check() -> None:
    err = plan_error(
        FREE_NODES,
        mode="free_mesh",
        gateway_node_ids=["n1"],
        leaf_assignments={"n3": "n4", "n5": "n2"},
    )
    assert err.code == "QUICK_MESH_LEAF_GATEWAY_INVALID"
    assert err.message == "Leaf gateway must be a selected gateway endpoint"
    assert err.detail == {"node_ids": ["n2", "n4"]}


def test_free_mesh_every_enabled_node_must_be_assigned() -> None:
    err = plan_error(
        FREE_NODES,
        mode="free_mesh",
        gateway_node_ids=["n1", "n2"],
        # An empty gateway drops the assignment, leaving n4 unassigned.
        leaf_assignments={"n3": "n1", "n4": " "},
    )
    assert err.code == "QUICK_MESH_NODE_UNASSIGNED"
    assert err.message == "All enabled endpoints must be assigned as gateway or leaf"
    assert err.detail == {"node_ids": ["n4", "n5"]}


def test_free_mesh_pairs() -> None:
    pairs = plan(
        FREE_NODES,
        mode="free_mesh",
        gateway_node_ids=["n1", "n2", "n1"],
        leaf_assignments=GOOD_LEAVES,
    )
    assert pairs == [
        PlannedPair(
            "n1",
            "n2",
            "10.66.0.2/32,10.66.0.5/32",
            "10.66.0.1/32,10.66.0.3/32,10.66.0.4/32",
            25,
            25,
        ),
        # n3 and n4 have public entries but are still leaves.
        PlannedPair("n1", "n3", "10.66.0.3/32", SUBNET, 25, 25),
        PlannedPair("n1", "n4", "10.66.0.4/32", SUBNET, 25, 25),
        PlannedPair("n2", "n5", "10.66.0.5/32", SUBNET, None, 25),
    ]


def test_free_mesh_three_gateways_full_mesh_between_them() -> None:
    nodes = [node(1), node(2), node(3), node(4, public=False)]
    pairs = plan(
        nodes, mode="free_mesh", gateway_node_ids=["n3", "n1", "n2"], leaf_assignments={"n4": "n2"}
    )
    assert pairs == [
        PlannedPair("n3", "n1", "10.66.0.1/32", "10.66.0.3/32", 25, 25),
        PlannedPair("n3", "n2", "10.66.0.2/32,10.66.0.4/32", "10.66.0.3/32", 25, 25),
        PlannedPair("n1", "n2", "10.66.0.2/32,10.66.0.4/32", "10.66.0.1/32", 25, 25),
        PlannedPair("n2", "n4", "10.66.0.4/32", SUBNET, None, 25),
    ]


def test_free_mesh_ipv6_gateways() -> None:
    nodes = [
        node(1, public=False, ipv6_address="2001:db8::1", listen_port=51000),
        node(2, public=True),
    ]
    pairs = plan(
        nodes,
        mode="free_mesh",
        endpoint_ref_family="ipv6",
        gateway_node_ids=["n1"],
        leaf_assignments={"n2": "n1"},
    )
    # The leaf's IPv4 entry does not count for the IPv6 family.
    assert pairs == [PlannedPair("n1", "n2", "10.66.0.2/32", SUBNET, None, 25)]


# --- property ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(min_value=2, max_value=40),
    disabled=st.sets(st.integers(min_value=0, max_value=39)),
)
def test_full_mesh_gives_each_unordered_pair_once(count: int, disabled: set[int]) -> None:
    nodes = [node(i + 1, enabled=i not in disabled) for i in range(count)]
    enabled_ids = {n.id for n in nodes if n.enabled}
    if len(enabled_ids) < 2:
        assert plan_error(nodes, mode="full_mesh").code == "QUICK_MESH_NOT_ENOUGH_NODES"
        return
    pairs = plan(nodes, mode="full_mesh")
    n = len(enabled_ids)
    assert len(pairs) == n * (n - 1) // 2
    unordered = {frozenset((p.local_node_id, p.peer_node_id)) for p in pairs}
    assert len(unordered) == len(pairs)
    assert all(len(pair) == 2 and pair <= enabled_ids for pair in unordered)
    by_id = {n.id: n for n in nodes}
    for p in pairs:
        assert p.forward_allowed_ips == by_id[p.peer_node_id].virtual_ip
        assert p.reverse_allowed_ips == by_id[p.local_node_id].virtual_ip
        assert (p.forward_keepalive, p.reverse_keepalive) == (25, 25)
