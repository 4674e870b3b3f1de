"""Mesh workspace assembly: one node's link groups as MeshConnection dicts (§2.3, §4.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wfm_core.mesh.validation import (
    connection_integrity,
    duplicate_messages_by_group,
    endpoint_summary,
    keepalive_display,
)
from wfm_core.views import LinkView, NodeView


def peer_node_brief(node: NodeView) -> dict[str, Any]:
    """The `peer_node` object of a MeshConnection."""
    return {
        "id": node.id,
        "name": node.name,
        "virtual_ip": node.virtual_ip,
        "ipv4_address": node.ipv4_address,
        "ipv6_address": node.ipv6_address,
        "enabled": node.enabled,
    }


def direction_card(*, link: LinkView, peer: NodeView, default_listen_port: int) -> dict[str, Any]:
    """The `Dir` object of one link row (rendered inside its local node, toward `peer`)."""
    return {
        "link_id": link.id,
        "local_node_id": link.local_node_id,
        "peer_node_id": link.peer_node_id,
        "allowed_ips": link.allowed_ips,
        "persistent_keepalive": link.persistent_keepalive,
        "endpoint_mode": link.endpoint_mode,
        "endpoint_ref_family": link.endpoint_ref_family,
        "endpoint_manual_host": link.endpoint_manual_host,
        "endpoint_port_mode": link.endpoint_port_mode,
        "endpoint_manual_port": link.endpoint_manual_port,
        "endpoint_summary": endpoint_summary(
            link=link, peer=peer, default_listen_port=default_listen_port
        ),
        "keepalive_display": keepalive_display(
            link=link, peer=peer, default_listen_port=default_listen_port
        ),
    }


def _latest(*values: Any) -> Any:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _connection(
    *,
    node: NodeView,
    peer: NodeView,
    forward: LinkView,
    reverse: LinkView | None,
    duplicate_message: str,
    default_listen_port: int,
) -> dict[str, Any]:
    status, message = connection_integrity(
        local=node,
        peer=peer,
        forward=forward,
        reverse=reverse,
        default_listen_port=default_listen_port,
    )
    # Group-level fields (PSK, notes) live on both rows; take the forward row's, else the reverse's.
    preshared_key = forward.preshared_key or (reverse.preshared_key if reverse else None)
    notes = getattr(forward, "notes", "") or (getattr(reverse, "notes", "") if reverse else "")
    return {
        "link_group_id": forward.link_group_id,
        "peer_node": peer_node_brief(peer),
        "enabled": forward.enabled,
        "has_preshared_key": bool(preshared_key),
        "preshared_key": preshared_key,
        "notes": notes or "",
        "updated_at": _latest(
            getattr(forward, "updated_at", None),
            getattr(reverse, "updated_at", None) if reverse else None,
        ),
        "forward": direction_card(link=forward, peer=peer, default_listen_port=default_listen_port),
        "reverse": (
            direction_card(link=reverse, peer=node, default_listen_port=default_listen_port)
            if reverse
            else None
        ),
        "integrity_status": status,
        "integrity_message": message,
        "duplicate_enabled_pair": bool(duplicate_message),
        "duplicate_message": duplicate_message,
        "readonly": not node.enabled,
        "peer_disabled": not peer.enabled,
    }


def mesh_connections(
    *,
    node: NodeView,
    links: Sequence[LinkView],
    nodes_by_id: Mapping[str, NodeView],
    default_listen_port: int,
) -> list[dict[str, Any]]:
    """Every link group of `node` seen from it, in link order; forward = the row node → peer.

    `links` are all links of the config (duplicates are a config-wide property).
    """
    node_id = node.id
    # A duplicate pair involving this node consists of groups touching it, so the rest of the
    # config (most of a 62k-row mesh) is filtered out in one cheap pass.
    own = [link for link in links if link.local_node_id == node_id or link.peer_node_id == node_id]
    duplicates = duplicate_messages_by_group(links=own, nodes_by_id=nodes_by_id)
    reverse_by_group = {link.link_group_id: link for link in own if link.peer_node_id == node_id}
    connections: list[dict[str, Any]] = []
    for link in own:
        if link.local_node_id != node_id:
            continue
        peer = nodes_by_id.get(link.peer_node_id)
        if peer is None:
            continue
        connections.append(
            _connection(
                node=node,
                peer=peer,
                forward=link,
                reverse=reverse_by_group.get(link.link_group_id),
                duplicate_message=duplicates.get(link.link_group_id, ""),
                default_listen_port=default_listen_port,
            )
        )
    return connections
