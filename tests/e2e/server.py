"""Run `python -m wfm_api` as operators do, for the end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

# Server processes get their own Redis database: the in-process API tests flush db 15.
REDIS_URL = (
    os.environ.get("WFM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/14"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api_env(**extra: str) -> dict[str, str]:
    """The test's environment without any WFM_* of its own, plus a server configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_")}
    env.update(
        WFM_SECRET_KEY="wfm-e2e-secret-key", WFM_REDIS_URL=REDIS_URL, WFM_DEBUG="true", **extra
    )
    return env


@contextmanager
def running_api(*args: str, **env: str) -> Iterator[str]:
    """Start the API with `args` and `env`, wait for health, yield its base URL, stop it."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wfm_api", "--port", str(port), *args],
            env=api_env(**env),
            stdout=output,
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
                    output.seek(0)
                    pytest.fail(f"api did not start:\n{output.read()[-4000:]}")
                time.sleep(0.2)
            yield base
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
