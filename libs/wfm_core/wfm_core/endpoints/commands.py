"""Commands to nodes (design.md §3 "Commands to nodes").

A command is a control log row (`pending`, a fresh `request_id`) plus an outbox message on
`wfm:commands`, written in the caller's transaction: a rollback drops both, a commit hands the
command to the relay and then to one mqtt-ingest replica, which publishes it (QoS 1) on the node's
topic. Only the node's ACK with the same `request_id` closes the log (reference.md §6.5).

The outbox message (`type` = `COMMAND_TYPE`) carries everything the dispatcher needs and nothing
it must look up: `{request_id, config_id, node_id, kind, payload, requested_at}`; the dispatcher
wraps `payload` in the §6.3 envelope (`protocol.build_command`) at publish time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.db.types import utc_now
from wfm_core.endpoints import repository as endpoints_repo
from wfm_core.endpoints.schemas import ControlLogRead
from wfm_core.ids import new_id, new_request_id
from wfm_core.nodes.models import Node
from wfm_core.outbox.streams import COMMANDS_STREAM, EVENTS_STREAM
from wfm_core.outbox.writer import emit_many
from wfm_core.protocol import (
    ACTION_PUSH_CONFIG,
    ACTION_WG_SHOW,
    KIND_CONFIG_PUSH,
    KIND_CONTROL,
    KIND_DETECT,
    KIND_INFO,
    TUNNEL_PROTOCOL_WIRE,
)
from wfm_core.render.naming import interface_name
from wfm_core.sync.models import NodeConfigState

COMMAND_TYPE = "node.command"
# Control log `action` per command kind; control commands log their own action (start / stop).
ACTION_PROBE = "probe"

# Who asked (control log `requested_by`).
BY_ADMIN = "admin"
BY_AUTO_SYNC = "auto-sync"
BY_MCP = "mcp"
BY_DETECT = "detect"


@dataclass(frozen=True)
class Command:
    """One command for one node, before it is written."""

    config_id: str
    node_id: str
    kind: str  # protocol downstream kind: config/push | control | detect | info
    action: str  # control log action: push_config | start | stop | wg_show | probe
    payload: dict[str, Any]
    requested_by: str
    summary: str
    # Detect probes are tracked in the runtime row (last_probe_sent_at / _ack_at), not as logs:
    # a round every 120 s would otherwise push every useful log out of the 20-row retention.
    logged: bool = True


@dataclass(frozen=True)
class IssuedCommand:
    request_id: str
    log: ControlLogRead | None


def wire_protocol(config: Config) -> str:
    """The `tunnel_protocol` wire value of a config (AWG travels as `amneziawg_2`, §6.4)."""
    return TUNNEL_PROTOCOL_WIRE.get(config.tunnel_protocol, "wireguard")


def _text_protocol(text: str | None) -> str | None:
    """The wire protocol a rendered config text is for: AWG texts carry `Jc = …` lines."""
    if not text:
        return None
    return "amneziawg_2" if "\nJc = " in text else "wireguard"


def previous_protocol(config: Config, state: NodeConfigState | None) -> str:
    """What the node runs now (its confirmed text), so the agent can stop the old tunnel tool."""
    confirmed = _text_protocol(state.confirmed_text if state is not None else None)
    return confirmed or wire_protocol(config)


def config_push_payload(config: Config, node: Node, state: NodeConfigState) -> dict[str, Any]:
    """`config/push` payload of the node's staged config (caller checked it exists)."""
    text = state.staged_text or ""
    protocol = wire_protocol(config)
    return {
        "action": ACTION_PUSH_CONFIG,
        "tunnel_protocol": protocol,
        "previous_tunnel_protocol": previous_protocol(config, state),
        "awg_version": (config.awg_version or "") if protocol != "wireguard" else "",
        "interface_name": interface_name(config_id=config.id, node_id=node.id),
        "config_version": state.staged_version,
        "config_sha256": state.staged_sha256 or "",
        "config_text": text,
    }


