"""Tests for wfm_core.protocol.payloads: every kind's required fields, bounds and normalization."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wfm_core.protocol import (
    ALL_KINDS,
    MAX_CONFIG_TEXT_BYTES,
    REASON_CODES,
    TUNNEL_PROTOCOL_WIRE,
    ProtocolError,
    tool_names,
    validate_payload,
)

CONFIG_TEXT = "[Interface]\nPrivateKey = abc\nAddress = 10.0.0.1/32\n"
SHA = hashlib.sha256(CONFIG_TEXT.encode("utf-8")).hexdigest()
SHA_B = "b" * 64


def _push(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "action": "push_config",
        "tunnel_protocol": "amneziawg_2",
        "previous_tunnel_protocol": "wireguard",
        "awg_version": "2.0",
        "interface_name": "wfm-1a2b3c",
        "config_version": 7,
        "config_sha256": SHA,
        "config_text": CONFIG_TEXT,
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not _DROP}


_DROP = object()


def _reason(kind: str, payload: object) -> tuple[str, str | None]:
    with pytest.raises(ProtocolError) as info:
        validate_payload(kind, payload)
    assert info.value.reason_code in REASON_CODES
    return info.value.reason_code, info.value.field


# --- config/push -------------------------------------------------------------------------------


def test_config_push_valid_and_normalized() -> None:
    result = validate_payload("config/push", {**_push(), "future_field": "x" * 10_000})
    assert result == {
        "action": "push_config",
        "tunnel_protocol": "amneziawg_2",
        "previous_tunnel_protocol": "wireguard",
        "awg_version": "2.0",
        "interface_name": "wfm-1a2b3c",
        "config_version": 7,
        "config_sha256": SHA,
        "config_text": CONFIG_TEXT,
    }


def test_config_push_optional_awg_version_defaults_empty_and_sha_is_lowercased() -> None:
    text = "[Interface]\n"
    sha = hashlib.sha256(text.encode()).hexdigest()
    result = validate_payload(
        "config/push",
        _push(
            awg_version=_DROP,
            tunnel_protocol="wireguard",
            config_text=text,
            config_sha256=sha.upper(),
            config_version=0,
        ),
    )
    assert result["awg_version"] == ""
    assert result["config_sha256"] == sha
    assert result["config_version"] == 0


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"action": _DROP}, "missing_field", "action"),
        ({"action": "start"}, "invalid_field", "action"),
        ({"tunnel_protocol": _DROP}, "missing_field", "tunnel_protocol"),
        ({"tunnel_protocol": "openvpn"}, "invalid_field", "tunnel_protocol"),
        ({"tunnel_protocol": 1}, "invalid_field", "tunnel_protocol"),
        ({"previous_tunnel_protocol": _DROP}, "missing_field", "previous_tunnel_protocol"),
        ({"previous_tunnel_protocol": "WireGuard"}, "invalid_field", "previous_tunnel_protocol"),
        ({"awg_version": "2"}, "invalid_field", "awg_version"),
        ({"awg_version": 2.0}, "invalid_field", "awg_version"),
        ({"interface_name": _DROP}, "missing_field", "interface_name"),
        ({"interface_name": ""}, "invalid_field", "interface_name"),
        ({"interface_name": "a" * 16}, "invalid_field", "interface_name"),
        ({"interface_name": "wg/0"}, "invalid_field", "interface_name"),
        ({"interface_name": "wg 0"}, "invalid_field", "interface_name"),
        ({"interface_name": "wg0\n"}, "invalid_field", "interface_name"),
        ({"interface_name": None}, "invalid_field", "interface_name"),
        ({"config_version": _DROP}, "missing_field", "config_version"),
        ({"config_version": -1}, "invalid_field", "config_version"),
        ({"config_version": 2**63}, "invalid_field", "config_version"),
        ({"config_version": True}, "invalid_field", "config_version"),
        ({"config_version": 1.0}, "invalid_field", "config_version"),
        ({"config_version": "7"}, "invalid_field", "config_version"),
        ({"config_sha256": _DROP}, "missing_field", "config_sha256"),
        ({"config_sha256": ""}, "invalid_field", "config_sha256"),
        ({"config_sha256": SHA[:-1]}, "invalid_field", "config_sha256"),
        ({"config_sha256": SHA[:-1] + "g"}, "invalid_field", "config_sha256"),
        ({"config_sha256": SHA_B}, "sha256_mismatch", "config_sha256"),
        ({"config_text": _DROP}, "missing_field", "config_text"),
        ({"config_text": ""}, "invalid_field", "config_text"),
        ({"config_text": ["x"]}, "invalid_field", "config_text"),
        ({"config_text": "bad \ud800"}, "invalid_field", "config_text"),
    ],
)
def test_config_push_errors(changes: dict[str, Any], reason: str, field: str) -> None:
    assert _reason("config/push", _push(**changes)) == (reason, field)


def test_config_push_text_size_boundary() -> None:
    text = "#" * MAX_CONFIG_TEXT_BYTES
    sha = hashlib.sha256(text.encode()).hexdigest()
    assert validate_payload("config/push", _push(config_text=text, config_sha256=sha))
    # The bound is in UTF-8 bytes: one two-byte character pushes it over.
    text = "#" * (MAX_CONFIG_TEXT_BYTES - 1) + "é"
    sha = hashlib.sha256(text.encode()).hexdigest()
    assert _reason("config/push", _push(config_text=text, config_sha256=sha)) == (
        "invalid_field",
        "config_text",
    )


def test_config_push_max_version_accepted() -> None:
    assert validate_payload("config/push", _push(config_version=2**63 - 1))["config_version"] == (
        2**63 - 1
    )


# --- control / info / detect -------------------------------------------------------------------


@pytest.mark.parametrize("action", ["start", "stop"])
def test_control_valid(action: str) -> None:
    payload = {"action": action, "tunnel_protocol": "wireguard", "interface_name": "wg0", "x": 1}
    assert validate_payload("control", payload) == {
        "action": action,
        "tunnel_protocol": "wireguard",
        "previous_tunnel_protocol": "",
        "interface_name": "wg0",
    }


def test_control_keeps_previous_protocol_and_accepts_legacy_awg_value() -> None:
    result = validate_payload(
        "control",
        {
            "action": "stop",
            "tunnel_protocol": "amneziawg",
            "previous_tunnel_protocol": "wireguard",
            "interface_name": "A_z0=+.-",
        },
    )
    assert result["tunnel_protocol"] == "amneziawg"
    assert result["previous_tunnel_protocol"] == "wireguard"
    assert result["interface_name"] == "A_z0=+.-"


@pytest.mark.parametrize(
    ("payload", "reason", "field"),
    [
        ({"tunnel_protocol": "", "interface_name": "wg0"}, "missing_field", "action"),
        (
            {"action": "push_config", "tunnel_protocol": "", "interface_name": "wg0"},
            "invalid_field",
            "action",
        ),
        ({"action": "start", "interface_name": "wg0"}, "missing_field", "tunnel_protocol"),
        ({"action": "start", "tunnel_protocol": ""}, "missing_field", "interface_name"),
        (
            {
                "action": "start",
                "tunnel_protocol": "",
                "previous_tunnel_protocol": "awg",
                "interface_name": "wg0",
            },
            "invalid_field",
            "previous_tunnel_protocol",
        ),
    ],
)
def test_control_errors(payload: dict[str, Any], reason: str, field: str) -> None:
    assert _reason("control", payload) == (reason, field)


def test_info_valid_and_errors() -> None:
    assert validate_payload("info", {"action": "wg_show", "tunnel_protocol": "amneziawg_2"}) == {
        "action": "wg_show",
        "tunnel_protocol": "amneziawg_2",
    }
    assert _reason("info", {"action": "show", "tunnel_protocol": ""}) == (
        "invalid_field",
        "action",
    )
    assert _reason("info", {"action": "wg_show"}) == ("missing_field", "tunnel_protocol")


def test_detect_accepts_empty_object_and_protocol() -> None:
    assert validate_payload("detect", {}) == {"tunnel_protocol": ""}
    assert validate_payload("detect", {"tunnel_protocol": "wireguard"}) == {
        "tunnel_protocol": "wireguard"
    }
    assert _reason("detect", {"tunnel_protocol": "x"}) == ("invalid_field", "tunnel_protocol")


# --- ACKs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["config/push/ack", "control/ack", "info/ack"])
@pytest.mark.parametrize("status", ["accepted", "applied", "failed"])
def test_ack_valid(kind: str, status: str) -> None:
    assert validate_payload(kind, {"status": status, "message": "ok", "extra": [1]}) == {
        "status": status,
        "message": "ok",
        "action": "",
    }


def test_ack_action_and_message_bounds() -> None:
    message = "m" * 4096
    result = validate_payload(
        "control/ack", {"status": "failed", "message": message, "action": "a"}
    )
    assert result == {"status": "failed", "message": message, "action": "a"}
    assert _reason("control/ack", {"status": "failed", "message": "m" * 4097}) == (
        "invalid_field",
        "message",
    )
    assert _reason("control/ack", {"status": "failed", "message": "", "action": "a" * 65}) == (
        "invalid_field",
        "action",
    )
    assert _reason("control/ack", {"status": "failed", "message": "", "action": "a\nb"}) == (
        "invalid_field",
        "action",
    )


@pytest.mark.parametrize(
    ("payload", "reason", "field"),
    [
        ({"message": "x"}, "missing_field", "status"),
        ({"status": "ok", "message": "x"}, "invalid_field", "status"),
        ({"status": "applied"}, "missing_field", "message"),
        ({"status": "applied", "message": 5}, "invalid_field", "message"),
        ({"status": "applied", "message": "x", "action": 5}, "invalid_field", "action"),
    ],
)
def test_ack_errors(payload: dict[str, Any], reason: str, field: str) -> None:
    assert _reason("config/push/ack", payload) == (reason, field)


def test_ack_message_is_made_storable() -> None:
    result = validate_payload("info/ack", {"status": "failed", "message": "a\x00b\ud800c\nd"})
    assert result["message"] == "a\ufffdb\ufffdc\nd"


def _detect_ack(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "status": "applied",
        "message": "Detect completed.",
        "client_online": True,
        "wg_online": False,
        "platform": "linux",
        "client_version": "0.1.0",
        "config_sha256": SHA.upper(),
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not _DROP}


def test_detect_ack_valid() -> None:
    assert validate_payload("detect/ack", _detect_ack()) == {
        "status": "applied",
        "message": "Detect completed.",
        "action": "",
        "client_online": True,
        "wg_online": False,
        "platform": "linux",
        "client_version": "0.1.0",
        "config_sha256": SHA,
    }


def test_detect_ack_sha_optional_or_empty() -> None:
    assert validate_payload("detect/ack", _detect_ack(config_sha256=_DROP))["config_sha256"] == ""
    assert validate_payload("detect/ack", _detect_ack(config_sha256=""))["config_sha256"] == ""


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"status": _DROP}, "missing_field", "status"),
        ({"client_online": _DROP}, "missing_field", "client_online"),
        ({"client_online": 1}, "invalid_field", "client_online"),
        ({"wg_online": _DROP}, "missing_field", "wg_online"),
        ({"wg_online": "true"}, "invalid_field", "wg_online"),
        ({"platform": _DROP}, "missing_field", "platform"),
        ({"platform": "p" * 65}, "invalid_field", "platform"),
        ({"client_version": _DROP}, "missing_field", "client_version"),
        ({"client_version": None}, "invalid_field", "client_version"),
        ({"config_sha256": "abc"}, "invalid_field", "config_sha256"),
    ],
)
def test_detect_ack_errors(changes: dict[str, Any], reason: str, field: str) -> None:
    assert _reason("detect/ack", _detect_ack(**changes)) == (reason, field)


# --- heartbeat / event ---------------------------------------------------------------------------


def test_heartbeat_minimal_and_full() -> None:
    assert validate_payload("heartbeat", {"client_online": True, "wg_online": True}) == {
        "client_online": True,
        "wg_online": True,
        "config_sha256": "",
        "platform": "",
        "client_version": "",
    }
    full = {
        "client_online": True,
        "wg_online": False,
        "config_sha256": SHA,
        "platform": "darwin",
        "client_version": "1.2.3-rc.1",
    }
    assert validate_payload("heartbeat", full) == full


@pytest.mark.parametrize(
    ("payload", "reason", "field"),
    [
        ({"wg_online": True}, "missing_field", "client_online"),
        ({"client_online": True}, "missing_field", "wg_online"),
        ({"client_online": "yes", "wg_online": True}, "invalid_field", "client_online"),
        (
            {"client_online": True, "wg_online": True, "config_sha256": "z" * 64},
            "invalid_field",
            "config_sha256",
        ),
        (
            {"client_online": True, "wg_online": True, "platform": "li\x00nux"},
            "invalid_field",
            "platform",
        ),
    ],
)
def test_heartbeat_errors(payload: dict[str, Any], reason: str, field: str) -> None:
    assert _reason("heartbeat", payload) == (reason, field)


def test_event_minimal() -> None:
    assert validate_payload("event", {"level": "info", "event": "online", "message": "hi"}) == {
        "level": "info",
        "event": "online",
        "message": "hi",
        "request_id": "",
        "action": "",
        "stream": "",
        "output": "",
    }


def test_event_command_output() -> None:
    output = "interface: wg0\n" + "x" * (64 * 1024 - 15)
    payload = {
        "level": "info",
        "event": "command_output",
        "message": "wg show",
        "request_id": "0" * 32,
        "action": "wg_show",
        "stream": "stdout",
        "output": output,
    }
    assert validate_payload("event", payload) == payload


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"level": _DROP}, "missing_field", "level"),
        ({"level": "warn"}, "invalid_field", "level"),
        ({"event": _DROP}, "missing_field", "event"),
        ({"event": ""}, "invalid_field", "event"),
        ({"event": "e" * 65}, "invalid_field", "event"),
        ({"message": _DROP}, "missing_field", "message"),
        ({"message": "m" * 4097}, "invalid_field", "message"),
        ({"request_id": "A" * 32}, "invalid_request_id", "request_id"),
        ({"request_id": "0" * 31}, "invalid_request_id", "request_id"),
        ({"request_id": 5}, "invalid_field", "request_id"),
        ({"stream": "s" * 17}, "invalid_field", "stream"),
        ({"output": "o" * (64 * 1024 + 1)}, "invalid_field", "output"),
        ({"output": b"x"}, "invalid_field", "output"),
    ],
)
def test_event_errors(changes: dict[str, Any], reason: str, field: str) -> None:
    payload: dict[str, Any] = {"level": "error", "event": "control", "message": "m"}
    payload.update(changes)
    payload = {key: value for key, value in payload.items() if value is not _DROP}
    assert _reason("event", payload) == (reason, field)


def test_event_boundaries_accepted() -> None:
    payload = {"level": "debug", "event": "e" * 64, "message": "m" * 4096, "stream": "s" * 16}
    assert validate_payload("event", payload)["event"] == "e" * 64


# --- dispatch, constants, tools ------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
@pytest.mark.parametrize("payload", [None, [], "x", 1, True])
def test_non_object_payload_rejected(kind: str, payload: object) -> None:
    assert _reason(kind, payload) == ("invalid_field", "payload")


def test_unknown_kind_rejected() -> None:
    assert _reason("config", {}) == ("unknown_kind", "type")


def test_tunnel_protocol_wire_values() -> None:
    assert TUNNEL_PROTOCOL_WIRE == {"wireguard": "wireguard", "amneziawg": "amneziawg_2"}


@pytest.mark.parametrize(
    ("protocol", "tools"),
    [
        ("wireguard", ("wg", "wg-quick")),
        ("", ("wg", "wg-quick")),
        ("amneziawg", ("awg", "awg-quick")),
        ("amneziawg_2", ("awg", "awg-quick")),
    ],
)
def test_tool_names(protocol: str, tools: tuple[str, str]) -> None:
    assert tool_names(protocol) == tools


def test_tool_names_rejects_unknown() -> None:
    with pytest.raises(ProtocolError) as info:
        tool_names("openvpn")
    assert info.value.reason_code == "invalid_field"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_FIELD_NAMES = st.sampled_from(
    [
        "action",
        "tunnel_protocol",
        "previous_tunnel_protocol",
        "awg_version",
        "interface_name",
        "config_version",
        "config_sha256",
        "config_text",
        "status",
        "message",
        "client_online",
        "wg_online",
        "platform",
        "client_version",
        "level",
        "event",
        "request_id",
        "stream",
        "output",
    ]
)


@given(kind=st.sampled_from(sorted(ALL_KINDS)), payload=st.dictionaries(_FIELD_NAMES, _JSON))
def test_validate_payload_only_raises_protocol_error(kind: str, payload: dict[str, Any]) -> None:
    try:
        result = validate_payload(kind, payload)
    except ProtocolError as error:
        reason = error.reason_code
    else:
        reason = "ok"
        # Normalized output is idempotent.
        assert validate_payload(kind, result) == result
    assert reason in REASON_CODES | {"ok"}
