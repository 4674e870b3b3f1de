"""The envelope every MQTT message carries: parse, build, and match it to its topic (§6.3)."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from wfm_core.protocol.errors import (
    REASON_INVALID_FIELD,
    REASON_INVALID_REQUEST_ID,
    REASON_INVALID_SENT_AT,
    REASON_INVALID_TOPIC,
    REASON_MISSING_FIELD,
    REASON_NOT_JSON,
    REASON_NOT_OBJECT,
    REASON_NOT_UTF8,
    REASON_OVERSIZED,
    REASON_TOPIC_MISMATCH,
    REASON_UNKNOWN_KIND,
    ProtocolError,
)
from wfm_core.protocol.payloads import validate_payload
from wfm_core.protocol.topics import (
    ALL_KINDS,
    DOWNSTREAM_KINDS,
    KIND_CONFIG_PUSH,
    KIND_EVENT,
    UPSTREAM_KINDS,
    ParsedTopic,
    is_valid_id,
    parse_topic,
)

MAX_MESSAGE_BYTES = 64 * 1024
# A config push carries up to 1 MiB of text, JSON escaping (\n, \t, …) can grow it; an event may
# carry 64 KiB of command output (up to 4 UTF-8 bytes per character).
MAX_CONFIG_PUSH_BYTES = 4 * 1024 * 1024
MAX_EVENT_BYTES = 512 * 1024
MAX_SESSION_ID_CHARS = 128

_REQUEST_ID_RE = re.compile(r"[0-9a-f]{32}")
# boot_id / session_id: printable ASCII without spaces, e.g. `boot-1712345678901234567`.
_SESSION_ID_RE = re.compile(r"[\x21-\x7e]{0,128}")
# RFC 3339 / ISO-8601 date-time; [0-9] rather than \d so non-ASCII digits never match.
_SENT_AT_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.,]([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?"
)
_UTC = timezone.utc  # noqa: UP017 - datetime.UTC does not exist on Python 3.9 (agent zipapp)


@dataclass(frozen=True)
class Envelope:
    """One MQTT message: `type` equals the topic kind, `payload` is the kind's object."""

    type: str
    request_id: str
    config_id: str
    node_id: str
    boot_id: str
    session_id: str
    sent_at: str
    payload: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON with the fields in the §6.3 order."""
        document = {
            "type": self.type,
            "request_id": self.request_id,
            "config_id": self.config_id,
            "node_id": self.node_id,
            "boot_id": self.boot_id,
            "session_id": self.session_id,
            "sent_at": self.sent_at,
            "payload": self.payload,
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def new_request_id() -> str:
    """A fresh command request id: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def new_boot_id() -> str:
    """A client boot id, `boot-<unix nanoseconds>` (§6.3)."""
    return f"boot-{time.time_ns()}"


def new_session_id() -> str:
    """A client session id, `session-<unix nanoseconds>`, fresh per MQTT session (§6.3)."""
    return f"session-{time.time_ns()}"


def utc_now_iso(now: datetime | None = None) -> str:
    """`now` (default: the current time; naive means UTC) as ISO-8601 UTC, microseconds, `Z`."""
    if now is None:
        moment = datetime.now(_UTC)
    elif now.tzinfo is None:
        moment = now
    else:
        moment = now.astimezone(_UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_sent_at(value: str) -> datetime:
    """Parse an ISO-8601 `sent_at` into an aware UTC datetime; a missing offset means UTC."""
    match = _SENT_AT_RE.fullmatch(value)
    if match is None:
        raise ProtocolError(REASON_INVALID_SENT_AT, "sent_at is not ISO-8601", field="sent_at")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    # Beyond microseconds the digits are dropped: Go sends RFC3339Nano.
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    tz = _UTC
    try:
        if sign is not None and zulu is None:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone(-offset if sign == "-" else offset)
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz
        )
        return moment.astimezone(_UTC)
    except (ValueError, OverflowError):
        raise ProtocolError(
            REASON_INVALID_SENT_AT, "sent_at is not a valid date-time", field="sent_at"
        ) from None


def max_message_bytes(kind: str) -> int:
    """The size limit for a message of `kind` (config pushes and events may be large)."""
    if kind == KIND_CONFIG_PUSH:
        return MAX_CONFIG_PUSH_BYTES
    if kind == KIND_EVENT:
        return MAX_EVENT_BYTES
    return MAX_MESSAGE_BYTES


