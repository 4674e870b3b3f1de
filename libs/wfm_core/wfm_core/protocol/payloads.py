"""Payload validation per message kind: bounded, normalized dicts or ProtocolError (§6.4)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, cast

from wfm_core.protocol.errors import (
    REASON_INVALID_FIELD,
    REASON_INVALID_REQUEST_ID,
    REASON_MISSING_FIELD,
    REASON_SHA256_MISMATCH,
    REASON_UNKNOWN_KIND,
    ProtocolError,
)
from wfm_core.protocol.topics import (
    KIND_CONFIG_PUSH,
    KIND_CONFIG_PUSH_ACK,
    KIND_CONTROL,
    KIND_CONTROL_ACK,
    KIND_DETECT,
    KIND_DETECT_ACK,
    KIND_EVENT,
    KIND_HEARTBEAT,
    KIND_INFO,
    KIND_INFO_ACK,
)

TUNNEL_PROTOCOLS: tuple[str, ...] = ("wireguard", "amneziawg", "amneziawg_2")
# Stored protocol (configs.tunnel_protocol) → wire value; AWG travels as amneziawg_2 (§6.4).
TUNNEL_PROTOCOL_WIRE: dict[str, str] = {"wireguard": "wireguard", "amneziawg": "amneziawg_2"}
AWG_VERSIONS: tuple[str, ...] = ("1.5", "2.0", "3.1")

ACTION_PUSH_CONFIG = "push_config"
ACTION_START = "start"
ACTION_STOP = "stop"
ACTION_WG_SHOW = "wg_show"
CONTROL_ACTIONS: tuple[str, ...] = (ACTION_START, ACTION_STOP)

ACK_ACCEPTED = "accepted"
ACK_APPLIED = "applied"
ACK_FAILED = "failed"
ACK_STATUSES: tuple[str, ...] = (ACK_ACCEPTED, ACK_APPLIED, ACK_FAILED)
EVENT_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")

MAX_CONFIG_TEXT_BYTES = 1024 * 1024
MAX_CONFIG_VERSION = 2**63 - 1  # fits the BIGINT version columns
MAX_MESSAGE_CHARS = 4096
MAX_OUTPUT_CHARS = 64 * 1024
MAX_NAME_CHARS = 64  # event names, actions, platform, client_version (DB columns are ≤ 64)
MAX_STREAM_CHARS = 16

_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_REQUEST_ID_RE = re.compile(r"[0-9a-f]{32}")
_INTERFACE_NAME_RE = re.compile(r"[A-Za-z0-9_=+.-]{1,15}")
# NUL and lone surrogates cannot be stored in PostgreSQL text or encoded as UTF-8.
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")


class ConfigPushPayload(TypedDict):
    action: str
    tunnel_protocol: str
    previous_tunnel_protocol: str
    awg_version: str
    interface_name: str
    config_version: int
    config_sha256: str
    config_text: str


class ControlPayload(TypedDict):
    action: str
    tunnel_protocol: str
    previous_tunnel_protocol: str
    interface_name: str


class InfoPayload(TypedDict):
    action: str
    tunnel_protocol: str


class DetectPayload(TypedDict):
    tunnel_protocol: str


class AckPayload(TypedDict):
    status: str
    message: str
    action: str


class DetectAckPayload(TypedDict):
    status: str
    message: str
    action: str
    client_online: bool
    wg_online: bool
    platform: str
    client_version: str
    config_sha256: str


class HeartbeatPayload(TypedDict):
    client_online: bool
    wg_online: bool
    config_sha256: str
    platform: str
    client_version: str


class EventPayload(TypedDict):
    level: str
    event: str
    message: str
    request_id: str
    action: str
    stream: str
    output: str


_MISSING = object()


def _invalid(field: str, message: str) -> ProtocolError:
    return ProtocolError(REASON_INVALID_FIELD, f"{field}: {message}", field=field)


def _value(payload: Mapping[str, Any], field: str, *, required: bool) -> object:
    value = payload.get(field, _MISSING)
    if value is _MISSING and required:
        raise ProtocolError(REASON_MISSING_FIELD, f"{field} is required", field=field)
    return value


def _string(payload: Mapping[str, Any], field: str, *, required: bool) -> str | None:
    """The raw string value, None when an optional field is absent."""
    value = _value(payload, field, required=required)
    if value is _MISSING:
        return None
    if not isinstance(value, str):
        raise _invalid(field, "must be a string")
    return value


def _name(payload: Mapping[str, Any], field: str, *, required: bool, max_chars: int) -> str:
    """A short single-line string (no control characters); '' when optional and absent."""
    value = _string(payload, field, required=required)
    if value is None:
        return ""
    if len(value) > max_chars:
        raise _invalid(field, f"longer than {max_chars} characters")
    if not value.isprintable():
        raise _invalid(field, "contains control or unencodable characters")
    return value


def _text(payload: Mapping[str, Any], field: str, *, required: bool, max_chars: int) -> str:
    """Free text (multi-line allowed), made storable by replacing NUL and lone surrogates."""
    value = _string(payload, field, required=required)
    if value is None:
        return ""
    if len(value) > max_chars:
        raise _invalid(field, f"longer than {max_chars} characters")
    return _UNSTORABLE_RE.sub("\ufffd", value)


def _choice(
    payload: Mapping[str, Any],
    field: str,
    choices: tuple[str, ...],
    *,
    required: bool,
    allow_empty: bool = False,
) -> str:
    value = _string(payload, field, required=required)
    if value is None or (allow_empty and value == ""):
        return ""
    if value not in choices:
        raise _invalid(field, f"must be one of {', '.join(choices)}")
    return value


def _tunnel_protocol(payload: Mapping[str, Any], field: str, *, required: bool) -> str:
    return _choice(payload, field, TUNNEL_PROTOCOLS, required=required, allow_empty=True)


def _boolean(payload: Mapping[str, Any], field: str, *, required: bool) -> bool:
    value = _value(payload, field, required=required)
    if value is _MISSING:
        return False
    if not isinstance(value, bool):
        raise _invalid(field, "must be a boolean")
    return value


def _sha256(payload: Mapping[str, Any], field: str, *, required: bool, allow_empty: bool) -> str:
    """64 hex characters, lowercased; '' when allowed and empty or absent."""
    value = _string(payload, field, required=required)
    if value is None or (allow_empty and value == ""):
        return ""
    if _SHA256_RE.fullmatch(value) is None:
        raise _invalid(field, "must be 64 hex characters")
    return value.lower()


def _interface_name(payload: Mapping[str, Any]) -> str:
    value = _string(payload, "interface_name", required=True)
    if value is None or _INTERFACE_NAME_RE.fullmatch(value) is None:
        raise _invalid("interface_name", "must be 1-15 of [A-Za-z0-9_=+.-]")
    return value


def _config_version(payload: Mapping[str, Any]) -> int:
    value = _value(payload, "config_version", required=True)
    # bool is an int subclass: JSON true must not pass as version 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid("config_version", "must be an integer")
    if not 0 <= value <= MAX_CONFIG_VERSION:
        raise _invalid("config_version", "out of range")
    return value


def _config_text(payload: Mapping[str, Any]) -> tuple[str, bytes]:
    value = _string(payload, "config_text", required=True)
    if not value:
        raise _invalid("config_text", "must not be empty")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid("config_text", "is not encodable as UTF-8") from None
    if len(encoded) > MAX_CONFIG_TEXT_BYTES:
        raise _invalid("config_text", f"larger than {MAX_CONFIG_TEXT_BYTES} bytes")
    return value, encoded


def _exact_action(payload: Mapping[str, Any], expected: str) -> str:
    return _choice(payload, "action", (expected,), required=True)


def _request_id(payload: Mapping[str, Any]) -> str:
    value = _string(payload, "request_id", required=False)
    if not value:
        return ""
    if _REQUEST_ID_RE.fullmatch(value) is None:
        raise ProtocolError(
            REASON_INVALID_REQUEST_ID,
            "request_id must be '' or 32 lowercase hex characters",
            field="request_id",
        )
    return value


def _as_mapping(payload: object) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise _invalid("payload", "must be a JSON object")
    return cast("Mapping[str, Any]", payload)


def validate_config_push(payload: object) -> ConfigPushPayload:
    """`config/push`: the staged config text with its version and verified sha256."""
    data = _as_mapping(payload)
    action = _exact_action(data, ACTION_PUSH_CONFIG)
    tunnel_protocol = _tunnel_protocol(data, "tunnel_protocol", required=True)
    previous = _tunnel_protocol(data, "previous_tunnel_protocol", required=True)
    awg_version = _choice(data, "awg_version", AWG_VERSIONS, required=False, allow_empty=True)
    interface_name = _interface_name(data)
    config_version = _config_version(data)
    config_sha256 = _sha256(data, "config_sha256", required=True, allow_empty=False)
    config_text, encoded = _config_text(data)
    if hashlib.sha256(encoded).hexdigest() != config_sha256:
        raise ProtocolError(
            REASON_SHA256_MISMATCH,
            "config_sha256 does not match sha256(config_text)",
            field="config_sha256",
        )
    return {
        "action": action,
        "tunnel_protocol": tunnel_protocol,
        "previous_tunnel_protocol": previous,
        "awg_version": awg_version,
        "interface_name": interface_name,
        "config_version": config_version,
        "config_sha256": config_sha256,
        "config_text": config_text,
    }


def validate_control(payload: object) -> ControlPayload:
    """`control`: start or stop the node's tunnel."""
    data = _as_mapping(payload)
    return {
        "action": _choice(data, "action", CONTROL_ACTIONS, required=True),
        "tunnel_protocol": _tunnel_protocol(data, "tunnel_protocol", required=True),
        "previous_tunnel_protocol": _tunnel_protocol(
            data, "previous_tunnel_protocol", required=False
        ),
        "interface_name": _interface_name(data),
    }


