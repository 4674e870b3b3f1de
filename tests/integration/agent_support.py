"""Shared parts of the agent integration tests: a real agent process, a real services client.

`AgentProcess` runs `python -m wfm_agent agent` (or the zipapp) on a tmp profile root, exactly as
operators run it without systemd. `Watcher` is the backend side: a services-account MQTT client
that sends commands built with `wfm_core.protocol` and checks every upstream message against the
same protocol validation mqtt-ingest applies. `Namespace` is a fresh network namespace in which
the agent's wg-quick brings real wireguard-go tunnels up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from brokers import BrokerInstance, provision_node_account, provision_services_account

from wfm_agent.build import build_zipapp
from wfm_agent.profiles import Profile, ProfileStore
from wfm_core.protocol import (
    DOWNSTREAM_KINDS,
    ProtocolError,
    build_command,
    decode_message,
    new_request_id,
    topic,
)

SERVICES_USERNAME = "wfm-agent-tests"
SERVICES_PASSWORD = "wfm-agent-tests-secret"
ROOT = Path(__file__).resolve().parents[2]
PYTHON39 = Path("/root/.pyenv/versions/3.9.18/bin/python3")
DOWNSTREAM_SUFFIXES = tuple(f"/{kind}" for kind in DOWNSTREAM_KINDS)


@dataclass
class Node:
    config_id: str
    node_id: str
    password: str
    interface: str

    @classmethod
    def fresh(cls) -> Node:
        suffix = secrets.token_hex(4)
        return cls(
            config_id=f"cfg_ag{suffix}",
            node_id=f"node_ag{suffix}",
            password=secrets.token_urlsafe(24),
            interface=f"wfm-t{suffix}",  # unique per host: userspace sockets are host-wide
        )

    @property
    def profile_id(self) -> str:
        return f"{self.config_id}-{self.node_id}"

    def bound(self, broker: BrokerInstance, *, desired: str = "", **mqtt: Any) -> dict[str, Any]:
        """A bind answer for this node, as services/api gives it."""
        return {
            "profile": {
                "profile_id": self.profile_id,
                "server_url": "http://wfm.test",
                "config_id": self.config_id,
                "config_name": "agent-tests",
                "node_id": self.node_id,
                "node_name": "edge",
                "interface_name": self.interface,
                "hostname": "test-host",
                "platform": "linux",
                "client_version": "0.1.0",
            },
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "tls": False,
                "username": self.node_id,
                "password": self.password,
                "client_id": f"wfm-{self.node_id}",
                "ca_cert": None,
                "topics": {},
                **mqtt,
            },
            "desired_conf": desired,
        }


def zipapp_command(directory: Path) -> list[str]:
    """Run the agent as nodes do: the built zipapp on Python 3.9 (the oldest supported) when it
    is installed, else on this interpreter."""
    zipapp = build_zipapp(directory / "wfm-agent.pyz")
    python = PYTHON39 if PYTHON39.exists() else Path(sys.executable)
    return [str(python), str(zipapp)]


def provision(broker: BrokerInstance, node: Node) -> None:
    provision_node_account(
        broker, config_id=node.config_id, node_id=node.node_id, password=node.password
    )
    provision_services_account(broker, SERVICES_USERNAME, SERVICES_PASSWORD)


def write_profile(root: Path, broker: BrokerInstance, node: Node, **kwargs: Any) -> Profile:
    return ProfileStore(root).save_bound(node.bound(broker, **kwargs), server_url="http://wfm.test")


def wg_config(*, address: str, port: int) -> str:
    """A minimal valid WireGuard config (a fresh private key) for wg-quick."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return f"[Interface]\nPrivateKey = {key}\nAddress = {address}\nListenPort = {port}\n"


class AgentProcess:
    """One `wfm-agent` process on a profile root; its log file is the test's window into it."""

    def __init__(
        self,
        root: Path,
        *,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        command: list[str] | None = None,
    ) -> None:
        self.root = root
        self.log_dir = root.parent / "logs"
        base = command or [sys.executable, "-m", "wfm_agent"]
        argv = [*base, "agent", "--profile-root", str(root), "--log-dir", str(self.log_dir), *args]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("WFM_AGENT_")}
        environment.update(env or {})
        self.stderr_path = root.parent / "agent.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            argv, env=environment, stdout=subprocess.DEVNULL, stderr=self._stderr
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        path = self.log_dir / "wfm-agent.log"
        return path.read_text() if path.exists() else ""

    def wait_log(self, text: str, *, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"agent log never said {text!r}:\n{self.log()}{self.stderr()}")
            time.sleep(0.05)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._stderr.close()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@dataclass