def _decode_document(raw: bytes, max_bytes: int) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise ProtocolError(REASON_OVERSIZED, f"message larger than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(REASON_NOT_UTF8, "message is not UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, NaN/Infinity and oversized integer literals.
        raise ProtocolError(REASON_NOT_JSON, "message is not JSON") from None
    if not isinstance(document, dict):
        raise ProtocolError(REASON_NOT_OBJECT, "message is not a JSON object")
    return document


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _str_field(document: dict[str, Any], name: str) -> str:
    if name not in document:
        raise ProtocolError(REASON_MISSING_FIELD, f"{name} is required", field=name)
    value = document[name]
    if not isinstance(value, str):
        raise ProtocolError(REASON_INVALID_FIELD, f"{name} must be a string", field=name)
    return value


def _id_field(document: dict[str, Any], name: str) -> str:
    value = _str_field(document, name)
    if not is_valid_id(value):
        raise ProtocolError(
            REASON_INVALID_FIELD, f"{name} must be 1-64 of [A-Za-z0-9_]", field=name
        )
    return value


def _session_field(document: dict[str, Any], name: str) -> str:
    value = _str_field(document, name)
    if _SESSION_ID_RE.fullmatch(value) is None:
        raise ProtocolError(
            REASON_INVALID_FIELD,
            f"{name} must be at most {MAX_SESSION_ID_CHARS} printable ASCII characters",
            field=name,
        )
    return value


def _check_request_id(value: str) -> str:
    if value and _REQUEST_ID_RE.fullmatch(value) is None:
        raise ProtocolError(
            REASON_INVALID_REQUEST_ID,
            "request_id must be '' or 32 lowercase hex characters",
            field="request_id",
        )
    return value


def parse_envelope(raw: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Envelope:
    """Decode and check one message; every failure is a ProtocolError, never another exception."""
    document = _decode_document(raw, max_bytes)
    kind = _str_field(document, "type")
    if kind not in ALL_KINDS:
        raise ProtocolError(REASON_UNKNOWN_KIND, "type is not a known message kind", field="type")
    request_id = _check_request_id(_str_field(document, "request_id"))
    config_id = _id_field(document, "config_id")
    node_id = _id_field(document, "node_id")
    boot_id = _session_field(document, "boot_id")
    session_id = _session_field(document, "session_id")
    sent_at = _str_field(document, "sent_at")
    parse_sent_at(sent_at)
    if "payload" not in document:
        raise ProtocolError(REASON_MISSING_FIELD, "payload is required", field="payload")
    payload = document["payload"]
    if not isinstance(payload, dict):
        raise ProtocolError(REASON_INVALID_FIELD, "payload must be an object", field="payload")
    return Envelope(
        type=kind,
        request_id=request_id,
        config_id=config_id,
        node_id=node_id,
        boot_id=boot_id,
        session_id=session_id,
        sent_at=sent_at,
        payload=payload,
    )


def check_envelope_matches_topic(envelope: Envelope, parsed_topic: ParsedTopic) -> None:
    """Refuse a message whose type or ids differ from the topic it arrived on (forgery)."""
    for name, claimed, actual in (
        ("type", envelope.type, parsed_topic.kind),
        ("config_id", envelope.config_id, parsed_topic.config_id),
        ("node_id", envelope.node_id, parsed_topic.node_id),
    ):
        if claimed != actual:
            raise ProtocolError(
                REASON_TOPIC_MISMATCH, f"{name} does not match the topic", field=name
            )


def decode_message(topic: str, raw: bytes) -> tuple[ParsedTopic, Envelope]:
    """Topic + envelope + payload checks in one call; the payload comes back normalized."""
    parsed = parse_topic(topic)
    if parsed is None:
        raise ProtocolError(REASON_INVALID_TOPIC, "not a WFM topic")
    envelope = parse_envelope(raw, max_bytes=max_message_bytes(parsed.kind))
    check_envelope_matches_topic(envelope, parsed)
    payload = validate_payload(parsed.kind, envelope.payload)
    return parsed, _replace_payload(envelope, payload)


def _replace_payload(envelope: Envelope, payload: dict[str, Any]) -> Envelope:
    return Envelope(
        type=envelope.type,
        request_id=envelope.request_id,
        config_id=envelope.config_id,
        node_id=envelope.node_id,
        boot_id=envelope.boot_id,
        session_id=envelope.session_id,
        sent_at=envelope.sent_at,
        payload=payload,
    )


def build_command(
    kind: str,
    *,
    config_id: str,
    node_id: str,
    payload: dict[str, Any],
    request_id: str | None = None,
    sent_at: str | None = None,
) -> Envelope:
    """A backend → node command (boot_id and session_id empty), payload validated and normalized."""
    if kind not in DOWNSTREAM_KINDS:
        raise ProtocolError(REASON_UNKNOWN_KIND, f"{kind!r} is not a command kind", field="type")
    return _build(
        kind,
        config_id=config_id,
        node_id=node_id,
        boot_id="",
        session_id="",
        payload=payload,
        request_id=new_request_id() if request_id is None else request_id,
        sent_at=sent_at,
    )


def build_upstream(
    kind: str,
    *,
    config_id: str,
    node_id: str,
    boot_id: str,
    session_id: str,
    payload: dict[str, Any],
    request_id: str = "",
    sent_at: str | None = None,
) -> Envelope:
    """A node → backend message (ACK, event, heartbeat), payload validated and normalized."""
    if kind not in UPSTREAM_KINDS:
        raise ProtocolError(REASON_UNKNOWN_KIND, f"{kind!r} is not an upstream kind", field="type")
    return _build(
        kind,
        config_id=config_id,
        node_id=node_id,
        boot_id=boot_id,
        session_id=session_id,
        payload=payload,
        request_id=request_id,
        sent_at=sent_at,
    )


def _build(
    kind: str,
    *,
    config_id: str,
    node_id: str,
    boot_id: str,
    session_id: str,
    payload: dict[str, Any],
    request_id: str,
    sent_at: str | None,
) -> Envelope:
    ids = {"config_id": config_id, "node_id": node_id}
    for name, value in ids.items():
        if not is_valid_id(value):
            raise ProtocolError(REASON_INVALID_FIELD, f"{name} is not a valid id", field=name)
    for name, value in (("boot_id", boot_id), ("session_id", session_id)):
        if _SESSION_ID_RE.fullmatch(value) is None:
            raise ProtocolError(REASON_INVALID_FIELD, f"{name} is not valid", field=name)
    stamp = utc_now_iso() if sent_at is None else sent_at
    parse_sent_at(stamp)
    return Envelope(
        type=kind,
        request_id=_check_request_id(request_id),
        config_id=config_id,
        node_id=node_id,
        boot_id=boot_id,
        session_id=session_id,
        sent_at=stamp,
        payload=validate_payload(kind, payload),
    )
