"""Quick mesh planning: which link groups hub_spoke / full_mesh / free_mesh create (§4.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from wfm_core.errors import WfmError
from wfm_core.mesh.drafts import auto_keepalive, public_entry
from wfm_core.mesh.endpoints import ENDPOINT_FAMILIES
from wfm_core.views import NodeView

QUICK_MESH_MODES = ("hub_spoke", "full_mesh", "free_mesh")


@dataclass(frozen=True)
class QuickMeshRequest:
    """The body of `POST /configs/{cid}/mesh/quick-generate`."""

    mode: str
    endpoint_ref_family: str = "ipv4"
    hub_node_id: str | None = None
    gateway_node_ids: Sequence[str] = ()
    leaf_assignments: Mapping[str, str] = field(default_factory=dict)
    use_preshared_key: bool = False


class PlannedPair(NamedTuple):
    """One link group to create: forward row local→peer, reverse row peer→local."""

    local_node_id: str
    peer_node_id: str
    forward_allowed_ips: str
    reverse_allowed_ips: str
    forward_keepalive: int | None
    reverse_keepalive: int | None


def _node_refs(nodes: Sequence[NodeView]) -> list[dict[str, str]]:
    return [{"id": node.id, "name": node.name} for node in nodes]


def _normalize_ips(*values: str) -> str:
    """Trimmed, deduplicated comma list (values are node virtual IPs or the config subnet)."""
    tokens = (token.strip() for value in values for token in value.split(","))
    return ",".join(dict.fromkeys(token for token in tokens if token))


class _Planner:
    """Per-request caches so a 250-node full mesh costs one lookup per node, not per pair."""

    def __init__(self, nodes: Sequence[NodeView], family: str, default_listen_port: int) -> None:
        self.family = family
        self.keepalive = {
            node.id: auto_keepalive(node, family, default_listen_port) for node in nodes
        }
        self.vip = {node.id: _normalize_ips(node.virtual_ip or "") for node in nodes}

    def pair(self, local_id: str, peer_id: str, forward_ips: str, reverse_ips: str) -> PlannedPair:
        return PlannedPair(
            local_id,
            peer_id,
            forward_ips,
            reverse_ips,
            self.keepalive[peer_id],
            self.keepalive[local_id],
        )


def _endpoint_error(code: str, message: str, nodes: Sequence[NodeView], family: str) -> WfmError:
    return WfmError(
        code, message, detail={"nodes": _node_refs(nodes), "endpoint_ref_family": family}
    )


def _hub_spoke(
    request: QuickMeshRequest, enabled: Sequence[NodeView], subnet: str, planner: _Planner
) -> list[PlannedPair]:
    hub_id = (request.hub_node_id or "").strip()
    hub = next((node for node in enabled if node.id == hub_id), None)
    if hub is None:
        raise WfmError(
            "QUICK_MESH_HUB_REQUIRED",
            "Gateway endpoint is required and must be enabled",
            detail={"hub_node_id": hub_id},
        )
    family = planner.family
    if public_entry(hub, family) is None:
        raise _endpoint_error(
            "QUICK_MESH_HUB_ENDPOINT_REQUIRED",
            f"Gateway endpoint needs public {family.upper()} entry.",
            [hub],
            family,
        )
    scope = _normalize_ips(subnet)
    return [
        planner.pair(hub.id, node.id, planner.vip[node.id], scope)
        for node in enabled
        if node.id != hub.id
    ]


def _full_mesh(enabled: Sequence[NodeView], planner: _Planner) -> list[PlannedPair]:
    family = planner.family
    missing = [node for node in enabled if public_entry(node, family) is None]
    if missing:
        raise _endpoint_error(
            "QUICK_MESH_ENDPOINT_REQUIRED",
            f"All enabled endpoints need public {family.upper()} entry.",
            missing,
            family,
        )
    ids = [node.id for node in enabled]
    vips = [planner.vip[node_id] for node_id in ids]
    keepalives = [planner.keepalive[node_id] for node_id in ids]
    pairs: list[PlannedPair] = []
    append = pairs.append
    for i, local_id in enumerate(ids):
        local_vip, local_keepalive = vips[i], keepalives[i]
        for j in range(i + 1, len(ids)):
            append(
                PlannedPair(local_id, ids[j], vips[j], local_vip, keepalives[j], local_keepalive)
            )
    return pairs


def _free_mesh(
    request: QuickMeshRequest, enabled: Sequence[NodeView], subnet: str, planner: _Planner
) -> list[PlannedPair]:
    by_id = {node.id: node for node in enabled}
    gateway_ids = list(
        dict.fromkeys(gid.strip() for gid in request.gateway_node_ids if gid.strip())
    )
    assignments = {
        leaf.strip(): gateway.strip()
        for leaf, gateway in request.leaf_assignments.items()
        if leaf.strip() and gateway.strip()
    }
    if not gateway_ids:
        raise WfmError("QUICK_MESH_GATEWAY_REQUIRED", "At least one gateway endpoint is required")
    unknown = [gid for gid in gateway_ids if gid not in by_id]
    if unknown:
        raise WfmError(
            "QUICK_MESH_GATEWAY_REQUIRED",
            "Gateway endpoints must be enabled endpoints",
            detail={"node_ids": unknown},
        )
    gateways = [by_id[gid] for gid in gateway_ids]
    family = planner.family
    missing = [node for node in gateways if public_entry(node, family) is None]
    if missing:
        raise _endpoint_error(
            "QUICK_MESH_GATEWAY_ENDPOINT_REQUIRED",
            f"Gateway endpoints need public {family.upper()} entry.",
            missing,
            family,
        )
    _check_leaves(assignments, set(gateway_ids), enabled, by_id)

    leaves_by_gateway: dict[str, list[str]] = {gid: [] for gid in gateway_ids}
    for leaf_id, gateway_id in assignments.items():
        leaves_by_gateway[gateway_id].append(leaf_id)
    scope = {
        gid: _normalize_ips(planner.vip[gid], *(planner.vip[leaf] for leaf in leaves))
        for gid, leaves in leaves_by_gateway.items()
    }
    pairs = [
        planner.pair(local_id, peer_id, scope[peer_id], scope[local_id])
        for i, local_id in enumerate(gateway_ids)
        for peer_id in gateway_ids[i + 1 :]
    ]
    subnet_scope = _normalize_ips(subnet)
    pairs.extend(
        planner.pair(gateway_id, leaf_id, planner.vip[leaf_id], subnet_scope)
        for leaf_id, gateway_id in assignments.items()
    )
    return pairs


def _check_leaves(
    assignments: Mapping[str, str],
    gateway_set: set[str],
    enabled: Sequence[NodeView],
    by_id: Mapping[str, NodeView],
) -> None:
    invalid = [leaf for leaf in assignments if leaf not in by_id]
    if invalid:
        raise WfmError(
            "QUICK_MESH_LEAF_INVALID",
            "Leaf endpoints must be enabled endpoints",
            detail={"node_ids": invalid},
        )
    both_roles = sorted(gateway_set & set(assignments))
    if both_roles:
        raise WfmError(
            "QUICK_MESH_NODE_ROLE_CONFLICT",
            "Endpoint cannot be both gateway and leaf",
            detail={"node_ids": both_roles},
        )
    bad_gateways = sorted({gid for gid in assignments.values() if gid not in gateway_set})
    if bad_gateways:
        raise WfmError(
            "QUICK_MESH_LEAF_GATEWAY_INVALID",
            "Leaf gateway must be a selected gateway endpoint",
            detail={"node_ids": bad_gateways},
        )
    unassigned = [
        node.id for node in enabled if node.id not in gateway_set and node.id not in assignments
    ]
    if unassigned:
        raise WfmError(
            "QUICK_MESH_NODE_UNASSIGNED",
            "All enabled endpoints must be assigned as gateway or leaf",
            detail={"node_ids": unassigned},
        )


def plan_quick_mesh(
    *,
    request: QuickMeshRequest,
    nodes: Sequence[NodeView],
    virtual_subnet: str,
    default_listen_port: int,
) -> list[PlannedPair]:
    """The link groups a quick mesh creates, or the first failing check of §4.1 as a WfmError.

    `nodes` are all nodes of the config in creation order; disabled ones are ignored entirely.
    """
    mode = request.mode.strip()
    if mode not in QUICK_MESH_MODES:
        raise WfmError(
            "INVALID_QUICK_MESH_MODE", "Quick mesh mode is invalid", detail={"mode": request.mode}
        )
    family = request.endpoint_ref_family.strip()
    if family not in ENDPOINT_FAMILIES:
        raise WfmError(
            "INVALID_ENDPOINT_FAMILY",
            "Endpoint family is invalid",
            detail={"endpoint_ref_family": request.endpoint_ref_family},
        )
    enabled = [node for node in nodes if node.enabled]
    if len(enabled) < 2:
        raise WfmError(
            "QUICK_MESH_NOT_ENOUGH_NODES",
            "At least two enabled endpoints are required",
            detail={"enabled_node_count": len(enabled)},
        )
    missing_vip = [node for node in enabled if not (node.virtual_ip or "").strip()]
    if missing_vip:
        raise WfmError(
            "QUICK_MESH_VIRTUAL_IP_REQUIRED",
            "All enabled endpoints need virtual IP before quick mesh generation.",
            detail={"nodes": _node_refs(missing_vip)},
        )
    planner = _Planner(enabled, family, default_listen_port)
    if mode == "hub_spoke":
        return _hub_spoke(request, enabled, virtual_subnet, planner)
    if mode == "full_mesh":
        return _full_mesh(enabled, planner)
    return _free_mesh(request, enabled, virtual_subnet, planner)
