"""wfmctl: parsing, exit codes (0 ok, 1 error, 2 usage), text and JSON output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wfm_agent import __version__
from wfm_agent.__main__ import main as entry_main
from wfm_agent.bind import _error_from, normalize_server
from wfm_agent.cli import main
from wfm_agent.profiles import ProfileStore

from .conftest import CONFIG_TEXT, IFACE, FakeTools, bound_data

Capture = pytest.CaptureFixture[str]


@pytest.fixture(autouse=True)
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every command works on a tmp root, never on /etc/wg-free-mesh."""
    root = tmp_path / "profiles"
    monkeypatch.setenv("WFM_AGENT_ROOT", str(root))
    monkeypatch.setenv("WFM_AGENT_LOG_DIR", str(tmp_path / "logs"))
    return root


@pytest.mark.parametrize("argv", [["version"], ["-v"], ["--version"]])
def test_version(argv: list[str], capsys: Capture) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().out == f"wfmctl {__version__}\n"


def test_help_and_usage_errors(capsys: Capture) -> None:
    assert main(["help"]) == 0
    assert "bind" in capsys.readouterr().out
    assert main(["help", "bind"]) == 0
    assert "--token" in capsys.readouterr().out
    assert main(["-h"]) == 0
    capsys.readouterr()
    assert main([]) == 2
    assert main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["logs", "--lines", "many"]) == 2
    assert main(["bind"]) == 2
    assert "server and the token" in capsys.readouterr().err
    assert main(["bind", "wfm.example.net", "tok"]) == 2
    assert "http:// or https://" in capsys.readouterr().err
    assert main(["unbind"]) == 2
    assert main(["unbind", "x", "--all"]) == 2


def test_entry_point_dispatch(capsys: Capture) -> None:
    assert entry_main(["version"], program="wfm-agent.pyz") == 0
    assert capsys.readouterr().out.startswith("wfmctl ")
    with pytest.raises(SystemExit) as info:
        entry_main(["agent", "--version"], program="wfm-agent.pyz")
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("wfm-agent ")
    with pytest.raises(SystemExit):
        entry_main(["--version"], program="/usr/local/bin/wfm-agent")
    assert capsys.readouterr().out.startswith("wfm-agent ")


def test_list_and_status(root: Path, capsys: Capture) -> None:
    assert main(["list"]) == 0
    assert "No profiles under" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    store = ProfileStore(root)
    store.save_bound(bound_data(desired=CONFIG_TEXT), server_url="http://wfm.test")
    (store.root / "cfg_x-node_bad").mkdir()
    (store.root / "cfg_x-node_bad" / "profile.json").write_text("{}")
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "cfg_unit-node_unit | lab/edge-1 | server=http://wfm.test profile=present "
        "desired=present mqtt=127.0.0.1:1883 tls=false"
    )
    assert lines[1].startswith("cfg_x-node_bad | ?/? | server=? profile=invalid")
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [item["profile"] for item in listed] == ["present", "invalid"]
    assert listed[0]["interface_name"] == IFACE
    assert listed[0]["mqtt"] == {
        "host": "127.0.0.1",
        "port": 1883,
        "tls": False,
        "client_id": "wfm-node_unit",
    }
    assert "password" not in json.dumps(listed)  # never print credentials
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["profile_root"] == str(root)
    assert (status["bindings"], status["healthy_bindings"]) == (2, 1)
    assert status["running"] is False
    assert status["agent_pid"] is None
    assert status["service_manager"] in ("systemd", "launchd", "none")
    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert f"profile root: {root}" in text
    assert "bindings: 2 (1 healthy)" in text
    # --profile-root overrides the environment, before or after the command.
    other = root.parent / "other"
    assert main(["--profile-root", str(other), "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["list", "--json", "--profile-root", str(other)]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_unbind_stops_the_tunnel_and_removes_files(
    root: Path, capsys: Capture, fake_tools: FakeTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, path in fake_tools.overrides().items():
        monkeypatch.setenv(f"WFM_AGENT_{name.upper().replace('-', '_')}", path)
    store = ProfileStore(root)
    profile = store.save_bound(bound_data(desired=CONFIG_TEXT), server_url="http://wfm.test")
    store.save_bound(
        bound_data(profile_id="cfg_unit-node_two", node_id="node_two"), server_url="http://x"
    )
    fake_tools.set_up("wg", IFACE)
    assert main(["unbind", "cfg_nope-node_nope"]) == 1
    assert "no profile" in capsys.readouterr().err
    assert main(["unbind", profile.profile_id]) == 0
    out = capsys.readouterr().out
    assert f"Removed profile {profile.profile_id} (stopped {IFACE})" in out
    assert "agent is not running" in out
    assert fake_tools.quick_calls() == [f"wg-quick down {profile.conf_path}"]
    assert [entry.profile_id for entry in store.entries()] == ["cfg_unit-node_two"]
    assert main(["unbind", "--all"]) == 0
    assert store.entries() == []


def test_logs(tmp_path: Path, capsys: Capture) -> None:
    assert main(["logs"]) == 1
    assert "no agent log" in capsys.readouterr().err
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "wfm-agent.log").write_text("".join(f"line {i}\n" for i in range(300)))
    assert main(["logs", "--lines", "3"]) == 0
    assert capsys.readouterr().out == "line 297\nline 298\nline 299\n"
    assert main(["logs"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 100
    assert main(["logs", "-n", "0"]) == 2


def test_bind_reports_an_unreachable_server(capsys: Capture) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["bind", "--server", f"http://127.0.0.1:{port}", "--token", "t"]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_bind_error_codes_become_instructions() -> None:
    body = json.dumps(
        {"success": False, "error": {"code": "CLIENT_BIND_TOKEN_EXPIRED", "message": "x"}}
    ).encode()
    error = _error_from(body, 401)
    assert error.code == "CLIENT_BIND_TOKEN_EXPIRED"
    assert "expired" in error.message
    assert "new bind command" in error.message
    unknown = _error_from(
        json.dumps({"success": False, "error": {"code": "NEW_CODE", "message": "odd"}}).encode(),
        500,
    )
    assert (unknown.code, unknown.message) == ("NEW_CODE", "odd")
    assert _error_from(b"<html>bad gateway</html>", 502).message == "the server answered HTTP 502"
    assert normalize_server(" https://wfm.example.net/ ") == "https://wfm.example.net"


def test_install_into_a_destdir_writes_the_unit(tmp_path: Path, capsys: Capture) -> None:
    destdir = tmp_path / "pkg"
    root = tmp_path / "custom-root"
    assert main(["install", "--destdir", str(destdir), "--profile-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "IPv4 forwarding:" in out
    assert "wg:" in out
    unit = (destdir / "etc/systemd/system/wfm-agent.service").read_text()
    assert "Description=WG Free Mesh Agent" in unit
    assert "Restart=on-failure" in unit
    assert "RestartSec=3" in unit
    assert "KillMode=process" in unit  # a restart must not kill userspace tunnels
    assert "WantedBy=multi-user.target" in unit
    assert f"Environment=WFM_AGENT_ROOT={root}" in unit
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert "wfm-agent" in exec_start or "wfm_agent" in exec_start
    link = destdir / "usr/local/bin/wfmctl"
    assert link.is_symlink()
    assert os.stat(destdir / root.relative_to("/")).st_mode & 0o777 == 0o700
