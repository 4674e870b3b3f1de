"""WireGuard/AmneziaWG `.conf` text of one node (reference.md §3.1, §3.2)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from wfm_core.mesh.endpoints import resolve_endpoint
from wfm_core.portforward.hooks import ManagedHook, ManagedHooks
from wfm_core.views import ConfigView, LinkView, NodeView

# The hook dataclasses live with their producer (portforward.hooks, which must not import the
# renderer); they are re-exported here for callers that only render.
__all__ = ["ManagedHook", "ManagedHooks", "render_node_config", "sha256_text"]

AWG_PROTOCOLS = frozenset({"amneziawg", "amneziawg_2"})


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the UTF-8 text (the `sha256` of desired/staged/confirmed configs)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hook_lines(key: str, user: Sequence[str] | None, managed: Sequence[ManagedHook]) -> list[str]:
    lines = [f"{key} = {cmd.strip()}" for cmd in (user or ()) if cmd and cmd.strip()]
    lines += [f"{key} = {hook.command}" for hook in managed]
    return lines


def _interface_lines(
    config: ConfigView,
    node: NodeView,
    managed: ManagedHooks,
    awg_lines: Sequence[str],
) -> list[str]:
    lines = ["[Interface]", f"PrivateKey = {node.private_key}"]
    address = (node.virtual_ip or "").strip()
    if address:
        lines.append(f"Address = {address}")
    lines.append(f"ListenPort = {node.listen_port or config.default_listen_port}")
    dns = (node.dns or config.default_dns or "").strip()
    if dns:
        lines.append(f"DNS = {dns}")
    mtu = node.mtu or config.default_mtu
    if mtu:
        lines.append(f"MTU = {mtu}")
    lines += _hook_lines("PreUp", node.pre_up_json, managed.pre_up)
    lines += _hook_lines("PostUp", node.post_up_json, managed.post_up)
    lines += _hook_lines("PreDown", node.pre_down_json, managed.pre_down)
    lines += _hook_lines("PostDown", node.post_down_json, managed.post_down)
    if config.tunnel_protocol in AWG_PROTOCOLS:
        lines += awg_lines
    return lines


def _active_links(
    node: NodeView, links: Sequence[LinkView], nodes_by_id: Mapping[str, NodeView]
) -> list[tuple[LinkView, NodeView]]:
    """§3.1: enabled links of this node whose peer exists and is enabled, oldest first."""
    active: list[tuple[LinkView, NodeView]] = []
    for link in links:
        if not link.enabled or link.local_node_id != node.id:
            continue
        peer = nodes_by_id.get(link.peer_node_id)
        if peer is not None and peer.enabled:
            active.append((link, peer))
    active.sort(key=lambda pair: (pair[0].created_at, pair[0].id))
    return active


def _peer_lines(link: LinkView, peer: NodeView, default_listen_port: int) -> list[str]:
    lines = [
        "",
        f"# Peer: {peer.name}",
        "[Peer]",
        f"PublicKey = {peer.public_key}",
        f"AllowedIPs = {link.allowed_ips or ''}",
    ]
    if link.preshared_key:
        lines.append(f"PresharedKey = {link.preshared_key}")
    endpoint = resolve_endpoint(link=link, peer=peer, default_listen_port=default_listen_port)
    if endpoint is not None:
        lines.append(f"Endpoint = {endpoint}")
        if link.persistent_keepalive:
            lines.append(f"PersistentKeepalive = {link.persistent_keepalive}")
    return lines


def render_node_config(
    *,
    config: ConfigView,
    node: NodeView,
    links: Sequence[LinkView],
    nodes_by_id: Mapping[str, NodeView],
    managed_hooks: ManagedHooks | None = None,
    awg_lines: Sequence[str] = (),
) -> str:
    """The node's config text: `[Interface]` then one `[Peer]` per active link (§3.2 layout).

    `links` are the rows whose local node is `node` (others are ignored); this function applies
    the §3.1 filter and order itself. A disabled node has no config: the result is "".
    `awg_lines` (from `wfm_core.render.awg.awg_lines`) are emitted only for AmneziaWG configs.
    Cost is O(len(links) log len(links)); callers group the config's links by local node once.
    """
    if not node.enabled:
        return ""
    lines = _interface_lines(config, node, managed_hooks or ManagedHooks(), awg_lines)
    for link, peer in _active_links(node, links, nodes_by_id):
        lines += _peer_lines(link, peer, config.default_listen_port)
    lines.append("")  # trailing newline
    return "\n".join(lines)
