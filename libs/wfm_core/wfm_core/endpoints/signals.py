"""Client signals → state (reference.md §6.7): what heartbeats, events, LWTs and ACKs change.

Pure rules, no I/O. mqtt-ingest collects a batch of validated messages, the signals service
(`signals_service.apply_signals`) reads the rows they concern, folds the batch through
`BatchFold` and writes only the columns the fold set. Decisions taken here:

- Order: every signal carries the time ingest received it. A reachable signal older than the
  stored `last_offline_at` (or `last_reachable_at`), or an offline signal older than the stored
  `last_reachable_at`, is *stale*: two replicas may commit a node's LWT and its reconnect
  heartbeat in either order, and the newer one must win. Stale signals change no presence or
  runtime column; an event still gets its control log and an ACK still closes its command.
- Coalescing: the fold applies a batch in arrival order to one working copy per node, so many
  heartbeats of a node cost one row update (the last wins) while every ACK closes its own log.
- ACKs close a control log only when the log belongs to the sending node, its action is one the
  ACK kind answers (`config/push/ack` → push_config, `control/ack` → start/stop, …) and it is
  `pending`, or `timeout` (a late ACK: the node did answer, and its outcome beats the timer).
  A second ACK for the same request id changes nothing. State effects (confirmed := staged,
  start/stop → wg state) happen only on the closing ACK and only for status `applied`.
- Config push `applied` copies staged → confirmed only when the push carried the text staged now
  (the log's `config_sha256`; logs written before it existed: staged did not change after the
  push was requested). Otherwise the node applied an older text than the one staged now, and
  confirming the newer one would hide the drift. The log then says so.
- `command_output` events carrying the request id of the node's own control log append their
  output to that log's `detail` (the `wg_show` ACK closes it; its message becomes the summary)
  instead of adding a second 64 KiB log row that would push useful rows out of the 20-row
  retention. Without such a log they become an ordinary event row (detail = message + output).
- Presence: `online` / `dropped` / `offline` (reference "Online Projection"). `came_online`
  marks nodes whose presence moved from anything else to `online` and stayed there at the end
  of the batch: mqtt-ingest emits `endpoint.client.online` for them (auto push listens).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wfm_core.protocol import (
    KIND_CONFIG_PUSH_ACK,
    KIND_CONTROL_ACK,
    KIND_DETECT_ACK,
    KIND_EVENT,
    KIND_HEARTBEAT,
    KIND_INFO_ACK,
    Envelope,
)

PRESENCE_ONLINE = "online"
PRESENCE_DROPPED = "dropped"
PRESENCE_OFFLINE = "offline"

REASON_HEARTBEAT = "client-heartbeat"
REASON_WILL = "client-will-message"
REASON_DETECT_ACK = "client-detect-ack"
REASON_ACK = "client-ack"
REASON_REACHABLE_TIMEOUT = "client-reachable-timeout"
REASON_EVENT_PREFIX = "client-event:"

EVENT_OFFLINE = "offline"
EVENT_COMMAND_OUTPUT = "command_output"

ACK_APPLIED = "applied"
ACK_FAILED = "failed"

LOG_ACTION_EVENT = "event"
LOG_REQUESTED_BY_CLIENT = "client"
LOG_ACKED = "acked"
LOG_FAILED = "failed"
# A late ACK may still close a log the timeout sweeper gave up on.
LOG_CLOSABLE = frozenset({"pending", "timeout"})
# The control log actions each ACK kind answers.
ACK_ACTIONS: dict[str, frozenset[str]] = {
    KIND_CONFIG_PUSH_ACK: frozenset({"push_config"}),
    KIND_CONTROL_ACK: frozenset({"start", "stop", "restart"}),
    KIND_INFO_ACK: frozenset({"wg_show"}),
    KIND_DETECT_ACK: frozenset({"probe"}),
}
ACK_KINDS = frozenset(ACK_ACTIONS)

# Why a valid message from a node that may not talk to us now is dropped (metric labels).
DROP_UNKNOWN_NODE = "unknown_node"
DROP_WRONG_CONFIG = "wrong_config"
DROP_NODE_STATIC = "node_static"
DROP_NODE_DISABLED = "node_disabled"
DROP_CONFIG_DISABLED = "config_disabled"
DROP_UNINITIALIZED = "client_uninitialized"

MAX_SESSION_CHARS = 64  # node_client_state.boot_id / session_id
MAX_LOG_DETAIL_CHARS = 256 * 1024  # command outputs appended to one log stop growing here
_CONFIRM_SKIPPED = (
    "Not confirmed: the staged config changed after this push was requested; "
    "the node runs an older version."
)


@dataclass(frozen=True, slots=True)
class Signal:
    """One validated upstream message and the time this ingest process received it."""

    kind: str
    config_id: str
    node_id: str
    request_id: str
    boot_id: str
    session_id: str
    payload: Mapping[str, Any]
    received_at: datetime

    @classmethod
    def from_envelope(cls, envelope: Envelope, *, received_at: datetime) -> Signal:
        return cls(
            kind=envelope.type,
            config_id=envelope.config_id,
            node_id=envelope.node_id,
            request_id=envelope.request_id,
            boot_id=envelope.boot_id,
            session_id=envelope.session_id,
            payload=envelope.payload,
            received_at=received_at,
        )

    @property
    def is_offline_event(self) -> bool:
        return self.kind == KIND_EVENT and self.payload.get("event") == EVENT_OFFLINE

    @property
    def log_request_id(self) -> str:
        """The request id of the control log this signal may touch ('' for none)."""
        if self.kind in ACK_KINDS:
            return self.request_id
        if self.kind == KIND_EVENT and self.payload.get("event") == EVENT_COMMAND_OUTPUT:
            return str(self.payload.get("request_id") or self.request_id)
        return ""


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """What the fold needs to know about a node before the batch (read under a row lock)."""

    node_id: str
    config_id: str
    node_type: str
    enabled: bool
    config_enabled: bool
    client_initialized: bool
    presence: str
    last_reachable_at: datetime | None
    last_offline_at: datetime | None


@dataclass(frozen=True, slots=True)
class StagedSnapshot:
    node_id: str
    staged_sha256: str | None
    staged_version: int
    staged_updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Confirm:
    """confirmed := staged (and reported_local := staged) for one node, if staged still is
    `staged_sha256`."""

    config_id: str
    node_id: str
    staged_sha256: str
    staged_version: int


def drop_reason(signal: Signal, node: NodeSnapshot | None) -> str | None:
    """Why a message of `signal.node_id` must not change anything (None: it may)."""
    if node is None:
        return DROP_UNKNOWN_NODE
    if node.config_id != signal.config_id:
        return DROP_WRONG_CONFIG
    if node.node_type != "dynamic":
        return DROP_NODE_STATIC
    if not node.enabled:
        return DROP_NODE_DISABLED
    if not node.config_enabled:
        return DROP_CONFIG_DISABLED
    if not node.client_initialized:
        return DROP_UNINITIALIZED
    return None


@dataclass(slots=True)
class NodeChange:
    """The working copy of one node during a fold and the columns the fold set."""

    config_id: str
    node_id: str
    was_online: bool
    presence: str
    last_reachable_at: datetime | None
    last_offline_at: datetime | None
    client: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)

    @property
    def came_online(self) -> bool:
        return not self.was_online and self.presence == PRESENCE_ONLINE

    @property
    def changed(self) -> bool:
        return bool(self.client or self.runtime)


def _session_value(value: str) -> str:
    return value[:MAX_SESSION_CHARS]


def event_text(payload: Mapping[str, Any]) -> str:
    """`node_client_state.last_event`: `"<event>: <message>"`."""
    return f"{payload.get('event', '')}: {payload.get('message', '')}"


def _wg_columns(wg_online: bool) -> dict[str, Any]:
    return {"wg_runtime_state": "running" if wg_online else "stopped", "wg_running": wg_online}


OFFLINE_RUNTIME: dict[str, Any] = {
    "online": False,
    "connectivity_state": "offline",
    "wg_runtime_state": "unknown",
    "wg_running": False,
    "heartbeat_client_online": False,
    "heartbeat_wg_online": False,
    "detect_client_online": False,
    "detect_wg_online": False,
}


class BatchFold:
    """Apply a batch of signals, in arrival order, to working copies of the rows they concern.

    `nodes`: every node of the batch that exists (absent = unknown). `logs`: control log rows
    (column → value) by request id, for the ACKs and command outputs of the batch. `staged`:
    staged digests of nodes with a config push ACK. `new_id` / `new_request_id` make ids for
    event log rows.
    """

    def __init__(
        self,
        *,
        nodes: Mapping[str, NodeSnapshot],
        logs: Mapping[str, dict[str, Any]],
        staged: Mapping[str, StagedSnapshot],
        now: datetime,
        new_id: Callable[[], str],
        new_request_id: Callable[[], str],
    ) -> None:
        self._nodes = nodes
        self._logs = {request_id: dict(row) for request_id, row in logs.items()}
        self._staged = staged
        self._now = now
        self._new_id = new_id
        self._new_request_id = new_request_id
        self.changes: dict[str, NodeChange] = {}
        self.new_logs: list[dict[str, Any]] = []
        self.updated_logs: dict[str, dict[str, Any]] = {}  # by log id, the whole row after
        self.confirms: list[Confirm] = []
        self.dropped: list[tuple[Signal, str]] = []
        self.applied: Counter[str] = Counter()
        self.stale: Counter[str] = Counter()
        self.unmatched_acks: list[Signal] = []

    # --- entry point ------------------------------------------------------------------------

    def apply(self, signal: Signal) -> None:
        node = self._nodes.get(signal.node_id)
        reason = drop_reason(signal, node)
        if reason is not None or node is None:
            self.dropped.append((signal, reason or DROP_UNKNOWN_NODE))
            return
        change = self._change(node)
        kind = signal.kind
        if kind == KIND_HEARTBEAT:
            self._heartbeat(change, signal)
        elif kind == KIND_EVENT:
            if signal.is_offline_event:
                self._offline(change, signal)
            else:
                self._event(change, signal)
        elif kind == KIND_DETECT_ACK:
            self._detect_ack(change, signal)
        elif kind in ACK_KINDS:
            self._command_ack(change, signal)
        else:  # not an upstream kind: the subscriber never hands one over
            self.dropped.append((signal, "not_upstream"))
            return
        self.applied[kind] += 1

    def apply_all(self, signals: list[Signal]) -> BatchFold:
        for signal in signals:
            self.apply(signal)
        return self

    @property
    def came_online(self) -> list[NodeChange]:
        return [change for change in self.changes.values() if change.came_online]

    # --- presence ---------------------------------------------------------------------------

    def _change(self, node: NodeSnapshot) -> NodeChange:
        change = self.changes.get(node.node_id)
        if change is None:
            change = self.changes[node.node_id] = NodeChange(
                config_id=node.config_id,
                node_id=node.node_id,
                was_online=node.presence == PRESENCE_ONLINE,
                presence=node.presence,
                last_reachable_at=node.last_reachable_at,
                last_offline_at=node.last_offline_at,
            )
        return change

    def _reachable(self, change: NodeChange, signal: Signal, *, reason: str) -> bool:
        """A signal proving the client is reachable now; False when it is stale."""
        at = signal.received_at
        if (change.last_offline_at is not None and at <= change.last_offline_at) or (
            change.last_reachable_at is not None and at < change.last_reachable_at
        ):
            self.stale[signal.kind] += 1
            return False
        change.presence = PRESENCE_ONLINE
        change.last_reachable_at = at
        client = change.client
        client["client_presence_state"] = PRESENCE_ONLINE
        client["last_reachable_at"] = at
        if signal.boot_id:
            client["boot_id"] = _session_value(signal.boot_id)
        if signal.session_id:
            client["session_id"] = _session_value(signal.session_id)
        runtime = change.runtime
        runtime["online"] = True
        runtime["connectivity_state"] = "online"
        runtime["last_seen"] = at
        runtime["last_control_channel_seen_at"] = at
        runtime["last_connectivity_reason"] = reason
        return True

    def _client_identity(self, change: NodeChange, payload: Mapping[str, Any]) -> None:
        """Platform and version refresh when reported (non-empty only)."""
        if payload.get("platform"):
            change.client["client_platform"] = payload["platform"]
        if payload.get("client_version"):
            change.client["client_version"] = payload["client_version"]

    def _reported_sha(self, change: NodeChange, payload: Mapping[str, Any]) -> None:
        if payload.get("config_sha256"):
            change.runtime["reported_config_sha256"] = payload["config_sha256"]

    def _heartbeat(self, change: NodeChange, signal: Signal) -> None:
        if not self._reachable(change, signal, reason=REASON_HEARTBEAT):
            return
        payload = signal.payload
        client_online = bool(payload.get("client_online"))
        wg_online = bool(payload.get("wg_online"))
        change.client["last_heartbeat_at"] = signal.received_at
        self._client_identity(change, payload)
        runtime = change.runtime
        runtime["heartbeat_client_online"] = client_online
        runtime["heartbeat_wg_online"] = client_online and wg_online
        runtime.update(_wg_columns(wg_online))
        self._reported_sha(change, payload)

    def _offline(self, change: NodeChange, signal: Signal) -> None:
        at = signal.received_at
        if change.last_reachable_at is not None and at < change.last_reachable_at:
            self.stale[signal.kind] += 1
            return
        change.presence = PRESENCE_OFFLINE
        change.last_offline_at = at
        client = change.client
        client["client_presence_state"] = PRESENCE_OFFLINE
        client["last_will_at"] = at
        client["last_offline_at"] = at
        change.runtime.update(OFFLINE_RUNTIME)
        change.runtime["last_connectivity_reason"] = REASON_WILL

    def _detect_ack(self, change: NodeChange, signal: Signal) -> None:
        # Detect probes are normally not logged (commands.detect_command): only a logged one
        # is closed, and a detect ACK without a log is not "unmatched".
        if signal.request_id in self._logs:
            self._close_log(change, signal)
        if not self._reachable(change, signal, reason=REASON_DETECT_ACK):
            return
        payload = signal.payload
        client_online = bool(payload.get("client_online"))
        wg_online = bool(payload.get("wg_online"))
        change.client["last_detect_ack_at"] = signal.received_at
        self._client_identity(change, payload)
        runtime = change.runtime
        runtime["detect_client_online"] = client_online
        runtime["detect_wg_online"] = client_online and wg_online
        runtime["last_probe_ack_at"] = signal.received_at
        if payload.get("status") != ACK_FAILED:
            runtime.update(_wg_columns(wg_online))
        self._reported_sha(change, payload)

    # --- events -----------------------------------------------------------------------------

    def _event(self, change: NodeChange, signal: Signal) -> None:
        payload = signal.payload
        name = str(payload.get("event", ""))
        if self._reachable(change, signal, reason=f"{REASON_EVENT_PREFIX}{name}"):
            change.client["last_event"] = event_text(payload)
            change.client["last_event_at"] = signal.received_at
        if name == EVENT_COMMAND_OUTPUT and self._attach_output(signal):
            return
        detail = str(payload.get("message", ""))
        output = str(payload.get("output", ""))
        if output:
            detail = f"{detail}\n{output}" if detail else output
        self.new_logs.append(
            {
                "id": self._new_id(),
                "request_id": self._new_request_id(),
                "config_id": change.config_id,
                "node_id": change.node_id,
                "action": LOG_ACTION_EVENT,
                "status": LOG_ACKED,
                "requested_by": LOG_REQUESTED_BY_CLIENT,
                "summary": f"Client event: {name}",
                "detail": detail,
                "requested_at": signal.received_at,
                "ack_at": signal.received_at,
                "created_at": self._now,
                "updated_at": self._now,
            }
        )

    def _own_log(self, signal: Signal, request_id: str) -> dict[str, Any] | None:
        log = self._logs.get(request_id) if request_id else None
        if log is None or log["node_id"] != signal.node_id or log["config_id"] != signal.config_id:
            return None
        return log

    def _attach_output(self, signal: Signal) -> bool:
        log = self._own_log(signal, signal.log_request_id)
        if log is None or log["action"] == LOG_ACTION_EVENT:
            return False
        output = str(signal.payload.get("output") or signal.payload.get("message") or "")
        detail = str(log.get("detail") or "")
        combined = f"{detail}\n{output}" if detail else output
        log["detail"] = combined[:MAX_LOG_DETAIL_CHARS]
        log["updated_at"] = self._now
        self.updated_logs[log["id"]] = log
        return True

    # --- ACKs -------------------------------------------------------------------------------

    def _command_ack(self, change: NodeChange, signal: Signal) -> None:
        log = self._close_log(change, signal)
        self._reachable(change, signal, reason=REASON_ACK)
        if log is None:
            return
        status = signal.payload.get("status")
        if status == ACK_FAILED and signal.kind == KIND_CONFIG_PUSH_ACK:
            change.runtime["config_sync_state"] = "failed"
            change.runtime["last_config_sync_error"] = str(signal.payload.get("message", ""))
        if status != ACK_APPLIED:
            return
        action = log["action"]
        if signal.kind == KIND_CONTROL_ACK and action in ("start", "stop"):
            change.runtime.update(_wg_columns(action == "start"))
        elif signal.kind == KIND_CONFIG_PUSH_ACK:
            self._confirm(change, log)

    def _close_log(self, change: NodeChange, signal: Signal) -> dict[str, Any] | None:
        """Close the node's own log named by the ACK; None when there is none to close."""
        log = self._own_log(signal, signal.request_id)
        if (
            log is None
            or log["status"] not in LOG_CLOSABLE
            or log["action"] not in ACK_ACTIONS[signal.kind]
        ):
            if signal.request_id:
                self.unmatched_acks.append(signal)
            return None
        payload = signal.payload
        status = str(payload.get("status", ""))
        message = str(payload.get("message", ""))
        log["status"] = LOG_FAILED if status == ACK_FAILED else LOG_ACKED
        log["summary"] = message or f"{log['action']}: {status}"
        log["ack_at"] = signal.received_at
        log["updated_at"] = self._now
        self.updated_logs[log["id"]] = log
        return log

    def _confirm(self, change: NodeChange, log: dict[str, Any]) -> None:
        staged = self._staged.get(change.node_id)
        requested_at: datetime = log["requested_at"]
        pushed = log.get("config_sha256")
        if (
            staged is None
            or not staged.staged_sha256
            or (pushed and pushed != staged.staged_sha256)
            or (
                not pushed
                and staged.staged_updated_at is not None
                and staged.staged_updated_at > requested_at
            )
        ):
            detail = str(log.get("detail") or "")
            log["detail"] = f"{detail}\n{_CONFIRM_SKIPPED}" if detail else _CONFIRM_SKIPPED
            return
        self.confirms.append(
            Confirm(
                config_id=change.config_id,
                node_id=change.node_id,
                staged_sha256=staged.staged_sha256,
                staged_version=staged.staged_version,
            )
        )
        change.runtime["config_sync_state"] = "in_sync"
        change.runtime["last_config_sync_error"] = None


def expired_presence_runtime() -> dict[str, Any]:
    """Runtime columns of a client whose reachable TTL ran out (presence `dropped`)."""
    return {**OFFLINE_RUNTIME, "last_connectivity_reason": REASON_REACHABLE_TIMEOUT}
