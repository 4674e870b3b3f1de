"""Host facts and per-OS locations (reference.md §7.2, §7.3), read from the environment once."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_ROOT = "WFM_AGENT_ROOT"
ENV_LOG_DIR = "WFM_AGENT_LOG_DIR"
ENV_TOOLS = {
    "wg": "WFM_AGENT_WG",
    "wg-quick": "WFM_AGENT_WG_QUICK",
    "awg": "WFM_AGENT_AWG",
    "awg-quick": "WFM_AGENT_AWG_QUICK",
}

LINUX_ROOT = Path("/etc/wg-free-mesh/profiles")
LINUX_LOG_DIR = Path("/var/log/wg-free-mesh")
LINUX_STATE_DIR = Path("/var/lib/wg-free-mesh")
MACOS_BASE = Path("/Library/Application Support/WG Free Mesh")
SYSTEMD_UNIT_NAME = "wfm-agent.service"
SYSTEMD_UNIT_PATH = Path("/etc/systemd/system") / SYSTEMD_UNIT_NAME
LAUNCHD_LABEL = "mesh.wg-free.wfm-agent"
LAUNCHD_PLIST_PATH = Path("/Library/LaunchDaemons") / f"{LAUNCHD_LABEL}.plist"
INSTALL_DIR = Path("/usr/local/lib/wg-free-mesh")
BIN_DIR = Path("/usr/local/bin")


def goos() -> str:
    """The platform name the server stores (Go's GOOS): linux, darwin, windows, …"""
    name: str = sys.platform  # a plain str: mypy would fold the checks to this host's platform
    if name.startswith("linux"):
        return "linux"
    if name == "win32":
        return "windows"
    if name.startswith("freebsd"):
        return "freebsd"
    return name


def hostname() -> str:
    return socket.gethostname()[:128]


def _windows_base() -> Path:
    return Path(os.environ.get("PROGRAMDATA") or "C:\\ProgramData") / "wg-free-mesh"


def default_root() -> Path:
    """Where profiles live by default on this OS (§7.2)."""
    system = goos()
    if system == "darwin":
        return MACOS_BASE / "profiles"
    if system == "windows":
        return _windows_base() / "profiles"
    return LINUX_ROOT


def default_log_dir(root: Path) -> Path:
    """Logs next to the profile root: the system log dir for the default root, else `../logs`."""
    if root == default_root():
        system = goos()
        if system == "darwin":
            return MACOS_BASE / "logs"
        if system == "windows":
            return _windows_base() / "logs"
        return LINUX_LOG_DIR
    return root.parent / "logs"


def is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is None or geteuid() == 0


@dataclass(frozen=True)
class Environment:
    """The agent's and wfmctl's environment settings (the only place they read os.environ)."""

    root: Path
    log_dir: Path
    tools: Mapping[str, str]

    @classmethod
    def from_env(
        cls,
        *,
        root: str | None = None,
        log_dir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Environment:
        """Options win over WFM_AGENT_ROOT / WFM_AGENT_LOG_DIR, which win over the OS defaults."""
        source = os.environ if env is None else env
        root_path = Path(root or source.get(ENV_ROOT) or default_root()).expanduser()
        log_value = log_dir or source.get(ENV_LOG_DIR)
        log_path = Path(log_value).expanduser() if log_value else default_log_dir(root_path)
        tools = {name: source[var] for name, var in ENV_TOOLS.items() if source.get(var)}
        return cls(root=root_path.absolute(), log_dir=log_path.absolute(), tools=tools)