def validate_info(payload: object) -> InfoPayload:
    """`info`: run bare `wg` / `awg` and report its output as an event."""
    data = _as_mapping(payload)
    return {
        "action": _exact_action(data, ACTION_WG_SHOW),
        "tunnel_protocol": _tunnel_protocol(data, "tunnel_protocol", required=True),
    }


def validate_detect(payload: object) -> DetectPayload:
    """`detect`: probe the node (older backends sent `{}`)."""
    data = _as_mapping(payload)
    return {"tunnel_protocol": _tunnel_protocol(data, "tunnel_protocol", required=False)}


def validate_ack(payload: object) -> AckPayload:
    """`config/push/ack`, `control/ack`, `info/ack`: the outcome of a command."""
    data = _as_mapping(payload)
    return {
        "status": _choice(data, "status", ACK_STATUSES, required=True),
        "message": _text(data, "message", required=True, max_chars=MAX_MESSAGE_CHARS),
        "action": _name(data, "action", required=False, max_chars=MAX_NAME_CHARS),
    }


def validate_detect_ack(payload: object) -> DetectAckPayload:
    """`detect/ack`: an ACK plus liveness, platform, version and the on-disk config sha256."""
    data = _as_mapping(payload)
    ack = validate_ack(data)
    return {
        "status": ack["status"],
        "message": ack["message"],
        "action": ack["action"],
        "client_online": _boolean(data, "client_online", required=True),
        "wg_online": _boolean(data, "wg_online", required=True),
        "platform": _name(data, "platform", required=True, max_chars=MAX_NAME_CHARS),
        "client_version": _name(data, "client_version", required=True, max_chars=MAX_NAME_CHARS),
        "config_sha256": _sha256(data, "config_sha256", required=False, allow_empty=True),
    }


