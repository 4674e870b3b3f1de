"""Pure parts of the downstream ingest: command entries, staleness, auto-push triggers."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wfm_core.endpoints.timers import ack_timeout_summary
from wfm_core.outbox.relay import stream_fields
from wfm_mqtt_ingest.autopush import ONLINE_EVENT, STAGED_EVENT, Triggers
from wfm_mqtt_ingest.dispatcher import (
    BadEntry,
    entries_of,
    is_stale,
    parse_entry,
    read_reply_entries,
)

REQUEST_ID = "0123456789abcdef0123456789abcdef"
REQUESTED_AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _fields(**overrides: Any) -> dict[str, str]:
    """A commands-stream entry exactly as the outbox relay writes it."""
    payload: dict[str, Any] = {
        "request_id": REQUEST_ID,
        "config_id": "cfg_1",
        "node_id": "node_1",
        "kind": "control",
        "payload": {"action": "start"},
        "requested_at": REQUESTED_AT.isoformat(),
    }
    payload.update(overrides)
    return stream_fields(outbox_id=7, type_="node.command", payload=payload, ts="t")


def test_parse_entry_reads_what_the_relay_writes() -> None:
    command = parse_entry("1-0", _fields())
    assert command.entry_id == "1-0"
    assert command.request_id == REQUEST_ID
    assert (command.config_id, command.node_id, command.kind) == ("cfg_1", "node_1", "control")
    assert command.payload == {"action": "start"}
    assert command.requested_at == REQUESTED_AT


def test_parse_entry_assumes_utc_for_a_naive_stamp() -> None:
    command = parse_entry("1-0", _fields(requested_at="2026-01-02T03:04:05"))
    assert command.requested_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("fields", "request_id"),
    [
        ({"type": "config.list.updated", "payload": "{}"}, None),
        ({"type": "node.command", "payload": "not json"}, None),
        ({"type": "node.command", "payload": "[1]"}, None),
        (_fields(request_id="XYZ"), None),
        (_fields(request_id=None), None),
        (_fields(payload="start"), REQUEST_ID),
        (_fields(kind=""), REQUEST_ID),
        (_fields(node_id=5), REQUEST_ID),
        (_fields(requested_at="yesterday"), REQUEST_ID),
    ],
)
def test_parse_entry_refuses_broken_entries(fields: dict[str, str], request_id: str | None) -> None:
    with pytest.raises(BadEntry) as info:
        parse_entry("1-0", fields)
    assert info.value.request_id == request_id


_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=40),
    st.just(REQUEST_ID),
    st.just("2026-01-02T03:04:05+00:00"),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
_KEYS = st.sampled_from(
    ["request_id", "config_id", "node_id", "kind", "payload", "requested_at", "other"]
)


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=6))
def test_parse_entry_raises_only_bad_entry(fields: dict[str, str]) -> None:
    with contextlib.suppress(BadEntry):
        parse_entry("1-0", fields)


@given(st.dictionaries(_KEYS, _VALUES, max_size=7))
def test_parse_entry_raises_only_bad_entry_for_any_command_document(
    document: dict[str, Any],
) -> None:
    fields = {"type": "node.command", "payload": json.dumps(document)}
    with contextlib.suppress(BadEntry):
        command = parse_entry("1-0", fields)
        assert command.requested_at.tzinfo is not None


def test_is_stale_at_the_ack_timeout() -> None:
    command = parse_entry("1-0", _fields())
    assert not is_stale(command, now=REQUESTED_AT + timedelta(seconds=29.9), ack_timeout_seconds=30)
    assert is_stale(command, now=REQUESTED_AT + timedelta(seconds=30), ack_timeout_seconds=30)


def test_reply_entries_decode_bytes_and_deleted_entries() -> None:
    reply = [[b"wfm:commands", [(b"1-0", {b"type": b"x"}), (b"2-0", None)]]]
    assert read_reply_entries(reply) == [("1-0", {"type": "x"}), ("2-0", {})]
    assert entries_of([("3-0", {"a": "b"})]) == [("3-0", {"a": "b"})]


def _event(type_: str, payload: Any) -> tuple[str, dict[str, str]]:
    return ("1-0", {"type": type_, "payload": json.dumps(payload)})


def test_triggers_collect_staged_and_online_nodes() -> None:
    triggers = Triggers()
    assert not triggers
    triggers.add(
        [
            _event("config.overview.updated", {"config_id": "cfg_1"}),
            _event(
                STAGED_EVENT, {"config_id": "c", "desired_changed": ["a"], "staged_changed": []}
            ),
            _event(STAGED_EVENT, {"config_id": "c", "staged_changed": ["a", "b", 3]}),
            _event(STAGED_EVENT, {"config_id": "c", "staged_changed": ["b"]}),
            _event(ONLINE_EVENT, {"config_id": "c", "node_id": "d"}),
            _event(ONLINE_EVENT, {"config_id": "c"}),
            _event(ONLINE_EVENT, ["not", "an", "object"]),
            ("9-0", {"type": STAGED_EVENT, "payload": "{broken"}),
        ]
    )
    assert triggers
    assert triggers.staged == {"a", "b"}
    assert triggers.online == {"d"}
    assert len(triggers.entry_ids) == 8  # every entry is acked, triggers or not


def test_ack_timeout_summary() -> None:
    assert ack_timeout_summary(30) == "No ACK within 30 s"
    assert ack_timeout_summary(1.5) == "No ACK within 1.5 s"
