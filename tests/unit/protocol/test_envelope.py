"""Tests for wfm_core.protocol.envelope: parse, build, topic match; stdlib-only and 3.9 safety."""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wfm_core.protocol as protocol_pkg
from wfm_core.protocol import (
    MAX_CONFIG_PUSH_BYTES,
    MAX_EVENT_BYTES,
    MAX_MESSAGE_BYTES,
    REASON_CODES,
    Envelope,
    ParsedTopic,
    ProtocolError,
    build_command,
    build_upstream,
    check_envelope_matches_topic,
    decode_message,
    max_message_bytes,
    new_boot_id,
    new_request_id,
    new_session_id,
    parse_envelope,
    parse_sent_at,
    utc_now_iso,
)

RID = "0123456789abcdef0123456789abcdef"
UTC = timezone.utc  # noqa: UP017 - mirrors the module, which must run on 3.9


def _doc(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "heartbeat",
        "request_id": "",
        "config_id": "cfg_1a2b3c4d5e6f",
        "node_id": "node_abcdef012345",
        "boot_id": "boot-1712345678901234567",
        "session_id": "session-1712345678901234999",
        "sent_at": "2024-04-05T06:07:08.123456789Z",
        "payload": {"client_online": True, "wg_online": False},
    }
    document.update(changes)
    return {key: value for key, value in document.items() if value is not _DROP}


_DROP = object()


def _raw(**changes: Any) -> bytes:
    return json.dumps(_doc(**changes)).encode()


def _error(raw: bytes, **kwargs: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_envelope(raw, **kwargs)
    assert info.value.reason_code in REASON_CODES
    return info.value


# --- parse_envelope ------------------------------------------------------------------------------


def test_parse_valid_envelope() -> None:
    envelope = parse_envelope(_raw(extra_top_level="ignored"))
    assert envelope == Envelope(
        type="heartbeat",
        request_id="",
        config_id="cfg_1a2b3c4d5e6f",
        node_id="node_abcdef012345",
        boot_id="boot-1712345678901234567",
        session_id="session-1712345678901234999",
        sent_at="2024-04-05T06:07:08.123456789Z",
        payload={"client_online": True, "wg_online": False},
    )


def test_to_json_is_compact_utf8_in_spec_order() -> None:
    envelope = Envelope(
        type="event",
        request_id=RID,
        config_id="cfg_a",
        node_id="node_b",
        boot_id="",
        session_id="",
        sent_at="2024-01-01T00:00:00.000000Z",
        payload={"message": "héllo"},
    )
    assert (
        envelope.to_json()
        == (
            '{"type":"event","request_id":"0123456789abcdef0123456789abcdef","config_id":"cfg_a",'
            '"node_id":"node_b","boot_id":"","session_id":"","sent_at":"2024-01-01T00:00:00.000000Z",'
            '"payload":{"message":"héllo"}}'
        ).encode()
    )
    assert parse_envelope(envelope.to_json()) == envelope


def test_size_limit_boundary() -> None:
    raw = _raw()
    assert parse_envelope(raw, max_bytes=len(raw)).type == "heartbeat"
    assert _error(raw, max_bytes=len(raw) - 1).reason_code == "oversized"
    padded = _raw(pad="x" * MAX_MESSAGE_BYTES)
    assert _error(padded).reason_code == "oversized"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"type": "\xc3"}', "not_utf8"),
        (json.dumps({"a": 1}).encode("utf-16"), "not_utf8"),
        (b"", "not_json"),
        (b"{", "not_json"),
        (b"{'type': 'event'}", "not_json"),
        (b'{"type": NaN}', "not_json"),
        (b'{"x": Infinity}', "not_json"),
        (b"[" * 50_000 + b"]" * 50_000, "not_json"),
        (b'{"x": ' + b"9" * 5000 + b"}", "not_json"),
        (b"[]", "not_object"),
        (b'"text"', "not_object"),
        (b"null", "not_object"),
        (b"42", "not_object"),
    ],
)
def test_undecodable_messages(raw: bytes, reason: str) -> None:
    assert _error(raw, max_bytes=200_000).reason_code == reason


