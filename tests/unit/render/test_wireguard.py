"""WireGuard config rendering: exact §3.2 text, §3.1 link filtering, wg-quick acceptance."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wfm_core.portforward.hooks import ManagedHook, ManagedHooks, managed_hooks_for_node
from wfm_core.render.wireguard import render_node_config, sha256_text

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Config:
    id: str = "cfg_main"
    name: str = "main"
    virtual_subnet: str = "10.66.0.0/24"
    default_listen_port: int = 51820
    default_mtu: int | None = None
    default_dns: str | None = None
    tunnel_protocol: str = "wireguard"
    awg_version: str | None = None
    awg_options_json: dict[str, Any] = field(default_factory=dict)
    awg_s1: int | None = None
    awg_s2: int | None = None
    awg_s3: int | None = None
    awg_s4: int | None = None
    awg_h1: str | None = None
    awg_h2: str | None = None
    awg_h3: str | None = None
    awg_h4: str | None = None


@dataclass(frozen=True)
class Node:
    id: str
    name: str
    private_key: str
    public_key: str
    virtual_ip: str | None = None
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    listen_port: int | None = None
    mtu: int | None = None
    dns: str | None = None
    config_id: str = "cfg_main"
    enabled: bool = True
    node_type: str = "dynamic"
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
    created_at: datetime = T0


@dataclass(frozen=True)
class Link:
    id: str
    local_node_id: str
    peer_node_id: str
    allowed_ips: str
    created_at: datetime
    config_id: str = "cfg_main"
    link_group_id: str = "group_x"
    direction: str = "forward"
    enabled: bool = True
    persistent_keepalive: int | None = None
    preshared_key: str | None = None
    endpoint_mode: str = "auto"
    endpoint_ref_family: str | None = "ipv4"
    endpoint_manual_host: str | None = None
    endpoint_port_mode: str = "ref_peer_listen_port"
    endpoint_manual_port: int | None = None


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


PSK = "JkqtbLbdIQ+vlKzTz5LBkCN8sR9dEIzyWTAmOTizcKE="
CONFIG = Config()
ALPHA = Node(
    id="node_alpha",
    name="alpha",
    private_key="OLTmUuRNp/I3DZ4mDicTZVCko6bQf1wMMy+LEiQIP9I=",
    public_key="7p1dCVpd3YKNOgBm/wVnUYET4pPEtgq734OpsuDWTgM=",
    virtual_ip="10.66.0.1/32",
    ipv4_address="203.0.113.10",
    ipv6_address="2001:db8::10",
    listen_port=51821,
    mtu=1380,
    dns="1.1.1.1, 8.8.8.8",
    pre_up_json=["echo pre-up"],
    post_up_json=["sysctl -w net.ipv4.ip_forward=1", "  "],
    post_down_json=["echo 'bye'"],
)
BETA = Node(
    id="node_beta",
    name="beta",
    private_key="K5AviRHoGBj4yZ1dXZgxlXUE2Q6UXeLo9U7ngcx19jY=",
    public_key="m4P+p5ypAcSssMS76aV/AhOzf8f/1OxCraTB4/9/2C4=",
    virtual_ip="10.66.0.2/32",
    ipv4_address="vpn.example.com",
    ipv6_address="2001:db8::20",
    created_at=T0 + timedelta(seconds=1),
)
GAMMA = Node(
    id="node_gamma",
    name="gamma",
    private_key="2FCZCVqjABZaZwNvm1QNa48L4hEkF5w92fc4F85uEY0=",
    public_key="I45pBWFQngzb2+7P7VbaYAJ8Ok/nHKt1hd7dGYwlyVc=",
    virtual_ip="10.66.0.3/24",
    listen_port=51830,
    created_at=T0 + timedelta(seconds=2),
)
NODES = {n.id: n for n in (ALPHA, BETA, GAMMA)}


def at(seconds: int) -> datetime:
    return T0 + timedelta(minutes=1, seconds=seconds)


LINKS = [
    # alpha ↔ beta: PSK; alpha reaches beta over IPv6, beta reaches alpha over IPv4
    Link("plink_ab", ALPHA.id, BETA.id, "10.66.0.2/32", at(0), persistent_keepalive=25,
         preshared_key=PSK, endpoint_ref_family="ipv6"),
    Link("plink_ba", BETA.id, ALPHA.id, "10.66.0.1/32", at(0), persistent_keepalive=25,
         preshared_key=PSK, direction="reverse"),
    # alpha ↔ gamma: alpha writes no Endpoint; gamma uses a manual host and port
    Link("plink_ac", ALPHA.id, GAMMA.id, "10.66.0.3/32", at(1), persistent_keepalive=25,
         endpoint_mode="none"),
    Link("plink_ca", GAMMA.id, ALPHA.id, "10.66.0.1/32, 192.168.10.0/24", at(1),
         persistent_keepalive=0, endpoint_mode="manual", endpoint_manual_host="alpha.example.net",
         endpoint_port_mode="manual", endpoint_manual_port=4500, direction="reverse"),
    # beta ↔ gamma: gamma has no public IPv4 → no Endpoint in beta; gamma → beta by domain
    Link("plink_bc", BETA.id, GAMMA.id, "10.66.0.3/32", at(2)),
    Link("plink_cb", GAMMA.id, BETA.id, "10.66.0.2/32", at(2), persistent_keepalive=15,
         direction="reverse"),
]  # fmt: skip
RULE = Rule("pf_0123456789ab", BETA.id, 80, ALPHA.id, 8080)

EXPECTED_ALPHA = """\
[Interface]
PrivateKey = OLTmUuRNp/I3DZ4mDicTZVCko6bQf1wMMy+LEiQIP9I=
Address = 10.66.0.1/32
ListenPort = 51821
DNS = 1.1.1.1, 8.8.8.8
MTU = 1380
PreUp = echo pre-up
PostUp = sysctl -w net.ipv4.ip_forward=1
PostUp = iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport 8080 \
-m comment --comment wfm-pf_0123456789ab-tcp -j DNAT --to-destination 10.66.0.2:80; \
iptables -A FORWARD -p tcp -d 10.66.0.2 --dport 80 -m comment --comment wfm-pf_0123456789ab-tcp \
-j ACCEPT; iptables -t nat -A POSTROUTING -p tcp -d 10.66.0.2 --dport 80 -m comment --comment \
wfm-pf_0123456789ab-tcp -j MASQUERADE
PreDown = iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -p tcp --dport 8080 \
-m comment --comment wfm-pf_0123456789ab-tcp -j DNAT --to-destination 10.66.0.2:80; \
iptables -D FORWARD -p tcp -d 10.66.0.2 --dport 80 -m comment --comment wfm-pf_0123456789ab-tcp \
-j ACCEPT; iptables -t nat -D POSTROUTING -p tcp -d 10.66.0.2 --dport 80 -m comment --comment \
wfm-pf_0123456789ab-tcp -j MASQUERADE
PostDown = echo 'bye'

