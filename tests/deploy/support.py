"""Shared pieces of the deployment tests: paths, free ports, rendering and running the gateway."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "gateway" / "nginx" / "render.sh"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    assert found, "nginx is not installed (`make install` installs it)"
    return found


def render_gateway(output: Path, **variables: str) -> str:
    """Render gateway/nginx/nginx.conf.template with WFM_GATEWAY_* `variables`; return the text."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_GATEWAY_")}
    env["WFM_GATEWAY_NGINX"] = nginx_binary()
    env.update({f"WFM_GATEWAY_{key.upper()}": value for key, value in variables.items()})
    subprocess.run(["sh", str(RENDER), str(output)], env=env, check=True, capture_output=True)
    return output.read_text()


def nginx_test(conf: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on a rendered file (prefix = its directory, so nothing global is touched)."""
    return subprocess.run(
        [nginx_binary(), "-t", "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        text=True,
    )


@contextlib.contextmanager
def running_nginx(conf: Path, wait_port: int) -> Iterator[subprocess.Popen[str]]:
    argv = [nginx_binary(), "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"]
    proc = subprocess.Popen(
        [*argv, "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open(wait_port):
            assert proc.poll() is None, f"nginx exited: {proc.stdout.read() if proc.stdout else ''}"
            assert time.monotonic() < deadline, "nginx did not listen within 10 s"
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
