"""Port-forward validation and the managed hooks of the To node (reference.md §5, design.md §4)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from wfm_core.errors import WfmError
from wfm_core.portforward.hooks import (
    ManagedHook,
    ManagedHooks,
    managed_hooks_for_node,
    nft_table_name,
    validate_rule,
)


@dataclass(frozen=True)
class Node:
    """A full NodeView; only id, virtual_ip, config_id and enabled matter here."""

    id: str
    virtual_ip: str | None
    name: str = "node"
    config_id: str = "cfg_1"
    enabled: bool = True
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    listen_port: int | None = None
    mtu: int | None = None
    dns: str | None = None
    node_type: str = "dynamic"
    public_key: str = ""
    private_key: str = ""
    pre_up_json: list[str] = field(default_factory=list)
    post_up_json: list[str] = field(default_factory=list)
    pre_down_json: list[str] = field(default_factory=list)
    post_down_json: list[str] = field(default_factory=list)
    awg_jc: int | None = None
    awg_jmin: int | None = None
    awg_jmax: int | None = None
    awg_i1: str | None = None
    awg_i2: str | None = None
    awg_i3: str | None = None
    awg_i4: str | None = None
    awg_i5: str | None = None
    awg_options_json: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rule:
    id: str
    from_node_id: str
    from_port: int
    to_node_id: str
    to_port: int
    to_platform: str = "linux"
    protocol: str = "tcp"
    enabled: bool = True


FROM = Node(id="node_from", virtual_ip="10.66.0.2/32", name="from")
TO = Node(id="node_to", virtual_ip="10.66.0.3/24", name="to")
NODES = {FROM.id: FROM, TO.id: TO}
RID = "pf_0123456789ab"
FROM_V6 = replace(FROM, virtual_ip="fd00::2")


def hooks_for(rule: Rule, node: Node = TO) -> ManagedHooks:
    return managed_hooks_for_node(node=node, rules=[rule], nodes_by_id=NODES)


def one(rule: Rule) -> tuple[str, str, str]:
    hooks = hooks_for(rule)
    assert hooks.pre_up == []
    assert hooks.post_down == []
    assert len(hooks.post_up) == 1
    assert len(hooks.pre_down) == 1
    up, down = hooks.post_up[0], hooks.pre_down[0]
    assert up.source == down.source == "port_forward"
    assert up.source_id == down.source_id == rule.id
    assert up.label == down.label
    return up.command, down.command, up.label


LINUX_TCP_UP = (
    "iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport 8080 "
    "-m comment --comment wfm-pf_0123456789ab-tcp -j DNAT --to-destination 10.66.0.2:80; "
    "iptables -A FORWARD -p tcp -d 10.66.0.2 --dport 80 "
    "-m comment --comment wfm-pf_0123456789ab-tcp -j ACCEPT; "
    "iptables -t nat -A POSTROUTING -p tcp -d 10.66.0.2 --dport 80 "
    "-m comment --comment wfm-pf_0123456789ab-tcp -j MASQUERADE"
)
LINUX_UDP_UP = LINUX_TCP_UP.replace("tcp", "udp")


def test_linux_tcp() -> None:
    up, down, label = one(Rule(RID, FROM.id, 80, TO.id, 8080))
    assert up == LINUX_TCP_UP
    assert down == LINUX_TCP_UP.replace(" -A ", " -D ")
    assert label == "From 10.66.0.2:80 To 10.66.0.3:8080"


def test_linux_all_joins_tcp_then_udp() -> None:
    up, down, _ = one(Rule(RID, FROM.id, 80, TO.id, 8080, protocol="all"))
    assert up == f"{LINUX_TCP_UP}; {LINUX_UDP_UP}"
    assert down == f"{LINUX_TCP_UP}; {LINUX_UDP_UP}".replace(" -A ", " -D ")
    assert " -d 10.66.0.3" not in up  # any local address of the To node, not only its mesh IP


def test_linux_nft() -> None:
    up, down, label = one(Rule(RID, FROM.id, 5432, TO.id, 15432, "linux-nft", "udp"))
    t = "ip wfm_pf_0123456789ab"
    assert up == (
        f"nft 'add table {t}; delete table {t}; add table {t}; "
        f"add chain {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}; "
        f"add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}; "
        f"add chain {t} postrouting "
        "{ type nat hook postrouting priority srcnat; policy accept; }; "
        f"add rule {t} prerouting fib daddr type local udp dport 15432 dnat to 10.66.0.2:5432; "
        f"add rule {t} forward ip daddr 10.66.0.2 udp dport 5432 accept; "
        f"add rule {t} postrouting ip daddr 10.66.0.2 udp dport 5432 masquerade'"
    )
    assert down == "nft delete table ip wfm_pf_0123456789ab"
    assert label == "From 10.66.0.2:5432 To 10.66.0.3:15432"
    assert "#" not in up  # wg-quick cuts config lines at '#'


def test_linux_nft_all_has_both_protocols_in_one_table() -> None:
    up, down, _ = one(Rule(RID, FROM.id, 80, TO.id, 8080, "linux-nft", "all"))
    assert up.count("add table") == 2
    assert "fib daddr type local tcp dport 8080 dnat to 10.66.0.2:80" in up
    assert "fib daddr type local udp dport 8080 dnat to 10.66.0.2:80" in up
    assert down == "nft delete table ip wfm_pf_0123456789ab"


def test_nft_table_name_is_sanitized() -> None:
    assert nft_table_name("pf_0123456789ab") == "wfm_pf_0123456789ab"
    assert nft_table_name("pf-1.x;rm") == "wfm_pf_1_x_rm"


DARWIN_TCP_UP = (
    "printf 'rdr pass on %i inet proto tcp from any to 10.66.0.3 port 8080 -> 10.66.0.2 port 80\\n'"
    " | pfctl -a wfm/pf_0123456789ab/tcp -f - && pfctl -E"
)


def test_darwin_tcp() -> None:
    up, down, _ = one(Rule(RID, FROM.id, 80, TO.id, 8080, "darwin"))
    assert up == DARWIN_TCP_UP
    assert down == "pfctl -a wfm/pf_0123456789ab/tcp -F all"


def test_darwin_all() -> None:
    up, down, _ = one(Rule(RID, FROM.id, 80, TO.id, 8080, "darwin", "all"))
    assert up == f"{DARWIN_TCP_UP}; {DARWIN_TCP_UP.replace('tcp', 'udp')}"
    assert down == (
        "pfctl -a wfm/pf_0123456789ab/tcp -F all; pfctl -a wfm/pf_0123456789ab/udp -F all"
    )


def test_unsafe_rule_id_is_quoted() -> None:
    up, _, _ = one(Rule("pf_x;rm -rf /", FROM.id, 80, TO.id, 8080))
    assert "--comment 'wfm-pf_x;rm -rf /-tcp'" in up
    up, down, _ = one(Rule("pf_x;rm", FROM.id, 80, TO.id, 8080, "darwin"))
    assert "pfctl -a 'wfm/pf_x;rm/tcp'" in up
    assert down == "pfctl -a 'wfm/pf_x;rm/tcp' -F all"


def test_only_enabled_rules_of_this_to_node_in_order() -> None:
    rules = [
        Rule("pf_b", FROM.id, 81, TO.id, 9001),
        Rule("pf_off", FROM.id, 82, TO.id, 9002, enabled=False),
        Rule("pf_other", TO.id, 83, FROM.id, 9003),  # To node is FROM
        Rule("pf_a", FROM.id, 84, TO.id, 9004, "darwin", "udp"),
    ]
    hooks = managed_hooks_for_node(node=TO, rules=rules, nodes_by_id=NODES)
    assert [h.source_id for h in hooks.post_up] == ["pf_b", "pf_a"]
    assert [h.source_id for h in hooks.pre_down] == ["pf_b", "pf_a"]
    other = managed_hooks_for_node(node=FROM, rules=rules, nodes_by_id=NODES)
    assert [h.label for h in other.post_up] == ["From 10.66.0.3:83 To 10.66.0.2:9003"]


@pytest.mark.parametrize(
    ("to_node", "nodes", "rule"),
    [
        (TO, {TO.id: TO}, Rule(RID, FROM.id, 80, TO.id, 8080)),  # From node unknown
        (TO, {**NODES, FROM.id: replace(FROM, virtual_ip=None)}, Rule(RID, FROM.id, 80, TO.id, 1)),
        (TO, {**NODES, FROM.id: FROM_V6}, Rule(RID, FROM.id, 80, TO.id, 1)),
        (replace(TO, virtual_ip=None), NODES, Rule(RID, FROM.id, 80, TO.id, 8080)),
        (TO, NODES, Rule(RID, FROM.id, 0, TO.id, 8080)),
        (TO, NODES, Rule(RID, FROM.id, 80, TO.id, 65536)),
        (TO, NODES, Rule(RID, FROM.id, 80, TO.id, 8080, "windows")),
        (TO, NODES, Rule(RID, FROM.id, 80, TO.id, 8080, protocol="icmp")),
    ],
)
def test_unrenderable_rules_are_skipped(to_node: Node, nodes: dict[str, Node], rule: Rule) -> None:
    hooks = managed_hooks_for_node(node=to_node, rules=[rule], nodes_by_id=nodes)
    assert hooks == ManagedHooks()


def test_to_dict_shape() -> None:
    hooks = hooks_for(Rule(RID, FROM.id, 80, TO.id, 8080, "linux-nft"))
    data = hooks.to_dict()
    assert set(data) == {"pre_up", "post_up", "pre_down", "post_down"}
    assert data["pre_up"] == []
    assert data["post_down"] == []
    assert data["pre_down"] == [
        {
            "source": "port_forward",
            "source_id": RID,
            "command": "nft delete table ip wfm_pf_0123456789ab",
            "label": "From 10.66.0.2:80 To 10.66.0.3:8080",
        }
    ]
    assert ManagedHook(source_id="x", command="c", label="l").to_dict()["source"] == "port_forward"


# --- validation -----------------------------------------------------------------------------


def check(**overrides: Any) -> None:
    args: dict[str, Any] = {
        "from_node": FROM,
        "to_node": TO,
        "from_port": 80,
        "to_port": 8080,
        "to_platform": "linux",
        "protocol": "tcp",
        "existing": [],
    }
    args.update(overrides)
    validate_rule(**args)


def code_of(**overrides: Any) -> str:
    with pytest.raises(WfmError) as info:
        check(**overrides)
    assert info.value.status == (409 if info.value.code == "PORT_FORWARD_TO_PORT_IN_USE" else 400)
    return info.value.code


def test_valid_rule_passes() -> None:
    for platform in ("linux", "linux-nft", "darwin"):
        for protocol in ("tcp", "udp", "all"):
            check(to_platform=platform, protocol=protocol, from_port=1, to_port=65535)


@pytest.mark.parametrize(
    "overrides",
    [
        {"from_node": None},
        {"to_node": None},
        {"from_node": replace(FROM, enabled=False)},
        {"to_node": replace(TO, enabled=False)},
        {"to_node": replace(TO, config_id="cfg_2")},
    ],
)
def test_node_invalid(overrides: dict[str, Any]) -> None:
    # Also wins over every later problem.
    assert code_of(**overrides, from_port=0, protocol="x") == "PORT_FORWARD_NODE_INVALID"


@pytest.mark.parametrize("vip", [None, "", "  "])
def test_virtual_ip_required(vip: str | None) -> None:
    assert code_of(from_node=replace(FROM, virtual_ip=vip)) == "PORT_FORWARD_VIRTUAL_IP_REQUIRED"
    assert code_of(to_node=replace(TO, virtual_ip=vip)) == "PORT_FORWARD_VIRTUAL_IP_REQUIRED"


def test_ipv4_required() -> None:
    assert code_of(to_node=replace(TO, virtual_ip="fd00::3/128")) == "PORT_FORWARD_IPV4_REQUIRED"
    assert code_of(from_node=replace(FROM, virtual_ip="fd00::2")) == "PORT_FORWARD_IPV4_REQUIRED"
    assert code_of(from_node=replace(FROM, virtual_ip="junk")) == "PORT_FORWARD_IPV4_REQUIRED"


def test_same_node() -> None:
    assert code_of(to_node=FROM, from_port=0) == "PORT_FORWARD_SAME_NODE"


@pytest.mark.parametrize(
    "overrides",
    [
        {"from_port": 0},
        {"to_port": 0},
        {"from_port": 65536},
        {"to_port": -1},
        {"to_port": True},
        {"from_port": "80"},
        {"to_port": 80.0},
    ],
)
def test_port_invalid(overrides: dict[str, Any]) -> None:
    assert code_of(**overrides, to_platform="x") == "PORT_FORWARD_PORT_INVALID"


@pytest.mark.parametrize("platform", ["windows", "Linux", "", "nft"])
def test_platform_invalid(platform: str) -> None:
    assert code_of(to_platform=platform, protocol="x") == "PORT_FORWARD_TO_PLATFORM_INVALID"


@pytest.mark.parametrize("protocol", ["icmp", "TCP", "", "both"])
def test_protocol_invalid(protocol: str) -> None:
    assert code_of(protocol=protocol) == "PORT_FORWARD_PROTOCOL_INVALID"


@pytest.mark.parametrize(
    ("existing_protocol", "new_protocol", "conflict"),
    [
        ("tcp", "tcp", True),
        ("udp", "udp", True),
        ("tcp", "udp", False),
        ("udp", "tcp", False),
        ("all", "tcp", True),
        ("all", "udp", True),
        ("tcp", "all", True),
        ("udp", "all", True),
        ("all", "all", True),
    ],
)
def test_port_in_use_overlap(existing_protocol: str, new_protocol: str, conflict: bool) -> None:
    existing = [Rule("pf_old", FROM.id, 22, TO.id, 8080, protocol=existing_protocol, enabled=False)]
    if conflict:
        with pytest.raises(WfmError) as info:
            check(existing=existing, protocol=new_protocol)
        assert info.value.code == "PORT_FORWARD_TO_PORT_IN_USE"
        assert info.value.status == 409
        assert info.value.detail["rule_id"] == "pf_old"
    else:
        check(existing=existing, protocol=new_protocol)


def test_port_in_use_only_same_to_node_and_port() -> None:
    existing = [
        Rule("pf_1", FROM.id, 22, TO.id, 8081, protocol="all"),  # other port
        Rule("pf_2", TO.id, 22, FROM.id, 8080, protocol="all"),  # other To node
        Rule("pf_3", FROM.id, 8080, TO.id, 22, protocol="all"),  # From port equal is fine
    ]
    check(existing=existing, protocol="all")


def test_edited_rule_is_excluded() -> None:
    existing = [Rule("pf_self", FROM.id, 80, TO.id, 8080, protocol="tcp")]
    check(existing=existing, rule_id="pf_self", protocol="all")
    assert code_of(existing=existing, rule_id="pf_other") == "PORT_FORWARD_TO_PORT_IN_USE"