# Peer: beta
[Peer]
PublicKey = m4P+p5ypAcSssMS76aV/AhOzf8f/1OxCraTB4/9/2C4=
AllowedIPs = 10.66.0.2/32
PresharedKey = JkqtbLbdIQ+vlKzTz5LBkCN8sR9dEIzyWTAmOTizcKE=
Endpoint = [2001:db8::20]:51820
PersistentKeepalive = 25

# Peer: gamma
[Peer]
PublicKey = I45pBWFQngzb2+7P7VbaYAJ8Ok/nHKt1hd7dGYwlyVc=
AllowedIPs = 10.66.0.3/32
"""

EXPECTED_BETA = """\
[Interface]
PrivateKey = K5AviRHoGBj4yZ1dXZgxlXUE2Q6UXeLo9U7ngcx19jY=
Address = 10.66.0.2/32
ListenPort = 51820

# Peer: alpha
[Peer]
PublicKey = 7p1dCVpd3YKNOgBm/wVnUYET4pPEtgq734OpsuDWTgM=
AllowedIPs = 10.66.0.1/32
PresharedKey = JkqtbLbdIQ+vlKzTz5LBkCN8sR9dEIzyWTAmOTizcKE=
Endpoint = 203.0.113.10:51821
PersistentKeepalive = 25

# Peer: gamma
[Peer]
PublicKey = I45pBWFQngzb2+7P7VbaYAJ8Ok/nHKt1hd7dGYwlyVc=
AllowedIPs = 10.66.0.3/32
"""

EXPECTED_GAMMA = """\
[Interface]
PrivateKey = 2FCZCVqjABZaZwNvm1QNa48L4hEkF5w92fc4F85uEY0=
Address = 10.66.0.3/24
ListenPort = 51830