def validate_heartbeat(payload: object) -> HeartbeatPayload:
    """`heartbeat`: periodic liveness plus the on-disk config sha256 for drift detection."""
    data = _as_mapping(payload)
    return {
        "client_online": _boolean(data, "client_online", required=True),
        "wg_online": _boolean(data, "wg_online", required=True),
        "config_sha256": _sha256(data, "config_sha256", required=False, allow_empty=True),
        "platform": _name(data, "platform", required=False, max_chars=MAX_NAME_CHARS),
        "client_version": _name(data, "client_version", required=False, max_chars=MAX_NAME_CHARS),
    }


def validate_event(payload: object) -> EventPayload:
    """`event`: a client event (online, offline LWT, command_output, …)."""
    data = _as_mapping(payload)
    event = _name(data, "event", required=True, max_chars=MAX_NAME_CHARS)
    if not event:
        raise _invalid("event", "must not be empty")
    return {
        "level": _choice(data, "level", EVENT_LEVELS, required=True),
        "event": event,
        "message": _text(data, "message", required=True, max_chars=MAX_MESSAGE_CHARS),
        "request_id": _request_id(data),
        "action": _name(data, "action", required=False, max_chars=MAX_NAME_CHARS),
        "stream": _name(data, "stream", required=False, max_chars=MAX_STREAM_CHARS),
        "output": _text(data, "output", required=False, max_chars=MAX_OUTPUT_CHARS),
    }


_VALIDATORS: dict[str, Callable[[object], Mapping[str, Any]]] = {
    KIND_CONFIG_PUSH: validate_config_push,
    KIND_CONTROL: validate_control,
    KIND_INFO: validate_info,
    KIND_DETECT: validate_detect,
    KIND_CONFIG_PUSH_ACK: validate_ack,
    KIND_CONTROL_ACK: validate_ack,
    KIND_INFO_ACK: validate_ack,
    KIND_DETECT_ACK: validate_detect_ack,
    KIND_HEARTBEAT: validate_heartbeat,
    KIND_EVENT: validate_event,
}


def validate_payload(kind: str, payload: object) -> dict[str, Any]:
    """Validate the payload of a message of `kind`; unknown extra keys are dropped."""
    validator = _VALIDATORS.get(kind)
    if validator is None:
        raise ProtocolError(REASON_UNKNOWN_KIND, f"unknown message kind {kind!r}", field="type")
    return dict(validator(payload))


def tool_names(tunnel_protocol: str) -> tuple[str, str]:
    """(show tool, quick tool) for a protocol: ('wg', 'wg-quick') or ('awg', 'awg-quick')."""
    if tunnel_protocol in ("", "wireguard"):
        return ("wg", "wg-quick")
    if tunnel_protocol in ("amneziawg", "amneziawg_2"):
        return ("awg", "awg-quick")
    raise _invalid("tunnel_protocol", f"unknown tunnel protocol {tunnel_protocol!r}")
