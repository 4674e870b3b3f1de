"""The zipapp as a node gets it: built from the workspace, run with a bare python3 (3.9 too),
bound to a real API process with a token from the bind-command API, then connected to the broker.

The broker account that emqx-sync would create after the bind is provisioned here from the
password the node received, so this test needs only the API, the broker and the agent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from brokers import BrokerInstance, provision_node_account, provision_services_account
from e2e.server import running_api

from wfm_agent import __version__
from wfm_agent.build import build_zipapp

from .agent_support import (
    PYTHON39,
    SERVICES_PASSWORD,
    SERVICES_USERNAME,
    AgentProcess,
    Node,
    watching,
)

pytestmark = pytest.mark.timeout(180)
SYSTEM_PYTHON = Path("/usr/bin/python3")
V1 = "/api/v1"


@pytest.fixture(scope="module")
def zipapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_zipapp(tmp_path_factory.mktemp("dist") / "wfm-agent.pyz")


def _bare_env() -> dict[str, str]:
    """A node's environment: none of the workspace's Python paths or WFM settings."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WFM_", "PYTHON", "VIRTUAL_ENV", "UV_"))
    }


def _run(python: Path, zipapp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), str(zipapp), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_bare_env(),
        cwd="/",
    )


def _pythons() -> Iterator[object]:
    for python in (PYTHON39, SYSTEM_PYTHON):
        yield pytest.param(
            python,
            id=python.name if python != PYTHON39 else "python3.9",
            marks=pytest.mark.skipif(not python.exists(), reason=f"{python} is not installed"),
        )


@pytest.mark.parametrize("python", list(_pythons()))
def test_zipapp_runs_on_a_bare_python(zipapp: Path, python: Path, tmp_path: Path) -> None:
    assert _run(python, zipapp, "version").stdout == f"wfmctl {__version__}\n"
    helped = _run(python, zipapp, "--help")
    assert helped.returncode == 0
    for command in ("install", "bind", "unbind", "list", "status", "logs", "start", "stop"):
        assert command in helped.stdout
    assert _run(python, zipapp, "agent", "--version").stdout == f"wfm-agent {__version__}\n"
    assert _run(python, zipapp, "no-such-command").returncode == 2
    listed = _run(python, zipapp, "list", "--json", "--profile-root", str(tmp_path / "p"))
    assert (listed.returncode, json.loads(listed.stdout)) == (0, [])


def test_zipapp_is_reproducible_and_pure_python(zipapp: Path, tmp_path: Path) -> None:
    again = build_zipapp(tmp_path / "again.pyz")
    assert again.read_bytes() == zipapp.read_bytes()
    assert zipapp.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(zipapp, os.X_OK)
    import zipfile

    with zipfile.ZipFile(zipapp) as archive:
        names = archive.namelist()
    assert names == sorted(names)
    assert all(name.endswith((".py", ".typed")) or name.startswith("licenses/") for name in names)
    assert "wfm_core/protocol/envelope.py" in names
    assert "paho/mqtt/client.py" in names
    core = [name for name in names if name.startswith("wfm_core/")]
    assert [name for name in core if not name.startswith("wfm_core/protocol/")] == [
        "wfm_core/__init__.py"  # a stub: nothing of the server side travels to nodes
    ]
    assert "wfm_agent/build.py" not in names


@contextlib.contextmanager
def _admin(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=15) as client:
        setup = client.post(f"{V1}/auth/setup", json={"password": "agent-bind-test-pw"})
        assert setup.status_code == 200, setup.text
        client.headers["Authorization"] = f"Bearer {setup.json()['data']['access_token']}"
        yield client


