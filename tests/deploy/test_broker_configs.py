"""The broker side of compose: EMQX's configuration and start script (reference.md §6.11), the
`mosquitto` profile (run here with the machine's Mosquitto), and the TLS certificate maker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .support import ROOT, free_port, port_open

EMQX_DIR = ROOT / "deploy" / "emqx"
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
CERTS_SCRIPT = ROOT / "deploy" / "certs" / "generate.sh"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WFM_", "EMQX_"))}
    env.update(extra)
    return env


def _start_emqx(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run start-emqx.sh against a scratch EMQX home; `echo` stands in for EMQX itself."""
    (home / "etc").mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["sh", str(EMQX_DIR / "start-emqx.sh")],
        env=_clean_env(EMQX_HOME=str(home), WFM_EMQX_ENTRYPOINT="echo", **env),
        capture_output=True,
        text=True,
    )


EMQX_ENV = {
    "WFM_EMQX_USERNAME": "wfm-api",
    "WFM_EMQX_PASSWORD": "s3cret-api",
    "WFM_EMQX_AUTHZ_SHARED_KEY": "k&y|with/odd=chars",
    "WFM_EMQX_AUTHZ_URL": "http://emqx-sync:8002/api/internal/emqx/authz",
    "EMQX_NODE__COOKIE": "cookie-1",
}


def test_emqx_config_authn_authz_and_listeners(tmp_path: Path) -> None:
    result = _start_emqx(tmp_path, **EMQX_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tmp_path}/bin/emqx foreground"
    conf = (tmp_path / "etc" / "base.hocon").read_text()
    # Authn: built-in database, sha256 without salt, by username.
    authn = conf[conf.index("authentication = [") :]
    assert "backend = built_in_database" in authn
    assert re.search(r"name = sha256\s+salt_position = disable", authn)
    assert "user_id_type = username" in authn
    # Authz: only our HTTP callback, and everything it does not allow is denied.
    authz = conf[conf.index("authorization {") :]
    assert "no_match = deny" in authz
    assert authz.count("type = ") == 1
    assert "type = http" in authz
    assert 'url = "http://emqx-sync:8002/api/internal/emqx/authz"' in authz
    assert '"x-wfm-internal-key" = "k&y|with/odd=chars"' in authz
    for field in ("username", "clientid", "topic", "action"):
        assert f'{field} = "${{{field}}}"' in authz
    assert "__WFM_" not in conf
    assert 'bind = "0.0.0.0:1883"' in conf
    assert "listeners.ssl.default.enable = false" in conf
    assert "listeners.wss.default.enable = false" in conf
    # The API key emqx-sync uses, from the bootstrap file named in the config.
    bootstrap = re.search(r'bootstrap_file = "/opt/emqx/(.+)"', conf)
    assert bootstrap
    key_file = tmp_path / bootstrap.group(1)
    assert key_file.read_text() == "wfm-api:s3cret-api:administrator\n"
    assert key_file.stat().st_mode & 0o077 == 0


def test_emqx_tls_listener_needs_the_certificates(tmp_path: Path) -> None:
    missing = _start_emqx(tmp_path, WFM_MQTT_TLS_ENABLED="true", **EMQX_ENV)
    assert missing.returncode != 0
    assert "wfm-certs/ca.crt is missing" in missing.stderr
    certs = tmp_path / "etc" / "wfm-certs"
    certs.mkdir(parents=True)
    for name in ("ca.crt", "server.crt", "server.key"):
        (certs / name).write_text("x")
    result = _start_emqx(tmp_path, WFM_MQTT_TLS_ENABLED="true", **EMQX_ENV)
    assert result.returncode == 0, result.stderr
    conf = (tmp_path / "etc" / "base.hocon").read_text()
    tls = conf[conf.index("listeners.ssl.default {") :]
    assert "enable = true" in tls
    assert 'bind = "0.0.0.0:8883"' in tls
    for name in ("ca.crt", "server.crt", "server.key"):
        assert f"/opt/emqx/etc/wfm-certs/{name}" in tls


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"WFM_EMQX_AUTHZ_SHARED_KEY": ""}, "WFM_EMQX_AUTHZ_SHARED_KEY is not set"),
        ({"WFM_EMQX_PASSWORD": "change-me"}, "replace every change-me"),
        ({"EMQX_NODE__COOKIE": "change-me"}, "replace every change-me"),
        ({"WFM_EMQX_USERNAME": "a:b"}, "letters, digits"),
        ({"WFM_EMQX_AUTHZ_SHARED_KEY": 'a"b'}, "must not contain"),
    ],
)
def test_emqx_start_refuses_bad_settings(
    override: dict[str, str], message: str, tmp_path: Path
) -> None:
    result = _start_emqx(tmp_path, **{**EMQX_ENV, **override})
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "etc" / "base.hocon").exists()


