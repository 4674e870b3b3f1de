"""Manual link defaults (draft) and write validation of a link group (reference.md §4.2, §4.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from wfm_core.errors import WfmError
from wfm_core.mesh.endpoints import (
    ENDPOINT_FAMILIES,
    ENDPOINT_MODES,
    PORT_MODES,
    format_endpoint,
    resolve_endpoint,
)
from wfm_core.nodes import addressing
from wfm_core.views import LinkView, NodeView

DEFAULT_KEEPALIVE = 25
MAX_PORT = 65535
MAX_KEEPALIVE = 65535


class DirectionInput(Protocol):
    """One direction of a link group as written by the API (`forward` / `reverse` body objects)."""

    @property
    def local_node_id(self) -> str: ...
    @property
    def peer_node_id(self) -> str: ...
    @property
    def allowed_ips(self) -> str: ...
    @property
    def persistent_keepalive(self) -> int | None: ...
    @property
    def endpoint_mode(self) -> str: ...
    @property
    def endpoint_ref_family(self) -> str | None: ...
    @property
    def endpoint_manual_host(self) -> str | None: ...
    @property
    def endpoint_port_mode(self) -> str: ...
    @property
    def endpoint_manual_port(self) -> int | None: ...


@dataclass(frozen=True)
class LinkDraft:
    """Suggested forward/reverse directions for a new link group, plus human warnings."""

    endpoint_ref_family: str
    forward: dict[str, Any]
    reverse: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The draft fields of the API answer (the service adds `local_node` / `peer_node`)."""
        return {
            "endpoint_ref_family": self.endpoint_ref_family,
            "forward": dict(self.forward),
            "reverse": dict(self.reverse),
            "warnings": list(self.warnings),
        }


def public_entry(node: NodeView, family: str | None) -> str | None:
    """The node's public entry (IP or domain) of the family; `ipv4` unless `ipv6` is asked."""
    host = node.ipv6_address if family == "ipv6" else node.ipv4_address
    host = (host or "").strip()
    return host or None


def auto_endpoint(peer: NodeView, family: str | None, default_listen_port: int) -> str | None:
    """The Endpoint an auto-mode direction toward `peer` gets with the peer's listen port."""
    host = public_entry(peer, family)
    port = peer.listen_port or default_listen_port
    if host is None or not port:
        return None
    return format_endpoint(host, port)


def auto_keepalive(peer: NodeView, family: str | None, default_listen_port: int) -> int | None:
    """25 when an auto Endpoint toward `peer` will be written, else None (keepalive needs it)."""
    if public_entry(peer, family) is None or not (peer.listen_port or default_listen_port):
        return None
    return DEFAULT_KEEPALIVE


def _family_error(family: object) -> WfmError:
    return WfmError(
        "INVALID_ENDPOINT_FAMILY",
        "Endpoint family is invalid",
        detail={"endpoint_ref_family": family},
    )


def _check_both_enabled(local: NodeView, peer: NodeView) -> None:
    if not local.enabled or not peer.enabled:
        # The reference answers 400 here, not the generic 409 of NODE_DISABLED.
        raise WfmError(
            "NODE_DISABLED",
            "Disabled endpoint cannot create Mesh links",
            status=400,
            detail={"node_ids": [n.id for n in (local, peer) if not n.enabled]},
        )


def _draft_direction(
    local: NodeView, peer: NodeView, family: str, default_listen_port: int
) -> dict[str, Any]:
    endpoint = auto_endpoint(peer, family, default_listen_port)
    keepalive = DEFAULT_KEEPALIVE if endpoint is not None else None
    if endpoint is None:
        summary = f"{peer.name} has no public {family.upper()} entry; auto mode leaves it empty"
    else:
        summary = f"Auto uses {endpoint}"
    return {
        "local_node_id": local.id,
        "peer_node_id": peer.id,
        "allowed_ips": peer.virtual_ip or "",
        "persistent_keepalive": keepalive,
        "endpoint_mode": "auto",
        "endpoint_ref_family": family,
        "endpoint_manual_host": "",
        "endpoint_port_mode": "ref_peer_listen_port",
        "endpoint_manual_port": None,
        "endpoint_summary": summary,
        "keepalive_display": "/" if endpoint is None else str(keepalive),
    }


