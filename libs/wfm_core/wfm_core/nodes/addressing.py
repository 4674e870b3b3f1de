"""Virtual IP addressing: parse interface addresses, suggest free ones, normalize AllowedIPs."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from wfm_core.errors import WfmError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _interface(value: str) -> IPInterface:
    """Parse `addr` or `addr/prefix` (no IPv6 zone ids: they mean nothing in a mesh)."""
    text = value.strip()
    if not text or "%" in text:
        raise ValueError(value)
    return ipaddress.ip_interface(text)


def parse_virtual_ip(value: str | None) -> str:
    """Normalize an interface address: `10.66.0.2` → `10.66.0.2/32`, `fd00::2` → `fd00::2/128`.

    A given prefix is kept and the host address stays as typed (it is the node's own address,
    not a network), e.g. `10.66.0.2/24`; a netmask such as `/255.255.255.0` becomes `/24`.
    """
    try:
        iface = _interface(value or "")
    except ValueError:
        raise WfmError(
            "INVALID_VIRTUAL_IP",
            f"Invalid virtual IP {value!r}: expected an IPv4/IPv6 address with optional /prefix, "
            "e.g. 10.66.0.2/32",
            detail={"virtual_ip": value},
        ) from None
    return f"{iface.ip}/{iface.network.prefixlen}"


def address_of(virtual_ip: str) -> IPAddress:
    """The bare address of an interface address, prefix ignored."""
    return ipaddress.ip_address(parse_virtual_ip(virtual_ip).split("/", 1)[0])


def _address_or_none(value: str | None) -> IPAddress | None:
    try:
        return _interface(value or "").ip
    except ValueError:
        return None


def _host_range(network: IPNetwork) -> tuple[int, int]:
    """First and last assignable host as integers."""
    first = int(network.network_address)
    last = int(network.broadcast_address)
    if network.version == 4 and network.prefixlen < 31:
        return first + 1, last - 1  # skip network and broadcast
    if network.version == 6 and network.prefixlen < 127:
        return first + 1, last  # skip the subnet-router anycast address (…::0)
    return first, last  # /31, /32, /127, /128: every address is a host (RFC 3021, RFC 6164)


def suggest_virtual_ip(*, subnet: str, used: Iterable[str | None]) -> str:
    """The first host of `subnet` not used by any node (compared by address), as `/32` or `/128`.

    Runs in O(len(used)): the first free host is among the first len(used)+1 candidates, so a /8
    or a /64 is never materialized.
    """
    try:
        network = ipaddress.ip_network((subnet or "").strip(), strict=False)
    except ValueError:
        raise WfmError(
            "INVALID_SUBNET",
            f"Invalid virtual subnet {subnet!r}: expected CIDR such as 10.66.0.0/24",
            detail={"virtual_subnet": subnet},
        ) from None
    taken = {
        int(addr)
        for addr in map(_address_or_none, used)
        if addr is not None and addr.version == network.version
    }
    first, last = _host_range(network)
    candidate = first
    while candidate <= last:
        if candidate not in taken:
            address: IPAddress = (
                ipaddress.IPv4Address(candidate)
                if network.version == 4
                else ipaddress.IPv6Address(candidate)
            )
            return f"{address}/{network.max_prefixlen}"
        candidate += 1
    raise WfmError(
        "IP_POOL_EXHAUSTED",
        f"No free virtual IP left in {network}",
        detail={"virtual_subnet": subnet},
    )


def validate_virtual_ip(
    *, virtual_ip: str | None, used: Iterable[str | None]
) -> tuple[bool, str | None]:
    """`(valid, warning)` for the validate-ip route: empty, bad format or taken → warning.

    `used` holds the other nodes' virtual IPs (leave out the node being edited); addresses are
    compared without their prefix.
    """
    text = (virtual_ip or "").strip()
    if not text:
        return False, "Virtual IP is empty."
    address = _address_or_none(text)
    if address is None:
        return False, f"Invalid virtual IP format: {text}. Use e.g. 10.66.0.2/32."
    if any(other == address for other in map(_address_or_none, used)):
        return False, f"Virtual IP {address} is already used by another node in this config."
    return True, None


def _allowed_entries(value: str | Sequence[str] | None) -> list[str]:
    parts = [value] if isinstance(value, str) else list(value or [])
    return [entry.strip() for part in parts for entry in part.split(",") if entry.strip()]


def normalize_allowed_ips(value: str | Sequence[str] | None) -> str:
    """Normalize AllowedIPs to `a/32,b/24` (the stored form): trimmed, no empties, deduplicated.

    Each entry is kept as the user wrote it (WireGuard accepts host bits and a bare address) but
    must parse as an IP network; duplicates are entries naming the same network. Bad entries →
    INVALID_PEER_LINK with detail.allowed_ips = the list of bad entries.
    """
    seen: set[IPNetwork] = set()
    kept: list[str] = []
    bad: list[str] = []
    for entry in _allowed_entries(value):
        try:
            if "%" in entry:
                raise ValueError(entry)
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            bad.append(entry)
            continue
        if network not in seen:
            seen.add(network)
            kept.append(entry)
    if bad:
        raise WfmError(
            "INVALID_PEER_LINK",
            f"Invalid AllowedIPs entr{'y' if len(bad) == 1 else 'ies'}: {', '.join(bad)}",
            detail={"allowed_ips": bad},
        )
    return ",".join(kept)
