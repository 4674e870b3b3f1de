"""The API as operators run it: `python -m wfm_api` with uvicorn workers, and its refusal to
start without a database."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .server import api_env, free_port, running_api


@pytest.fixture
def api_process(tmp_path: Path) -> Iterator[str]:
    with running_api(
        "--workers", "2", WFM_DATABASE=f"sqlite:///{tmp_path}/wfm.db", WFM_DATA_DIR=str(tmp_path)
    ) as base:
        yield base


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
    port = free_port()
    closed = free_port()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "wfm_api", "--port", str(port)],
        env=api_env(
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
