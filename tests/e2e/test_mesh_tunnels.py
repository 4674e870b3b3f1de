"""The mesh end to end with real agents and real tunnels (issue 7 acceptance).

Four network namespaces on one bridge: three nodes (a, b, c) with their own "public" address and
an outside client (d). The whole control plane runs as processes (API, emqx-sync, mqtt-ingest,
our Mosquitto); in each node namespace `wfm-agent.pyz` — the zipapp the API serves — binds with a
token from the bind-command API and runs as the node's agent. Tunnels are wireguard-go via
wg-quick; every reachability check is a real TCP connection between namespaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from brokers import BrokerInstance

from .netns import Host, Lab, require_netns
from .stack import Stack, postgres_database, running_stack, stack_env

V1 = "/api/v1"
PASSWORD = "tunnels-e2e-pass"
REDIS_URL = os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]
ECHO_PORT = 9000
# A TCP server on every address of its namespace that answers with the namespace's label.
ECHO_SERVER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(16)\n"
    "while True:\n"
    "    c,_=s.accept(); c.sendall(sys.argv[2].encode()); c.close()\n"
)
PROBE = (
    "import socket,sys\n"
    "try:\n"
    "    c=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))\n"
    "    print(c.recv(64).decode())\n"
    "except OSError as e:\n"
    "    print('ERR', e); sys.exit(1)\n"
)


@dataclass
class Agent:
    host: Host
    root: Path
    pyz: Path
    proc: subprocess.Popen[str] | None = None

    @property
    def profiles(self) -> Path:
        return self.root / "profiles"

    def wfmctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.host.run(
            "python3", str(self.pyz), *args, "--profile-root", str(self.profiles), check=False
        )

    def start(self) -> None:
        log = (self.root / "agent.out").open("a")
        self.proc = subprocess.Popen(
            self.host.cmd("python3", str(self.pyz), "agent", "--profile-root", str(self.profiles)),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


@dataclass
class World:
    lab: Lab
    stack: Stack
    broker: BrokerInstance
    pyz: Path
    workdir: Path
    agents: dict[str, Agent] = field(default_factory=dict)
    servers: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def api_from_namespaces(self) -> str:
        return f"http://{self.lab.gateway}:{self.stack.api_port}"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database("wfm_tunnels") as url:
        yield url


@pytest.fixture(scope="module")
def world(mosquitto_broker: BrokerInstance, database: str) -> Iterator[World]:
    require_netns()
    workdir = Path(tempfile.mkdtemp(prefix="wfm-tunnels-"))
    lab = Lab().open()
    try:
        for label in ("a", "b", "c", "d"):
            lab.add_host(label)
        lab.forward_local_port(mosquitto_broker.port)
        env = stack_env(
            mosquitto_broker,
            database=database,
            redis_url=f"{REDIS_URL}/9",
            data_dir=str(workdir / "data"),
            WFM_MQTT_PUBLIC_HOST=lab.gateway,  # what bind hands to the agents
            WFM_AGENT_ARTIFACT=str(workdir / "wfm-agent.pyz"),
        )
        from wfm_agent.build import build_zipapp

        pyz = build_zipapp(workdir / "wfm-agent.pyz")
        with running_stack(env) as stack:
            lab.forward_local_port(stack.api_port)
            world = World(lab=lab, stack=stack, broker=mosquitto_broker, pyz=pyz, workdir=workdir)
            for host in lab.hosts:
                world.servers.append(
                    subprocess.Popen(
                        host.cmd("python3", "-c", ECHO_SERVER, str(ECHO_PORT), host.name[-1]),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            try:
                yield world
            finally:
                for agent in world.agents.values():
                    agent.stop()
                for server in world.servers:
                    server.kill()
    finally:
        lab.close()
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _eventually(check: Any, *, within: float = 20.0, every: float = 0.3) -> Any:
    deadline = time.monotonic() + within
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {within} s; last value {value!r}")


def _reach(src: Host, address: str, port: int = ECHO_PORT, timeout: float = 2.0) -> str | None:
    """The label the server at `address:port` answers from inside `src`, or None."""
    result = src.run(
        "python3", "-c", PROBE, address, str(port), str(timeout), check=False, timeout=timeout + 10
    )
    return result.stdout.strip() if result.returncode == 0 else None


def _bare(ip: str) -> str:
    return ip.split("/", 1)[0]


class Console:
    """The operator's side: the REST API with an admin session."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.http = httpx.Client(base_url=world.stack.api, timeout=30)
        setup = self.http.post(f"{V1}/auth/setup", json={"password": PASSWORD})
        if setup.status_code == 200:
            token = setup.json()["data"]["access_token"]
        else:
            login = {"username": "admin", "password": PASSWORD}
            token = _ok(self.http.post(f"{V1}/auth/login", json=login))["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kw: Any) -> Any:
        return _ok(self.http.get(f"{V1}{path}", **kw))

    def post(self, path: str, body: Any = None) -> Any:
        return _ok(self.http.post(f"{V1}{path}", json=body))

    def put(self, path: str, body: Any = None) -> Any:
        return _ok(self.http.put(f"{V1}{path}", json=body))

    def snapshot(self, cid: str) -> dict[str, dict[str, Any]]:
        items = self.get(f"/configs/{cid}/endpoint/runtime-snapshot")
        return {item["node_id"]: item for item in items}

    def control(self, cid: str, nid: str, action: str) -> str:
        result = self.post(f"/configs/{cid}/nodes/{nid}/endpoint/control", {"action": action})
        return str(result["request_id"])

    def log(self, cid: str, nid: str, request_id: str) -> dict[str, Any] | None:
        logs = self.get(f"/configs/{cid}/nodes/{nid}/endpoint/logs")
        return next((log for log in logs if log["request_id"] == request_id), None)

    def wait_log(self, cid: str, nid: str, request_id: str, within: float = 30) -> dict[str, Any]:
        log = _eventually(
            lambda: (
                (entry := self.log(cid, nid, request_id)) and entry["status"] != "pending" and entry
            ),
            within=within,
        )
        assert log["status"] == "acked", log
        return dict(log)


def _bind_agent(world: World, console: Console, cid: str, nid: str, label: str) -> Agent:
    host = next(h for h in world.lab.hosts if h.name.endswith(label))
    agent = Agent(host=host, root=world.workdir / f"agent-{label}", pyz=world.pyz)
    agent.root.mkdir(parents=True, exist_ok=True)
    # The download the console offers: a grant URL fetched from inside the namespace.
    grant = console.post("/tools/download/client-artifacts/download-grant", {})
    url = f"{world.api_from_namespaces}{grant['download_path']}"
    fetch = (
        "import sys, urllib.request as u\n"
        "open(sys.argv[2], 'wb').write(u.urlopen(sys.argv[1]).read())"
    )
    fetched = host.run("python3", "-c", fetch, url, str(agent.root / "wfm.pyz"))
    assert fetched.returncode == 0
    assert (agent.root / "wfm.pyz").read_bytes() == world.pyz.read_bytes()
    agent.pyz = agent.root / "wfm.pyz"
    command = console.post(
        f"/configs/{cid}/nodes/{nid}/bind-command", {"server_url": world.api_from_namespaces}
    )
    result = agent.wfmctl(
        "bind", "--server", world.api_from_namespaces, "--token", command["token"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Bound profile" in result.stdout
    agent.start()
    world.agents[label] = agent
    return agent


def test_mesh_with_real_agents(world: World) -> None:
    console = Console(world)
    a, b, c, d = world.lab.hosts
    cid = console.post("/configs", {"name": "lab", "virtual_subnet": "10.62.0.0/24"})["id"]
    ids: dict[str, str] = {}
    vips: dict[str, str] = {}
    for label, host in zip("abc", (a, b, c), strict=True):
        node = console.post(
            f"/configs/{cid}/nodes",
            {"name": f"node-{label}", "ipv4_address": host.address, "node_type": "dynamic"},
        )
        ids[label], vips[label] = node["id"], _bare(node["virtual_ip"])
    console.post(f"/configs/{cid}/mesh/quick-generate", {"mode": "full_mesh"})

    for label in "abc":
        _bind_agent(world, console, cid, ids[label], label)
    _eventually(lambda: all(console.snapshot(cid)[ids[x]]["online"] for x in "abc"), within=40)

    # sync-all stages every node; online nodes get their config pushed automatically.
    console.post(f"/configs/{cid}/sync-all")
    _eventually(
        lambda: all(
            s["confirmed_sha256"] and s["confirmed_sha256"] == s["staged_sha256"]
            for s in console.get(f"/configs/{cid}/sync-status")
        ),
        within=40,
    )
    for label in "abc":
        console.wait_log(cid, ids[label], console.control(cid, ids[label], "start"))
    for src in "abc":
        for dst in "abc":
            if src != dst:
                host = {"a": a, "b": b, "c": c}[src]
                reached = _eventually(lambda h=host, t=vips[dst]: _reach(h, t), within=20)
                assert reached == {"a": a, "b": b, "c": c}[dst].name[-1]
    _eventually(
        lambda: all(console.snapshot(cid)[ids[x]]["wg_runtime_state"] == "running" for x in "abc")
    )

    # wg_show: the agent's output lands in the control log.
    shown = console.wait_log(cid, ids["a"], console.control(cid, ids["a"], "wg_show"))
    _eventually(
        lambda: "peer" in ((console.log(cid, ids["a"], shown["request_id"]) or {})["detail"])
    )

    # stop → traffic stops.
    console.wait_log(cid, ids["a"], console.control(cid, ids["a"], "stop"))
    assert _reach(b, vips["a"], timeout=1.5) is None
    console.wait_log(cid, ids["a"], console.control(cid, ids["a"], "start"))
    assert _eventually(lambda: _reach(b, vips["a"])) == a.name[-1]

    # hub_spoke: b and c reach each other only through the hub a.
    console.post(
        f"/configs/{cid}/mesh/quick-generate", {"mode": "hub_spoke", "hub_node_id": ids["a"]}
    )
    _eventually(
        lambda: all(
            s["confirmed_sha256"] == s["staged_sha256"]
            for s in console.get(f"/configs/{cid}/sync-status")
        ),
        within=40,
    )
    assert _eventually(lambda: _reach(b, vips["c"]), within=30) == c.name[-1]
    assert _eventually(lambda: _reach(c, vips["b"]), within=30) == b.name[-1]
    peers_b = b.run("wg", "show", "all", "peers").stdout
    assert len([line for line in peers_b.splitlines() if line.strip()]) >= 1

    # Port forwarding: From a:8000 To b:8080; the outside client d reaches a's service at b's
    # public address. iptables first, then the nftables variant.
    a_service = subprocess.Popen(
        a.cmd("python3", "-c", ECHO_SERVER, "8000", "svc-a"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    world.servers.append(a_service)
    console.post(f"/configs/{cid}/mesh/quick-generate", {"mode": "full_mesh"})
    for platform in ("linux", "linux-nft"):
        rule = console.post(
            f"/tools/port-forwards/configs/{cid}",
            {
                "from_node_id": ids["a"],
                "from_port": 8000,
                "to_node_id": ids["b"],
                "to_port": 8080,
                "to_platform": platform,
                "protocol": "tcp",
            },
        )
        _eventually(
            lambda: all(
                s["confirmed_sha256"] == s["staged_sha256"]
                for s in console.get(f"/configs/{cid}/sync-status")
            ),
            within=40,
        )
        assert _eventually(lambda: _reach(d, b.address, 8080), within=30) == "svc-a", platform
        _ok(console.http.delete(f"{V1}/tools/port-forwards/{rule['id']}"))
        _eventually(
            lambda: all(
                s["confirmed_sha256"] == s["staged_sha256"]
                for s in console.get(f"/configs/{cid}/sync-status")
            ),
            within=40,
        )
        assert _eventually(lambda: _reach(d, b.address, 8080, timeout=1) is None, within=20)

    # Resilience: kill an agent → offline by LWT; restart → online with the tunnel reported.
    world.agents["c"].kill()
    killed = time.monotonic()
    _eventually(lambda: not console.snapshot(cid)[ids["c"]]["online"], within=10)
    assert time.monotonic() - killed < 10
    world.agents["c"].start()
    _eventually(
        lambda: (
            (item := console.snapshot(cid)[ids["c"]])["online"]
            and item["wg_runtime_state"] == "running"
        ),
        within=30,
    )

    # The broker stops for 30 s; the agents reconnect by themselves.
    world.broker.stop()
    try:
        time.sleep(30)
    finally:
        world.broker.start()

    # After the outage a heartbeat or detect proves each agent is back: ask for one.
    def back() -> bool:
        with contextlib.suppress(AssertionError):
            console.post(f"/configs/{cid}/endpoint/probe-batch", {})
        snapshot = console.snapshot(cid)
        return all(snapshot[ids[x]]["detect_client_online"] for x in "abc")

    _eventually(back, within=90, every=3)
