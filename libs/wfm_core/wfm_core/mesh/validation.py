"""Mesh integrity and topology validation, plus per-direction display helpers (§4.3–§4.5)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from wfm_core.mesh.endpoints import endpoint_host, endpoint_port, format_endpoint
from wfm_core.views import LinkView, NodeView

EndpointState = Literal["none", "resolved", "unresolved"]
IntegrityStatus = Literal["healthy", "broken"]

HEALTHY: tuple[IntegrityStatus, str] = ("healthy", "")
NO_LINKS_WARNING = "Current config has no peer links."
PASSED_MESSAGE = "Topology check passed."


# --- per-direction helpers -------------------------------------------------------------------


def direction_endpoint_state(
    *, link: LinkView, peer: NodeView, default_listen_port: int
) -> EndpointState:
    """`none` (mode none), `resolved` (an Endpoint renders) or `unresolved` (it cannot render)."""
    if link.endpoint_mode == "none":
        return "none"
    # Host and port presence is all that decides resolution; skip formatting on this hot path.
    if endpoint_host(link=link, peer=peer) is None:
        return "unresolved"
    port = endpoint_port(link=link, peer=peer, default_listen_port=default_listen_port)
    return "unresolved" if port is None else "resolved"


def endpoint_summary(*, link: LinkView | None, peer: NodeView, default_listen_port: int) -> str:
    """The human line shown under a direction card (§4.3 display helpers)."""
    if link is None:
        return "Missing reverse link"
    if link.endpoint_mode == "none":
        return "No Endpoint"
    host = endpoint_host(link=link, peer=peer)
    port = endpoint_port(link=link, peer=peer, default_listen_port=default_listen_port)
    if link.endpoint_mode == "manual":
        if host is None or port is None:
            return "Manual mode requires Host and Port"
        return f"Manual uses {format_endpoint(host, port)}"
    if host is None:
        family = "IPV6" if link.endpoint_ref_family == "ipv6" else "IPV4"
        return f"{peer.name} has no public {family} entry; auto mode leaves it empty"
    if port is None:
        return "Auto mode requires Port"
    return f"Auto uses {format_endpoint(host, port)}"


def keepalive_display(*, link: LinkView | None, peer: NodeView, default_listen_port: int) -> str:
    """`/` when no Endpoint renders, `Unset` when keepalive is null, else the number."""
    if link is None:
        return "/"
    state = direction_endpoint_state(link=link, peer=peer, default_listen_port=default_listen_port)
    if state != "resolved":
        return "/"
    if link.persistent_keepalive is None:
        return "Unset"
    return str(link.persistent_keepalive)


# --- group helpers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Groups:
    """Link rows grouped by `link_group_id`, keyed dicts in first-seen group order.

    Flat dicts instead of one object per group: a 62k-row scan then allocates almost nothing
    the garbage collector tracks, which keeps it from running full collections mid-scan.
    """

    primary: dict[str, LinkView]  # first forward row, else the first row
    reverse: dict[str, LinkView]  # first reverse row
    enabled: set[str]  # groups with any enabled row
    bad_rows: dict[str, list[LinkView]]  # enabled rows touching a missing/disabled node


def _scan(links: Iterable[LinkView], enabled_ids: set[str]) -> _Groups:
    """One linear pass over all link rows."""
    groups = _Groups({}, {}, set(), {})
    primary, reverse = groups.primary, groups.reverse
    for link in links:
        group_id = link.link_group_id
        direction = link.direction
        current = primary.get(group_id)
        if current is None or (direction == "forward" and current.direction != "forward"):
            primary[group_id] = link
        if direction == "reverse" and group_id not in reverse:
            reverse[group_id] = link
        if link.enabled:
            groups.enabled.add(group_id)
            if link.local_node_id not in enabled_ids or link.peer_node_id not in enabled_ids:
                groups.bad_rows.setdefault(group_id, []).append(link)
    return groups


def connection_integrity(
    *,
    local: NodeView,
    peer: NodeView,
    forward: LinkView | None,
    reverse: LinkView | None,
    default_listen_port: int,
) -> tuple[IntegrityStatus, str]:
    """Integrity of a group seen from `local` (§4.4): forward = local→peer, reverse = peer→local."""
    group_enabled = bool((forward and forward.enabled) or (reverse and reverse.enabled))
    if group_enabled and local.enabled and not peer.enabled:
        return "broken", f"Mesh link from {local.name} references disabled endpoint {peer.name}."
    if forward is None or reverse is None:
        return HEALTHY
    forward_state = direction_endpoint_state(
        link=forward, peer=peer, default_listen_port=default_listen_port
    )
    if forward_state != "unresolved":
        return HEALTHY
    reverse_state = direction_endpoint_state(
        link=reverse, peer=local, default_listen_port=default_listen_port
    )
    if reverse_state != "unresolved":
        return HEALTHY
    return (
        "broken",
        f"Mesh link between {local.name} and {peer.name} is broken because both sides "
        "have no public endpoint.",
    )


def group_integrity(
    *,
    node_id: str,
    group_links: Sequence[LinkView],
    nodes_by_id: Mapping[str, NodeView],
    default_listen_port: int,
) -> tuple[IntegrityStatus, str]:
    """Integrity of one link group seen from node `node_id` (its workspace view)."""
    forward = next((link for link in group_links if link.local_node_id == node_id), None)
    reverse = next((link for link in group_links if link.peer_node_id == node_id), None)
    if forward is not None:
        peer_id = forward.peer_node_id
    elif reverse is not None:
        peer_id = reverse.local_node_id
    else:
        return HEALTHY
    local = nodes_by_id.get(node_id)
    peer = nodes_by_id.get(peer_id)
    if local is None or peer is None:
        # A missing node is a validation error (§4.5), not a workspace integrity state.
        return HEALTHY
    return connection_integrity(
        local=local,
        peer=peer,
        forward=forward,
        reverse=reverse,
        default_listen_port=default_listen_port,
    )


@dataclass(frozen=True)
class _Duplicate:
    message: str
    node_ids: tuple[str, str]
    group_ids: list[str]


def _duplicates(
    groups: _Groups, nodes_by_id: Mapping[str, NodeView], enabled_ids: set[str]
) -> list[_Duplicate]:
    """Enabled groups sharing one unordered pair of enabled nodes, in first-seen pair order."""
    first_group: dict[tuple[str, str], str] = {}
    more_groups: dict[tuple[str, str], list[str]] = {}
    enabled_groups = groups.enabled
    for group_id, primary in groups.primary.items():
        if group_id not in enabled_groups:
            continue
        a, b = primary.local_node_id, primary.peer_node_id
        if a not in enabled_ids or b not in enabled_ids:
            continue
        key = (a, b) if a <= b else (b, a)
        first = first_group.setdefault(key, group_id)
        if first != group_id:
            more_groups.setdefault(key, [first]).append(group_id)
    if not more_groups:
        return []
    duplicates: list[_Duplicate] = []
    for key in first_group:
        group_ids = more_groups.get(key)
        if group_ids is None:
            continue
        left_id, right_id = key
        message = (
            f"Duplicate enabled peer links found between {nodes_by_id[left_id].name} and "
            f"{nodes_by_id[right_id].name}. Only one enabled link group is allowed for the "
            "same node pair."
        )
        duplicates.append(_Duplicate(message, key, group_ids))
    return duplicates


def _enabled_ids(nodes: Iterable[NodeView]) -> set[str]:
    return {node.id for node in nodes if node.enabled}


def duplicate_messages_by_group(
    *, links: Iterable[LinkView], nodes_by_id: Mapping[str, NodeView]
) -> dict[str, str]:
    """`link_group_id` → duplicate message, for every group of a duplicated enabled pair."""
    enabled_ids = _enabled_ids(nodes_by_id.values())
    messages: dict[str, str] = {}
    for duplicate in _duplicates(_scan(links, enabled_ids), nodes_by_id, enabled_ids):
        for group_id in duplicate.group_ids:
            messages[group_id] = duplicate.message
    return messages


# --- topology validation ---------------------------------------------------------------------


@dataclass(frozen=True)
class MeshValidation:
    """Result of `validate_mesh`; `as_dict` is the API shape, `summary_dict` the summarize shape."""

    valid: bool
    messages: list[str]
    errors: list[str]
    warnings: list[str]
    invalid_node_ids: list[str] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return len(self.errors)

    @property
    def invalid_node_count(self) -> int:
        return len(self.invalid_node_ids)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "messages": list(self.messages),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }

    def summary_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": list(self.errors),
            "error_count": self.error_count,
            "invalid_node_ids": list(self.invalid_node_ids),
            "invalid_node_count": self.invalid_node_count,
        }


def _bad_references(
    bad_rows: Sequence[LinkView], enabled_ids: set[str]
) -> tuple[set[str], set[str]]:
    """(missing or disabled node ids, their still-enabled counterparts) of enabled rows."""
    bad: set[str] = set()
    counterparts: set[str] = set()
    for link in bad_rows:
        for node_id, other_id in (
            (link.local_node_id, link.peer_node_id),
            (link.peer_node_id, link.local_node_id),
        ):
            if node_id in enabled_ids:
                continue
            bad.add(node_id)
            if other_id in enabled_ids:
                counterparts.add(other_id)
    return bad, counterparts


class _AutoResolution:
    """Per-node answer to "does an auto Endpoint with the peer's port resolve toward it?"."""

    def __init__(self, nodes: Iterable[NodeView], default_listen_port: int) -> None:
        self.default_listen_port = default_listen_port
        self.ipv4: set[str] = set()
        self.ipv6: set[str] = set()
        for node in nodes:
            if not (node.listen_port or default_listen_port):
                continue
            if (node.ipv4_address or "").strip():
                self.ipv4.add(node.id)
            if (node.ipv6_address or "").strip():
                self.ipv6.add(node.id)

    def unresolved(self, link: LinkView, peer: NodeView) -> bool:
        mode = link.endpoint_mode
        if mode == "auto" and link.endpoint_port_mode == "ref_peer_listen_port":
            resolvable = self.ipv6 if link.endpoint_ref_family == "ipv6" else self.ipv4
            return peer.id not in resolvable
        state = direction_endpoint_state(
            link=link, peer=peer, default_listen_port=self.default_listen_port
        )
        return state == "unresolved"


def _group_broken_message(
    forward: LinkView,
    reverse: LinkView | None,
    nodes_by_id: Mapping[str, NodeView],
    auto: _AutoResolution,
) -> str | None:
    """The broken-integrity message of an enabled group with valid references, if broken."""
    local = nodes_by_id.get(forward.local_node_id)
    peer = nodes_by_id.get(forward.peer_node_id)
    if local is None or peer is None:
        return None
    if not (local.enabled and peer.enabled):
        status, message = connection_integrity(
            local=local,
            peer=peer,
            forward=forward,
            reverse=reverse,
            default_listen_port=auto.default_listen_port,
        )
        return message if status == "broken" else None
    # Hot path for healthy meshes: stop as soon as the forward direction resolves.
    if reverse is None or not auto.unresolved(forward, peer) or not auto.unresolved(reverse, local):
        return None
    return (
        f"Mesh link between {local.name} and {peer.name} is broken because both sides "
        "have no public endpoint."
    )


def validate_mesh(
    *, nodes: Sequence[NodeView], links: Sequence[LinkView], default_listen_port: int
) -> MeshValidation:
    """Topology validation of one config (§4.5), including the summarize fields."""
    nodes_by_id = {node.id: node for node in nodes}
    enabled_ids = _enabled_ids(nodes)
    groups = _scan(links, enabled_ids)
    warnings: list[str] = []
    if len(enabled_ids) >= 2 and not groups.enabled:
        warnings.append(NO_LINKS_WARNING)

    errors: list[str] = []
    invalid: set[str] = set()
    for duplicate in _duplicates(groups, nodes_by_id, enabled_ids):
        errors.append(duplicate.message)
        invalid.update(duplicate.node_ids)

    auto = _AutoResolution(nodes, default_listen_port)
    for group_id, forward in groups.primary.items():
        if group_id not in groups.enabled:
            continue
        bad_rows = groups.bad_rows.get(group_id)
        if bad_rows:
            bad, counterparts = _bad_references(bad_rows, enabled_ids)
            errors.append(
                f"Enabled Mesh link group {group_id} references missing or disabled endpoint: "
                f"{', '.join(sorted(bad))}."
            )
            invalid.update(counterparts)
            continue
        reverse = groups.reverse.get(group_id)
        message = _group_broken_message(forward, reverse, nodes_by_id, auto)
        if message is not None:
            errors.append(message)
            invalid.update((forward.local_node_id, forward.peer_node_id))

    return MeshValidation(
        valid=not errors,
        messages=list(errors or warnings or [PASSED_MESSAGE]),
        errors=errors,
        warnings=warnings,
        invalid_node_ids=sorted(invalid),
    )