def control_payload(
    config: Config, node: Node, action: str, state: NodeConfigState | None
) -> dict[str, Any]:
    return {
        "action": action,
        "tunnel_protocol": wire_protocol(config),
        "previous_tunnel_protocol": previous_protocol(config, state),
        "interface_name": interface_name(config_id=config.id, node_id=node.id),
    }


def info_payload(config: Config) -> dict[str, Any]:
    return {"action": ACTION_WG_SHOW, "tunnel_protocol": wire_protocol(config)}


def detect_payload(config: Config) -> dict[str, Any]:
    return {"tunnel_protocol": wire_protocol(config)}


def push_command(
    config: Config, node: Node, state: NodeConfigState, *, requested_by: str
) -> Command:
    return Command(
        config_id=config.id,
        node_id=node.id,
        kind=KIND_CONFIG_PUSH,
        action=ACTION_PUSH_CONFIG,
        payload=config_push_payload(config, node, state),
        requested_by=requested_by,
        summary=f"Push config v{state.staged_version}",
    )


def control_command(
    config: Config, node: Node, action: str, state: NodeConfigState | None, *, requested_by: str
) -> Command:
    return Command(
        config_id=config.id,
        node_id=node.id,
        kind=KIND_CONTROL,
        action=action,
        payload=control_payload(config, node, action, state),
        requested_by=requested_by,
        summary=f"Control: {action}",
    )


def info_command(config: Config, node: Node, *, requested_by: str) -> Command:
    return Command(
        config_id=config.id,
        node_id=node.id,
        kind=KIND_INFO,
        action=ACTION_WG_SHOW,
        payload=info_payload(config),
        requested_by=requested_by,
        summary="Info: wg_show",
    )


def detect_command(config: Config, node: Node, *, requested_by: str) -> Command:
    return Command(
        config_id=config.id,
        node_id=node.id,
        kind=KIND_DETECT,
        action=ACTION_PROBE,
        payload=detect_payload(config),
        requested_by=requested_by,
        summary="Detect",
        logged=False,
    )


def _log_row(command: Command, *, request_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("elog"),
        "request_id": request_id,
        "config_id": command.config_id,
        "node_id": command.node_id,
        "action": command.action,
        "status": "pending",
        "requested_by": command.requested_by,
        "summary": command.summary,
        "detail": "",
        "config_sha256": command.payload.get("config_sha256")
        if command.kind == KIND_CONFIG_PUSH
        else None,
        "requested_at": now,
        "ack_at": None,
        "created_at": now,
        "updated_at": now,
    }


async def issue_commands(
    session: AsyncSession, *, commands: Sequence[Command]
) -> list[IssuedCommand]:
    """Write the control logs and outbox commands of `commands` (a few statements in all).

    Emits `control.log.created` for each logged command (reference.md §9).
    """
    if not commands:
        return []
    now = utc_now()
    stamp = now.isoformat()
    rows: list[dict[str, Any]] = []
    outbound: list[tuple[str, dict[str, Any]]] = []
    events: list[tuple[str, dict[str, Any]]] = []
    issued: list[IssuedCommand] = []
    for command in commands:
        request_id = new_request_id()
        outbound.append(
            (
                COMMAND_TYPE,
                {
                    "request_id": request_id,
                    "config_id": command.config_id,
                    "node_id": command.node_id,
                    "kind": command.kind,
                    "payload": command.payload,
                    "requested_at": stamp,
                },
            )
        )
        if not command.logged:
            issued.append(IssuedCommand(request_id=request_id, log=None))
            continue
        row = _log_row(command, request_id=request_id, now=now)
        rows.append(row)
        log = ControlLogRead.model_validate(row)
        events.append(
            (
                "control.log.created",
                {
                    "config_id": command.config_id,
                    "node_id": command.node_id,
                    "log": log.model_dump(mode="json"),
                },
            )
        )
        issued.append(IssuedCommand(request_id=request_id, log=log))
    await endpoints_repo.insert_control_logs(session, rows=rows)
    await emit_many(session, stream=COMMANDS_STREAM, messages=outbound)
    await emit_many(session, stream=EVENTS_STREAM, messages=events)
    return issued


async def issue_command(session: AsyncSession, *, command: Command) -> IssuedCommand:
    return (await issue_commands(session, commands=[command]))[0]
