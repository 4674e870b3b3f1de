"""Link drafts (§4.2) and link-group write validation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from wfm_core.errors import WfmError
from wfm_core.mesh.drafts import (
    effective_direction_keepalive,
    link_draft,
    normalize_allowed_ips,
    validate_link_group,
)

from .factories import DEFAULT_PORT, FakeDirection, FakeNode, node

N1 = node(1, listen_port=51000)
N2 = node(2)


def draft(local: FakeNode = N1, peer: FakeNode = N2, family: str = "ipv4") -> Any:
    return link_draft(
        local=local, peer=peer, endpoint_ref_family=family, default_listen_port=DEFAULT_PORT
    )


# --- link_draft --------------------------------------------------------------------------------


def test_draft_defaults_both_directions() -> None:
    result = draft()
    assert result.endpoint_ref_family == "ipv4"
    assert result.warnings == []
    assert result.forward == {
        "local_node_id": "n1",
        "peer_node_id": "n2",
        "allowed_ips": "10.66.0.2/32",
        "persistent_keepalive": 25,
        "endpoint_mode": "auto",
        "endpoint_ref_family": "ipv4",
        "endpoint_manual_host": "",
        "endpoint_port_mode": "ref_peer_listen_port",
        "endpoint_manual_port": None,
        "endpoint_summary": "Auto uses 203.0.113.2:51820",
        "keepalive_display": "25",
    }
    assert result.reverse["local_node_id"] == "n2"
    assert result.reverse["peer_node_id"] == "n1"
    assert result.reverse["allowed_ips"] == "10.66.0.1/32"
    assert result.reverse["endpoint_summary"] == "Auto uses 203.0.113.1:51000"
    assert result.as_dict()["forward"] == result.forward


def test_draft_warnings_in_order_and_empty_defaults() -> None:
    local = node(1, vip=False, public=False)
    peer = node(2, vip=False, public=False)
    result = draft(local, peer)
    assert result.warnings == [
        "node-2 is missing virtual IP. Forward AllowedIPs must be filled manually.",
        "node-1 is missing virtual IP. Reverse AllowedIPs must be filled manually.",
        "node-2 has no public IPV4 entry. Forward auto Endpoint will be empty.",
        "node-1 has no public IPV4 entry. Reverse auto Endpoint will be empty.",
    ]
    assert result.forward["allowed_ips"] == ""
    assert result.forward["persistent_keepalive"] is None
    assert result.forward["keepalive_display"] == "/"
    assert (
        result.forward["endpoint_summary"]
        == "node-2 has no public IPV4 entry; auto mode leaves it empty"
    )


def test_draft_only_one_side_public() -> None:
    result = draft(node(1, public=False), node(2))
    assert result.warnings == [
        "node-1 has no public IPV4 entry. Reverse auto Endpoint will be empty."
    ]
    assert result.forward["persistent_keepalive"] == 25
    assert result.reverse["persistent_keepalive"] is None


def test_draft_ipv6_family() -> None:
    local = node(1, ipv6_address="2001:db8::1")
    peer = node(2, ipv6_address="2001:db8::2", listen_port=40000)
    result = draft(local, peer, "ipv6")
    assert result.endpoint_ref_family == "ipv6"
    assert result.forward["endpoint_ref_family"] == "ipv6"
    assert result.forward["endpoint_summary"] == "Auto uses [2001:db8::2]:40000"
    assert draft(node(1), node(2), "ipv6").warnings == [
        "node-2 has no public IPV6 entry. Forward auto Endpoint will be empty.",
        "node-1 has no public IPV6 entry. Reverse auto Endpoint will be empty.",
    ]


@pytest.mark.parametrize(
    ("local", "peer"),
    [(node(1, enabled=False), N2), (N1, node(2, enabled=False)), (node(1, enabled=False),) * 2],
)
def test_draft_disabled_node_is_400(local: FakeNode, peer: FakeNode) -> None:
    with pytest.raises(WfmError) as info:
        draft(local, peer)
    assert info.value.code == "NODE_DISABLED"
    assert info.value.status == 400


def test_draft_self_link() -> None:
    with pytest.raises(WfmError) as info:
        draft(N1, N1)
    assert info.value.code == "INVALID_PEER_LINK"
    assert info.value.status == 400


@pytest.mark.parametrize("family", ["", "IPV4", "ipv5"])
def test_draft_bad_family(family: str) -> None:
    with pytest.raises(WfmError) as info:
        draft(family=family)
    assert info.value.code == "INVALID_ENDPOINT_FAMILY"


# --- validate_link_group -----------------------------------------------------------------------

FORWARD = FakeDirection("n1", "n2", allowed_ips="10.66.0.2/32")
REVERSE = FakeDirection("n2", "n1", allowed_ips="10.66.0.1/32")


def validate(
    forward: FakeDirection = FORWARD,
    reverse: FakeDirection = REVERSE,
    local: FakeNode = N1,
    peer: FakeNode = N2,
    check_enabled: bool = True,
) -> None:
    validate_link_group(
        forward=forward, reverse=reverse, local=local, peer=peer, check_enabled=check_enabled
    )


def validate_error(**kwargs: Any) -> WfmError:
    with pytest.raises(WfmError) as info:
        validate(**kwargs)
    return info.value


def test_valid_group_passes() -> None:
    validate()
    manual = replace(
        FORWARD,
        endpoint_mode="manual",
        endpoint_manual_host="vpn.example.com",
        endpoint_port_mode="manual",
        endpoint_manual_port=65535,
        endpoint_ref_family=None,
        persistent_keepalive=65535,
    )
    validate(
        forward=manual, reverse=replace(REVERSE, persistent_keepalive=0, endpoint_manual_port=1)
    )


def test_disabled_node_only_when_checked() -> None:
    disabled = node(2, enabled=False)
    err = validate_error(peer=disabled)
    assert (err.code, err.status) == ("NODE_DISABLED", 400)
    validate(peer=disabled, check_enabled=False)


def test_self_link() -> None:
    err = validate_error(
        forward=FakeDirection("n1", "n1"), reverse=FakeDirection("n1", "n1"), peer=N1
    )
    assert err.code == "INVALID_PEER_LINK"
    assert err.message == "A node cannot link to itself"


@pytest.mark.parametrize(
    "reverse", [FakeDirection("n1", "n2"), FakeDirection("n2", "n3"), FakeDirection("n3", "n1")]
)
def test_reverse_must_mirror_forward(reverse: FakeDirection) -> None:
    err = validate_error(reverse=reverse)
    assert err.code == "INVALID_PEER_LINK"
    assert err.message == "Bidirectional link node direction mismatch"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"endpoint_mode": "static"}, "INVALID_ENDPOINT"),
        ({"endpoint_port_mode": "peer"}, "INVALID_ENDPOINT"),
        ({"endpoint_ref_family": "ipv5"}, "INVALID_ENDPOINT_FAMILY"),
        ({"endpoint_mode": "manual"}, "INVALID_ENDPOINT"),
        ({"endpoint_mode": "manual", "endpoint_manual_host": "  "}, "INVALID_ENDPOINT"),
        ({"endpoint_port_mode": "manual"}, "INVALID_ENDPOINT"),
        ({"endpoint_port_mode": "manual", "endpoint_manual_port": 0}, "INVALID_ENDPOINT"),
        ({"endpoint_port_mode": "manual", "endpoint_manual_port": 65536}, "INVALID_ENDPOINT"),
        ({"persistent_keepalive": -1}, "INVALID_PEER_LINK"),
        ({"persistent_keepalive": 65536}, "INVALID_PEER_LINK"),
        ({"allowed_ips": " , "}, "INVALID_PEER_LINK"),
        ({"allowed_ips": "10.66.0.2/33"}, "INVALID_PEER_LINK"),
    ],
)
def test_direction_rules_apply_to_both_directions(changes: dict[str, Any], code: str) -> None:
    assert validate_error(forward=replace(FORWARD, **changes)).code == code
    assert validate_error(reverse=replace(REVERSE, **changes)).code == code


def test_manual_endpoint_messages() -> None:
    err = validate_error(forward=replace(FORWARD, endpoint_mode="manual"))
    assert err.message == "Manual Endpoint requires Host and Port."
    err = validate_error(forward=replace(FORWARD, endpoint_port_mode="manual"))
    assert err.message == "Manual port mode requires a Port."


def test_mode_none_ignores_host_and_port_settings() -> None:
    validate(forward=replace(FORWARD, endpoint_mode="none", endpoint_port_mode="manual"))


def test_family_may_be_null() -> None:
    validate(forward=replace(FORWARD, endpoint_ref_family=None))


def test_normalize_allowed_ips() -> None:
    assert (
        normalize_allowed_ips(" 10.66.0.1/32 , 10.66.0.0/24,,10.66.0.1/32, fd00::/64")
        == "10.66.0.1/32,10.66.0.0/24,fd00::/64"
    )


# --- effective_direction_keepalive -------------------------------------------------------------


def keepalive(direction: FakeDirection, peer: FakeNode = N2, port: int = DEFAULT_PORT) -> Any:
    return effective_direction_keepalive(direction=direction, peer=peer, default_listen_port=port)


def test_keepalive_kept_when_endpoint_resolves() -> None:
    assert keepalive(FORWARD) == 25
    assert keepalive(replace(FORWARD, persistent_keepalive=0)) == 0
    manual = replace(FORWARD, endpoint_mode="manual", endpoint_manual_host="h.example")
    assert keepalive(manual, peer=node(2, public=False)) == 25


def test_keepalive_forced_null_without_endpoint() -> None:
    assert keepalive(FORWARD, peer=node(2, public=False)) is None
    assert keepalive(replace(FORWARD, endpoint_mode="none")) is None
    assert keepalive(replace(FORWARD, endpoint_ref_family="ipv6")) is None
    # No peer listen port and no default port: no Endpoint either.
    assert keepalive(FORWARD, port=0) is None
