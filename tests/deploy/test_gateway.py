"""The gateway's nginx config (gateway/nginx): rendered for compose and for `make up`, checked by
`nginx -t`, then run for real in front of stand-in upstreams to see what it does with requests.

The upstreams here are small recording HTTP servers (and a TCP echo for MQTT): this tests nginx's
routing, headers, limits and streaming; test_make_up.py runs the real services behind it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from .support import free_port, nginx_test, render_gateway, running_nginx

SSE_PATH = "/api/v1/events/stream"


# --- the rendered text ------------------------------------------------------------------------


def _compose_conf(tmp_path: Path, **extra: str) -> str:
    """The gateway image's rendering (its entrypoint's variables), except that the MCP upstream
    is an address: this nginx (Debian's 1.22) resolves upstream names at start."""
    variables = {
        "mcp_upstream": "127.0.0.1:8001",
        "runtime_dir": str(tmp_path / "run"),
        "resolver": "127.0.0.11",
        "mqtt_listen": "1883",
        "mqtt_upstream": "broker:1883",
        "mqtt_tls_listen": "8883",
        "mqtt_tls_upstream": "broker:8883",
        **extra,
    }
    return render_gateway(tmp_path / "nginx.conf", **variables)


def _location(conf: str, spec: str) -> str:
    """The body of `location <spec> { … }` (no nested blocks in ours)."""
    match = re.search(r"location " + re.escape(spec) + r" \{(.*?)\n\s*\}", conf, re.S)
    assert match, f"no `location {spec}` in the config"
    return match.group(1)


def test_compose_config_passes_nginx_t(tmp_path: Path) -> None:
    _compose_conf(tmp_path)
    result = nginx_test(tmp_path / "nginx.conf")
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_make_up_config_passes_nginx_t(tmp_path: Path) -> None:
    render_gateway(
        tmp_path / "nginx.conf",
        listen="127.0.0.1:18080",
        api_upstream="127.0.0.1:18000",
        mcp_upstream="127.0.0.1:18001",
        console_root=str(tmp_path / "console"),
        runtime_dir=str(tmp_path / "run"),
        access_log=str(tmp_path / "access.log"),
    )
    result = nginx_test(tmp_path / "nginx.conf")
    assert result.returncode == 0, result.stderr
    assert "\nstream {" not in (tmp_path / "nginx.conf").read_text()


def test_sse_location_is_unbuffered_with_long_timeouts(tmp_path: Path) -> None:
    sse = _location(_compose_conf(tmp_path), "= " + SSE_PATH)
    assert "proxy_buffering off;" in sse
    assert "proxy_read_timeout 3600s;" in sse
    assert "proxy_send_timeout 3600s;" in sse
    for spec in ("= /mcp", "^~ /mcp/"):
        mcp = _location(_compose_conf(tmp_path), spec)
        assert "proxy_buffering off;" in mcp
        assert "proxy_read_timeout 3600s;" in mcp


def test_body_limit_comes_from_the_environment(tmp_path: Path) -> None:
    assert "client_max_body_size 512m;" in _compose_conf(tmp_path)
    assert "client_max_body_size 64k;" in _compose_conf(tmp_path, client_max_body_size="64k")
    with pytest.raises(Exception, match="returned non-zero"):
        _compose_conf(tmp_path, client_max_body_size="512m; evil")


def test_headers_gzip_internal_spa_and_stream_are_configured(tmp_path: Path) -> None:
    conf = _compose_conf(tmp_path)
    assert 'add_header X-Content-Type-Options "nosniff" always;' in conf
    assert 'add_header Referrer-Policy "no-referrer" always;' in conf
    assert "add_header Content-Security-Policy $wfm_csp always;" in conf
    assert "default-src 'self'" in conf
    assert "gzip on;" in _location(conf, "^~ /assets/")
    assert "gzip on;" in _location(conf, "/")
    assert "gzip on;" not in _location(conf, "/api/")
    assert "return 404;" in _location(conf, "^~ /api/internal")
    assert "try_files $uri $uri/ /index.html =404;" in _location(conf, "/")
    stream = conf[conf.index("\nstream {") :]
    assert "listen 1883;" in stream
    assert "set $wfm_broker broker:1883;" in stream
    assert "listen 8883;" in stream
    assert "set $wfm_broker broker:8883;" in stream
    assert "resolver 127.0.0.11" in stream


def test_mcp_requests_of_one_token_stay_on_one_replica(tmp_path: Path) -> None:
    """An upstream block hashing the Authorization header; on nginx ≥ 1.27.3 (the image's) the
    replicas' name is resolved again at run time, on older nginx once at start."""
    fake = tmp_path / "nginx-1.27"
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'nginx version: nginx/1.27.5' >&2\n"
        '[ "$1" = -V ] && echo "configure arguments: --conf-path=/etc/nginx/nginx.conf'
        ' --with-stream --with-http_realip_module" >&2\n'
        "exit 0\n"
    )
    fake.chmod(0o755)
    image = _compose_conf(tmp_path, nginx=str(fake), mcp_upstream="mcp:8001")
    upstream = image[image.index("upstream wfm_mcp {") :]
    upstream = upstream[: upstream.index("}")]
    assert "hash $http_authorization consistent;" in upstream
    assert "zone wfm_mcp" in upstream
    assert "server mcp:8001 resolve;" in upstream
    assert "load_module" not in image  # the image's nginx has the stream module built in
    for spec in ("= /mcp", "^~ /mcp/"):
        assert "proxy_pass http://wfm_mcp;" in _location(image, spec)
    local = _compose_conf(tmp_path)
    assert "server 127.0.0.1:8001;" in local


