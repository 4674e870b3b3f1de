"""Port-forward rules: validation and the managed wg-quick hooks they generate (reference.md §5).

The To node owns the hooks: its PostUp installs a DNAT from the To port to the From node's
virtual IP through the tunnel, its PreDown removes it. Unlike the original, the DNAT matches any
local address of the To node (public and mesh), not only its virtual IP (design.md §4).

Every value placed in a command is either validated here (IPv4 addresses re-printed by
`ipaddress`, ports checked as 1–65535 integers, protocol and platform from fixed sets) or
server-generated (rule ids, additionally quoted or sanitized), so the strings are shell-safe.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wfm_core.errors import WfmError
from wfm_core.views import NodeView, PortForwardView

PLATFORMS = ("linux", "linux-nft", "darwin")
PROTOCOLS = ("tcp", "udp", "all")
HOOK_SOURCE = "port_forward"
_NFT_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True)
class ManagedHook:
    """One generated hook command, read-only in the UI (reference.md §1.2 `managed_hooks`)."""

    source_id: str
    command: str
    label: str
    source: str = HOOK_SOURCE

    def to_dict(self) -> dict[str, str]:
        return {
            "source": self.source,
            "source_id": self.source_id,
            "command": self.command,
            "label": self.label,
        }


@dataclass
class ManagedHooks:
    """Generated hooks per wg-quick stage; rendered after the node's own hooks."""

    pre_up: list[ManagedHook] = field(default_factory=list)
    post_up: list[ManagedHook] = field(default_factory=list)
    pre_down: list[ManagedHook] = field(default_factory=list)
    post_down: list[ManagedHook] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """API shape: `{pre_up: [{source, source_id, command, label}], post_up, pre_down, …}`."""
        return {
            "pre_up": [hook.to_dict() for hook in self.pre_up],
            "post_up": [hook.to_dict() for hook in self.post_up],
            "pre_down": [hook.to_dict() for hook in self.pre_down],
            "post_down": [hook.to_dict() for hook in self.post_down],
        }


def protocols_of(protocol: str) -> tuple[str, ...]:
    """The concrete protocols a rule covers: `all` means tcp and udp."""
    return ("tcp", "udp") if protocol == "all" else (protocol,)


def _ipv4_of(node: NodeView) -> ipaddress.IPv4Address | None:
    """The bare IPv4 of the node's virtual IP, or None if missing, IPv6 or malformed."""
    text = (node.virtual_ip or "").strip()
    if not text or "%" in text:
        return None
    try:
        address = ipaddress.ip_interface(text).ip
    except ValueError:
        return None
    return address if isinstance(address, ipaddress.IPv4Address) else None


def _valid_port(port: object) -> bool:
    return type(port) is int and 1 <= port <= 65535


def _fail(code: str, message: str, **detail: Any) -> WfmError:
    return WfmError(code, message, detail=detail)


def validate_rule(
    *,
    from_node: NodeView | None,
    to_node: NodeView | None,
    from_port: int,
    to_port: int,
    to_platform: str,
    protocol: str,
    existing: Sequence[PortForwardView],
    rule_id: str | None = None,
) -> None:
    """Raise the first PORT_FORWARD_* error in the reference order, or return when valid.

    `from_node`/`to_node` are None when the id is unknown in this config. `existing` are the
    config's rules; the rule being edited (`rule_id`) is ignored for the port-in-use check.
    """
    if (
        from_node is None
        or to_node is None
        or not from_node.enabled
        or not to_node.enabled
        or from_node.config_id != to_node.config_id
    ):
        raise _fail(
            "PORT_FORWARD_NODE_INVALID",
            "From and To nodes must exist in this config and be enabled",
        )
    if not (from_node.virtual_ip or "").strip() or not (to_node.virtual_ip or "").strip():
        raise _fail(
            "PORT_FORWARD_VIRTUAL_IP_REQUIRED",
            "From and To nodes both need a virtual IP",
        )
    if _ipv4_of(from_node) is None or _ipv4_of(to_node) is None:
        raise _fail(
            "PORT_FORWARD_IPV4_REQUIRED",
            "Port forwarding needs IPv4 virtual IPs on both nodes",
        )
    if from_node.id == to_node.id:
        raise _fail("PORT_FORWARD_SAME_NODE", "From and To must be different nodes")
    if not _valid_port(from_port) or not _valid_port(to_port):
        raise _fail(
            "PORT_FORWARD_PORT_INVALID",
            "Ports must be integers between 1 and 65535",
            from_port=from_port,
            to_port=to_port,
        )
    if to_platform not in PLATFORMS:
        raise _fail(
            "PORT_FORWARD_TO_PLATFORM_INVALID",
            f"To platform must be one of: {', '.join(PLATFORMS)}",
            to_platform=to_platform,
        )
    if protocol not in PROTOCOLS:
        raise _fail(
            "PORT_FORWARD_PROTOCOL_INVALID",
            f"Protocol must be one of: {', '.join(PROTOCOLS)}",
            protocol=protocol,
        )
    wanted = set(protocols_of(protocol))
    for rule in existing:
        if rule_id is not None and rule.id == rule_id:
            continue
        if (
            rule.to_node_id == to_node.id
            and rule.to_port == to_port
            and wanted.intersection(protocols_of(rule.protocol))
        ):
            raise _fail(
                "PORT_FORWARD_TO_PORT_IN_USE",
                f"Port {to_port}/{protocol} on {to_node.name} is already used by rule {rule.id}",
                rule_id=rule.id,
                to_port=to_port,
            )