def link_draft(
    *, local: NodeView, peer: NodeView, endpoint_ref_family: str, default_listen_port: int
) -> LinkDraft:
    """Defaults for a new link group local↔peer (§4.2); raises on disabled, self or bad family."""
    _check_both_enabled(local, peer)
    if local.id == peer.id:
        raise WfmError("INVALID_PEER_LINK", "A node cannot link to itself")
    if endpoint_ref_family not in ENDPOINT_FAMILIES:
        raise _family_error(endpoint_ref_family)
    family = endpoint_ref_family
    label = family.upper()
    warnings: list[str] = []
    if not peer.virtual_ip:
        warnings.append(
            f"{peer.name} is missing virtual IP. Forward AllowedIPs must be filled manually."
        )
    if not local.virtual_ip:
        warnings.append(
            f"{local.name} is missing virtual IP. Reverse AllowedIPs must be filled manually."
        )
    if public_entry(peer, family) is None:
        warnings.append(
            f"{peer.name} has no public {label} entry. Forward auto Endpoint will be empty."
        )
    if public_entry(local, family) is None:
        warnings.append(
            f"{local.name} has no public {label} entry. Reverse auto Endpoint will be empty."
        )
    return LinkDraft(
        endpoint_ref_family=family,
        forward=_draft_direction(local, peer, family, default_listen_port),
        reverse=_draft_direction(peer, local, family, default_listen_port),
        warnings=warnings,
    )


def normalize_allowed_ips(value: str) -> str:
    """The normalized AllowedIPs of one direction; INVALID_PEER_LINK when empty or malformed."""
    normalized = addressing.normalize_allowed_ips(value)
    if not normalized:
        raise WfmError("INVALID_PEER_LINK", "AllowedIPs is required", detail={"allowed_ips": value})
    return normalized


def _validate_direction(direction: DirectionInput) -> None:
    if direction.endpoint_mode not in ENDPOINT_MODES:
        raise WfmError(
            "INVALID_ENDPOINT",
            "Endpoint mode is invalid",
            detail={"endpoint_mode": direction.endpoint_mode},
        )
    if direction.endpoint_port_mode not in PORT_MODES:
        raise WfmError(
            "INVALID_ENDPOINT",
            "Endpoint port mode is invalid",
            detail={"endpoint_port_mode": direction.endpoint_port_mode},
        )
    family = direction.endpoint_ref_family
    if family is not None and family not in ENDPOINT_FAMILIES:
        raise _family_error(family)
    port = direction.endpoint_manual_port
    if port is not None and not 1 <= port <= MAX_PORT:
        raise WfmError(
            "INVALID_ENDPOINT",
            "Endpoint port must be between 1 and 65535.",
            detail={"endpoint_manual_port": port},
        )
    if direction.endpoint_mode != "none":
        if (
            direction.endpoint_mode == "manual"
            and not (direction.endpoint_manual_host or "").strip()
        ):
            raise WfmError("INVALID_ENDPOINT", "Manual Endpoint requires Host and Port.")
        if direction.endpoint_port_mode == "manual" and port is None:
            raise WfmError("INVALID_ENDPOINT", "Manual port mode requires a Port.")
    keepalive = direction.persistent_keepalive
    if keepalive is not None and not 0 <= keepalive <= MAX_KEEPALIVE:
        raise WfmError(
            "INVALID_PEER_LINK",
            "PersistentKeepalive must be between 0 and 65535.",
            detail={"persistent_keepalive": keepalive},
        )
    normalize_allowed_ips(direction.allowed_ips)


def validate_link_group(
    *,
    forward: DirectionInput,
    reverse: DirectionInput,
    local: NodeView,
    peer: NodeView,
    check_enabled: bool,
) -> None:
    """Reject a link-group write (create/update) that breaks the rules of §2.3 / §4.3."""
    if check_enabled:
        _check_both_enabled(local, peer)
    if forward.local_node_id == forward.peer_node_id:
        raise WfmError("INVALID_PEER_LINK", "A node cannot link to itself")
    if (
        reverse.local_node_id != forward.peer_node_id
        or reverse.peer_node_id != forward.local_node_id
    ):
        raise WfmError("INVALID_PEER_LINK", "Bidirectional link node direction mismatch")
    _validate_direction(forward)
    _validate_direction(reverse)


def effective_direction_keepalive(
    *, direction: DirectionInput, peer: NodeView, default_listen_port: int
) -> int | None:
    """The keepalive to store: the given value, or None when this direction has no Endpoint."""
    # resolve_endpoint reads only the endpoint_* fields, which every DirectionInput carries.
    endpoint = resolve_endpoint(
        link=cast(LinkView, direction), peer=peer, default_listen_port=default_listen_port
    )
    if endpoint is None:
        return None
    return direction.persistent_keepalive