def _data(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return dict(body["data"])


async def test_bind_with_the_zipapp_then_connect(
    broker: BrokerInstance, zipapp: Path, tmp_path: Path
) -> None:
    python = PYTHON39 if PYTHON39.exists() else Path(sys.executable)
    root = tmp_path / "profiles"
    with (
        running_api(
            WFM_DATABASE=f"sqlite:///{tmp_path}/wfm.db",
            WFM_DATA_DIR=str(tmp_path),
            WFM_MQTT_PUBLIC_HOST=broker.host,
            WFM_MQTT_PUBLIC_PORT=str(broker.port),
        ) as base,
        _admin(base) as admin,
    ):
        config = _data(admin.post(f"{V1}/configs", json={"name": "bindlab"}))
        cid = str(config["id"])
        nodes = [
            _data(
                admin.post(
                    f"{V1}/configs/{cid}/nodes",
                    json={"name": name, "ipv4_address": address, "node_type": "dynamic"},
                )
            )
            for name, address in (("edge-a", "192.0.2.10"), ("edge-b", "192.0.2.11"))
        ]
        nid = str(nodes[0]["id"])
        _data(admin.post(f"{V1}/configs/{cid}/mesh/quick-generate", json={"mode": "full_mesh"}))
        _data(admin.post(f"{V1}/configs/{cid}/sync-all"))
        command = _data(
            admin.post(f"{V1}/configs/{cid}/nodes/{nid}/bind-command", json={"server_url": base})
        )
        token = str(command["token"])
        assert command["command"] == f"wfmctl bind --server {base} --token {token}"

        bound = _run(
            python, zipapp, "bind", "--server", base, "--token", token, "--profile-root", str(root)
        )
        assert bound.returncode == 0, bound.stderr
        profile_id = f"{cid}-{nid}"
        assert bound.stdout.splitlines()[0] == f"Bound profile {profile_id} for node edge-a"
        assert "agent is not running" in bound.stdout

        again = _run(python, zipapp, "bind", base, token, "--profile-root", str(root))
        assert again.returncode == 1
        assert "already used" in again.stderr
        assert "[CLIENT_BIND_TOKEN_USED]" in again.stderr
        bogus = _run(python, zipapp, "bind", base, "not-a-token", "--profile-root", str(root))
        assert bogus.returncode == 1
        assert "[CLIENT_BIND_TOKEN_INVALID]" in bogus.stderr

    directory = root / profile_id
    document = json.loads((directory / "profile.json").read_text())
    profile, mqtt = document["profile"], document["mqtt"]
    assert (profile["config_id"], profile["node_id"], profile["node_name"]) == (cid, nid, "edge-a")
    assert profile["client_version"] == __version__
    assert profile["platform"] == "linux"
    assert (mqtt["host"], mqtt["port"], mqtt["tls"]) == (broker.host, broker.port, False)
    assert (mqtt["username"], mqtt["client_id"]) == (nid, f"wfm-{nid}")
    iface = profile["interface_name"]
    assert iface.startswith("wfm-")
    assert len(iface) <= 15
    desired = (directory / "desired.conf").read_text()
    assert desired.startswith("[Interface]")
    assert (directory / f"{iface}.conf").read_text() == desired
    for path in (directory / "profile.json", directory / "desired.conf"):
        assert path.stat().st_mode & 0o777 == 0o600

    listed = _run(python, zipapp, "list", "--profile-root", str(root))
    assert listed.stdout.startswith(f"{profile_id} | bindlab/edge-a | server={base} ")

    # What emqx-sync does after the bind, then the node's agent comes online by itself.
    provision_node_account(broker, config_id=cid, node_id=nid, password=mqtt["password"])
    provision_services_account(broker, SERVICES_USERNAME, SERVICES_PASSWORD)
    node = Node(config_id=cid, node_id=nid, password=mqtt["password"], interface=iface)
    async with watching(broker, node) as backend:
        agent = AgentProcess(root, command=[str(python), str(zipapp)])
        try:
            await backend.expect("event", event="online")
            beat = await backend.expect("heartbeat")
            assert beat.payload["config_sha256"] == hashlib.sha256(desired.encode()).hexdigest()
            assert beat.payload["client_version"] == __version__
        finally:
            assert agent.stop() == 0
