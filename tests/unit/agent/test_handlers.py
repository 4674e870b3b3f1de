"""What the agent decides for each command and what it answers (§6.4, §6.5, §7.4).

The handler runs recording stand-ins for wg / wg-quick (see conftest): these tests check the
decisions — which tool, which file, which ACK — not WireGuard itself.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from wfm_agent.handlers import CommandHandler, Outbound, RecentRequests
from wfm_agent.profiles import ProfileStore
from wfm_agent.toolchain import Toolchain
from wfm_core.protocol import (
    KIND_CONFIG_PUSH,
    KIND_CONTROL,
    KIND_DETECT,
    KIND_INFO,
    build_upstream,
    new_request_id,
    topic,
)

from .conftest import CONFIG_ID, CONFIG_TEXT, IFACE, NODE_ID, FakeTools, command, push_payload


def _only_ack(messages: list[Outbound], kind: str, request_id: str) -> dict[str, Any]:
    acks = [m for m in messages if m.kind.endswith("/ack")]
    assert len(acks) == 1, messages
    assert messages[-1] is acks[0], "the ACK comes last, after the events"
    assert acks[0].kind == kind
    assert acks[0].request_id == request_id
    # Every reply must pass the same validation the backend applies.
    for message in messages:
        build_upstream(
            message.kind,
            config_id=CONFIG_ID,
            node_id=NODE_ID,
            boot_id="boot-1",
            session_id="session-1",
            payload=message.payload,
            request_id=message.request_id,
        )
    return acks[0].payload


def _events(messages: list[Outbound]) -> list[dict[str, Any]]:
    return [m.payload for m in messages if m.kind == "event"]


def _run(handler: CommandHandler, kind: str, payload: dict[str, Any]) -> tuple[str, list[Outbound]]:
    request_id = new_request_id()
    name, raw = command(kind, payload, request_id=request_id)
    return request_id, handler.handle(name, raw)


def test_detect_reports_liveness_platform_version_and_config_sha(
    handler: CommandHandler, fake_tools: FakeTools
) -> None:
    handler.store.write_config(handler.profile, CONFIG_TEXT)
    request_id, messages = _run(handler, KIND_DETECT, {"tunnel_protocol": "wireguard"})
    ack = _only_ack(messages, "detect/ack", request_id)
    assert ack == {
        "status": "applied",
        "message": "Detect completed.",
        "client_online": True,
        "wg_online": False,
        "platform": "linux",
        "client_version": "9.9.9",
        "config_sha256": hashlib.sha256(CONFIG_TEXT.encode()).hexdigest(),
    }
    assert _events(messages) == [
        {"level": "info", "event": "detect", "message": "Detect completed."}
    ]
    fake_tools.set_up("wg", IFACE)
    request_id, messages = _run(handler, KIND_DETECT, {})  # older backends send {}
    assert _only_ack(messages, "detect/ack", request_id)["wg_online"] is True


def test_a_repeated_request_id_is_ignored(handler: CommandHandler, fake_tools: FakeTools) -> None:
    handler.store.write_config(handler.profile, CONFIG_TEXT)
    request_id = new_request_id()
    name, raw = command(
        KIND_CONTROL,
        {"action": "start", "tunnel_protocol": "wireguard", "interface_name": IFACE},
        request_id=request_id,
    )
    assert handler.handle(name, raw)
    assert handler.handle(name, raw) == []
    assert fake_tools.quick_calls() == [f"wg-quick up {handler.profile.conf_path}"]


def test_recent_requests_memory_is_bounded() -> None:
    recent = RecentRequests(size=3)
    for request_id in ("a", "b", "c", "d"):
        assert not recent.seen(request_id)
    assert len(recent) == 3
    assert recent.seen("d")
    assert not recent.seen("a")  # forgotten: the oldest went first


def test_invalid_command_is_answered_failed_with_its_request_id(handler: CommandHandler) -> None:
    request_id = new_request_id()
    name, raw = command(KIND_CONFIG_PUSH, push_payload(), request_id=request_id)
    document = json.loads(raw)
    document["payload"]["config_sha256"] = "0" * 64  # does not match the text
    messages = handler.handle(name, json.dumps(document).encode())
    ack = _only_ack(messages, "config/push/ack", request_id)
    assert ack["status"] == "failed"
    assert "config_sha256" in ack["message"]
    assert ack["action"] == "push_config"
    assert not handler.profile.conf_path.exists()
    # An unknown tunnel protocol fails the same way (§7.4: validate before anything else).
    request_id = new_request_id()
    name, raw = command(KIND_INFO, {"action": "wg_show", "tunnel_protocol": "wireguard"})
    document = json.loads(raw)
    document["request_id"] = request_id
    document["payload"]["tunnel_protocol"] = "openvpn"
    ack = _only_ack(handler.handle(name, json.dumps(document).encode()), "info/ack", request_id)
    assert ack["status"] == "failed"
    assert "tunnel_protocol" in ack["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"type":"detect"}',
        b"\xff\xfe",
        json.dumps({"request_id": "x"}).encode(),
    ],
)
def test_garbage_without_a_request_id_is_dropped(handler: CommandHandler, raw: bytes) -> None:
    assert handler.handle(topic(CONFIG_ID, NODE_ID, KIND_DETECT), raw) == []


def test_messages_for_another_node_or_kind_are_dropped(handler: CommandHandler) -> None:
    _, raw = command(KIND_DETECT, {})
    assert handler.handle(topic(CONFIG_ID, "node_other", KIND_DETECT), raw) == []
    assert handler.handle(topic(CONFIG_ID, NODE_ID, "heartbeat"), raw) == []
    assert handler.handle("elsewhere/topic", raw) == []


def _control(action: str, **extra: Any) -> dict[str, Any]:
    return {"action": action, "tunnel_protocol": "wireguard", "interface_name": IFACE, **extra}


def test_control_start_and_stop(handler: CommandHandler, fake_tools: FakeTools) -> None:
    request_id, messages = _run(handler, KIND_CONTROL, _control("start"))
    ack = _only_ack(messages, "control/ack", request_id)
    assert ack["status"] == "failed"
    assert "No config" in ack["message"]
    assert fake_tools.quick_calls() == []
    assert _events(messages)[0]["level"] == "error"
    assert _events(messages)[0]["event"] == "control"

    handler.store.write_config(handler.profile, CONFIG_TEXT)
    request_id, messages = _run(handler, KIND_CONTROL, _control("start"))
    ack = _only_ack(messages, "control/ack", request_id)
    assert ack == {"status": "applied", "message": f"Tunnel {IFACE} started", "action": "start"}
    assert _events(messages) == [
        {
            "level": "info",
            "event": "control",
            "message": f"Control command applied: Tunnel {IFACE} started",
        }
    ]
    assert fake_tools.is_up("wg", IFACE)
    request_id, messages = _run(handler, KIND_CONTROL, _control("start"))
    assert _only_ack(messages, "control/ack", request_id)["message"].endswith("already running")

    request_id, messages = _run(handler, KIND_CONTROL, _control("stop"))
    assert _only_ack(messages, "control/ack", request_id)["status"] == "applied"
    assert not fake_tools.is_up("wg", IFACE)
    request_id, messages = _run(handler, KIND_CONTROL, _control("stop"))
    ack = _only_ack(messages, "control/ack", request_id)
    assert (ack["status"], ack["message"]) == ("applied", f"Tunnel {IFACE} is not running")
    conf = handler.profile.conf_path
    assert fake_tools.quick_calls() == [f"wg-quick up {conf}", f"wg-quick down {conf}"]


def test_control_start_failure_carries_the_tool_output(
    handler: CommandHandler, fake_tools: FakeTools
) -> None:
    handler.store.write_config(handler.profile, CONFIG_TEXT)
    fake_tools.fail("wg-quick", "up")
    request_id, messages = _run(handler, KIND_CONTROL, _control("start"))
    ack = _only_ack(messages, "control/ack", request_id)
    assert ack["status"] == "failed"
    assert "simulated up failure" in ack["message"]


def test_stop_covers_the_previous_protocol(handler: CommandHandler, fake_tools: FakeTools) -> None:
    """A protocol switch: the interface still runs under AWG when the stop names WireGuard."""
    handler.store.write_config(handler.profile, CONFIG_TEXT)
    fake_tools.set_up("awg", IFACE)
    request_id, messages = _run(
        handler, KIND_CONTROL, _control("stop", previous_tunnel_protocol="amneziawg_2")
    )
    assert _only_ack(messages, "control/ack", request_id)["status"] == "applied"
    assert fake_tools.quick_calls() == [f"awg-quick down {handler.profile.conf_path}"]
    assert not fake_tools.is_up("awg", IFACE)


def test_awg_protocol_uses_the_awg_tools(handler: CommandHandler, fake_tools: FakeTools) -> None:
    handler.store.write_config(handler.profile, CONFIG_TEXT)
    request_id, messages = _run(
        handler, KIND_CONTROL, {**_control("start"), "tunnel_protocol": "amneziawg_2"}
    )
    assert _only_ack(messages, "control/ack", request_id)["status"] == "applied"
    assert fake_tools.is_up("awg", IFACE)
    assert not fake_tools.is_up("wg", IFACE)


def test_config_push_while_stopped_only_writes_files(
    handler: CommandHandler, fake_tools: FakeTools
) -> None:
    request_id, messages = _run(handler, KIND_CONFIG_PUSH, push_payload(version=7))
    ack = _only_ack(messages, "config/push/ack", request_id)
    assert ack == {
        "status": "applied",
        "message": f"Config v7 saved; tunnel {IFACE} not running",
        "action": "push_config",
    }
    assert _events(messages)[0]["event"] == "config_push"
    assert handler.profile.conf_path.read_text() == CONFIG_TEXT
    assert handler.profile.desired_path.read_text() == CONFIG_TEXT
    assert fake_tools.quick_calls() == []


def test_config_push_while_running_restarts_with_the_new_file_and_name(
    handler: CommandHandler, fake_tools: FakeTools, store: ProfileStore
) -> None:
    handler.store.write_config(handler.profile, "old\n")
    old_conf = handler.profile.conf_path
    fake_tools.set_up("wg", IFACE, "old\n")
    new_text = CONFIG_TEXT + "ListenPort = 51821\n"
    request_id, messages = _run(
        handler, KIND_CONFIG_PUSH, push_payload(new_text, version=8, iface="wfm-renamed01")
    )
    ack = _only_ack(messages, "config/push/ack", request_id)
    assert ack["status"] == "applied", ack
    assert ack["message"] == "Config v8 applied; tunnel wfm-renamed01 restarted"
    new_conf = old_conf.with_name("wfm-renamed01.conf")
    assert fake_tools.quick_calls() == [f"wg-quick down {old_conf}", f"wg-quick up {new_conf}"]
    assert fake_tools.up_text("wg", "wfm-renamed01") == new_text
    assert not old_conf.exists()
    assert store.load(handler.profile.profile_id).interface_name == "wfm-renamed01"
    # Heartbeats now report the new file.
    heartbeat = handler.heartbeat()
    assert heartbeat.payload["wg_online"] is True
    assert heartbeat.payload["config_sha256"] == hashlib.sha256(new_text.encode()).hexdigest()


def test_config_push_reports_failure_when_the_restart_fails(
    handler: CommandHandler, fake_tools: FakeTools
) -> None:
    handler.store.write_config(handler.profile, "old\n")
    fake_tools.set_up("wg", IFACE, "old\n")
    fake_tools.fail("wg-quick", "up")
    request_id, messages = _run(handler, KIND_CONFIG_PUSH, push_payload(version=9))
    ack = _only_ack(messages, "config/push/ack", request_id)
    assert ack["status"] == "failed"
    assert ack["message"].startswith("Config v9 saved but Tunnel")
    assert _events(messages)[0]["level"] == "error"


def test_config_push_does_not_write_when_the_stop_fails(
    handler: CommandHandler, fake_tools: FakeTools
) -> None:
    handler.store.write_config(handler.profile, "old\n")
    fake_tools.set_up("wg", IFACE, "old\n")
    fake_tools.fail("wg-quick", "down")
    request_id, messages = _run(handler, KIND_CONFIG_PUSH, push_payload(version=10))
    assert _only_ack(messages, "config/push/ack", request_id)["status"] == "failed"
    assert handler.profile.conf_path.read_text() == "old\n"


def test_info_sends_output_as_an_event_and_acks_without_it(
    handler: CommandHandler, fake_tools: FakeTools
) -> None:
    fake_tools.set_up("wg", IFACE)
    request_id, messages = _run(
        handler, KIND_INFO, {"action": "wg_show", "tunnel_protocol": "wireguard"}
    )
    ack = _only_ack(messages, "info/ack", request_id)
    assert ack == {"status": "applied", "message": "Output sent as an event.", "action": "wg_show"}
    [event] = _events(messages)
    assert event["event"] == "command_output"
    assert event["request_id"] == request_id
    assert event["action"] == "wg_show"
    assert event["stream"] == "stdout"
    assert event["output"].startswith(f"interface: {IFACE}")
    assert fake_tools.calls()[-1] == f"wg show {IFACE}"  # its own interface only

    fake_tools.state.joinpath(f"up-wg-{IFACE}").unlink()
    request_id, messages = _run(
        handler, KIND_INFO, {"action": "wg_show", "tunnel_protocol": "wireguard"}
    )
    ack = _only_ack(messages, "info/ack", request_id)
    assert (ack["status"], ack["message"]) == ("applied", f"Interface {IFACE} is not running")
    assert "No such device" in _events(messages)[0]["output"]


def test_missing_tools_fail_info_and_read_as_down(handler: CommandHandler, tmp_path: Any) -> None:
    handler.toolchain = Toolchain({"wg": str(tmp_path / "no-such-wg")})
    request_id, messages = _run(
        handler, KIND_INFO, {"action": "wg_show", "tunnel_protocol": "wireguard"}
    )
    ack = _only_ack(messages, "info/ack", request_id)
    assert ack["status"] == "failed"
    assert "not found" in ack["message"]
    assert _events(messages)[0]["level"] == "error"
    assert handler.heartbeat().payload["wg_online"] is False


def test_heartbeat_payload(handler: CommandHandler) -> None:
    beat = handler.heartbeat()
    assert beat.kind == "heartbeat"
    assert beat.payload == {
        "client_online": True,
        "wg_online": False,
        "config_sha256": "",
        "platform": "linux",
        "client_version": "9.9.9",
    }


def test_a_crash_still_closes_the_command(
    handler: CommandHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(handler.store, "adopt_config", broken)
    request_id, messages = _run(handler, KIND_CONFIG_PUSH, push_payload())
    ack = _only_ack(messages, "config/push/ack", request_id)
    assert ack["status"] == "failed"
    assert ack["message"] == "Agent error: RuntimeError: disk on fire"
