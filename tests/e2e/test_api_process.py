"""The API as operators run it: `python -m wfm_api` with uvicorn workers, and its refusal to
start without a database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# Server processes get their own Redis database: the in-process API tests flush db 15.
REDIS_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/14"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_")}
    env.update(
        WFM_SECRET_KEY="wfm-e2e-secret-key", WFM_REDIS_URL=REDIS_URL, WFM_DEBUG="true", **extra
    )
    return env


@pytest.fixture
def api_process(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    database = f"sqlite:///{tmp_path}/wfm.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wfm_api", "--port", str(port), "--workers", "2"],
        env=_env(WFM_DATABASE=database, WFM_DATA_DIR=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/system/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"api did not start:\n{output}")
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_two_workers_share_state_through_the_database(api_process: str) -> None:
    """Setup on one worker, login and reads on any: no state lives in process memory."""
    with httpx.Client(base_url=api_process, timeout=10) as http:
        setup = http.post("/api/v1/auth/setup", json={"password": "secret-1"})
        assert setup.status_code == 200, setup.text
        token = setup.json()["data"]["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        # Many requests spread over both workers; every one sees the same admin and token.
        for _ in range(20):
            response = http.get("/api/v1/auth/session", headers=headers)
            assert response.status_code == 200, response.text
        created = http.post("/api/v1/configs", json={"name": "lab"}, headers=headers)
        assert created.status_code == 200, created.text
        names = {c["name"] for c in http.get("/api/v1/configs", headers=headers).json()["data"]}
        assert names == {"lab"}
        assert http.get("/metrics").status_code == 200


def test_startup_without_database_exits_non_zero(tmp_path: Path) -> None:
    port = _free_port()
    closed = _free_port()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "wfm_api", "--port", str(port)],
        env=_env(
            WFM_DATABASE=f"postgresql://postgres@127.0.0.1:{closed}/nothing",
            WFM_DATABASE_CONNECT_TIMEOUT_SECONDS="3",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert 3 <= elapsed < 30
    assert "database unavailable at startup" in result.stderr
    assert "DATABASE_UNAVAILABLE" in result.stderr or "did not answer" in result.stderr