def test_trusted_proxies_turn_on_real_ip(tmp_path: Path) -> None:
    conf = _compose_conf(tmp_path, trusted_proxies="10.0.0.0/8,192.0.2.7")
    assert "set_real_ip_from 10.0.0.0/8;" in conf
    assert "set_real_ip_from 192.0.2.7;" in conf
    assert "real_ip_header X-Forwarded-For;" in conf
    assert "set_real_ip_from" not in _compose_conf(tmp_path)
    assert nginx_test(tmp_path / "nginx.conf").returncode == 0


# --- the running gateway ----------------------------------------------------------------------


@dataclass
class Upstream:
    """A recording HTTP server standing in for the API or the MCP service."""

    name: str
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _record(self) -> dict[str, Any]:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = {
                    "upstream": upstream.name,
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body_bytes": len(body),
                }
                upstream.requests.append(seen)
                return seen

            def _answer(self) -> None:
                seen = self._record()
                if self.path.startswith(SSE_PATH):
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("cache-control", "no-cache")
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for index in range(2):
                        frame = f'event: system.clock.sync\ndata: {{"n": {index}}}\n\n'.encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                        self.wfile.flush()
                        time.sleep(2.5)
                    self.wfile.write(b"0\r\n\r\n")
                    return
                body = json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _echo_server() -> tuple[socket.socket, int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return listener, int(listener.getsockname()[1])


def _raw_status(port: int, method: str, path: str) -> int:
    """Send the request line exactly as written (HTTP clients would normalise the path)."""
    body = b'{"username":"node_x","clientid":"wfm-node_x","topic":"#","action":"subscribe"}'
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head.encode() + body)
        status_line = conn.makefile("rb").readline().decode()
    return int(status_line.split()[1])


@dataclass
class Gateway:
    url: str
    port: int
    api: Upstream
    mcp: Upstream
    mqtt_port: int


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("gateway")
    console = tmp / "console"
    (console / "assets").mkdir(parents=True)
    (console / "index.html").write_text("<!doctype html><title>WFM console</title><div id=app>")
    (console / "assets" / "app-1234.js").write_text("console.log('wfm');\n" * 200)
    api, mcp = Upstream("api"), Upstream("mcp")
    api.start()
    mcp.start()
    echo, echo_port = _echo_server()
    port, mqtt_port = free_port(), free_port()
    conf = tmp / "run" / "nginx.conf"
    render_gateway(
        conf,
        listen=f"127.0.0.1:{port}",
        api_upstream=f"127.0.0.1:{api.port}",
        mcp_upstream=f"127.0.0.1:{mcp.port}",
        console_root=str(console),
        runtime_dir=str(tmp / "run"),
        access_log=str(tmp / "access.log"),
        client_max_body_size="4k",
        mqtt_listen=f"127.0.0.1:{mqtt_port}",
        mqtt_upstream=f"127.0.0.1:{echo_port}",
        worker_user="root" if os.geteuid() == 0 else "",
    )
    try:
        with running_nginx(conf, port):
            yield Gateway(f"http://127.0.0.1:{port}", port, api, mcp, mqtt_port)
    finally:
        api.stop()
        mcp.stop()
        echo.close()