def _iptables(
    action: str, proto: str, rule_id: str, to_port: int, from_ip: str, from_port: int
) -> str:
    comment = shlex.quote(f"wfm-{rule_id}-{proto}")
    target = f"{from_ip}:{from_port}"
    return "; ".join(
        (
            f"iptables -t nat {action} PREROUTING -m addrtype --dst-type LOCAL -p {proto} "
            f"--dport {to_port} -m comment --comment {comment} -j DNAT --to-destination {target}",
            f"iptables {action} FORWARD -p {proto} -d {from_ip} --dport {from_port} "
            f"-m comment --comment {comment} -j ACCEPT",
            f"iptables -t nat {action} POSTROUTING -p {proto} -d {from_ip} --dport {from_port} "
            f"-m comment --comment {comment} -j MASQUERADE",
        )
    )


def nft_table_name(rule_id: str) -> str:
    """`wfm_<rule id>` with anything outside [A-Za-z0-9_] replaced, a valid nft identifier."""
    return f"wfm_{_NFT_UNSAFE.sub('_', rule_id)}"


def _nft_chain(table: str, hook: str, kind: str, priority: str) -> str:
    """A base chain named after its hook, e.g. `prerouting` of type nat at priority dstnat."""
    return (
        f"add chain {table} {hook} {{ type {kind} hook {hook} priority {priority}; "
        "policy accept; }"
    )


def _nft_post_up(rule: PortForwardView, from_ip: str) -> str:
    # One `nft` call is one atomic transaction. `add` + `delete` + `add` of the table first makes
    # PostUp idempotent: a table left over by a crash (PreDown never ran) is replaced, not doubled.
    # No `#` anywhere: wg-quick cuts config lines at the first `#`.
    table = f"ip {nft_table_name(rule.id)}"
    statements = [
        f"add table {table}",
        f"delete table {table}",
        f"add table {table}",
        _nft_chain(table, "prerouting", "nat", "dstnat"),
        _nft_chain(table, "forward", "filter", "filter"),
        _nft_chain(table, "postrouting", "nat", "srcnat"),
    ]
    for proto in protocols_of(rule.protocol):
        statements += [
            f"add rule {table} prerouting fib daddr type local {proto} dport {rule.to_port} "
            f"dnat to {from_ip}:{rule.from_port}",
            f"add rule {table} forward ip daddr {from_ip} {proto} dport {rule.from_port} accept",
            f"add rule {table} postrouting ip daddr {from_ip} {proto} dport {rule.from_port} "
            "masquerade",
        ]
    return "nft " + shlex.quote("; ".join(statements))


def _commands(rule: PortForwardView, from_ip: str, to_ip: str) -> tuple[str, str]:
    """`(post_up, pre_down)` command strings for one rule on its platform."""
    protos = protocols_of(rule.protocol)
    if rule.to_platform == "linux":
        args = (rule.id, rule.to_port, from_ip, rule.from_port)
        up = "; ".join(_iptables("-A", proto, *args) for proto in protos)
        down = "; ".join(_iptables("-D", proto, *args) for proto in protos)
        return up, down
    if rule.to_platform == "linux-nft":
        return _nft_post_up(rule, from_ip), f"nft delete table ip {nft_table_name(rule.id)}"
    ups: list[str] = []
    downs: list[str] = []
    for proto in protos:
        # `%i` is left for wg-quick to expand to the interface name.
        anchor = shlex.quote(f"wfm/{rule.id}/{proto}")
        ups.append(
            f"printf 'rdr pass on %i inet proto {proto} from any to {to_ip} port {rule.to_port} "
            f"-> {from_ip} port {rule.from_port}\\n' | pfctl -a {anchor} -f - && pfctl -E"
        )
        downs.append(f"pfctl -a {anchor} -F all")
    return "; ".join(ups), "; ".join(downs)


def managed_hooks_for_node(
    *,
    node: NodeView,
    rules: Sequence[PortForwardView],
    nodes_by_id: Mapping[str, NodeView],
) -> ManagedHooks:
    """Hooks for the enabled rules whose To node is `node`: one PostUp and one PreDown per rule.

    Rules that cannot produce a safe command (From node unknown, a virtual IP missing or not
    IPv4, a port out of range, an unknown platform or protocol) are skipped, so a stale rule
    never breaks a node's rendering. Order follows `rules`.
    """
    hooks = ManagedHooks()
    to_ip = _ipv4_of(node)
    if to_ip is None:
        return hooks
    for rule in rules:
        if not rule.enabled or rule.to_node_id != node.id:
            continue
        from_node = nodes_by_id.get(rule.from_node_id)
        from_ip = _ipv4_of(from_node) if from_node is not None else None
        if (
            from_ip is None
            or not _valid_port(rule.from_port)
            or not _valid_port(rule.to_port)
            or rule.to_platform not in PLATFORMS
            or rule.protocol not in PROTOCOLS
        ):
            continue
        post_up, pre_down = _commands(rule, str(from_ip), str(to_ip))
        label = f"From {from_ip}:{rule.from_port} To {to_ip}:{rule.to_port}"
        hooks.post_up.append(ManagedHook(source_id=rule.id, command=post_up, label=label))
        hooks.pre_down.append(ManagedHook(source_id=rule.id, command=pre_down, label=label))
    return hooks
