"""What the agent does with each downstream message, and what it answers (§6.4, §6.5, §7.4).

`CommandHandler.handle(topic, raw)` runs one command to the end and returns the messages to
publish: events first, then exactly one ACK with the command's `request_id`. It never raises for
anything a message can contain; MQTT is the session's business, not this module's.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfm_agent.profiles import Profile, ProfileError, ProfileStore, file_sha256
from wfm_agent.toolchain import Toolchain, normalize_protocol
from wfm_core.protocol import (
    ACTION_START,
    ACTION_STOP,
    KIND_CONFIG_PUSH,
    KIND_CONTROL,
    KIND_DETECT,
    KIND_EVENT,
    KIND_HEARTBEAT,
    KIND_INFO,
    MAX_MESSAGE_CHARS,
    MAX_OUTPUT_CHARS,
    ProtocolError,
    ack_kind_for,
    decode_message,
    max_message_bytes,
    parse_topic,
    tool_names,
)

log = logging.getLogger("wfm_agent")

STATUS_APPLIED = "applied"
STATUS_FAILED = "failed"
RECENT_REQUESTS = 1024
_REQUEST_ID_RE = re.compile(r"[0-9a-f]{32}")
# `wg show <iface>` on an interface that does not exist (kernel or userspace).
_NOT_RUNNING_HINTS = ("No such device", "Protocol not supported", "Unable to access interface")


@dataclass(frozen=True)
class Outbound:
    """One upstream message to publish: kind, payload (validated when built), request id."""

    kind: str
    payload: dict[str, Any]
    request_id: str = ""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str


class RecentRequests:
    """The last N request ids seen: a repeated command is ignored, memory stays bounded."""

    def __init__(self, size: int = RECENT_REQUESTS) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, request_id: str) -> bool:
        """True if `request_id` was seen before; otherwise remember it and return False."""
        if request_id in self._ids:
            self._ids.move_to_end(request_id)
            return True
        self._ids[request_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._ids)


def _clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _families(*protocols: str) -> list[str]:
    """Distinct toolchain families of the given protocols, in order ('' = wireguard)."""
    families: list[str] = []
    for protocol in protocols:
        family = normalize_protocol(protocol)
        if family not in families:
            families.append(family)
    return families


def _salvage_request_id(raw: bytes, kind: str) -> tuple[str, str]:
    """(request_id, action) of a message that failed validation, when they can still be read."""
    if len(raw) > max_message_bytes(kind):
        return "", ""
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "", ""
    if not isinstance(document, dict):
        return "", ""
    request_id = document.get("request_id")
    if not isinstance(request_id, str) or _REQUEST_ID_RE.fullmatch(request_id) is None:
        return "", ""
    payload = document.get("payload")
    action = payload.get("action") if isinstance(payload, dict) else None
    if not isinstance(action, str) or not action.isidentifier() or len(action) > 32:
        action = ""
    return request_id, action


class CommandHandler:
    """Executes the commands of one profile against its files and its interface only."""

    def __init__(
        self,
        *,
        store: ProfileStore,
        profile: Profile,
        toolchain: Toolchain,
        platform: str,
        client_version: str,
    ) -> None:
        self.store = store
        self.profile = profile
        self.toolchain = toolchain
        self.platform = platform
        self.client_version = client_version
        self.recent = RecentRequests()

    # --- passive messages ---------------------------------------------------------------------

    def event(self, name: str, message: str, *, level: str = "info") -> Outbound:
        return Outbound(KIND_EVENT, {"level": level, "event": name, "message": _clip(message)})

    def wg_online(self, tunnel_protocol: str = "") -> bool:
        """The profile's interface is up (under `tunnel_protocol`, or under either toolchain)."""
        families = _families(tunnel_protocol or "wireguard", tunnel_protocol or "amneziawg")
        return any(self.toolchain.is_up(family, self.profile.interface) for family in families)

    def config_sha256(self) -> str:
        return file_sha256(self.profile.conf_path)

    def heartbeat(self) -> Outbound:
        return Outbound(
            KIND_HEARTBEAT,
            {
                "client_online": True,
                "wg_online": self.wg_online(),
                "config_sha256": self.config_sha256(),
                "platform": self.platform,
                "client_version": self.client_version,
            },
        )

    # --- commands -----------------------------------------------------------------------------

    def handle(self, topic: str, raw: bytes) -> list[Outbound]:
        """Run one downstream message; the events and the ACK to publish (empty: ignore it)."""
        parsed = parse_topic(topic)
        if parsed is None or (parsed.config_id, parsed.node_id) != (
            self.profile.config_id,
            self.profile.node_id,
        ):
            log.warning("dropped message on foreign topic %s", topic[:200])
            return []
        kind = parsed.kind
        if kind not in (KIND_CONFIG_PUSH, KIND_CONTROL, KIND_DETECT, KIND_INFO):
            log.warning("dropped non-command message on %s", topic)
            return []
        try:
            _, envelope = decode_message(topic, raw)
        except ProtocolError as exc:
            request_id, action = _salvage_request_id(raw, kind)
            if not request_id:
                log.warning("dropped invalid %s message: %s", kind, exc)
                return []
            if self.recent.seen(request_id):
                return []
            reason = f"Invalid {kind} message: {exc.message}"
            log.info("command kind=%s request_id=%s status=failed %s", kind, request_id, reason)
            return [self._ack(kind, request_id, Outcome(ok=False, message=reason), action=action)]
        request_id = envelope.request_id
        if not request_id:
            log.warning("dropped %s message without request_id", kind)
            return []
        if self.recent.seen(request_id):
            log.info("ignored repeated request_id=%s kind=%s", request_id, kind)
            return []
        payload = envelope.payload
        action = str(payload.get("action", ""))
        log.info("command kind=%s action=%s request_id=%s", kind, action or "-", request_id)
        try:
            messages = self._dispatch(kind, request_id, action, payload)
        except Exception as exc:  # a bug must still close the command, not leave it pending
            log.exception("command kind=%s request_id=%s crashed", kind, request_id)
            outcome = Outcome(ok=False, message=f"Agent error: {type(exc).__name__}: {exc}")
            messages = [self._ack(kind, request_id, outcome, action=action)]
        ack = messages[-1]
        log.info(
            "command kind=%s action=%s request_id=%s status=%s %s",
            kind,
            action or "-",
            request_id,
            ack.payload.get("status"),
            ack.payload.get("message"),
        )
        return messages

    def _dispatch(
        self, kind: str, request_id: str, action: str, payload: dict[str, Any]
    ) -> list[Outbound]:
        if kind == KIND_DETECT:
            return self._detect(request_id, str(payload.get("tunnel_protocol", "")))
        if kind == KIND_INFO:
            return self._info(request_id, payload)
        if kind == KIND_CONTROL:
            outcome = self._control(payload)
            return self._reply(kind, request_id, action, outcome, event="control")
        outcome = self._config_push(payload)
        return self._reply(kind, request_id, action, outcome, event="config_push")

    def _ack(
        self,
        kind: str,
        request_id: str,
        outcome: Outcome,
        *,
        action: str = "",
        tunnel_protocol: str = "",
    ) -> Outbound:
        payload: dict[str, Any] = {
            "status": STATUS_APPLIED if outcome.ok else STATUS_FAILED,
            "message": _clip(outcome.message),
        }
        if action:
            payload["action"] = action
        if kind == KIND_DETECT:
            payload.update(
                client_online=True,
                wg_online=self.wg_online(tunnel_protocol),
                platform=self.platform,
                client_version=self.client_version,
                config_sha256=self.config_sha256(),
            )
        return Outbound(ack_kind_for(kind), payload, request_id)

    def _reply(
        self, kind: str, request_id: str, action: str, outcome: Outcome, *, event: str
    ) -> list[Outbound]:
        verb = "applied" if outcome.ok else "failed"
        label = "Control command" if kind == KIND_CONTROL else "Config push"
        notice = self.event(
            event,
            f"{label} {verb}: {outcome.message}",
            level="info" if outcome.ok else "error",
        )
        return [notice, self._ack(kind, request_id, outcome, action=action)]

    def _detect(self, request_id: str, tunnel_protocol: str) -> list[Outbound]:
        outcome = Outcome(ok=True, message="Detect completed.")
        ack = self._ack(KIND_DETECT, request_id, outcome, tunnel_protocol=tunnel_protocol)
        return [self.event("detect", "Detect completed."), ack]

    def _info(self, request_id: str, payload: dict[str, Any]) -> list[Outbound]:
        tunnel_protocol = str(payload.get("tunnel_protocol", ""))
        action = str(payload.get("action", ""))
        interface = self.profile.interface
        result = self.toolchain.show(tunnel_protocol, interface)
        command = f"{tool_names(tunnel_protocol)[0]} show {interface}"
        stderr = result.stderr.strip()
        if result.ok:
            level, message, outcome = "info", command, Outcome(True, "Output sent as an event.")
        elif result.returncode is not None and any(h in stderr for h in _NOT_RUNNING_HINTS):
            text = f"Interface {interface} is not running"
            level, message, outcome = "warning", f"{text}: {stderr}", Outcome(True, text)
        else:
            text = f"{command} failed: {result.summary()}"
            level, message, outcome = "error", text, Outcome(False, text)
        output = result.stdout if result.ok else result.output
        event = Outbound(
            KIND_EVENT,
            {
                "level": level,
                "event": "command_output",
                "request_id": request_id,
                "action": action,
                "stream": "stdout",
                "message": _clip(message),
                "output": output[-MAX_OUTPUT_CHARS:],
            },
        )
        return [event, self._ack(KIND_INFO, request_id, outcome, action=action)]

    def _control(self, payload: dict[str, Any]) -> Outcome:
        target = str(payload.get("tunnel_protocol", "")) or "wireguard"
        previous = str(payload.get("previous_tunnel_protocol", "")) or target
        profile = self.profile
        conf = profile.conf_path
        requested = str(payload.get("interface_name", ""))
        if requested and requested != profile.interface:
            # The server names the interface; use its file if a push already wrote it.
            candidate = profile.directory / f"{requested}.conf"
            if candidate.is_file():
                conf = candidate
        interface = conf.name[: -len(".conf")]
        if payload.get("action") == ACTION_START:
            return self._start(target, previous, conf, interface)
        if payload.get("action") == ACTION_STOP:
            return self._stop(target, previous, conf, interface)
        return Outcome(False, f"Unknown control action {payload.get('action')!r}")

    def _start(self, target: str, previous: str, conf: Path, interface: str) -> Outcome:
        if not conf.is_file():
            return Outcome(
                False, f"No config for {interface} yet: sync the node so its config is pushed"
            )
        for family in _families(previous, target):
            if family == normalize_protocol(target):
                continue
            if self.toolchain.is_up(family, interface):
                stopped = self.toolchain.down(family, conf)
                if not stopped.ok:
                    return Outcome(False, f"Could not stop {interface}: {stopped.summary()}")
        if self.toolchain.is_up(target, interface):
            return Outcome(True, f"Tunnel {interface} is already running")
        return self._bring_up(target, conf, interface, "started")

    def _bring_up(self, target: str, conf: Path, interface: str, verb: str) -> Outcome:
        started = self.toolchain.up(target, conf)
        if not started.ok:
            return Outcome(False, f"Tunnel {interface} failed to start: {started.summary()}")
        if not self.toolchain.is_up(target, interface):
            return Outcome(False, f"Tunnel {interface} is not up after start: {started.summary()}")
        return Outcome(True, f"Tunnel {interface} {verb}")

    def _stop(self, target: str, previous: str, conf: Path, interface: str) -> Outcome:
        running = [f for f in _families(previous, target) if self.toolchain.is_up(f, interface)]
        if not running:
            return Outcome(True, f"Tunnel {interface} is not running")
        if not conf.is_file():
            return Outcome(False, f"Cannot stop {interface}: {conf} is missing")
        for family in running:
            stopped = self.toolchain.down(family, conf)
            if not stopped.ok:
                return Outcome(False, f"Could not stop {interface}: {stopped.summary()}")
        if any(self.toolchain.is_up(family, interface) for family in running):
            return Outcome(False, f"Tunnel {interface} is still up after stop")
        return Outcome(True, f"Tunnel {interface} stopped")

    def _config_push(self, payload: dict[str, Any]) -> Outcome:
        target = str(payload.get("tunnel_protocol", "")) or "wireguard"
        previous = str(payload.get("previous_tunnel_protocol", "")) or target
        version = payload.get("config_version")
        old = self.profile
        running = [f for f in _families(previous, target) if self.toolchain.is_up(f, old.interface)]
        for family in running:
            stopped = self.toolchain.down(family, old.conf_path)
            if not stopped.ok:
                return Outcome(
                    False,
                    f"Could not stop {old.interface} to apply v{version}: {stopped.summary()}",
                )
        try:
            new = self.store.adopt_config(
                old,
                interface_name=str(payload.get("interface_name", "")),
                text=str(payload.get("config_text", "")),
            )
        except (OSError, ProfileError) as exc:
            reason = f"Could not write config v{version}: {exc}"
            if running:  # put the old tunnel back as it was
                restored = self.toolchain.up(running[0], old.conf_path)
                reason += "; previous tunnel " + ("restarted" if restored.ok else "left stopped")
            return Outcome(False, reason)
        self.profile = new
        if not running:
            return Outcome(True, f"Config v{version} saved; tunnel {new.interface} not running")
        outcome = self._bring_up(target, new.conf_path, new.interface, "restarted")
        if not outcome.ok:
            return Outcome(False, f"Config v{version} saved but {outcome.message}")
        return Outcome(True, f"Config v{version} applied; tunnel {new.interface} restarted")
