"""`make up` from a fresh clone, used only through its gateway, then stopped with Ctrl-C.

The clone holds the committed state (`git clone` of this repository; set
WFM_TEST_UP_FROM_WORKTREE=1 to copy the working tree instead, uncommitted files included). It
runs on its own ports, data dir and Redis database, so a developer's `make up` is untouched.
Everything is asked through the gateway port: the console, the API, an event stream, MCP; the
internal authz callback must not be reachable there. Stopping (SIGINT to the process group, as
Ctrl-C does) must leave no process and no open port behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from .support import ROOT, free_port, port_open

pytestmark = pytest.mark.timeout(900)

REDIS_BASE = os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]
REDIS_URL = f"{REDIS_BASE}/5"  # this test's own database
PASSWORD = "make-up-test-password"
READY_WITHIN = 600  # seconds: a fresh clone installs its environment and builds the console


@dataclass
class Up:
    clone: Path
    data: Path
    log: Path
    proc: subprocess.Popen[bytes]
    ports: dict[str, int]
    stopped: bool = False
    token: str = field(default="")

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def processes(self) -> list[str]:
        """Processes of this `make up`: its session, or anything naming its clone or data dir."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[4])
            except (OSError, IndexError, ValueError):
                continue
            if session == self.proc.pid or str(self.clone) in cmdline or str(self.data) in cmdline:
                found.append(f"{entry.name}: {cmdline.strip()}")
        return found


def _source_tree(target: Path) -> None:
    if os.environ.get("WFM_TEST_UP_FROM_WORKTREE") == "1":
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        for name in filter(None, (item.decode() for item in listed)):
            source = ROOT / name
            if source.is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
        return
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)


def _flush_redis() -> None:
    from redis import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="module")
