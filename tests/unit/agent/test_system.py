"""Where the agent looks for profiles, logs and tools: options, then WFM_AGENT_*, then defaults."""

from __future__ import annotations

import re
from pathlib import Path

from wfm_agent import __version__
from wfm_agent.system import LINUX_LOG_DIR, LINUX_ROOT, Environment, goos
from wfm_agent.toolchain import CommandResult, Toolchain


def test_environment_precedence() -> None:
    defaults = Environment.from_env(env={})
    if goos() == "linux":
        assert (defaults.root, defaults.log_dir) == (LINUX_ROOT, LINUX_LOG_DIR)
    from_env = Environment.from_env(
        env={
            "WFM_AGENT_ROOT": "/srv/ns1/profiles",
            "WFM_AGENT_WG_QUICK": "ip netns exec a wg-quick",
        }
    )
    assert from_env.root == Path("/srv/ns1/profiles")
    assert from_env.log_dir == Path("/srv/ns1/logs")  # next to a custom root
    assert from_env.tools == {"wg-quick": "ip netns exec a wg-quick"}
    chosen = Environment.from_env(
        root="/opt/p", log_dir="/opt/l", env={"WFM_AGENT_ROOT": "/srv/x", "WFM_AGENT_LOG_DIR": "/y"}
    )
    assert (chosen.root, chosen.log_dir) == (Path("/opt/p"), Path("/opt/l"))


def test_tool_overrides_are_command_lines() -> None:
    tools = Toolchain({"wg": "ip netns exec 'ns 1' wg"})
    assert tools.tools("wireguard") == (["ip", "netns", "exec", "ns 1", "wg"], ["wg-quick"])
    assert tools.tools("amneziawg_2") == (["awg"], ["awg-quick"])
    assert tools.tools("")[0] == ["ip", "netns", "exec", "ns 1", "wg"]  # "" means WireGuard


def test_command_results_summarise_failures(tmp_path: Path) -> None:
    script = tmp_path / "slow"
    script.write_text("#!/bin/sh\necho started\nsleep 5\n")
    script.chmod(0o755)
    tools = Toolchain({"wg-quick": str(script)}, command_timeout=0.3)
    result = tools.up("wireguard", tmp_path / "x.conf")
    assert not result.ok
    assert "timed out after 0.3 s" in result.summary()
    failed = CommandResult(("wg-quick", "up", "x"), 1, "", "line one\nline two\n")
    assert failed.summary() == "exit status 1: line one line two"
    assert CommandResult(("wg",), 0, "ok\n").ok


def test_version_matches_the_package_metadata() -> None:
    pyproject = Path(__file__).resolve().parents[3] / "services/agent/pyproject.toml"
    declared = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.MULTILINE)
    assert declared is not None
    assert declared.group(1) == __version__
