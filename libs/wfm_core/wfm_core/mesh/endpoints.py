"""Endpoint resolution for one link direction (reference.md §4.3).

A link row is rendered inside its local node's config as a `[Peer]` for the peer node; the
Endpoint line points at the peer.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from wfm_core.views import LinkView, NodeView

ENDPOINT_MODES = ("auto", "none", "manual")
ENDPOINT_FAMILIES = ("ipv4", "ipv6")
PORT_MODES = ("ref_peer_listen_port", "manual")


@lru_cache(maxsize=4096)
def _is_ipv6_literal(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def endpoint_host(*, link: LinkView, peer: NodeView) -> str | None:
    """The host part this direction would use, or None."""
    if link.endpoint_mode == "none":
        return None
    if link.endpoint_mode == "manual":
        host = link.endpoint_manual_host
    elif link.endpoint_ref_family == "ipv6":
        host = peer.ipv6_address
    else:
        host = peer.ipv4_address
    host = (host or "").strip()
    return host or None


def endpoint_port(*, link: LinkView, peer: NodeView, default_listen_port: int) -> int | None:
    """The port part this direction would use, or None."""
    if link.endpoint_port_mode == "manual":
        return link.endpoint_manual_port or None
    return peer.listen_port or default_listen_port or None


def format_endpoint(host: str, port: int) -> str:
    """`host:port`, or `[v6]:port` for an IPv6 literal (domains pass through)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if _is_ipv6_literal(bare):
        return f"[{bare}]:{port}"
    return f"{host}:{port}"


def resolve_endpoint(*, link: LinkView, peer: NodeView, default_listen_port: int) -> str | None:
    """The rendered `Endpoint` value for this direction, or None when it does not resolve."""
    host = endpoint_host(link=link, peer=peer)
    if host is None:
        return None
    port = endpoint_port(link=link, peer=peer, default_listen_port=default_listen_port)
    if port is None:
        return None
    return format_endpoint(host, port)


def effective_keepalive(keepalive: int | None, endpoint: str | None) -> int | None:
    """Keepalive is meaningful only with an Endpoint; 0 means off."""
    if endpoint is None or not keepalive:
        return None
    return keepalive
