"""The §6.7 projection rules of wfm_core.endpoints.signals, batch by batch, without I/O."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wfm_core.endpoints.signals import (
    BatchFold,
    NodeSnapshot,
    Signal,
    StagedSnapshot,
    drop_reason,
)
from wfm_core.protocol import (
    KIND_CONFIG_PUSH_ACK,
    KIND_CONTROL_ACK,
    KIND_DETECT_ACK,
    KIND_EVENT,
    KIND_HEARTBEAT,
    KIND_INFO_ACK,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CFG, NODE, OTHER = "cfg_a", "node_a", "node_b"
RID = "a" * 32


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snapshot(node_id: str = NODE, **fields: Any) -> NodeSnapshot:
    values: dict[str, Any] = {
        "node_id": node_id,
        "config_id": CFG,
        "node_type": "dynamic",
        "enabled": True,
        "config_enabled": True,
        "client_initialized": True,
        "presence": "offline",
        "last_reachable_at": None,
        "last_offline_at": None,
    }
    values.update(fields)
    return NodeSnapshot(**values)


def signal(kind: str, payload: dict[str, Any], *, t: float = 0, **fields: Any) -> Signal:
    values: dict[str, Any] = {
        "kind": kind,
        "config_id": CFG,
        "node_id": NODE,
        "request_id": "",
        "boot_id": "boot-1",
        "session_id": "session-1",
        "payload": payload,
        "received_at": at(t),
    }
    values.update(fields)
    return Signal(**values)


def heartbeat(t: float = 0, *, wg: bool = True, sha: str = "") -> Signal:
    return signal(
        KIND_HEARTBEAT,
        {"client_online": True, "wg_online": wg, "config_sha256": sha, "platform": ""},
        t=t,
    )


def offline(t: float = 0) -> Signal:
    return signal(KIND_EVENT, {"level": "warning", "event": "offline", "message": "lost"}, t=t)


def ack(kind: str, status: str, t: float = 0, request_id: str = RID, **fields: Any) -> Signal:
    return signal(
        kind,
        {"status": status, "message": f"{status}!", "action": ""},
        t=t,
        request_id=request_id,
        **fields,
    )


def log_row(action: str, *, status: str = "pending", node_id: str = NODE) -> dict[str, Any]:
    return {
        "id": "elog_1",
        "request_id": RID,
        "config_id": CFG,
        "node_id": node_id,
        "action": action,
        "status": status,
        "requested_by": "admin",
        "summary": "cmd",
        "detail": "",
        "requested_at": at(-10),
        "ack_at": None,
        "created_at": at(-10),
        "updated_at": at(-10),
    }


def fold(
    *signals: Signal,
    nodes: dict[str, NodeSnapshot] | None = None,
    logs: dict[str, dict[str, Any]] | None = None,
    staged: dict[str, StagedSnapshot] | None = None,
) -> BatchFold:
    ids = itertools.count()
    return BatchFold(
        nodes=nodes if nodes is not None else {NODE: snapshot()},
        logs=logs or {},
        staged=staged or {},
        now=at(100),
        new_id=lambda: f"elog_new{next(ids)}",
        new_request_id=lambda: f"{next(ids):032x}",
    ).apply_all(list(signals))


@pytest.mark.parametrize(
    ("node", "reason"),
    [
        (None, "unknown_node"),
        (snapshot(config_id="cfg_other"), "wrong_config"),
        (snapshot(node_type="static"), "node_static"),
        (snapshot(enabled=False), "node_disabled"),
        (snapshot(config_enabled=False), "config_disabled"),
        (snapshot(client_initialized=False), "client_uninitialized"),
        (snapshot(), None),
    ],
)
def test_who_may_talk(node: NodeSnapshot | None, reason: str | None) -> None:
    assert drop_reason(heartbeat(), node) == reason


def test_dropped_messages_change_nothing() -> None:
    result = fold(heartbeat(), nodes={NODE: snapshot(enabled=False)})
    assert [r for _, r in result.dropped] == ["node_disabled"]
    assert not result.changes and not result.new_logs and not result.applied


def test_heartbeat_projection() -> None:
    result = fold(heartbeat(sha="cd" * 32))
    change = result.changes[NODE]
    assert change.client == {
        "client_presence_state": "online",
        "last_reachable_at": at(0),
        "last_heartbeat_at": at(0),
        "boot_id": "boot-1",
        "session_id": "session-1",
    }
    assert change.runtime == {
        "online": True,
        "connectivity_state": "online",
        "last_seen": at(0),
        "last_control_channel_seen_at": at(0),
        "last_connectivity_reason": "client-heartbeat",
        "heartbeat_client_online": True,
        "heartbeat_wg_online": True,
        "wg_runtime_state": "running",
        "wg_running": True,
        "reported_config_sha256": "cd" * 32,
    }
    assert change.came_online and result.applied == {KIND_HEARTBEAT: 1}


def test_heartbeats_coalesce_last_wins_and_online_is_not_news() -> None:
    result = fold(
        heartbeat(0, wg=True),
        heartbeat(1, wg=False),
        nodes={NODE: snapshot(presence="online", last_reachable_at=at(-5))},
    )
    change = result.changes[NODE]
    assert change.runtime["wg_runtime_state"] == "stopped"
    assert change.client["last_heartbeat_at"] == at(1)
    assert not change.came_online and result.applied == {KIND_HEARTBEAT: 2}


def test_will_message() -> None:
    result = fold(heartbeat(0), offline(1), nodes={NODE: snapshot(presence="online")})
    change = result.changes[NODE]
    assert change.presence == "offline" and not change.came_online
    assert change.client["last_will_at"] == change.client["last_offline_at"] == at(1)
    assert change.runtime["online"] is False
    assert change.runtime["wg_runtime_state"] == "unknown"
    assert change.runtime["heartbeat_wg_online"] is False
    assert change.runtime["last_connectivity_reason"] == "client-will-message"
    assert change.runtime["last_seen"] == at(0)  # the heartbeat's, kept
    assert not result.new_logs  # no control log for the LWT


def test_signals_older_than_the_stored_state_are_stale() -> None:
    # A reconnect heartbeat committed by another replica before this older LWT.
    lwt = fold(offline(5), nodes={NODE: snapshot(presence="online", last_reachable_at=at(6))})
    assert not lwt.changes[NODE].changed and lwt.stale == {KIND_EVENT: 1}
    # A heartbeat older than the stored LWT.
    late = fold(heartbeat(5), nodes={NODE: snapshot(last_offline_at=at(6))})
    assert not late.changes[NODE].changed and late.stale == {KIND_HEARTBEAT: 1}
    # Reconnect after the LWT within one batch: online again.
    again = fold(offline(1), heartbeat(2), nodes={NODE: snapshot(presence="online")})
    assert again.changes[NODE].presence == "online" and not again.came_online


def test_dropped_presence_comes_back_online() -> None:
    result = fold(heartbeat(), nodes={NODE: snapshot(presence="dropped")})
    assert [c.node_id for c in result.came_online] == [NODE]


def test_event_row_and_last_event() -> None:
    result = fold(signal(KIND_EVENT, {"level": "info", "event": "online", "message": "hi"}))
    (row,) = result.new_logs
    assert (row["action"], row["status"], row["requested_by"]) == ("event", "acked", "client")
    assert (row["summary"], row["detail"]) == ("Client event: online", "hi")
    assert len(row["request_id"]) == 32 and row["requested_at"] == at(0)
    change = result.changes[NODE]
    assert change.client["last_event"] == "online: hi"
    assert change.runtime["last_connectivity_reason"] == "client-event:online"


def test_command_output_attaches_to_its_own_log() -> None:
    output = signal(
        KIND_EVENT,
        {
            "level": "info",
            "event": "command_output",
            "message": "m",
            "request_id": RID,
            "output": "peer: x",
        },
    )
    result = fold(output, logs={RID: log_row("wg_show")})
    assert not result.new_logs
    assert result.updated_logs["elog_1"]["detail"] == "peer: x"
    # Someone else's log: a plain event row, message and output in its detail.
    foreign = fold(output, logs={RID: log_row("wg_show", node_id=OTHER)})
    (row,) = foreign.new_logs
    assert row["detail"] == "m\npeer: x" and not foreign.updated_logs


def test_ack_closes_own_pending_log_once() -> None:
    logs = {RID: log_row("start")}
    result = fold(
        ack(KIND_CONTROL_ACK, "applied", 0), ack(KIND_CONTROL_ACK, "failed", 1), logs=logs
    )
    row = result.updated_logs["elog_1"]
    assert (row["status"], row["summary"], row["ack_at"]) == ("acked", "applied!", at(0))
    assert result.changes[NODE].runtime["wg_runtime_state"] == "running"
    assert len(result.unmatched_acks) == 1  # the second one
    assert logs[RID]["status"] == "pending"  # the caller's rows are not mutated


@pytest.mark.parametrize(
    ("log", "kind"),
    [
        (log_row("start", node_id=OTHER), KIND_CONTROL_ACK),  # not the sender's log
        (log_row("push_config"), KIND_CONTROL_ACK),  # wrong ACK kind for the action
        (log_row("start", status="acked"), KIND_CONTROL_ACK),  # already closed
        (log_row("start", status="failed"), KIND_CONTROL_ACK),
    ],
)
def test_ack_that_closes_nothing(log: dict[str, Any], kind: str) -> None:
    result = fold(ack(kind, "applied"), logs={RID: log})
    assert not result.updated_logs and len(result.unmatched_acks) == 1
    assert "wg_runtime_state" not in result.changes[NODE].runtime
    assert result.changes[NODE].presence == "online"  # still a reachable signal


def test_late_ack_after_timeout_still_closes() -> None:
    result = fold(ack(KIND_CONTROL_ACK, "applied"), logs={RID: log_row("stop", status="timeout")})
    assert result.updated_logs["elog_1"]["status"] == "acked"
    assert result.changes[NODE].runtime["wg_runtime_state"] == "stopped"


def test_failed_ack() -> None:
    result = fold(ack(KIND_INFO_ACK, "failed"), logs={RID: log_row("wg_show")})
    assert result.updated_logs["elog_1"]["status"] == "failed"


def test_push_applied_confirms_unchanged_staging_only() -> None:
    staged = StagedSnapshot(NODE, "ef" * 32, 7, staged_updated_at=at(-20))
    result = fold(
        ack(KIND_CONFIG_PUSH_ACK, "applied"),
        logs={RID: log_row("push_config")},
        staged={NODE: staged},
    )
    (confirm,) = result.confirms
    assert (confirm.node_id, confirm.staged_sha256, confirm.staged_version) == (NODE, "ef" * 32, 7)
    assert result.changes[NODE].runtime["config_sync_state"] == "in_sync"
    # Staged again after the push was requested: the node runs the older text.
    restaged = StagedSnapshot(NODE, "ef" * 32, 8, staged_updated_at=at(-5))
    skipped = fold(
        ack(KIND_CONFIG_PUSH_ACK, "applied"),
        logs={RID: log_row("push_config")},
        staged={NODE: restaged},
    )
    assert not skipped.confirms
    assert "Not confirmed" in skipped.updated_logs["elog_1"]["detail"]
    assert skipped.updated_logs["elog_1"]["status"] == "acked"


def test_push_failed_marks_the_sync_state() -> None:
    result = fold(ack(KIND_CONFIG_PUSH_ACK, "failed"), logs={RID: log_row("push_config")})
    runtime = result.changes[NODE].runtime
    assert (runtime["config_sync_state"], runtime["last_config_sync_error"]) == (
        "failed",
        "failed!",
    )
    accepted = fold(ack(KIND_CONFIG_PUSH_ACK, "accepted"), logs={RID: log_row("push_config")})
    assert "config_sync_state" not in accepted.changes[NODE].runtime
    assert accepted.updated_logs["elog_1"]["status"] == "acked"


def test_detect_ack() -> None:
    payload = {
        "status": "applied",
        "message": "Detect completed.",
        "action": "",
        "client_online": True,
        "wg_online": False,
        "platform": "linux",
        "client_version": "1.2.3",
        "config_sha256": "",
    }
    result = fold(signal(KIND_DETECT_ACK, payload, request_id=RID))
    change = result.changes[NODE]
    assert change.client["last_detect_ack_at"] == at(0)
    assert (change.client["client_platform"], change.client["client_version"]) == (
        "linux",
        "1.2.3",
    )
    assert change.runtime["detect_client_online"] is True
    assert change.runtime["detect_wg_online"] is False
    assert change.runtime["last_probe_ack_at"] == at(0)
    assert change.runtime["wg_runtime_state"] == "stopped"
    assert "reported_config_sha256" not in change.runtime
    assert not result.unmatched_acks  # detect probes have no log: nothing to match


def test_long_session_ids_fit_their_columns() -> None:
    result = fold(heartbeat())
    long = fold(
        signal(KIND_HEARTBEAT, {"client_online": True, "wg_online": False}, boot_id="b" * 128)
    )
    assert len(long.changes[NODE].client["boot_id"]) == 64
    assert result.changes[NODE].client["boot_id"] == "boot-1"
