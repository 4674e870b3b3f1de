"""The agent against the real broker: sessions, commands and their exact ACKs (§6.3–§6.6, §7.4).

Each test runs a real `wfm-agent` process on a tmp profile root with a node account provisioned
in our Mosquitto+dynsec (exactly the node's §6.8 topics), and plays the backend with a services
account. The tunnel test brings a real wireguard-go interface up and down with wg-quick in a
fresh network namespace.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from brokers import BrokerInstance

from wfm_core.protocol import KIND_CONFIG_PUSH, KIND_CONTROL, KIND_DETECT, KIND_INFO

from .agent_support import (
    AgentProcess,
    Node,
    namespace,
    provision,
    watching,
    wg_config,
    write_profile,
    zipapp_command,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def node(broker: BrokerInstance) -> Node:
    fresh = Node.fresh()
    provision(broker, fresh)
    return fresh


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "profiles"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _push(text: str, *, version: int, iface: str) -> dict[str, object]:
    return {
        "action": "push_config",
        "tunnel_protocol": "wireguard",
        "previous_tunnel_protocol": "wireguard",
        "interface_name": iface,
        "config_version": version,
        "config_sha256": _sha(text),
        "config_text": text,
    }


async def test_online_heartbeat_detect_and_repeated_request_ids(
    broker: BrokerInstance, node: Node, root: Path
) -> None:
    desired = "[Interface]\n# bound config\n"
    write_profile(root, broker, node, desired=desired)
    async with watching(broker, node) as backend:
        agent = AgentProcess(root, args=("--heartbeat-interval", "1"))
        try:
            online = await backend.expect("event", event="online")
            assert online.payload["level"] == "info"
            assert online.envelope["request_id"] == ""
            assert online.envelope["boot_id"].startswith("boot-")
            assert online.envelope["session_id"].startswith("session-")
            heartbeat = await backend.expect("heartbeat")
            assert heartbeat.payload == {
                "client_online": True,
                "wg_online": False,
                "config_sha256": _sha(desired),  # the file on disk, for drift detection
                "platform": "linux",
                "client_version": "0.1.0",
            }
            assert heartbeat.envelope["session_id"] == online.envelope["session_id"]

            request_id = await backend.send(KIND_DETECT, {"tunnel_protocol": "wireguard"})
            event = await backend.expect("event", event="detect")
            ack = await backend.ack_for(request_id)
            assert backend.log.index(event) < backend.log.index(ack)
            assert ack.kind == "detect/ack"
            assert ack.payload == {
                "status": "applied",
                "message": "Detect completed.",
                "action": "",
                "client_online": True,
                "wg_online": False,
                "platform": "linux",
                "client_version": "0.1.0",
                "config_sha256": _sha(desired),
            }
            # The same request_id again (a redelivery) is ignored: the next ACK is the new one's.
            await backend.send(KIND_DETECT, {}, request_id=request_id)
            second = await backend.send(KIND_DETECT, {})
            replies = await backend.collect(1.5)
            acks = [r.envelope["request_id"] for r in replies if r.kind == "detect/ack"]
            assert acks == [second]
            # Heartbeats keep coming at the configured interval (30 min by default).
            beats = [r for r in replies + await backend.collect(1.5) if r.kind == "heartbeat"]
            assert len(beats) >= 2
            assert {b.envelope["session_id"] for b in beats} == {online.envelope["session_id"]}
            assert "command kind=detect" in agent.log()
            assert "mqtt connected profile=" in agent.log()
            assert agent.rss_kib() < 40 * 1024, f"idle RSS {agent.rss_kib()} KiB"
        finally:
            assert agent.stop() == 0


async def test_tunnel_commands_with_real_wireguard(
    broker: BrokerInstance, node: Node, root: Path, tmp_path: Path
) -> None:
    """Every command path, run by the zipapp on Python 3.9 against wireguard-go in a netns."""
    with namespace() as ns:
        write_profile(root, broker, node)
        async with watching(broker, node) as backend:
            command = zipapp_command(tmp_path)
            agent = AgentProcess(root, env=ns.tool_env(), command=command)
            try:
                await backend.expect("event", event="online")
                iface = node.interface
                start = {"action": "start", "tunnel_protocol": "wireguard", "interface_name": iface}
                stop = {**start, "action": "stop"}

                # No config yet: start fails, saying why.
                ack = await backend.ack_for(await backend.send(KIND_CONTROL, start))
                assert ack.payload["status"] == "failed"
                assert "No config" in ack.payload["message"]

                first = wg_config(address="10.77.0.1/24", port=51901)
                request_id = await backend.send(
                    KIND_CONFIG_PUSH, _push(first, version=1, iface=iface)
                )
                ack = await backend.ack_for(request_id)
                assert ack.kind == "config/push/ack"
                assert ack.payload == {
                    "status": "applied",
                    "message": f"Config v1 saved; tunnel {iface} not running",
                    "action": "push_config",
                }
                conf = root / node.profile_id / f"{iface}.conf"
                assert conf.read_text() == first
                assert conf.stat().st_mode & 0o777 == 0o600

                ack = await backend.ack_for(await backend.send(KIND_CONTROL, start))
                assert ack.payload == {
                    "status": "applied",
                    "message": f"Tunnel {iface} started",
                    "action": "start",
                }
                beat = await backend.expect("heartbeat", wg_online=True)
                assert beat.payload["config_sha256"] == _sha(first)
                shown = ns.run("wg", "show", iface)
                assert shown.returncode == 0, shown.stderr
                assert "listening port: 51901" in shown.stdout

                request_id = await backend.send(
                    KIND_INFO, {"action": "wg_show", "tunnel_protocol": "wireguard"}
                )
                output = await backend.expect("event", event="command_output")
                ack = await backend.ack_for(request_id)
                assert output.payload["request_id"] == request_id
                assert output.payload["action"] == "wg_show"
                assert output.payload["stream"] == "stdout"
                assert f"interface: {iface}" in output.payload["output"]
                assert "listening port: 51901" in output.payload["output"]
                assert ack.payload == {
                    "status": "applied",
                    "message": "Output sent as an event.",
                    "action": "wg_show",
                }

                # A new config while running: stop, write, start again with the new file.
                second = wg_config(address="10.77.0.1/24", port=51902)
                ack = await backend.ack_for(
                    await backend.send(KIND_CONFIG_PUSH, _push(second, version=2, iface=iface))
                )
                assert ack.payload["status"] == "applied", ack.payload
                assert ack.payload["message"] == f"Config v2 applied; tunnel {iface} restarted"
                assert "listening port: 51902" in ns.run("wg", "show", iface).stdout

                # A push whose text does not match its sha256 is refused before anything runs.
                request_id = await backend.send(
                    KIND_CONFIG_PUSH,
                    _push(second, version=3, iface=iface),
                    tamper={"config_text": first},
                )
                ack = await backend.ack_for(request_id)
                assert ack.payload["status"] == "failed"
                assert "config_sha256" in ack.payload["message"]
                assert conf.read_text() == second

                ack = await backend.ack_for(await backend.send(KIND_CONTROL, stop))
                assert ack.payload == {
                    "status": "applied",
                    "message": f"Tunnel {iface} stopped",
                    "action": "stop",
                }
                assert ns.run("wg", "show", iface).returncode != 0
                ack = await backend.ack_for(await backend.send(KIND_CONTROL, stop))
                assert ack.payload["message"] == f"Tunnel {iface} is not running"

                # wg-quick's own error reaches the operator.
                broken = "[Interface]\nPrivateKey = not-a-key\nAddress = 10.77.0.1/24\n"
                await backend.ack_for(
                    await backend.send(KIND_CONFIG_PUSH, _push(broken, version=4, iface=iface))
                )
                ack = await backend.ack_for(await backend.send(KIND_CONTROL, start))
                assert ack.payload["status"] == "failed"
                assert "failed to start" in ack.payload["message"]
                assert "Key is not the correct length or format" in ack.payload["message"]
                assert ns.run("wg", "show", iface).returncode != 0
            finally:
                assert agent.stop() == 0


async def test_kill_publishes_the_will_and_sigterm_says_offline(
    broker: BrokerInstance, node: Node, root: Path
) -> None:
    write_profile(root, broker, node)
    async with watching(broker, node) as backend:
        agent = AgentProcess(root)
        online = await backend.expect("event", event="online")
        started = time.monotonic()
        agent.kill()
        will = await backend.expect("event", event="offline", within=5)
        assert time.monotonic() - started < 5
        assert will.payload["level"] == "warning"
        assert will.payload["message"] == "Connection lost"
        assert will.envelope["session_id"] == online.envelope["session_id"]

        agent = AgentProcess(root)
        await backend.expect("event", event="online")
        agent.signal(signal.SIGTERM)
        offline = await backend.expect("event", event="offline", within=10)
        assert (offline.payload["level"], offline.payload["message"]) == ("info", "Agent stopped")
        assert agent.process.wait(15) == 0
        agent.close()
        # A clean DISCONNECT: the broker does not publish the will on top.
        assert [r for r in await backend.collect(1.0) if r.kind == "event"] == []
        assert "mqtt disconnected" not in agent.log() or "wfm-agent stopped" in agent.log()


async def test_reconnects_after_a_broker_restart(
    broker: BrokerInstance, node: Node, root: Path
) -> None:
    write_profile(root, broker, node)
    async with watching(broker, node) as backend:
        agent = AgentProcess(root)
        first = await backend.expect("event", event="online")
    try:
        broker.stop()
        time.sleep(1)
        broker.start()
        async with watching(broker, node) as backend:
            again = await backend.expect("event", event="online", within=40)
            assert again.envelope["session_id"] != first.envelope["session_id"]
            assert again.envelope["boot_id"] == first.envelope["boot_id"]
            await backend.expect("heartbeat")
            ack = await backend.ack_for(await backend.send(KIND_DETECT, {}))
            assert ack.payload["status"] == "applied"
        assert "mqtt reconnected" in agent.log()
        assert "mqtt disconnected" in agent.log()
    finally:
        agent.stop()


async def test_bind_and_unbind_are_picked_up_without_restart(
    broker: BrokerInstance, node: Node, root: Path
) -> None:
    from wfm_agent.cli import main as wfmctl

    agent = AgentProcess(root, args=("--rescan-interval", "300"))  # only SIGHUP rescans
    try:
        agent.wait_log("No profiles. Waiting for wfmctl bind.")
        second = AgentProcess(root)
        assert second.process.wait(10) == 1
        assert "another wfm-agent" in second.stderr()
        second.close()
        async with watching(broker, node) as backend:
            write_profile(root, broker, node)
            agent.signal(signal.SIGHUP)
            first = await backend.expect("event", event="online")
            # A re-bind rotates the password: the agent reconnects with the new one.
            node.password = "rotated-" + node.password
            broker.ctrl("setClientPassword", node.node_id, node.password)
            write_profile(root, broker, node)
            agent.signal(signal.SIGHUP)
            again = await backend.expect("event", event="online")
            assert again.envelope["session_id"] != first.envelope["session_id"]
            # `wfmctl unbind` signals the agent, which closes the session cleanly.
            assert wfmctl(["unbind", "--all", "--profile-root", str(root)]) == 0
            offline = await backend.expect("event", event="offline")
            assert offline.payload["message"] == "Profile removed"
        agent.wait_log(f"profile={node.profile_id} removed")
    finally:
        assert agent.stop() == 0


async def test_invalid_profiles_do_not_stop_the_others(
    broker: BrokerInstance, node: Node, root: Path
) -> None:
    write_profile(root, broker, node)
    broken = root / "cfg_x-node_broken"
    broken.mkdir()
    (broken / "profile.json").write_text("{oops")
    tls_without_ca = Node.fresh()
    write_profile(root, broker, tls_without_ca, tls=True)
    async with watching(broker, node) as backend:
        agent = AgentProcess(root)
        try:
            await backend.expect("event", event="online")
            agent.wait_log("profile=cfg_x-node_broken invalid")
            agent.wait_log("re-bind this client")
        finally:
            assert agent.stop() == 0


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=directory,
    )  # fmt: skip


@contextlib.contextmanager
def tls_broker(directory: Path) -> Iterator[int]:
    """A plain Mosquitto with one TLS listener (cert for 127.0.0.1 signed by `ca`)."""
    if shutil.which("openssl") is None or shutil.which("mosquitto") is None:
        pytest.skip("openssl and mosquitto are needed")
    _make_ca(directory, "ca")
    _make_ca(directory, "other-ca")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr", cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
        cwd=directory,
    )  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (directory / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\ncafile {directory}/ca.crt\ncertfile {directory}/server.crt\n"
        f"keyfile {directory}/server.key\ntls_version tlsv1.2\nallow_anonymous true\n"
        "persistence false\nuser root\n"
    )
    process = subprocess.Popen(
        ["mosquitto", "-c", str(directory / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("TLS mosquitto did not start")
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


async def test_tls_session_trusts_only_the_bound_ca(broker: BrokerInstance, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    with tls_broker(certs) as port:
        node = Node.fresh()
        root = tmp_path / "profiles"
        ca = (certs / "ca.crt").read_text()
        write_profile(root, broker, node, port=port, tls=True, ca_cert=ca)
        context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        async with watching(broker, node, port=port, tls_context=context) as backend:
            agent = AgentProcess(root)
            try:
                online = await backend.expect("event", event="online")
                assert online.payload["level"] == "info"
                assert "tls=true" in agent.log()
            finally:
                assert agent.stop() == 0
            # A profile whose CA did not sign the broker's certificate never connects.
            other = Node.fresh()
            write_profile(
                tmp_path / "other" / "profiles", broker, other, port=port, tls=True,
                ca_cert=(certs / "other-ca.crt").read_text(),
            )  # fmt: skip
            agent = AgentProcess(tmp_path / "other" / "profiles")
            try:
                agent.wait_log("mqtt connect failed")
                assert "CERTIFICATE_VERIFY_FAILED" in agent.log()
                assert "mqtt connected" not in agent.log()
            finally:
                assert agent.stop() == 0


def _wfmctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_AGENT_")}
    return subprocess.run(
        [sys.executable, "-m", "wfm_agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


async def test_wfmctl_starts_and_stops_the_agent_without_a_service_manager(
    broker: BrokerInstance, node: Node, root: Path
) -> None:
    from wfm_agent.service import MANAGER_NONE, service_manager

    if service_manager() != MANAGER_NONE:
        pytest.skip("a service manager runs here: start/stop would drive it")
    write_profile(root, broker, node)
    async with watching(broker, node) as backend:
        started = _wfmctl("start", "--profile-root", str(root))
        try:
            assert started.returncode == 0, started.stderr
            assert "started wfm-agent directly" in started.stdout
            await backend.expect("event", event="online")
            status = json.loads(_wfmctl("status", "--json", "--profile-root", str(root)).stdout)
            assert status["running"] is True
            assert isinstance(status["agent_pid"], int)
            again = _wfmctl("start", "--profile-root", str(root))
            assert "already runs" in again.stdout
            assert (root.parent / "logs" / "wfm-agent.log").exists()
        finally:
            stopped = _wfmctl("stop", "--profile-root", str(root))
        assert stopped.returncode == 0, stopped.stderr
        assert f"Stopped the agent (pid {status['agent_pid']})" in stopped.stdout
        offline = await backend.expect("event", event="offline")
        assert offline.payload["message"] == "Agent stopped"
        status = json.loads(_wfmctl("status", "--json", "--profile-root", str(root)).stdout)
        assert (status["running"], status["agent_pid"]) == (False, None)
        assert "No agent runs" in _wfmctl("stop", "--profile-root", str(root)).stdout
