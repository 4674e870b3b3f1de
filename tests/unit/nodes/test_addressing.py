"""Virtual IP parsing, suggestion, validation and AllowedIPs normalization."""

from __future__ import annotations

import ipaddress
import time

import pytest

from wfm_core.errors import WfmError
from wfm_core.nodes.addressing import (
    address_of,
    normalize_allowed_ips,
    parse_virtual_ip,
    suggest_virtual_ip,
    validate_virtual_ip,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.66.0.2", "10.66.0.2/32"),
        ("10.66.0.2/32", "10.66.0.2/32"),
        ("10.66.0.2/24", "10.66.0.2/24"),
        (" 10.66.0.2/24 ", "10.66.0.2/24"),
        ("10.66.0.2/255.255.255.0", "10.66.0.2/24"),
        ("fd00::2", "fd00::2/128"),
        ("FD00:0:0::2/64", "fd00::2/64"),
        ("fd00::2/128", "fd00::2/128"),
    ],
)
def test_parse_virtual_ip(value: str, expected: str) -> None:
    assert parse_virtual_ip(value) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "  ", "10.66.0", "10.66.0.256", "10.66.0.2/33", "fd00::2/129", "host",
     "10.66.0.2/24/1", "fe80::1%eth0", "010.66.0.2", "10.66.0.2 /32"],
)  # fmt: skip
def test_parse_virtual_ip_rejects(value: str | None) -> None:
    with pytest.raises(WfmError) as info:
        parse_virtual_ip(value)
    assert info.value.code == "INVALID_VIRTUAL_IP"
    assert info.value.status == 400
    assert "10.66.0.2/32" in info.value.message


def test_address_of() -> None:
    assert address_of("10.66.0.2/24") == ipaddress.IPv4Address("10.66.0.2")
    assert address_of("fd00::2") == ipaddress.IPv6Address("fd00::2")
    with pytest.raises(WfmError):
        address_of("nope")


def test_suggest_first_host() -> None:
    assert suggest_virtual_ip(subnet="10.66.0.0/24", used=[]) == "10.66.0.1/32"


def test_suggest_skips_used_by_address_ignoring_prefix() -> None:
    used = ["10.66.0.1/32", "10.66.0.2/24", "10.66.0.3", None, "", "garbage", "fd00::4"]
    assert suggest_virtual_ip(subnet="10.66.0.0/24", used=used) == "10.66.0.4/32"


def test_suggest_fills_gaps() -> None:
    used = ["10.66.0.1/32", "10.66.0.3/32"]
    assert suggest_virtual_ip(subnet="10.66.0.0/24", used=used) == "10.66.0.2/32"


def test_suggest_accepts_host_bits_in_subnet() -> None:
    assert suggest_virtual_ip(subnet="10.66.0.77/24", used=[]) == "10.66.0.1/32"


def test_suggest_ipv4_never_network_or_broadcast() -> None:
    used = [f"10.66.0.{i}" for i in range(1, 254)]
    assert suggest_virtual_ip(subnet="10.66.0.0/24", used=used) == "10.66.0.254/32"
    with pytest.raises(WfmError) as info:
        suggest_virtual_ip(subnet="10.66.0.0/24", used=[*used, "10.66.0.254"])
    assert info.value.code == "IP_POOL_EXHAUSTED"
    assert info.value.status == 400


def test_suggest_small_prefixes() -> None:
    assert suggest_virtual_ip(subnet="10.0.0.0/30", used=["10.0.0.1"]) == "10.0.0.2/32"
    with pytest.raises(WfmError):
        suggest_virtual_ip(subnet="10.0.0.0/30", used=["10.0.0.1", "10.0.0.2"])
    assert suggest_virtual_ip(subnet="10.0.0.0/31", used=[]) == "10.0.0.0/32"
    assert suggest_virtual_ip(subnet="10.0.0.0/31", used=["10.0.0.0"]) == "10.0.0.1/32"
    assert suggest_virtual_ip(subnet="10.0.0.9/32", used=[]) == "10.0.0.9/32"
    with pytest.raises(WfmError):
        suggest_virtual_ip(subnet="10.0.0.9/32", used=["10.0.0.9/24"])


