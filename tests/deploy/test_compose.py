"""compose.yaml and .env.example: valid for `docker compose`, complete, consistent with the code.

No Docker engine runs here: `docker compose config` (the plugin, or Debian's docker-compose) checks
the file against the compose schema; the structural checks below hold with or without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from wfm_core.settings import Settings

from .support import ROOT

COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
ONE_SHOT = {"certs", "migrate"}
THIRD_PARTY = {"postgres", "redis", "emqx", "mosquitto"}
# Services the code base builds: the Python services (services/*, the agent runs on nodes), the
# gateway, and the certificate maker.
OURS = {"api", "emqx-sync", "mqtt-ingest", "mcp", "gateway", "certs", "migrate"}


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _documented() -> list[str]:
    return re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M)


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        plugin = subprocess.run([docker, "compose", "version"], capture_output=True)
        if plugin.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.parametrize("profile", ["emqx", "mosquitto", ""])
def test_docker_compose_config_accepts_the_file(profile: str, tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no `docker compose` or `docker-compose` here (make install adds it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WFM_", "COMPOSE_"))}
    env.update(WFM_ENV_FILE=str(ENV_EXAMPLE), COMPOSE_PROFILES=profile)
    result = subprocess.run(
        [*command, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    names = set(rendered["services"])
    assert {"postgres", "redis", "api", "emqx-sync", "mqtt-ingest", "mcp", "gateway"} <= names
    if profile:  # (Debian's docker-compose 1.x lists every profile's services)
        assert profile in names
    api_env = rendered["services"]["api"]["environment"]
    assert api_env["WFM_DATABASE"] == "postgresql://wfm:change-me@postgres:5432/wfm"
    assert api_env["WFM_SECRET_KEY"] == "change-me"  # from the env file


def test_every_service_has_an_image_or_a_dockerfile_in_the_repo() -> None:
    services = _services()
    assert set(services) == OURS | THIRD_PARTY
    for name, service in services.items():
        if name in THIRD_PARTY:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
            assert "build" not in service
            continue
        build = service["build"]
        assert build["context"] == ".", name
        dockerfile = ROOT / build["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
    # Every server-side service of the repository is deployed, each from its own Dockerfile.
    for folder in (ROOT / "services").iterdir():
        if not (folder / "pyproject.toml").exists() or folder.name == "agent":
            continue
        assert services[folder.name]["build"]["dockerfile"] == f"services/{folder.name}/Dockerfile"
    assert services["gateway"]["build"]["dockerfile"] == "gateway/Dockerfile"


def test_health_checks_and_start_order() -> None:
    services = _services()
    for name, service in services.items():
        if name in ONE_SHOT:
            assert "restart" not in service, f"{name} runs once"
            continue
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{target} has no health check"
            elif condition == "service_completed_successfully":
                assert target in ONE_SHOT
            else:
                assert condition == "service_started"
    for name in ("api", "emqx-sync", "mqtt-ingest", "mcp"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert services[name]["environment"]["WFM_MIGRATE_ON_START"] == "false"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_only_the_gateway_is_published_and_replicas_can_scale() -> None:
    services = _services()
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"gateway"}
    ports = " ".join(services["gateway"]["ports"])
    for variable in ("WFM_GATEWAY_PORT", "WFM_MQTT_PUBLIC_PORT", "WFM_MQTT_PUBLIC_TLS_PORT"):
        assert variable in ports
    # `docker compose up --scale mqtt-ingest=3` (and api, mcp) needs nothing fixed per container.
    for name in ("mqtt-ingest", "api", "mcp", "emqx-sync"):
        for fixed in ("container_name", "hostname", "ports"):
            assert fixed not in services[name], f"{name}: {fixed} prevents --scale"


def test_brokers_are_profiles_behind_one_name() -> None:
    services = _services()
    assert services["emqx"]["profiles"] == ["emqx"]
    assert services["mosquitto"]["profiles"] == ["mosquitto"]
    for broker in ("emqx", "mosquitto"):
        assert services[broker]["networks"]["default"]["aliases"] == ["broker"]
    assert services["api"]["environment"]["WFM_MQTT_URL"] == "mqtt://broker:1883"
    emqx = services["emqx"]
    assert emqx["image"].startswith("emqx/emqx:5.8")
    assert "./deploy/emqx:/opt/emqx/wfm:ro" in emqx["volumes"]
    assert "18083" not in str(emqx.get("ports", ""))  # the dashboard stays inside
    assert emqx["depends_on"]["certs"]["condition"] == "service_completed_successfully"


def test_env_example_documents_every_setting() -> None:
    documented = _documented()
    duplicates = sorted({name for name in documented if documented.count(name) > 1})
    assert not duplicates, f".env.example documents these twice: {duplicates}"
    settings = {f"WFM_{name.upper()}" for name in Settings.model_fields}
    missing = sorted(settings - set(documented))
    assert not missing, f"settings missing from .env.example: {missing}"


def test_env_example_documents_every_compose_variable() -> None:
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))
    missing = sorted(used - set(_documented()))
    assert not missing, f"compose.yaml variables missing from .env.example: {missing}"


def test_env_example_values_parse_and_placeholders_are_refused() -> None:
    """The uncommented values are valid settings, and the shipped `change-me` secret is refused
    for a deployment with a public origin."""
    values = dict(
        re.findall(r"^(WFM_[A-Z0-9_]+)=(.*)$", ENV_EXAMPLE.read_text(), re.M),
    )
    fields = {f"WFM_{name.upper()}": name for name in Settings.model_fields}
    kwargs: dict[str, Any] = {fields[k]: v for k, v in values.items() if k in fields}
    kwargs.update(debug=False, enable_dev_test_api=False)  # the test session turns debug on
    with pytest.raises(ValueError, match="WFM_SECRET_KEY must be set"):
        Settings(_env_file=None, **kwargs)
    settings = Settings(_env_file=None, **{**kwargs, "secret_key": "a-real-secret-0123456789"})
    assert settings.public_host == "wfm.example.com"
    assert settings.mqtt_tls_enabled is True


@pytest.fixture
def host_checking_server() -> Iterator[tuple[str, list[str]]]:
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            hosts.append(self.headers.get("host", ""))
            self.send_response(200 if self.path == "/ok" else 503)
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hosts
    finally:
        server.shutdown()
        server.server_close()


def test_service_health_checks_send_the_public_host(
    host_checking_server: tuple[str, list[str]],
) -> None:
    """The services answer only their public Host once WFM_PUBLIC_ORIGIN is set: the compose
    health check must send it, or a production deployment never becomes healthy."""
    base, hosts = host_checking_server
    test = _services()["api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    code = test[3]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFM_")}

    def check(url: str, **extra: str) -> int:
        run = subprocess.run([sys.executable, "-c", code, url], env={**env, **extra})
        return run.returncode

    assert check(f"{base}/ok", WFM_PUBLIC_ORIGIN="https://wfm.example.com") == 0
    assert hosts[-1] == "wfm.example.com"
    assert check(f"{base}/ok") == 0
    assert hosts[-1] == base.removeprefix("http://")
    assert check(f"{base}/unhealthy") != 0
    for name in ("emqx-sync", "mqtt-ingest", "mcp"):
        assert _services()[name]["healthcheck"]["test"][3] == code


@pytest.mark.parametrize(
    ("document", "start", "end"),
    [
        ("README.md", "## Configuration", "\n## "),
        ("docs/10-environment.md", "# 10.", None),
    ],
)
def test_docs_name_every_setting(document: str, start: str, end: str | None) -> None:
    text = (ROOT / document).read_text()
    section = text[text.index(start) :]
    if end is not None:
        section = section[: section.index(end, len(start))]
    settings = {f"WFM_{name.upper()}" for name in Settings.model_fields}
    missing = sorted(name for name in settings if f"`{name}`" not in section)
    assert not missing, f"{document} does not describe: {missing}"