@pytest.mark.parametrize(
    "field", ["type", "request_id", "config_id", "node_id", "boot_id", "session_id", "sent_at"]
)
def test_missing_and_wrongly_typed_string_fields(field: str) -> None:
    missing = _error(_raw(**{field: _DROP}))
    assert (missing.reason_code, missing.field) == ("missing_field", field)
    bad_values: tuple[object, ...] = (None, 1, True, [], {})
    for bad in bad_values:
        wrong = _error(_raw(**{field: bad}))
        assert (wrong.reason_code, wrong.field) == ("invalid_field", field)


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"type": "Heartbeat"}, "unknown_kind", "type"),
        ({"type": "config"}, "unknown_kind", "type"),
        ({"request_id": "A" * 32}, "invalid_request_id", "request_id"),
        ({"request_id": "0" * 31}, "invalid_request_id", "request_id"),
        ({"request_id": "0" * 33}, "invalid_request_id", "request_id"),
        ({"request_id": "g" * 32}, "invalid_request_id", "request_id"),
        ({"request_id": "0" * 32 + "\n"}, "invalid_request_id", "request_id"),
        ({"config_id": ""}, "invalid_field", "config_id"),
        ({"config_id": "cfg/a"}, "invalid_field", "config_id"),
        ({"node_id": "+"}, "invalid_field", "node_id"),
        ({"node_id": "n" * 65}, "invalid_field", "node_id"),
        ({"boot_id": "boot 1"}, "invalid_field", "boot_id"),
        ({"boot_id": "b" * 129}, "invalid_field", "boot_id"),
        ({"session_id": "sé"}, "invalid_field", "session_id"),
        ({"sent_at": ""}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "yesterday"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "2024-04-05"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "2024-13-05T06:07:08Z"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "2024-02-30T06:07:08Z"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "2024-04-05T24:00:00Z"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "2024-04-05T06:07:60Z"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "2024-04-05T06:07:08+24:00"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "2024-04-05T06:07:08.1234567890Z"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "0000-01-01T00:00:00Z"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "0001-01-01T00:00:00+01:00"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "9999-12-31T23:59:59-01:00"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "٢٠٢٤-04-05T06:07:08Z"}, "invalid_sent_at", "sent_at"),
        ({"sent_at": "2024-04-05T06:07:08Z\n"}, "invalid_sent_at", "sent_at"),
        ({"payload": _DROP}, "missing_field", "payload"),
        ({"payload": []}, "invalid_field", "payload"),
        ({"payload": None}, "invalid_field", "payload"),
        ({"payload": "{}"}, "invalid_field", "payload"),
    ],
)
def test_field_errors(changes: dict[str, Any], reason: str, field: str) -> None:
    error = _error(_raw(**changes))
    assert (error.reason_code, error.field) == (reason, field)


def test_envelope_accepts_boundary_ids() -> None:
    envelope = parse_envelope(
        _raw(config_id="c" * 64, node_id="N_0", boot_id="b" * 128, session_id="", request_id=RID)
    )
    assert envelope.config_id == "c" * 64
    assert envelope.request_id == RID


def test_parse_envelope_does_not_validate_payload_contents() -> None:
    # Payload rules are per kind (validate_payload); the envelope only requires an object.
    assert parse_envelope(_raw(payload={"anything": 1})).payload == {"anything": 1}