def _dynsec_plugin() -> str:
    for candidate in (
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/mosquitto_dynamic_security.so",
    ):
        if Path(candidate).exists():
            return candidate
    pytest.fail("mosquitto's dynamic-security plugin is missing (make install)")


CTRL = ["mosquitto_ctrl", "-h", "127.0.0.1", "-u", "wfm-admin"]


def _ctrl(port: int, password: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CTRL, "-p", str(port), "-P", password, "dynsec", *command],
        capture_output=True,
        text=True,
        timeout=10,
    )


def test_mosquitto_profile_starts_fresh_with_only_the_admin() -> None:
    """Each start begins from a new dynamic-security file (emqx-sync refills it), so the admin
    password always is the one in the environment."""
    assert shutil.which("mosquitto") and shutil.which("mosquitto_ctrl"), "make install"
    # Started as root the broker drops to the mosquitto user, which must reach its data dir
    # (pytest's own temporary directories are private to root).
    with tempfile.TemporaryDirectory(prefix="wfm-mosquitto-") as scratch:
        Path(scratch).chmod(0o755)
        _run_mosquitto_profile_twice(Path(scratch) / "data")


def _run_mosquitto_profile_twice(data: Path) -> None:
    port = free_port()
    for password in ("first-admin-password", "second-admin-password"):
        proc = subprocess.Popen(
            ["sh", str(MOSQUITTO_DIR / "start-mosquitto.sh")],
            env=_clean_env(
                WFM_MOSQUITTO_ADMIN_PASSWORD=password,
                WFM_MOSQUITTO_DATA_DIR=str(data),
                WFM_MOSQUITTO_DYNSEC_PLUGIN=_dynsec_plugin(),
                WFM_BROKER_PORT=str(port),
                WFM_BROKER_BIND="127.0.0.1",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 10
            while not port_open(port):
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.05)
            listed = _ctrl(port, password, "listClients")
            while not listed.stdout.strip() and time.monotonic() < deadline:
                time.sleep(0.1)  # the listener is up a moment before the plugin answers
                listed = _ctrl(port, password, "listClients")
            assert listed.returncode == 0, listed.stderr
            assert listed.stdout.split() == ["wfm-admin"], (listed.stderr, listed.stdout)
            if password == "first-admin-password":
                created = _ctrl(port, password, "createClient", "node_x", "-p", "pw")
                assert created.returncode == 0, created.stderr
            else:
                # (mosquitto_ctrl exits 0 even then: read what it says)
                refused = _ctrl(port, "first-admin-password", "listClients")
                assert "Not authorized" in refused.stderr
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    conf = (data / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    assert f"listener {port} 127.0.0.1" in conf


def _generate(directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(CERTS_SCRIPT)],
        env=_clean_env(WFM_CERTS_DIR=str(directory), WFM_CERTS_BROKER_UID=str(os.getuid()), **env),
        capture_output=True,
        text=True,
    )


def _san(certificate: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-in", str(certificate), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_certs_are_made_once_for_the_public_host(tmp_path: Path) -> None:
    off = _generate(tmp_path / "off", WFM_MQTT_TLS_ENABLED="false")
    assert off.returncode == 0
    assert not (tmp_path / "off").exists()

    certs = tmp_path / "certs"
    made = _generate(
        certs, WFM_MQTT_TLS_ENABLED="true", WFM_PUBLIC_ORIGIN="https://wfm.example.com:8443/x"
    )
    assert made.returncode == 0, made.stderr
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(certs / "ca.crt"), str(certs / "server.crt")],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    assert "DNS:wfm.example.com" in _san(certs / "server.crt")
    assert (certs / "server.key").stat().st_mode & 0o077 == 0
    assert (certs / "ca.key").stat().st_mode & 0o077 == 0
    assert (certs / "ca.crt").stat().st_mode & 0o044 == 0o044
    ca_before = (certs / "ca.crt").read_bytes()

    again = _generate(certs, WFM_MQTT_TLS_ENABLED="true", WFM_MQTT_PUBLIC_HOST="wfm.example.com")
    assert "exist" in again.stdout
    # A new host gets a new server certificate from the same CA (nodes keep trusting it).
    moved = _generate(certs, WFM_MQTT_TLS_ENABLED="true", WFM_MQTT_PUBLIC_HOST="203.0.113.7")
    assert moved.returncode == 0, moved.stderr
    assert "IP Address:203.0.113.7" in _san(certs / "server.crt")
    assert (certs / "ca.crt").read_bytes() == ca_before

    nowhere = _generate(tmp_path / "x", WFM_MQTT_TLS_ENABLED="true")
    assert nowhere.returncode != 0
    assert "WFM_MQTT_PUBLIC_HOST" in nowhere.stdout