def test_api_and_mcp_are_routed_with_forwarding_headers(gateway: Gateway) -> None:
    answer = httpx.get(
        f"{gateway.url}/api/v1/system/health",
        headers={"x-forwarded-for": "198.51.100.9", "host": "wfm.example.com"},
    )
    seen = answer.json()
    assert seen["upstream"] == "api"
    assert seen["path"] == "/api/v1/system/health"
    # A client cannot choose its own address: the API sees the connection's.
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["x-real-ip"] == "127.0.0.1"
    assert seen["headers"]["host"] == "wfm.example.com"
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert re.fullmatch(r"[0-9a-f]{32}", seen["headers"]["x-request-id"])
    mine = httpx.get(f"{gateway.url}/api/v1/configs", headers={"x-request-id": "req-1"}).json()
    assert mine["headers"]["x-request-id"] == "req-1"
    for path in ("/mcp", "/mcp/"):
        seen = httpx.post(f"{gateway.url}{path}", json={"jsonrpc": "2.0"}).json()
        assert (seen["upstream"], seen["path"]) == ("mcp", path)


def test_internal_routes_never_reach_an_upstream(gateway: Gateway) -> None:
    before = len(gateway.api.requests) + len(gateway.mcp.requests)
    for path in (
        "/api/internal/emqx/authz",
        "/api/internal/",
        "/api/internal",
        "/api/%69nternal/emqx/authz",
        "//api//internal/emqx/authz",
        "/api/v1/../internal/emqx/authz",
        "/api/./internal/emqx/authz",
    ):
        for method in ("GET", "POST"):
            status = _raw_status(gateway.port, method, path)
            assert status == 404, (method, path, status)
    assert len(gateway.api.requests) + len(gateway.mcp.requests) == before


def test_console_spa_fallback_assets_and_headers(gateway: Gateway) -> None:
    for path in ("/", "/configs/cfg_123/mesh", "/tools/other/mcp-access"):
        answer = httpx.get(f"{gateway.url}{path}")
        assert answer.status_code == 200, path
        assert "WFM console" in answer.text
        assert answer.headers["cache-control"] == "no-cache"
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    asset = httpx.get(f"{gateway.url}/assets/app-1234.js", headers={"accept-encoding": "gzip"})
    assert asset.status_code == 200
    assert asset.headers["content-encoding"] == "gzip"
    assert "max-age=31536000" in asset.headers["cache-control"]
    assert asset.text.startswith("console.log")  # httpx undid the gzip
    # A missing hashed asset is a 404, not the SPA's index.html.
    assert httpx.get(f"{gateway.url}/assets/gone-0000.js").status_code == 404
    api = httpx.get(f"{gateway.url}/api/v1/system/health", headers={"accept-encoding": "gzip"})
    assert "content-security-policy" not in api.headers
    assert "content-encoding" not in api.headers
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["referrer-policy"] == "no-referrer"


def test_request_body_limit(gateway: Gateway) -> None:
    assert httpx.post(f"{gateway.url}/api/v1/tools", content=b"x" * 3000).status_code == 200
    assert httpx.post(f"{gateway.url}/api/v1/tools", content=b"x" * 6000).status_code == 413


def test_event_stream_frames_pass_at_once(gateway: Gateway) -> None:
    """The stand-in sends one frame, then waits 2.5 s: the frame must arrive before that (no
    compression or buffering step in between holds it)."""
    started = time.monotonic()
    with httpx.stream("GET", f"{gateway.url}{SSE_PATH}", timeout=10) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("event: system.clock.sync"):
                break
    assert time.monotonic() - started < 1.5


def test_mqtt_port_is_passed_through(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.mqtt_port), timeout=5) as conn:
        conn.sendall(b"\x10\x0cMQTT-ish bytes")
        received = b""
        while len(received) < 16:
            received += conn.recv(64)
    assert received == b"\x10\x0cMQTT-ish bytes"
