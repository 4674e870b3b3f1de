"""A small lab of network namespaces for end-to-end tests with real tunnels.

A bridge in the root namespace joins one veth per namespace; each namespace gets its own
"public" address on the bridge's /24 and a default route through the bridge. Services of the
test bound to 127.0.0.1 (API, broker) are reachable from the namespaces at the bridge address:
the bridge has `route_localnet=1` and a DNAT rule per forwarded port sends the traffic to
127.0.0.1. Everything stays on this machine; `close()` removes every namespace, link and rule.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest


def run(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout)


def netns_available() -> str | None:
    """None when this machine can run the lab, else the reason it cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "iptables", "wg", "wg-quick", "wireguard-go"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make install)"
    return None


def require_netns() -> None:
    reason = netns_available()
    if reason is not None:
        pytest.fail(f"end-to-end tunnel tests cannot run: {reason}")


@dataclass
class Host:
    name: str  # the namespace
    address: str  # its "public" address on the bridge

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(
        self, *args: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return run(*self.cmd(*args), check=check, timeout=timeout)


@dataclass
class Lab:
    subnet: str = "10.198.{}.{}"  # formatted with (third octet, host)
    octet: int = 0
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    hosts: list[Host] = field(default_factory=list)
    _dnat: list[list[str]] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"wfmbr{self.tag}"

    @property
    def gateway(self) -> str:
        return self.subnet.format(self.octet, 1)

    def open(self) -> Lab:
        # A third octet derived from the tag keeps concurrent labs on different subnets.
        self.octet = 100 + int(self.tag, 16) % 100
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        run("sysctl", "-qw", f"net.ipv4.conf.{self.bridge}.route_localnet=1")
        run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        return self

    def add_host(self, label: str) -> Host:
        index = len(self.hosts) + 11
        name = f"wfm{self.tag}{label}"
        veth = f"v{self.tag}{label}"[:15]
        address = self.subnet.format(self.octet, index)
        run("ip", "netns", "add", name)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
        run("ip", "link", "set", veth, "master", self.bridge, "up")
        host = Host(name=name, address=address)
        host.run("ip", "addr", "add", f"{address}/24", "dev", "eth0")
        host.run("ip", "link", "set", "eth0", "up")
        host.run("ip", "link", "set", "lo", "up")
        host.run("ip", "route", "add", "default", "via", self.gateway)
        host.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.hosts.append(host)
        return host

    def forward_local_port(self, port: int) -> None:
        """Make 127.0.0.1:<port> reachable from every namespace at <gateway>:<port>."""
        rule = [
            "PREROUTING", "-i", self.bridge, "-d", self.gateway, "-p", "tcp",
            "--dport", str(port), "-j", "DNAT", "--to-destination", f"127.0.0.1:{port}",
        ]  # fmt: skip
        run("iptables", "-t", "nat", "-A", *rule)
        self._dnat.append(rule)

    def close(self) -> None:
        for rule in self._dnat:
            run("iptables", "-t", "nat", "-D", *rule, check=False)
        for host in self.hosts:
            # Bring down tunnels first: wireguard-go keeps running after its namespace is gone.
            for line in host.run("wg", "show", "interfaces", check=False).stdout.split():
                host.run("ip", "link", "del", line, check=False)
            pids = run("ip", "netns", "pids", host.name, check=False).stdout.split()
            for pid in pids:
                run("kill", "-9", pid, check=False)
            run("ip", "netns", "del", host.name, check=False)
        run("ip", "link", "del", self.bridge, check=False)
        self.hosts.clear()
        self._dnat.clear()


def popen_in(host: Host, args: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
    """A long-running process inside the namespace (the caller stops it)."""
    return subprocess.Popen([*host.cmd(*args)], text=True, **kwargs)  # type: ignore[call-overload]