class Received:
    kind: str
    envelope: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.envelope["payload"])


@dataclass
class Watcher:
    """The backend's side of one node's topics, on a services account."""

    client: aiomqtt.Client
    node: Node
    queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    log: list[Received] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def pump(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError, asyncio.CancelledError):
            async for message in self.client.messages:
                name = str(message.topic)
                if name.endswith(DOWNSTREAM_SUFFIXES):
                    continue  # our own commands
                raw = message.payload
                assert isinstance(raw, bytes | bytearray)
                try:
                    parsed, _ = decode_message(name, bytes(raw))  # the contract, strictly
                except ProtocolError as exc:
                    self.errors.append(f"{name}: {exc}")
                    continue
                received = Received(parsed.kind, json.loads(raw))
                self.log.append(received)
                await self.queue.put(received)

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        request_id: str | None = None,
        tamper: dict[str, Any] | None = None,
    ) -> str:
        """Publish a command as mqtt-ingest does; `tamper` overrides payload fields afterwards
        (to send what the protocol would refuse to build)."""
        request_id = request_id or new_request_id()
        envelope = build_command(
            kind,
            config_id=self.node.config_id,
            node_id=self.node.node_id,
            payload=payload,
            request_id=request_id,
        )
        raw = envelope.to_json()
        if tamper:
            document = json.loads(raw)
            document["payload"].update(tamper)
            raw = json.dumps(document).encode()
        await self.client.publish(topic(self.node.config_id, self.node.node_id, kind), raw, qos=1)
        return request_id

    async def next(self, within: float = 10.0) -> Received:
        return await asyncio.wait_for(self.queue.get(), within)

    async def expect(self, kind: str, *, within: float = 10.0, **payload_fields: Any) -> Received:
        """The next message of `kind` whose payload has these fields; others are skipped."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                pytest.fail(f"no {kind} {payload_fields} within {within}s; saw {self.log[-8:]}")
            try:
                received = await self.next(remaining)
            except TimeoutError:
                continue
            assert not self.errors, self.errors
            if received.kind == kind and all(
                received.envelope["payload"].get(k) == v for k, v in payload_fields.items()
            ):
                return received

    async def ack_for(self, request_id: str, *, within: float = 20.0) -> Received:
        """The ACK of one command; every event before it is kept in `log`."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                pytest.fail(f"no ACK for {request_id} within {within}s; saw {self.log[-8:]}")
            try:
                received = await self.next(remaining)
            except TimeoutError:
                continue
            assert not self.errors, self.errors
            if received.kind.endswith("/ack") and received.envelope["request_id"] == request_id:
                return received

    async def collect(self, seconds: float) -> list[Received]:
        """Everything that arrives within the next `seconds`."""
        got: list[Received] = []
        deadline = asyncio.get_running_loop().time() + seconds
        with contextlib.suppress(TimeoutError):
            while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
                got.append(await self.next(remaining))
        return got

    def drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()


@contextlib.asynccontextmanager
async def watching(broker: BrokerInstance, node: Node, **tls: Any) -> AsyncIterator[Watcher]:
    async with aiomqtt.Client(
        broker.host,
        tls.pop("port", broker.port),
        username=SERVICES_USERNAME,
        password=SERVICES_PASSWORD,
        identifier=f"wfm-agent-tests-{secrets.token_hex(4)}",
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=10,
        **tls,
    ) as client:
        await client.subscribe(f"wfm/{node.config_id}/{node.node_id}/#", qos=1)
        watcher = Watcher(client=client, node=node)
        task = asyncio.create_task(watcher.pump())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass
class Namespace:
    name: str

    def prefix(self, tool: str) -> str:
        return f"ip netns exec {self.name} {tool}"

    def tool_env(self) -> dict[str, str]:
        """Point the agent's wg tools into this namespace."""
        return {
            "WFM_AGENT_WG": self.prefix("wg"),
            "WFM_AGENT_WG_QUICK": self.prefix("wg-quick"),
        }

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )


def netns_available() -> str:
    """'' when network namespaces and wg-quick can be used here, else why not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "wg", "wg-quick"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return ""


@contextlib.contextmanager
def namespace() -> Iterator[Namespace]:
    reason = netns_available()
    if reason:
        pytest.skip(reason)
    name = f"wfmag{secrets.token_hex(3)}"
    created = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if created.returncode != 0:
        pytest.skip(f"ip netns add failed: {created.stderr.strip()}")
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    try:
        yield Namespace(name)
    finally:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
        for pid in pids.stdout.split():  # wireguard-go daemons left behind by a failure
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], check=False)