def test_suggest_ipv6() -> None:
    assert suggest_virtual_ip(subnet="fd00::/64", used=[]) == "fd00::1/128"
    assert suggest_virtual_ip(subnet="fd00::/64", used=["fd00::1/64", "10.0.0.2"]) == (
        "fd00::2/128"
    )
    assert suggest_virtual_ip(subnet="fd00::/127", used=[]) == "fd00::/128"
    # low addresses in an IPv6 subnet must stay IPv6 (not 0.0.0.1)
    assert suggest_virtual_ip(subnet="::/120", used=[]) == "::1/128"


@pytest.mark.parametrize("subnet", ["", "10.66.0.0/33", "nope", "10.66.0/24", "fd00::/129"])
def test_suggest_invalid_subnet(subnet: str) -> None:
    with pytest.raises(WfmError) as info:
        suggest_virtual_ip(subnet=subnet, used=[])
    assert info.value.code == "INVALID_SUBNET"
    assert info.value.status == 400


def test_suggest_is_fast_for_huge_subnets() -> None:
    used4 = [f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}/32" for i in range(1, 20001)]
    used6 = [f"fd00::{i:x}/128" for i in range(1, 20001)]
    start = time.perf_counter()
    assert suggest_virtual_ip(subnet="10.0.0.0/8", used=used4) == "10.0.78.33/32"
    assert suggest_virtual_ip(subnet="fd00::/64", used=used6) == "fd00::4e21/128"
    assert time.perf_counter() - start < 1.0


def test_validate_virtual_ip() -> None:
    used = ["10.66.0.1/32", "10.66.0.2/24"]
    assert validate_virtual_ip(virtual_ip="10.66.0.3/32", used=used) == (True, None)
    assert validate_virtual_ip(virtual_ip="fd00::1", used=used) == (True, None)
    valid, warning = validate_virtual_ip(virtual_ip="10.66.0.2/32", used=used)
    assert not valid
    assert warning == "Virtual IP 10.66.0.2 is already used by another node in this config."
    valid, warning = validate_virtual_ip(virtual_ip="10.66.0.1", used=used)
    assert not valid
    assert warning is not None
    assert "already used" in warning


@pytest.mark.parametrize("value", [None, "", "   "])
def test_validate_virtual_ip_empty(value: str | None) -> None:
    assert validate_virtual_ip(virtual_ip=value, used=[]) == (False, "Virtual IP is empty.")


def test_validate_virtual_ip_bad_format() -> None:
    valid, warning = validate_virtual_ip(virtual_ip="10.66.0.300", used=[])
    assert not valid
    assert warning == "Invalid virtual IP format: 10.66.0.300. Use e.g. 10.66.0.2/32."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.66.0.2/32", "10.66.0.2/32"),
        (" 10.66.0.2/32 ,,10.66.0.0/24 ,", "10.66.0.2/32,10.66.0.0/24"),
        ("10.66.0.2/32,10.66.0.2/32", "10.66.0.2/32"),
        ("10.66.0.2,10.66.0.2/32", "10.66.0.2"),  # same network: first spelling kept
        ("10.66.0.5/24,10.66.0.0/24", "10.66.0.5/24"),  # host bits: kept as typed
        ("fd00::2/128, 0.0.0.0/0, ::/0", "fd00::2/128,0.0.0.0/0,::/0"),
        (["10.66.0.1/32", " 10.66.0.3/32,10.66.0.1/32", ""], "10.66.0.1/32,10.66.0.3/32"),
        ("", ""),
        (" , ", ""),
        ([], ""),
    ],
)
def test_normalize_allowed_ips(value: str | list[str], expected: str) -> None:
    assert normalize_allowed_ips(value) == expected


def test_normalize_allowed_ips_rejects_bad_entries() -> None:
    with pytest.raises(WfmError) as info:
        normalize_allowed_ips("10.66.0.2/32, nope, 10.66.0.300/32, fe80::1%eth0")
    assert info.value.code == "INVALID_PEER_LINK"
    assert info.value.status == 400
    assert info.value.detail == {"allowed_ips": ["nope", "10.66.0.300/32", "fe80::1%eth0"]}
