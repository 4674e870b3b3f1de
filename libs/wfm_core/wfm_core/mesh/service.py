"""Peer link use cases: link groups, drafts, workspace, validation and quick mesh."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.db.types import utc_now
from wfm_core.errors import WfmError
from wfm_core.ids import new_id
from wfm_core.lookups import require_config, require_config_node
from wfm_core.mesh import repository as mesh_repo
from wfm_core.mesh.drafts import (
    effective_direction_keepalive,
    link_draft,
    normalize_allowed_ips,
    validate_link_group,
)
from wfm_core.mesh.models import PeerLink
from wfm_core.mesh.quick_mesh import QuickMeshRequest, plan_quick_mesh
from wfm_core.mesh.schemas import (
    DirectionRequest,
    LinkDraftRead,
    MeshValidationRead,
    PeerLinkGroupRequest,
    PeerLinkRead,
    QuickMeshRequestModel,
    QuickMeshResult,
)
from wfm_core.mesh.validation import validate_mesh
from wfm_core.mesh.workspace import mesh_connections, peer_node_brief
from wfm_core.nodes import repository as nodes_repo
from wfm_core.nodes.models import Node
from wfm_core.render.keys import generate_psk, validate_key
from wfm_core.sync.service import refresh_config_state
from wfm_core.views import LinkData

_DIRECTION_FIELDS = (
    "allowed_ips",
    "endpoint_mode",
    "endpoint_ref_family",
    "endpoint_manual_host",
    "endpoint_port_mode",
    "endpoint_manual_port",
)


async def list_links(session: AsyncSession, *, config_id: str) -> list[PeerLinkRead]:
    await require_config(session, config_id=config_id)
    return [
        PeerLinkRead.model_validate(link)
        for link in await mesh_repo.list_links(session, config_id=config_id)
    ]


def _direction_values(direction: DirectionRequest, *, peer: Node, config: Config) -> dict[str, Any]:
    values = {field: getattr(direction, field) for field in _DIRECTION_FIELDS}
    values["allowed_ips"] = normalize_allowed_ips(direction.allowed_ips)
    if direction.endpoint_mode != "manual":
        values["endpoint_manual_host"] = None
    if direction.endpoint_port_mode != "manual":
        values["endpoint_manual_port"] = None
    values["persistent_keepalive"] = effective_direction_keepalive(
        direction=direction, peer=peer, default_listen_port=config.default_listen_port
    )
    return values


async def _validated_group(
    session: AsyncSession,
    *,
    config: Config,
    data: PeerLinkGroupRequest,
    check_enabled: bool,
) -> tuple[Node, Node, dict[str, Any], dict[str, Any], str | None]:
    local = await require_config_node(
        session, config_id=config.id, node_id=data.forward.local_node_id
    )
    peer = await require_config_node(
        session, config_id=config.id, node_id=data.forward.peer_node_id
    )
    validate_link_group(
        forward=data.forward,
        reverse=data.reverse,
        local=local,
        peer=peer,
        check_enabled=check_enabled,
    )
    psk = validate_key(data.preshared_key, "preshared_key") if data.preshared_key else None
    forward = _direction_values(data.forward, peer=peer, config=config)
    reverse = _direction_values(data.reverse, peer=local, config=config)
    return local, peer, forward, reverse, psk


async def create_link_group(
    session: AsyncSession, *, config_id: str, data: PeerLinkGroupRequest
) -> list[PeerLinkRead]:
    """Two rows (forward local→peer, reverse peer→local) sharing one group id and PSK."""
    config = await require_config(session, config_id=config_id)
    local, peer, forward, reverse, psk = await _validated_group(
        session, config=config, data=data, check_enabled=True
    )
    group_id = new_id("group")
    now = utc_now()
    rows = [
        PeerLink(
            id=new_id("plink"),
            config_id=config.id,
            local_node_id=a.id,
            peer_node_id=b.id,
            link_group_id=group_id,
            direction=direction,
            enabled=data.enabled,
            preshared_key=psk,
            notes=data.notes,
            created_at=now + timedelta(microseconds=offset),
            **values,
        )
        for offset, (a, b, direction, values) in enumerate(
            ((local, peer, "forward", forward), (peer, local, "reverse", reverse))
        )
    ]
    mesh_repo.add_links(session, links=rows)
    await session.flush()
    await refresh_config_state(session, config=config)
    return [PeerLinkRead.model_validate(row) for row in rows]


async def _require_group(session: AsyncSession, *, group_id: str) -> list[PeerLink]:
    links = list(await mesh_repo.group_links(session, group_id=group_id))
    if not links:
        raise WfmError("PEER_LINK_NOT_FOUND", "Peer link not found", detail={"group_id": group_id})
    return links


async def update_link_group(
    session: AsyncSession, *, group_id: str, data: PeerLinkGroupRequest
) -> list[PeerLinkRead]:
    links = await _require_group(session, group_id=group_id)
    config = await require_config(session, config_id=links[0].config_id)
    local, peer, forward, reverse, psk = await _validated_group(
        session, config=config, data=data, check_enabled=False
    )
    pair = {links[0].local_node_id, links[0].peer_node_id}
    if pair != {local.id, peer.id}:
        raise WfmError(
            "INVALID_PEER_LINK",
            "A link group keeps its two nodes; delete it and create a new one instead",
        )
    for link in links:
        values = forward if link.local_node_id == local.id else reverse
        for field, value in values.items():
            setattr(link, field, value)
        link.enabled = data.enabled
        link.preshared_key = psk
        link.notes = data.notes
    await session.flush()
    await refresh_config_state(session, config=config)
    return [PeerLinkRead.model_validate(link) for link in links]


async def delete_link_group(session: AsyncSession, *, group_id: str) -> None:
    links = await _require_group(session, group_id=group_id)
    config = await require_config(session, config_id=links[0].config_id)
    await mesh_repo.delete_group(session, group_id=group_id)
    await refresh_config_state(session, config=config)


def new_preshared_key() -> str:
    return generate_psk()


async def draft(
    session: AsyncSession,
    *,
    config_id: str,
    node_id: str,
    peer_node_id: str,
    endpoint_ref_family: str = "ipv4",
) -> LinkDraftRead:
    config = await require_config(session, config_id=config_id)
    local = await require_config_node(session, config_id=config_id, node_id=node_id)
    peer = await require_config_node(session, config_id=config_id, node_id=peer_node_id)
    result = link_draft(
        local=local,
        peer=peer,
        endpoint_ref_family=endpoint_ref_family,
        default_listen_port=config.default_listen_port,
    )
    return LinkDraftRead(
        local_node=peer_node_brief(local),
        peer_node=peer_node_brief(peer),
        **result.as_dict(),
    )


async def validate(session: AsyncSession, *, config_id: str) -> MeshValidationRead:
    config = await require_config(session, config_id=config_id)
    nodes = await nodes_repo.list_nodes(session, config_id=config_id)
    links = await mesh_repo.link_rows(session, config_id=config_id)
    result = validate_mesh(nodes=nodes, links=links, default_listen_port=config.default_listen_port)
    return MeshValidationRead(**result.as_dict())


async def workspace(session: AsyncSession, *, config_id: str, node_id: str) -> dict[str, Any]:
    """`{node, connections, readonly, validation}` for the node's mesh page."""
    config = await require_config(session, config_id=config_id)
    node = await require_config_node(session, config_id=config_id, node_id=node_id)
    nodes = await nodes_repo.list_nodes(session, config_id=config_id)
    links = await mesh_repo.list_links(session, config_id=config_id)
    connections = mesh_connections(
        node=node,
        links=links,
        nodes_by_id={n.id: n for n in nodes},
        default_listen_port=config.default_listen_port,
    )
    validation = validate_mesh(
        nodes=nodes, links=links, default_listen_port=config.default_listen_port
    )
    return {
        "node": peer_node_brief(node),
        "connections": connections,
        "readonly": not node.enabled,
        "validation": validation.as_dict(),
    }