# Peer: alpha
[Peer]
PublicKey = 7p1dCVpd3YKNOgBm/wVnUYET4pPEtgq734OpsuDWTgM=
AllowedIPs = 10.66.0.1/32, 192.168.10.0/24
Endpoint = alpha.example.net:4500

# Peer: beta
[Peer]
PublicKey = m4P+p5ypAcSssMS76aV/AhOzf8f/1OxCraTB4/9/2C4=
AllowedIPs = 10.66.0.2/32
Endpoint = vpn.example.com:51820
PersistentKeepalive = 15
"""


def links_of(node: Node, links: list[Link] = LINKS) -> list[Link]:
    return [link for link in links if link.local_node_id == node.id]


def render(node: Node, links: list[Link] | None = None, **kwargs: Any) -> str:
    return render_node_config(
        config=kwargs.pop("config", CONFIG),
        node=node,
        links=links_of(node) if links is None else links,
        nodes_by_id=kwargs.pop("nodes_by_id", NODES),
        **kwargs,
    )


def alpha_hooks() -> ManagedHooks:
    return managed_hooks_for_node(node=ALPHA, rules=[RULE], nodes_by_id=NODES)


def rendered_mesh() -> dict[str, str]:
    return {
        "alpha": render(ALPHA, managed_hooks=alpha_hooks()),
        "beta": render(BETA),
        "gamma": render(GAMMA),
    }


def test_full_mesh_exact_text() -> None:
    texts = rendered_mesh()
    assert texts["alpha"] == EXPECTED_ALPHA
    assert texts["beta"] == EXPECTED_BETA
    assert texts["gamma"] == EXPECTED_GAMMA


def test_config_defaults_fill_dns_mtu_and_port() -> None:
    config = replace(CONFIG, default_dns="9.9.9.9", default_mtu=1420, default_listen_port=40000)
    text = render(BETA, config=config)
    assert text.startswith(
        "[Interface]\n"
        "PrivateKey = K5AviRHoGBj4yZ1dXZgxlXUE2Q6UXeLo9U7ngcx19jY=\n"
        "Address = 10.66.0.2/32\n"
        "ListenPort = 40000\n"
        "DNS = 9.9.9.9\n"
        "MTU = 1420\n"
        "\n# Peer: alpha\n"
    )
    # node values win over config defaults
    assert "DNS = 1.1.1.1, 8.8.8.8\nMTU = 1380\n" in render(ALPHA, config=config)
    assert "ListenPort = 51821\n" in render(ALPHA, config=config)
    # the peer's port falls back to the config default too
    assert "Endpoint = vpn.example.com:40000\n" in render(GAMMA, config=config)


def test_no_address_and_no_peers() -> None:
    lonely = replace(BETA, virtual_ip=None, dns="  ")
    assert render(lonely, links=[]) == (
        "[Interface]\n"
        "PrivateKey = K5AviRHoGBj4yZ1dXZgxlXUE2Q6UXeLo9U7ngcx19jY=\n"
        "ListenPort = 51820\n"
    )


def test_hook_order_user_then_managed_per_stage() -> None:
    managed = ManagedHooks(
        pre_up=[ManagedHook(source_id="pf_1", command="m-pre-up", label="l")],
        post_up=[ManagedHook(source_id="pf_1", command="m-post-up", label="l")],
        pre_down=[ManagedHook(source_id="pf_1", command="m-pre-down", label="l")],
        post_down=[ManagedHook(source_id="pf_1", command="m-post-down", label="l")],
    )
    node = replace(
        BETA,
        pre_up_json=["u-pre-up"],
        post_up_json=["u-post-up-1", "u-post-up-2"],
        pre_down_json=["u-pre-down"],
        post_down_json=["u-post-down"],
    )
    text = render(node, links=[], managed_hooks=managed)
    assert text.split("ListenPort = 51820\n", 1)[1] == (
        "PreUp = u-pre-up\n"
        "PreUp = m-pre-up\n"
        "PostUp = u-post-up-1\n"
        "PostUp = u-post-up-2\n"
        "PostUp = m-post-up\n"
        "PreDown = u-pre-down\n"
        "PreDown = m-pre-down\n"
        "PostDown = u-post-down\n"
        "PostDown = m-post-down\n"
    )


def test_awg_lines_only_for_amneziawg_after_hooks() -> None:
    awg = ["Jc = 4", "Jmin = 64", "Jmax = 512"]
    plain = render(BETA, links=[], awg_lines=awg)
    assert "Jc" not in plain
    node = replace(BETA, post_down_json=["echo down"])
    text = render(
        node, links=[], config=replace(CONFIG, tunnel_protocol="amneziawg"), awg_lines=awg
    )
    assert text.endswith("PostDown = echo down\nJc = 4\nJmin = 64\nJmax = 512\n")
    with_peer = render(BETA, config=replace(CONFIG, tunnel_protocol="amneziawg"), awg_lines=awg)
    assert "Jmax = 512\n\n# Peer: alpha\n" in with_peer


def test_links_ordered_by_created_at_then_id() -> None:
    links = [
        Link("plink_3", BETA.id, GAMMA.id, "c", at(5)),
        Link("plink_2", BETA.id, ALPHA.id, "b", at(3)),
        Link("plink_1", BETA.id, GAMMA.id, "a", at(3)),
    ]
    text = render(BETA, links=links)
    order = [line for line in text.splitlines() if line.startswith("AllowedIPs")]
    assert order == ["AllowedIPs = a", "AllowedIPs = b", "AllowedIPs = c"]


def test_filtering_disabled_links_missing_and_disabled_peers() -> None:
    nodes = {**NODES, GAMMA.id: replace(GAMMA, enabled=False)}
    links = [
        Link("plink_off", BETA.id, ALPHA.id, "off", at(0), enabled=False),
        Link("plink_gone", BETA.id, "node_missing", "gone", at(1)),
        Link("plink_dis", BETA.id, GAMMA.id, "disabled-peer", at(2)),
        Link("plink_foreign", ALPHA.id, GAMMA.id, "other-local", at(3)),
        Link("plink_ok", BETA.id, ALPHA.id, "ok", at(4)),
    ]
    text = render(BETA, links=links, nodes_by_id=nodes)
    assert text.count("[Peer]") == 1
    assert "AllowedIPs = ok\n" in text


def test_disabled_node_renders_nothing() -> None:
    assert render(replace(ALPHA, enabled=False), managed_hooks=alpha_hooks()) == ""


def test_keepalive_rules() -> None:
    base = Link("plink_k", BETA.id, ALPHA.id, "x", at(0))
    with_endpoint = render(BETA, links=[replace(base, persistent_keepalive=0)])
    assert "Endpoint = 203.0.113.10:51821\n" in with_endpoint
    assert "PersistentKeepalive" not in with_endpoint
    unset = render(BETA, links=[base])
    assert "PersistentKeepalive" not in unset
    no_endpoint = render(BETA, links=[replace(base, endpoint_mode="none", persistent_keepalive=9)])
    assert "Endpoint" not in no_endpoint
    assert "PersistentKeepalive" not in no_endpoint
    manual_missing_port = replace(
        base, endpoint_mode="manual", endpoint_manual_host="h.example", endpoint_port_mode="manual"
    )
    text = render(BETA, links=[replace(manual_missing_port, persistent_keepalive=25)])
    assert "Endpoint" not in text
    assert "PersistentKeepalive" not in text


def test_sha256_text() -> None:
    assert sha256_text("") == hashlib.sha256(b"").hexdigest()
    assert sha256_text("é\n") == hashlib.sha256("é\n".encode()).hexdigest()
    assert sha256_text(EXPECTED_BETA) == hashlib.sha256(EXPECTED_BETA.encode("utf-8")).hexdigest()


def _wg_quick() -> str:
    path = shutil.which("wg-quick") or (
        "/usr/bin/wg-quick" if Path("/usr/bin/wg-quick").exists() else None
    )
    if path is None:
        pytest.skip("wg-quick (wireguard-tools) is not installed")
    return path


WG_QUICK_ONLY_KEYS = ("Address", "DNS", "MTU", "PreUp", "PostUp", "PreDown", "PostDown")


@pytest.mark.parametrize("name", ["alpha", "beta", "gamma"])
def test_wg_quick_strip_accepts_rendering(name: str, tmp_path: Path) -> None:
    wg_quick = _wg_quick()
    text = rendered_mesh()[name]
    path = tmp_path / "wfm0.conf"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [wg_quick, "strip", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("[Peer]") == text.count("[Peer]") == 2
    assert "[Interface]" in out
    for line in out.splitlines():
        key = line.split("=", 1)[0].strip()
        assert key not in WG_QUICK_ONLY_KEYS, line
    for line in text.splitlines():
        if line.startswith(("PublicKey", "PresharedKey", "Endpoint", "PersistentKeepalive")):
            assert line in out