# --- sent_at -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-04-05T06:07:08Z", datetime(2024, 4, 5, 6, 7, 8, tzinfo=UTC)),
        ("2024-04-05T06:07:08.5Z", datetime(2024, 4, 5, 6, 7, 8, 500000, tzinfo=UTC)),
        ("2024-04-05T06:07:08.123456789Z", datetime(2024, 4, 5, 6, 7, 8, 123456, tzinfo=UTC)),
        ("2024-04-05t06:07:08z", datetime(2024, 4, 5, 6, 7, 8, tzinfo=UTC)),
        ("2024-04-05 06:07:08", datetime(2024, 4, 5, 6, 7, 8, tzinfo=UTC)),
        ("2024-04-05T06:07:08+02:00", datetime(2024, 4, 5, 4, 7, 8, tzinfo=UTC)),
        ("2024-04-05T06:07:08-0130", datetime(2024, 4, 5, 7, 37, 8, tzinfo=UTC)),
        ("2024-04-05T06:07:08,25+00:00", datetime(2024, 4, 5, 6, 7, 8, 250000, tzinfo=UTC)),
    ],
)
def test_parse_sent_at(value: str, expected: datetime) -> None:
    parsed = parse_sent_at(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_utc_now_iso_format() -> None:
    assert (
        utc_now_iso(datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2024-01-02T03:04:05.000006Z"
    )
    plus_two = timezone(timedelta(hours=2))
    assert utc_now_iso(datetime(2024, 1, 2, 3, 4, 5, tzinfo=plus_two)) == (
        "2024-01-02T01:04:05.000000Z"
    )
    assert utc_now_iso(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05.000000Z"
    assert utc_now_iso(datetime(5, 1, 1, tzinfo=UTC)) == "0005-01-01T00:00:00.000000Z"
    now = parse_sent_at(utc_now_iso())
    assert abs(datetime.now(UTC) - now) < timedelta(seconds=5)


def test_id_helpers() -> None:
    first, second = new_request_id(), new_request_id()
    assert first != second
    assert len(first) == 32
    assert all(c in "0123456789abcdef" for c in first)
    assert new_boot_id().startswith("boot-")
    assert new_boot_id()[5:].isdigit()
    assert new_session_id().startswith("session-")
    assert new_session_id()[8:].isdigit()


# --- topic matching ------------------------------------------------------------------------------


def test_check_envelope_matches_topic() -> None:
    envelope = parse_envelope(_raw())
    check_envelope_matches_topic(
        envelope, ParsedTopic("cfg_1a2b3c4d5e6f", "node_abcdef012345", "heartbeat")
    )
    for parsed, field in [
        (ParsedTopic("cfg_1a2b3c4d5e6f", "node_abcdef012345", "event"), "type"),
        (ParsedTopic("cfg_other", "node_abcdef012345", "heartbeat"), "config_id"),
        (ParsedTopic("cfg_1a2b3c4d5e6f", "node_other", "heartbeat"), "node_id"),
    ]:
        with pytest.raises(ProtocolError) as info:
            check_envelope_matches_topic(envelope, parsed)
        assert (info.value.reason_code, info.value.field) == ("topic_mismatch", field)


def test_decode_message_normalizes_payload() -> None:
    parsed, envelope = decode_message("wfm/cfg_1a2b3c4d5e6f/node_abcdef012345/heartbeat", _raw())
    assert parsed == ParsedTopic("cfg_1a2b3c4d5e6f", "node_abcdef012345", "heartbeat")
    assert envelope.payload == {
        "client_online": True,
        "wg_online": False,
        "config_sha256": "",
        "platform": "",
        "client_version": "",
    }


@pytest.mark.parametrize(
    ("topic_name", "raw", "reason"),
    [
        ("wfm/cfg_1a2b3c4d5e6f/node_abcdef012345/nope", _raw(), "invalid_topic"),
        ("wfm/cfg_1a2b3c4d5e6f/node_forged/heartbeat", _raw(), "topic_mismatch"),
        ("wfm/cfg_1a2b3c4d5e6f/node_abcdef012345/event", _raw(), "topic_mismatch"),
        (
            "wfm/cfg_1a2b3c4d5e6f/node_abcdef012345/heartbeat",
            _raw(payload={"client_online": True}),
            "missing_field",
        ),
        ("wfm/cfg_1a2b3c4d5e6f/node_abcdef012345/heartbeat", b"nope", "not_json"),
    ],
)
def test_decode_message_errors(topic_name: str, raw: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_message(topic_name, raw)
    assert info.value.reason_code == reason


def test_max_message_bytes_per_kind() -> None:
    assert max_message_bytes("config/push") == MAX_CONFIG_PUSH_BYTES == 4 * 1024 * 1024
    assert max_message_bytes("event") == MAX_EVENT_BYTES == 512 * 1024
    assert max_message_bytes("heartbeat") == MAX_MESSAGE_BYTES == 64 * 1024
    assert max_message_bytes("detect/ack") == MAX_MESSAGE_BYTES


def test_decode_message_allows_large_config_push() -> None:
    text = "[Interface]\n" + "# padding\n" * 100_000
    payload = {
        "action": "push_config",
        "tunnel_protocol": "wireguard",
        "previous_tunnel_protocol": "wireguard",
        "interface_name": "wg0",
        "config_version": 3,
        "config_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "config_text": text,
    }
    command = build_command("config/push", config_id="cfg_a", node_id="node_b", payload=payload)
    assert len(command.to_json()) > MAX_MESSAGE_BYTES
    _, envelope = decode_message("wfm/cfg_a/node_b/config/push", command.to_json())
    assert envelope.payload["config_text"] == text


# --- builders ------------------------------------------------------------------------------------


def test_build_command() -> None:
    envelope = build_command(
        "detect",
        config_id="cfg_a",
        node_id="node_b",
        payload={"tunnel_protocol": "wireguard"},
        request_id=RID,
        sent_at="2024-01-01T00:00:00.000000Z",
    )
    assert envelope == Envelope(
        type="detect",
        request_id=RID,
        config_id="cfg_a",
        node_id="node_b",
        boot_id="",
        session_id="",
        sent_at="2024-01-01T00:00:00.000000Z",
        payload={"tunnel_protocol": "wireguard"},
    )


def test_build_command_generates_request_id_and_time() -> None:
    envelope = build_command("info", config_id="cfg_a", node_id="node_b", payload=_info())
    assert len(envelope.request_id) == 32
    assert (
        envelope.request_id
        != build_command("info", config_id="cfg_a", node_id="node_b", payload=_info()).request_id
    )
    parse_sent_at(envelope.sent_at)
    assert decode_message("wfm/cfg_a/node_b/info", envelope.to_json())[1] == envelope


def _info() -> dict[str, Any]:
    return {"action": "wg_show", "tunnel_protocol": "amneziawg_2"}


@pytest.mark.parametrize(
    ("kind", "kwargs", "reason"),
    [
        ("heartbeat", {}, "unknown_kind"),
        ("control/ack", {}, "unknown_kind"),
        ("info", {"config_id": "cfg/a"}, "invalid_field"),
        ("info", {"node_id": "+"}, "invalid_field"),
        ("info", {"request_id": "ABC"}, "invalid_request_id"),
        ("info", {"sent_at": "now"}, "invalid_sent_at"),
        ("info", {"payload": {"action": "wg_show"}}, "missing_field"),
    ],
)
def test_build_command_errors(kind: str, kwargs: dict[str, Any], reason: str) -> None:
    arguments: dict[str, Any] = {"config_id": "cfg_a", "node_id": "node_b", "payload": _info()}
    arguments.update(kwargs)
    with pytest.raises(ProtocolError) as info:
        build_command(kind, **arguments)
    assert info.value.reason_code == reason


def test_build_upstream_round_trip() -> None:
    envelope = build_upstream(
        "detect/ack",
        config_id="cfg_a",
        node_id="node_b",
        boot_id="boot-1",
        session_id="session-2",
        request_id=RID,
        payload={
            "status": "applied",
            "message": "Detect completed.",
            "client_online": True,
            "wg_online": True,
            "platform": "linux",
            "client_version": "0.1.0",
        },
    )
    assert envelope.payload["config_sha256"] == ""
    parsed, decoded = decode_message("wfm/cfg_a/node_b/detect/ack", envelope.to_json())
    assert parsed.kind == "detect/ack"
    assert decoded == envelope


def test_build_upstream_errors() -> None:
    common: dict[str, Any] = {"config_id": "cfg_a", "node_id": "node_b", "session_id": "s"}
    with pytest.raises(ProtocolError) as info:
        build_upstream("detect", boot_id="b", payload={}, **common)
    assert info.value.reason_code == "unknown_kind"
    with pytest.raises(ProtocolError) as info:
        build_upstream("heartbeat", boot_id="b c", payload={}, **common)
    assert (info.value.reason_code, info.value.field) == ("invalid_field", "boot_id")


# --- robustness ----------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
_ENVELOPE_KEYS = st.sampled_from(
    ["type", "request_id", "config_id", "node_id", "boot_id", "session_id", "sent_at", "payload"]
)


def _outcome(raw: bytes, topic_name: str | None = None) -> str:
    """'ok' or the ProtocolError reason; any other exception propagates and fails the test."""
    try:
        if topic_name is None:
            parse_envelope(raw)
        else:
            decode_message(topic_name, raw)
    except ProtocolError as error:
        return error.reason_code
    return "ok"


@given(st.binary(max_size=2048))
def test_parse_envelope_arbitrary_bytes(raw: bytes) -> None:
    assert _outcome(raw) in REASON_CODES | {"ok"}


@given(_JSON)
def test_parse_envelope_arbitrary_json(document: object) -> None:
    assert _outcome(json.dumps(document).encode()) in REASON_CODES | {"ok"}


@given(
    st.dictionaries(_ENVELOPE_KEYS, _JSON, min_size=6),
    st.sampled_from(sorted(protocol_pkg.ALL_KINDS)),
)
def test_decode_message_near_valid_documents(document: dict[str, Any], kind: str) -> None:
    merged = {**_doc(type=kind), **document}
    topic_name = f"wfm/cfg_1a2b3c4d5e6f/node_abcdef012345/{kind}"
    assert _outcome(json.dumps(merged).encode(), topic_name) in REASON_CODES | {"ok"}


# --- packaging constraints -----------------------------------------------------------------------

PROTOCOL_DIR = Path(protocol_pkg.__file__).parent
LIBS_DIR = PROTOCOL_DIR.parent.parent
PY39 = Path("/root/.pyenv/versions/3.9.18/bin/python")


def test_protocol_imports_only_stdlib() -> None:
    modules = sorted(PROTOCOL_DIR.glob("*.py"))
    assert {path.name for path in modules} >= {
        "__init__.py",
        "envelope.py",
        "payloads.py",
        "topics.py",
    }
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: use absolute imports"
                names = [node.module or ""]
            for name in names:
                allowed = name == "wfm_core.protocol" or name.startswith("wfm_core.protocol.")
                top = name.split(".")[0]
                assert allowed or top in sys.stdlib_module_names, f"{path.name} imports {name}"


PY39_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    sys.path.insert(0, sys.argv[1])
    import wfm_core.protocol as p

    assert sys.version_info[:2] == (3, 9)
    name = p.topic("cfg_a", "node_b", "config/push/ack")
    assert p.parse_topic(name) == ("cfg_a", "node_b", "config/push/ack")
    assert p.parse_topic("wfm/+/node_b/event") is None
    assert p.backend_subscriptions()[0] == "$share/wfm-ingest/wfm/+/+/heartbeat"
    assert p.node_publish_topics("cfg_a", "node_b")[-1] == "wfm/cfg_a/node_b/heartbeat"
    assert p.tool_names("amneziawg_2") == ("awg", "awg-quick")

    text = "[Interface]\\nAddress = 10.0.0.1/32\\n"
    command = p.build_command(
        "config/push", config_id="cfg_a", node_id="node_b",
        payload={
            "action": "push_config", "tunnel_protocol": "wireguard",
            "previous_tunnel_protocol": "wireguard", "interface_name": "wg0",
            "config_version": 1, "config_text": text,
            "config_sha256": hashlib.sha256(text.encode()).hexdigest(),
        },
    )
    parsed, decoded = p.decode_message("wfm/cfg_a/node_b/config/push", command.to_json())
    assert decoded == command and parsed.kind == "config/push"
    assert p.parse_sent_at("2024-04-05T06:07:08.123456789Z").microsecond == 123456

    ack = p.build_upstream(
        p.ack_kind_for("detect"), config_id="cfg_a", node_id="node_b",
        boot_id=p.new_boot_id(), session_id=p.new_session_id(), request_id=p.new_request_id(),
        payload={"status": "applied", "message": "ok", "client_online": True,
                 "wg_online": False, "platform": "linux", "client_version": "dev"},
    )
    assert p.decode_message("wfm/cfg_a/node_b/detect/ack", ack.to_json())[1] == ack
    for raw in (b"\\xff", b"[]", b"{}", b'{"type": "event"}'):
        try:
            p.parse_envelope(raw)
        except p.ProtocolError as error:
            assert error.reason_code in p.REASON_CODES
        else:
            raise AssertionError(raw)
    print("ok")
    """
)


@pytest.mark.skipif(not PY39.exists(), reason="python3.9 interpreter not installed")
def test_protocol_runs_on_python_39() -> None:
    result = subprocess.run(
        [str(PY39), "-I", "-c", PY39_SCRIPT, str(LIBS_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