async def quick_generate(
    session: AsyncSession, *, config_id: str, data: QuickMeshRequestModel
) -> QuickMeshResult:
    """Replace every link of the config with the planned groups, in one transaction (§4.1)."""
    config = await require_config(session, config_id=config_id)
    nodes = await nodes_repo.list_nodes(session, config_id=config_id)
    request = QuickMeshRequest(
        mode=data.mode,
        endpoint_ref_family=data.endpoint_ref_family,
        hub_node_id=data.hub_node_id,
        gateway_node_ids=tuple(data.gateway_node_ids),
        leaf_assignments=dict(data.leaf_assignments),
        use_preshared_key=data.use_preshared_key,
    )
    pairs = plan_quick_mesh(
        request=request,
        nodes=nodes,
        virtual_subnet=config.virtual_subnet,
        default_listen_port=config.default_listen_port,
    )
    deleted = await mesh_repo.delete_config_links(session, config_id=config_id)
    base = utc_now()
    family = request.endpoint_ref_family.strip()
    rows: list[dict[str, Any]] = []
    for index, pair in enumerate(pairs):
        group_id = new_id("group")
        psk = generate_psk() if request.use_preshared_key else None
        for offset, (local, peer, allowed, keepalive, direction) in enumerate(
            (
                (
                    pair.local_node_id,
                    pair.peer_node_id,
                    pair.forward_allowed_ips,
                    pair.forward_keepalive,
                    "forward",
                ),
                (
                    pair.peer_node_id,
                    pair.local_node_id,
                    pair.reverse_allowed_ips,
                    pair.reverse_keepalive,
                    "reverse",
                ),
            )
        ):
            stamp = base + timedelta(microseconds=2 * index + offset)
            rows.append(
                {
                    "id": new_id("plink"),
                    "config_id": config_id,
                    "local_node_id": local,
                    "peer_node_id": peer,
                    "link_group_id": group_id,
                    "direction": direction,
                    "enabled": True,
                    "allowed_ips": allowed,
                    "persistent_keepalive": keepalive,
                    "preshared_key": psk,
                    "endpoint_mode": "auto",
                    "endpoint_ref_family": family,
                    "endpoint_manual_host": None,
                    "endpoint_port_mode": "ref_peer_listen_port",
                    "endpoint_manual_port": None,
                    "notes": "",
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
    await mesh_repo.bulk_insert_links(session, rows=rows)
    # The new rows are all the config's links now: render from memory instead of reloading.
    await refresh_config_state(session, config=config, links=[LinkData(**row) for row in rows])
    return QuickMeshResult(
        mode=request.mode.strip(),
        endpoint_ref_family=family,
        use_preshared_key=request.use_preshared_key,
        generated_groups=len(pairs),
        deleted_links=deleted,
        affected_node_ids=[node.id for node in nodes if node.enabled],
    )
