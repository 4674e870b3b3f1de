"""MQTT topics `wfm/<config_id>/<node_id>/<kind>` and who may use which (§6.2, §6.8)."""

from __future__ import annotations

import re
from typing import NamedTuple

from wfm_core.protocol.errors import (
    REASON_INVALID_TOPIC,
    REASON_UNKNOWN_KIND,
    ProtocolError,
)

TOPIC_ROOT = "wfm"
DEFAULT_SHARE_GROUP = "wfm-ingest"

# Downstream kinds (backend → node).
KIND_CONFIG_PUSH = "config/push"
KIND_CONTROL = "control"
KIND_DETECT = "detect"
KIND_INFO = "info"
# Upstream kinds (node → backend).
KIND_CONFIG_PUSH_ACK = "config/push/ack"
KIND_CONTROL_ACK = "control/ack"
KIND_DETECT_ACK = "detect/ack"
KIND_INFO_ACK = "info/ack"
KIND_EVENT = "event"
KIND_HEARTBEAT = "heartbeat"

DOWNSTREAM_KINDS: tuple[str, ...] = (KIND_CONFIG_PUSH, KIND_CONTROL, KIND_DETECT, KIND_INFO)
UPSTREAM_KINDS: tuple[str, ...] = (
    KIND_CONFIG_PUSH_ACK,
    KIND_CONTROL_ACK,
    KIND_DETECT_ACK,
    KIND_INFO_ACK,
    KIND_EVENT,
    KIND_HEARTBEAT,
)
ALL_KINDS: frozenset[str] = frozenset(DOWNSTREAM_KINDS + UPSTREAM_KINDS)

# Every downstream command is closed by one ACK kind (§6.5); events and heartbeats never are.
ACK_KINDS: dict[str, str] = {
    KIND_CONFIG_PUSH: KIND_CONFIG_PUSH_ACK,
    KIND_CONTROL: KIND_CONTROL_ACK,
    KIND_DETECT: KIND_DETECT_ACK,
    KIND_INFO: KIND_INFO_ACK,
}
COMMAND_KINDS_BY_ACK: dict[str, str] = {ack: command for command, ack in ACK_KINDS.items()}

# Backend subscription order as listed in §6.2.
_BACKEND_SUBSCRIBED_KINDS: tuple[str, ...] = (
    KIND_HEARTBEAT,
    KIND_EVENT,
    KIND_DETECT_ACK,
    KIND_INFO_ACK,
    KIND_CONFIG_PUSH_ACK,
    KIND_CONTROL_ACK,
)

# fullmatch (not `$`) so a trailing newline never slips through; ASCII classes keep out `+ # /`.
_ID_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
_SHARE_GROUP_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# wfm/ + two 64-char ids + the longest kind, with room to spare: longer topics are rejected unread.
_MAX_TOPIC_LENGTH = 256


class ParsedTopic(NamedTuple):
    """The three parts of a valid WFM topic."""

    config_id: str
    node_id: str
    kind: str


def is_valid_id(value: str) -> bool:
    """True when `value` can be a config or node id segment of a topic."""
    return _ID_RE.fullmatch(value) is not None


def topic(config_id: str, node_id: str, kind: str) -> str:
    """The topic `wfm/<config_id>/<node_id>/<kind>`; ProtocolError for a bad id or unknown kind."""
    if kind not in ALL_KINDS:
        raise ProtocolError(REASON_UNKNOWN_KIND, f"unknown message kind {kind!r}", field="kind")
    for field, value in (("config_id", config_id), ("node_id", node_id)):
        if not is_valid_id(value):
            raise ProtocolError(
                REASON_INVALID_TOPIC, f"{field} is not a valid topic segment", field=field
            )
    return f"{TOPIC_ROOT}/{config_id}/{node_id}/{kind}"


def parse_topic(value: str) -> ParsedTopic | None:
    """Split an exact `wfm/<cfg>/<node>/<known kind>` topic; None for anything else."""
    if len(value) > _MAX_TOPIC_LENGTH:
        return None
    parts = value.split("/")
    if len(parts) < 4 or parts[0] != TOPIC_ROOT:
        return None
    config_id, node_id = parts[1], parts[2]
    kind = "/".join(parts[3:])
    if kind not in ALL_KINDS or not is_valid_id(config_id) or not is_valid_id(node_id):
        return None
    return ParsedTopic(config_id=config_id, node_id=node_id, kind=kind)


def node_subscribe_topics(config_id: str, node_id: str) -> list[str]:
    """The exact topics a node may subscribe to (§6.8): its four downstream kinds."""
    return [topic(config_id, node_id, kind) for kind in DOWNSTREAM_KINDS]


def node_publish_topics(config_id: str, node_id: str) -> list[str]:
    """The exact topics a node may publish to (§6.8): its six upstream kinds."""
    return [topic(config_id, node_id, kind) for kind in UPSTREAM_KINDS]


def backend_subscriptions(share_group: str | None = DEFAULT_SHARE_GROUP) -> list[str]:
    """Backend filters for the six upstream kinds, as MQTT v5 shared subscriptions unless None."""
    prefix = ""
    if share_group is not None:
        if _SHARE_GROUP_RE.fullmatch(share_group) is None:
            raise ProtocolError(
                REASON_INVALID_TOPIC, "share group must be 1-64 of [A-Za-z0-9_.-]", field="group"
            )
        prefix = f"$share/{share_group}/"
    return [f"{prefix}{TOPIC_ROOT}/+/+/{kind}" for kind in _BACKEND_SUBSCRIBED_KINDS]


def ack_kind_for(kind: str) -> str:
    """The ACK kind that closes a downstream command kind (`detect` → `detect/ack`)."""
    try:
        return ACK_KINDS[kind]
    except KeyError:
        raise ProtocolError(
            REASON_UNKNOWN_KIND, f"{kind!r} is not a command kind with an ACK", field="kind"
        ) from None


def is_ack_kind(kind: str) -> bool:
    """True for the four ACK kinds."""
    return kind in COMMAND_KINDS_BY_ACK
