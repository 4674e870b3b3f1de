"""Our Mosquitto instance (scripts/broker.sh) for tests: a real broker with dynamic security.

Each test session gets its own data dir and port, so it never touches the system broker on 1883
or a `make up` instance. `BrokerInstance.ctrl` runs `mosquitto_ctrl dynsec …` as the dynsec admin:
tests use it to look at the broker's state from outside the service under test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BROKER_SCRIPT = ROOT / "scripts" / "broker.sh"
ADMIN_USERNAME = "wfm-admin"
ADMIN_PASSWORD = "wfm-test-dynsec-admin"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class BrokerInstance:
    dir: Path
    port: int
    host: str = "127.0.0.1"
    admin_username: str = ADMIN_USERNAME
    admin_password: str = ADMIN_PASSWORD

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for scripts/broker.sh and for services that talk to this broker."""
        return {
            "WFM_BROKER_DIR": str(self.dir),
            "WFM_BROKER_PORT": str(self.port),
            "WFM_BROKER_BIND": self.host,
            "WFM_MOSQUITTO_ADMIN_USERNAME": self.admin_username,
            "WFM_MOSQUITTO_ADMIN_PASSWORD": self.admin_password,
        }

    def _script(self, *args: str) -> None:
        subprocess.run(
            [str(BROKER_SCRIPT), *args],
            env={**os.environ, **self.env()},
            check=True,
            capture_output=True,
            timeout=30,
        )

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def restart(self, *, reset: bool = False) -> None:
        """Restart; `reset` starts from an empty dynsec file (only the admin user exists)."""
        self._script("restart", *(["--reset"] if reset else []))

    def running(self) -> bool:
        return (
            subprocess.run(
                [str(BROKER_SCRIPT), "status"], env={**os.environ, **self.env()}, check=False
            ).returncode
            == 0
        )

    def ctrl(self, *args: str) -> str:
        """`mosquitto_ctrl dynsec <args>` as the admin; returns stdout, raises on failure."""
        result = subprocess.run(
            [
                "mosquitto_ctrl",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-u",
                self.admin_username,
                "-P",
                self.admin_password,
                "dynsec",
                *args,
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=15,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mosquitto_ctrl {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    def client_usernames(self) -> set[str]:
        return {line.strip() for line in self.ctrl("listClients").splitlines() if line.strip()}


def _require_mosquitto() -> None:
    for binary in ("mosquitto", "mosquitto_ctrl"):
        if shutil.which(binary) is None:
            pytest.fail(f"{binary} is not installed: run `make install`")


@pytest.fixture(scope="session")
def mosquitto_broker() -> Iterator[BrokerInstance]:
    """Our Mosquitto+dynsec instance for the whole session (tests that stop it must restart it)."""
    _require_mosquitto()
    directory = Path(tempfile.mkdtemp(prefix="wfm-broker-"))
    broker = BrokerInstance(dir=directory, port=_free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def broker(mosquitto_broker: BrokerInstance) -> BrokerInstance:
    """The session broker, running (restarted if an earlier test left it stopped)."""
    if not mosquitto_broker.running():
        mosquitto_broker.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection((mosquitto_broker.host, mosquitto_broker.port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return mosquitto_broker


def provision_services_account(broker: BrokerInstance, username: str, password: str) -> None:
    """A services client (mqtt-ingest) with every `wfm/` topic, shared subscriptions included.

    For tests of components other than emqx-sync; emqx-sync provisions the real role itself.
    """
    existing = broker.client_usernames()
    role = f"wfm-test-services-{username}"
    if username not in existing:
        broker.ctrl("createClient", username, "-p", password)
        broker.ctrl("createRole", role)
        for acl in (
            ("publishClientSend", "wfm/#"),
            ("publishClientReceive", "wfm/#"),
            ("subscribePattern", "wfm/#"),
            ("subscribePattern", "$share/#"),
            ("unsubscribePattern", "wfm/#"),
            ("unsubscribePattern", "$share/#"),
        ):
            broker.ctrl("addRoleACL", role, acl[0], acl[1], "allow")
        broker.ctrl("addClientRole", username, role)
    else:
        broker.ctrl("setClientPassword", username, password)


def provision_node_account(
    broker: BrokerInstance, *, config_id: str, node_id: str, password: str
) -> None:
    """A node client (`node_id`, client id `wfm-<node_id>`) with exactly its §6.8 topics."""
    from wfm_core.protocol import node_publish_topics, node_subscribe_topics

    role = f"wfm-test-node-{node_id}"
    broker.ctrl("createClient", node_id, "-c", f"wfm-{node_id}", "-p", password)
    broker.ctrl("createRole", role)
    for topic in node_publish_topics(config_id, node_id):
        broker.ctrl("addRoleACL", role, "publishClientSend", topic, "allow")
    for topic in node_subscribe_topics(config_id, node_id):
        broker.ctrl("addRoleACL", role, "subscribeLiteral", topic, "allow")
        broker.ctrl("addRoleACL", role, "publishClientReceive", topic, "allow")
    broker.ctrl("addClientRole", node_id, role)