def up() -> Iterator[Up]:
    scratch = Path(tempfile.mkdtemp(prefix="wfm-make-up-"))
    scratch.chmod(0o755)
    clone, data, log = scratch / "wfm", scratch / "data", scratch / "make-up.log"
    clone.mkdir()
    _source_tree(clone)
    if "WFM_GATEWAY_PORT" not in (clone / "scripts" / "up.sh").read_text():
        shutil.rmtree(scratch, ignore_errors=True)
        pytest.fail(
            "the committed scripts/up.sh starts no gateway: commit the gateway work, or run with "
            "WFM_TEST_UP_FROM_WORKTREE=1 to test the working tree"
        )
    _flush_redis()
    names = ("gateway", "api", "mcp", "emqx_sync", "ingest", "broker")
    ports = {name: free_port() for name in names}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WFM_", "VIRTUAL_ENV"))}
    env.update(
        WFM_DATA_DIR=str(data),
        WFM_REDIS_URL=REDIS_URL,
        WFM_GATEWAY_PORT=str(ports["gateway"]),
        WFM_APP_PORT=str(ports["api"]),
        WFM_MCP_PORT=str(ports["mcp"]),
        WFM_EMQX_SYNC_PORT=str(ports["emqx_sync"]),
        WFM_INGEST_PORT=str(ports["ingest"]),
        WFM_BROKER_PORT=str(ports["broker"]),
    )
    with log.open("wb") as output:
        proc = subprocess.Popen(
            ["make", "up"],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    running = Up(clone, data, log, proc, ports)
    try:
        deadline = time.monotonic() + READY_WITHIN
        while "[up] WFM is " not in running.output():
            if proc.poll() is not None:
                pytest.fail(f"make up exited {proc.returncode}:\n{running.output()[-6000:]}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"make up was not ready in {READY_WITHIN} s:\n{running.output()[-6000:]}"
                )
            time.sleep(0.5)
        yield running
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


def test_progress_is_reported_in_steps(up: Up) -> None:
    text = up.output()
    for number in range(1, 8):
        assert f"({number}/7)" in text, text[-3000:]
    assert re.search(r"migrating sqlite:///\S+wg_free_mesh\.db", text)
    assert "[up] WFM is up" in text, text[-3000:]
    assert f"http://127.0.0.1:{up.ports['gateway']}/api/v1" in text


def test_console_is_served_by_the_gateway(up: Up) -> None:
    if not (up.clone / "scripts" / "console.sh").exists():
        pytest.skip("this commit has no web console yet (scripts/console.sh)")
    page = httpx.get(f"{up.gateway}/")
    assert page.status_code == 200, up.output()[-3000:]
    assert page.headers["content-type"].startswith("text/html")
    assert '<div id="app">' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    # History routing: a deep link is the same page.
    deep = httpx.get(f"{up.gateway}/configs/cfg_000000000000/mesh")
    assert deep.status_code == 200
    assert deep.text == page.text
    scripts = re.findall(r'src="(/assets/[^"]+\.js)"', page.text)
    assert scripts, page.text
    asset = httpx.get(f"{up.gateway}{scripts[0]}", headers={"accept-encoding": "gzip"})
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert asset.headers.get("content-encoding") == "gzip"


def test_api_health_through_the_gateway(up: Up) -> None:
    answer = httpx.get(f"{up.gateway}/api/v1/system/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True
    assert body["data"]["status"] == "ok"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in answer.headers


def _setup_token(up: Up) -> str:
    if not up.token:
        answer = httpx.post(
            f"{up.gateway}/api/v1/auth/setup",
            json={"password": PASSWORD, "locale": "en-US"},
        )
        assert answer.status_code == 200, answer.text
        up.token = answer.json()["data"]["access_token"]
    return up.token


def test_event_stream_through_the_gateway(up: Up) -> None:
    token = _setup_token(up)
    events: list[str] = []
    started = time.monotonic()
    with httpx.stream(
        "GET",
        f"{up.gateway}/api/v1/events/stream",
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(10, read=30),
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event:"):
                events.append(line.partition(":")[2].strip())
                if events[-1] == "system.clock.sync":
                    break
    assert "system.clock.sync" in events
    assert time.monotonic() - started < 10  # the first frames pass the gateway at once


def test_mcp_client_through_the_gateway(up: Up) -> None:
    if not (up.clone / "services" / "mcp" / "wfm_mcp" / "__main__.py").exists():
        pytest.skip("this commit has no runnable MCP service yet (wfm_mcp.__main__)")
    token = _setup_token(up)
    created = httpx.post(
        f"{up.gateway}/api/v1/mcp-access/tokens",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "name": "make-up test",
            "permission": "read",
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        },
    )
    assert created.status_code == 200, created.text
    mcp_token = created.json()["data"]["token"]
    assert httpx.post(f"{up.gateway}/mcp", json={}).status_code == 401

    async def tools() -> list[str]:
        import httpx2
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        async with (
            httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {mcp_token}"}, timeout=30
            ) as http,
            streamable_http_client(f"{up.gateway}/mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return [tool.name for tool in (await session.list_tools()).tools]

    names = asyncio.run(tools())
    assert names, "the MCP service offers no tools"


def test_internal_authz_is_not_reachable_through_the_gateway(up: Up) -> None:
    secrets = dict(
        line.split("=", 1) for line in (up.data / "secrets.env").read_text().splitlines() if line
    )
    key = {"x-wfm-internal-key": secrets["WFM_EMQX_AUTHZ_SHARED_KEY"]}
    body = {"username": "wfm-services", "clientid": "x", "topic": "wfm/x", "action": "publish"}
    # The callback is up (asked directly, inside the machine) …
    direct = httpx.post(
        f"http://127.0.0.1:{up.ports['emqx_sync']}/api/internal/emqx/authz", json=body, headers=key
    )
    assert direct.status_code == 200, direct.text
    # … and the public entrypoint never forwards to it.
    for path in (
        "/api/internal/emqx/authz",
        "/api/%69nternal/emqx/authz",
        "//api/internal/emqx/authz",
    ):
        answer = httpx.post(f"{up.gateway}{path}", json=body, headers=key)
        assert answer.status_code in (403, 404), (path, answer.status_code)
        assert "allow" not in answer.text


def test_ctrl_c_stops_everything(up: Up) -> None:
    assert up.processes(), "no process of make up found while it runs"
    os.killpg(up.proc.pid, signal.SIGINT)
    try:
        up.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make up did not stop within 60 s:\n{up.output()[-3000:]}")
    deadline = time.monotonic() + 10
    while (left := up.processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "still running after Ctrl-C:\n" + "\n".join(left)
    open_ports = {name: port for name, port in up.ports.items() if port_open(port)}
    assert not open_ports, f"ports still open after Ctrl-C: {open_ports}"
    assert "[up] stopped" in up.output()
