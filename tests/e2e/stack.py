"""The whole control plane as real processes for end-to-end tests: API, emqx-sync, mqtt-ingest.

They share one database, one Redis database and our Mosquitto instance (tests/brokers.py), with
the settings `make up` uses for the embedded broker. Each process's output goes to a temporary
file that a failing start prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import httpx
import pytest
from brokers import BrokerInstance
from sqlalchemy.engine import make_url

from .server import free_port
from .test_events import _pg_admin

SERVICES_USERNAME = "wfm-services"
SERVICES_PASSWORD = "wfm-e2e-services-password"
AUTHZ_KEY = "wfm-e2e-authz-key"


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the test server for one module, dropped afterwards."""
    server = os.environ.get("WFM_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("this end-to-end test needs WFM_TEST_POSTGRES_URL")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Service:
    name: str
    argv: list[str]
    health: str
    proc: subprocess.Popen[str] | None = None
    output: IO[str] | None = None

    def start(self, env: dict[str, str]) -> None:
        self.output = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *self.argv],
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_healthy(self, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.health, timeout=1).status_code == 200:
                    return
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not start:\n{self.log()[-4000:]}")
            time.sleep(0.2)

    def log(self) -> str:
        if self.output is None:
            return ""
        self.output.flush()
        self.output.seek(0)
        text = self.output.read()
        self.output.seek(0, os.SEEK_END)
        return text

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@dataclass
class Stack:
    env: dict[str, str]
    api_port: int
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def restart(self, name: str) -> None:
        service = self.services[name]
        service.stop()
        service.start(self.env)
        service.wait_healthy()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{s.log()[-3000:]}" for name, s in self.services.items())


def stack_env(
    broker: BrokerInstance, *, database: str, redis_url: str, data_dir: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_")}
    env.update(
        WFM_DATABASE=database,
        WFM_REDIS_URL=redis_url,
        WFM_DATA_DIR=data_dir,
        WFM_SECRET_KEY="wfm-e2e-secret-key",
        WFM_DEBUG="true",
        WFM_MQTT_BROKER="mosquitto",
        WFM_MQTT_URL=broker.url,
        WFM_MQTT_USERNAME=SERVICES_USERNAME,
        WFM_MQTT_PASSWORD=SERVICES_PASSWORD,
        WFM_MOSQUITTO_ADMIN_USERNAME=broker.admin_username,
        WFM_MOSQUITTO_ADMIN_PASSWORD=broker.admin_password,
        WFM_MQTT_PUBLIC_HOST=broker.host,
        WFM_MQTT_PUBLIC_PORT=str(broker.port),
        WFM_EMQX_AUTHZ_SHARED_KEY=AUTHZ_KEY,
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def running_stack(env: dict[str, str], *, ingest_replicas: int = 1) -> Iterator[Stack]:
    """API (migrates first), then emqx-sync and mqtt-ingest; stopped in reverse order."""
    api_port = free_port()
    stack = Stack(env=env, api_port=api_port)
    api = Service(
        "api",
        ["wfm_api", "--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning"],
        f"http://127.0.0.1:{api_port}/api/v1/system/health",
    )
    stack.services["api"] = api
    sync_port = free_port()
    stack.services["emqx-sync"] = Service(
        "emqx-sync",
        ["wfm_emqx_sync", "run", "--host", "127.0.0.1", "--port", str(sync_port)],
        f"http://127.0.0.1:{sync_port}/healthz",
    )
    for index in range(ingest_replicas):
        port = free_port()
        stack.services[f"ingest-{index}"] = Service(
            f"ingest-{index}",
            ["wfm_mqtt_ingest", "--metrics-host", "127.0.0.1", "--metrics-port", str(port)],
            f"http://127.0.0.1:{port}/healthz",
        )
    try:
        api.start(env)
        api.wait_healthy()
        others = [s for name, s in stack.services.items() if name != "api"]
        for service in others:
            service.start({**env, "WFM_MIGRATE_ON_START": "false"})
        for service in others:
            service.wait_healthy()
        yield stack
    except BaseException:
        sys.stderr.write(stack.logs())
        raise
    finally:
        for service in reversed(list(stack.services.values())):
            service.stop()
