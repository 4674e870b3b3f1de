"""Tests for wfm_core.protocol.topics: topic names, parsing, node grants and backend filters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wfm_core.protocol import (
    ACK_KINDS,
    ALL_KINDS,
    DOWNSTREAM_KINDS,
    TOPIC_ROOT,
    UPSTREAM_KINDS,
    ParsedTopic,
    ProtocolError,
    ack_kind_for,
    backend_subscriptions,
    is_ack_kind,
    node_publish_topics,
    node_subscribe_topics,
    parse_topic,
    topic,
)


def test_kind_lists_are_exactly_the_spec() -> None:
    assert TOPIC_ROOT == "wfm"
    assert DOWNSTREAM_KINDS == ("config/push", "control", "detect", "info")
    assert UPSTREAM_KINDS == (
        "config/push/ack",
        "control/ack",
        "detect/ack",
        "info/ack",
        "event",
        "heartbeat",
    )
    assert len(ALL_KINDS) == 10


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_topic_and_parse_round_trip(kind: str) -> None:
    name = topic("cfg_1a2b3c4d5e6f", "node_abcdef012345", kind)
    assert name == f"wfm/cfg_1a2b3c4d5e6f/node_abcdef012345/{kind}"
    assert parse_topic(name) == ParsedTopic("cfg_1a2b3c4d5e6f", "node_abcdef012345", kind)


def test_parsed_topic_fields() -> None:
    parsed = parse_topic("wfm/cfg_a/node_b/config/push/ack")
    assert parsed is not None
    assert parsed.config_id == "cfg_a"
    assert parsed.node_id == "node_b"
    assert parsed.kind == "config/push/ack"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "wfm",
        "wfm/cfg_a/node_b",
        "wfm/cfg_a/node_b/",
        "wfm/cfg_a/node_b/unknown",
        "wfm/cfg_a/node_b/config",
        "wfm/cfg_a/node_b/push",
        "wfm/cfg_a/node_b/config/push/ack/extra",
        "wfm/cfg_a/node_b/heartbeat/",
        "wfm/cfg_a/node_b/Heartbeat",
        "WFM/cfg_a/node_b/heartbeat",
        "/wfm/cfg_a/node_b/heartbeat",
        "xfm/cfg_a/node_b/heartbeat",
        "wfm//node_b/heartbeat",
        "wfm/cfg_a//heartbeat",
        "wfm/+/node_b/heartbeat",
        "wfm/cfg_a/+/heartbeat",
        "wfm/cfg_a/#",
        "wfm/cfg_a/node_b/#",
        "wfm/cfg-a/node_b/heartbeat",
        "wfm/cfg a/node_b/heartbeat",
        "wfm/cfg_a\n/node_b/heartbeat",
        "wfm/cfg_a/node_b/heartbeat\n",
        "wfm/cfg_é/node_b/heartbeat",
        "$share/wfm-ingest/wfm/cfg_a/node_b/heartbeat",
        "wfm/" + "c" * 65 + "/node_b/heartbeat",
        "wfm/cfg_a/" + "n" * 65 + "/heartbeat",
        "wfm/cfg_a/node_b/event" + "/x" * 200,
    ],
)
def test_parse_topic_rejects(value: str) -> None:
    assert parse_topic(value) is None


def test_parse_topic_accepts_64_char_ids() -> None:
    long_id = "a" * 64
    assert parse_topic(f"wfm/{long_id}/{long_id}/event") == ParsedTopic(long_id, long_id, "event")


@pytest.mark.parametrize(
    ("config_id", "node_id", "kind", "reason", "field"),
    [
        ("", "node_b", "event", "invalid_topic", "config_id"),
        ("cfg_a", "", "event", "invalid_topic", "node_id"),
        ("cfg/a", "node_b", "event", "invalid_topic", "config_id"),
        ("cfg_a", "+", "event", "invalid_topic", "node_id"),
        ("#", "node_b", "event", "invalid_topic", "config_id"),
        ("c" * 65, "node_b", "event", "invalid_topic", "config_id"),
        ("cfg_a", "node_b", "events", "unknown_kind", "kind"),
        ("cfg_a", "node_b", "", "unknown_kind", "kind"),
    ],
)
def test_topic_rejects_bad_parts(
    config_id: str, node_id: str, kind: str, reason: str, field: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        topic(config_id, node_id, kind)
    assert info.value.reason_code == reason
    assert info.value.field == field


def test_node_subscribe_topics_exact() -> None:
    assert node_subscribe_topics("cfg_a", "node_b") == [
        "wfm/cfg_a/node_b/config/push",
        "wfm/cfg_a/node_b/control",
        "wfm/cfg_a/node_b/detect",
        "wfm/cfg_a/node_b/info",
    ]


def test_node_publish_topics_exact() -> None:
    assert node_publish_topics("cfg_a", "node_b") == [
        "wfm/cfg_a/node_b/config/push/ack",
        "wfm/cfg_a/node_b/control/ack",
        "wfm/cfg_a/node_b/detect/ack",
        "wfm/cfg_a/node_b/info/ack",
        "wfm/cfg_a/node_b/event",
        "wfm/cfg_a/node_b/heartbeat",
    ]


def test_node_topics_reject_wildcard_ids() -> None:
    with pytest.raises(ProtocolError):
        node_publish_topics("+", "node_b")
    with pytest.raises(ProtocolError):
        node_subscribe_topics("cfg_a", "#")


def test_backend_subscriptions_shared_by_default() -> None:
    assert backend_subscriptions() == [
        "$share/wfm-ingest/wfm/+/+/heartbeat",
        "$share/wfm-ingest/wfm/+/+/event",
        "$share/wfm-ingest/wfm/+/+/detect/ack",
        "$share/wfm-ingest/wfm/+/+/info/ack",
        "$share/wfm-ingest/wfm/+/+/config/push/ack",
        "$share/wfm-ingest/wfm/+/+/control/ack",
    ]


def test_backend_subscriptions_plain_and_custom_group() -> None:
    assert backend_subscriptions(None) == [
        "wfm/+/+/heartbeat",
        "wfm/+/+/event",
        "wfm/+/+/detect/ack",
        "wfm/+/+/info/ack",
        "wfm/+/+/config/push/ack",
        "wfm/+/+/control/ack",
    ]
    assert backend_subscriptions("g1")[0] == "$share/g1/wfm/+/+/heartbeat"


@pytest.mark.parametrize("group", ["", "a/b", "+", "#", "a b"])
def test_backend_subscriptions_rejects_bad_group(group: str) -> None:
    with pytest.raises(ProtocolError) as info:
        backend_subscriptions(group)
    assert info.value.reason_code == "invalid_topic"


def test_ack_kinds() -> None:
    assert ack_kind_for("config/push") == "config/push/ack"
    assert ack_kind_for("control") == "control/ack"
    assert ack_kind_for("detect") == "detect/ack"
    assert ack_kind_for("info") == "info/ack"
    assert set(ACK_KINDS) == set(DOWNSTREAM_KINDS)
    assert is_ack_kind("detect/ack")
    assert not is_ack_kind("event")
    assert not is_ack_kind("detect")


@pytest.mark.parametrize("kind", ["event", "heartbeat", "detect/ack", "nope", ""])
def test_ack_kind_for_rejects_non_commands(kind: str) -> None:
    with pytest.raises(ProtocolError) as info:
        ack_kind_for(kind)
    assert info.value.reason_code == "unknown_kind"


_ID = st.text(alphabet="abcXYZ019_", min_size=1, max_size=64)


@given(config_id=_ID, node_id=_ID, kind=st.sampled_from(sorted(ALL_KINDS)))
def test_round_trip_property(config_id: str, node_id: str, kind: str) -> None:
    assert parse_topic(topic(config_id, node_id, kind)) == (config_id, node_id, kind)


@given(st.text(max_size=300))
def test_parse_topic_never_raises(value: str) -> None:
    parsed = parse_topic(value)
    if parsed is not None:
        assert topic(*parsed) == value
