"""Fixtures for the agent's unit tests: a profile store in tmp and recording stand-in wg tools.

The stand-ins are real executables the agent runs through subprocess, exactly as it runs wg and
wg-quick; they keep "interfaces" as files in a state directory and log every call. Real tunnels
are exercised by tests/integration/test_agent_mqtt.py (wireguard-go in a network namespace).
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wfm_agent.handlers import CommandHandler
from wfm_agent.profiles import Profile, ProfileStore
from wfm_agent.toolchain import Toolchain
from wfm_core.protocol import build_command, topic

CONFIG_ID = "cfg_unit"
NODE_ID = "node_unit"
IFACE = "wfm-unit0001"

_SHOW = r"""#!/bin/sh
# Recording stand-in for wg/awg: `show <iface>` succeeds while "$state/up-<family>-<iface>" exists.
state="$(dirname "$0")/state"
family="$(basename "$0")"
echo "$family $*" >> "$state/calls"
if [ "$1" = "--version" ]; then echo "$family fake v1"; exit 0; fi
if [ "$1" = "show" ] && [ -n "$2" ]; then
  if [ -f "$state/up-$family-$2" ]; then
    printf 'interface: %s\n  listening port: 51820\n' "$2"; exit 0
  fi
  echo "Unable to access interface: No such device" >&2; exit 1
fi
exit 0
"""

_QUICK = r"""#!/bin/sh
# Recording stand-in for wg-quick/awg-quick: up/down create/remove the "interface" file.
state="$(dirname "$0")/state"
tool="$(basename "$0")"
family="${tool%-quick}"
echo "$tool $*" >> "$state/calls"
iface="$(basename "$2" .conf)"
if [ -f "$state/fail-$tool-$1" ]; then echo "$tool: simulated $1 failure" >&2; exit 1; fi
case "$1" in
  up) if [ -f "$state/up-$family-$iface" ]; then echo "$iface already exists" >&2; exit 1; fi
      cp "$2" "$state/up-$family-$iface";;
  down) if [ ! -f "$state/up-$family-$iface" ]; then
          echo "$iface is not a WireGuard interface" >&2; exit 1
        fi
      rm "$state/up-$family-$iface";;
esac
"""


@dataclass
class FakeTools:
    directory: Path

    @property
    def state(self) -> Path:
        return self.directory / "state"

    def overrides(self) -> dict[str, str]:
        return {name: str(self.directory / name) for name in ("wg", "wg-quick", "awg", "awg-quick")}

    def calls(self) -> list[str]:
        path = self.state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def quick_calls(self) -> list[str]:
        return [call for call in self.calls() if "-quick " in call]

    def set_up(self, family: str, iface: str, text: str = "") -> None:
        (self.state / f"up-{family}-{iface}").write_text(text)

    def is_up(self, family: str, iface: str) -> bool:
        return (self.state / f"up-{family}-{iface}").exists()

    def up_text(self, family: str, iface: str) -> str:
        return (self.state / f"up-{family}-{iface}").read_text()

    def fail(self, tool: str, action: str) -> None:
        (self.state / f"fail-{tool}-{action}").write_text("")


@pytest.fixture
def fake_tools(tmp_path: Path) -> FakeTools:
    directory = tmp_path / "tools"
    (directory / "state").mkdir(parents=True)
    for name, script in (
        ("wg", _SHOW),
        ("awg", _SHOW),
        ("wg-quick", _QUICK),
        ("awg-quick", _QUICK),
    ):
        path = directory / name
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return FakeTools(directory)


def bound_data(
    *,
    profile_id: str = f"{CONFIG_ID}-{NODE_ID}",
    config_id: str = CONFIG_ID,
    node_id: str = NODE_ID,
    interface_name: str = IFACE,
    desired: str = "",
    host: str = "127.0.0.1",
    port: int = 1883,
    password: str = "secret-password",
) -> dict[str, Any]:
    """The `data` of a bind response, as services/api returns it."""
    return {
        "profile": {
            "profile_id": profile_id,
            "server_url": "http://wfm.test",
            "config_id": config_id,
            "config_name": "lab",
            "node_id": node_id,
            "node_name": "edge-1",
            "interface_name": interface_name,
            "hostname": "host-1",
            "platform": "linux",
            "client_version": "0.1.0",
        },
        "mqtt": {
            "host": host,
            "port": port,
            "tls": False,
            "username": node_id,
            "password": password,
            "client_id": f"wfm-{node_id}",
            "ca_cert": None,
            "topics": {"subscribe": [], "publish": []},
        },
        "desired_conf": desired,
    }


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    return ProfileStore(tmp_path / "profiles")


@pytest.fixture
def profile(store: ProfileStore) -> Profile:
    return store.save_bound(bound_data(), server_url="http://wfm.test")


@pytest.fixture
def handler(store: ProfileStore, profile: Profile, fake_tools: FakeTools) -> CommandHandler:
    return CommandHandler(
        store=store,
        profile=profile,
        toolchain=Toolchain(fake_tools.overrides()),
        platform="linux",
        client_version="9.9.9",
    )


def command(
    kind: str, payload: dict[str, Any], *, request_id: str | None = None
) -> tuple[str, bytes]:
    """(topic, raw) of a backend command to this node, as mqtt-ingest publishes it."""
    envelope = build_command(
        kind, config_id=CONFIG_ID, node_id=NODE_ID, payload=payload, request_id=request_id
    )
    return topic(CONFIG_ID, NODE_ID, kind), envelope.to_json()


CONFIG_TEXT = "[Interface]\nPrivateKey = x\nAddress = 10.9.0.2/24\n"


def push_payload(
    text: str = CONFIG_TEXT, *, version: int = 1, iface: str = IFACE, **extra: Any
) -> dict[str, Any]:
    return {
        "action": "push_config",
        "tunnel_protocol": "wireguard",
        "previous_tunnel_protocol": "wireguard",
        "interface_name": iface,
        "config_version": version,
        "config_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "config_text": text,
        **extra,
    }
