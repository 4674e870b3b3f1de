"""The web console in real headless Chromium against the whole control plane (issue 10).

The API, emqx-sync and mqtt-ingest run as processes (tests/e2e/stack.py) on SQLite with our
Mosquitto, and the node agent zipapp built into the data folder (the download page's install
command needs it); `vite preview` serves the production build and proxies `/api` to the API. The
Playwright script (gateway/console/e2e/run.mjs) walks the acceptance flow and prints
`BIND <token>` once the console generated a bind command: this test then binds with that token,
connects a scripted MQTT peer holding only what bind returned, heartbeats, and answers `GO`; the
script waits for the node card to turn online without a reload. Screenshots land in
tests/browser/artifacts/.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from brokers import BrokerInstance
from e2e.peer import Credentials, ScriptedNode, connect_with_retry
from e2e.server import free_port
from e2e.stack import Stack, running_stack, stack_env

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "gateway" / "console"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("WFM_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "console-e2e-pass"
REDIS_URL = os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]

pytestmark = pytest.mark.timeout(600)


def _require_tools() -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("the console test needs Node.js and npm (scripts/install.sh installs them)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"the console test needs Chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def stack(mosquitto_broker: BrokerInstance) -> Iterator[Stack]:
    _require_tools()
    from wfm_agent.build import build_zipapp

    data_dir = tempfile.mkdtemp(prefix="wfm-console-")
    agent = build_zipapp(Path(data_dir) / "artifacts" / "wfm-agent.pyz")
    env = stack_env(
        mosquitto_broker,
        database=f"sqlite:///{data_dir}/wfm.db",
        redis_url=f"{REDIS_URL}/11",
        data_dir=data_dir,
        WFM_AGENT_ARTIFACT=str(agent),
    )
    _flush_redis(env["WFM_REDIS_URL"])
    try:
        with running_stack(env) as running:
            yield running
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="module")
def console(stack: Stack) -> Iterator[str]:
    """The production build served by `vite preview`, `/api` proxied to the stack's API."""
    build = subprocess.run(
        [str(ROOT / "scripts" / "console.sh"), "build"], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    port = free_port()
    env = {**os.environ, "WFM_API_URL": stack.api}
    server = subprocess.Popen(
        ["npx", "vite", "preview", "--host", "127.0.0.1", "--port", str(port), "--strictPort"],
        cwd=CONSOLE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/api/v1/system/health", timeout=1).status_code == 200:
                    break
            assert server.poll() is None, "vite preview exited"
            assert time.monotonic() < deadline, "vite preview did not start"
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


async def _heartbeat_forever(peer: ScriptedNode) -> None:
    while True:
        await peer.heartbeat()
        await asyncio.sleep(2)


async def test_console_acceptance_flow(stack: Stack, console: str, broker: BrokerInstance) -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir()
    script = await asyncio.create_subprocess_exec(
        "node",
        str(CONSOLE / "e2e" / "run.mjs"),
        cwd=CONSOLE,
        env={
            **os.environ,
            "CONSOLE_URL": console,
            "ARTIFACTS": str(ARTIFACTS),
            "WFM_PASSWORD": PASSWORD,
            "CHROMIUM": CHROMIUM,
        },
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert script.stdout is not None and script.stdin is not None and script.stderr is not None
    stderr_task = asyncio.create_task(script.stderr.read())
    said: list[str] = []
    heartbeats: asyncio.Task[None] | None = None
    peer: ScriptedNode | None = None
    try:
        async with asyncio.timeout(540):
            while line := (await script.stdout.readline()).decode().strip():
                said.append(line)
                if line.startswith("BIND "):
                    async with httpx.AsyncClient(base_url=stack.api, timeout=15) as http:
                        answer = await http.post(
                            "/api/client/bind",
                            json={
                                "token": line[5:],
                                "hostname": "browser-peer",
                                "platform": "linux",
                            },
                        )
                    assert answer.status_code == 200, answer.text
                    bound = answer.json()["data"]
                    peer = ScriptedNode(
                        Credentials.from_bind(bound, host=broker.host, port=broker.port)
                    )
                    await connect_with_retry(peer)
                    heartbeats = asyncio.create_task(_heartbeat_forever(peer))
                    script.stdin.write(b"GO\n")
                    await script.stdin.drain()
            code = await script.wait()
    finally:
        if heartbeats is not None:
            heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeats
        if peer is not None:
            await peer.disconnect()
        if script.returncode is None:
            script.kill()
            await script.wait()
    log = (await stderr_task).decode()
    assert code == 0, f"browser flow failed:\n{log[-6000:]}\nstdout: {said}"
    assert "DONE" in said, said
    assert any(line.startswith("BIND ") for line in said)
    for line in said:
        if line.startswith("SKIP "):
            print(f"console flow skipped a step: {line}")  # noqa: T201 - reported with -rA
    pages = (
        "home",
        "config-overview",
        "node-apply",
        "node-mesh",
        "node-advanced",
        "downloads-client",
        "downloads-configs",
        "settings",
        "system",
    )
    for name in pages:
        assert (ARTIFACTS / f"{name}-390.png").exists(), name
    for name in ("config-overview", "node-mesh", "node-advanced", "downloads-client"):
        assert (ARTIFACTS / f"{name}-1440.png").exists(), name
    assert (ARTIFACTS / "downloads-configs-1440.png").exists()
