"""The agent as a system service (reference.md §7.3): systemd on Linux, launchd on macOS.

Where neither runs (containers, network namespaces, this test machine) the agent is run directly:
`wfmctl start` then spawns it in the background, and the root's lock file tells whether it runs.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from wfm_agent.agent import running_agent_pid
from wfm_agent.system import (
    LAUNCHD_LABEL,
    LAUNCHD_PLIST_PATH,
    LINUX_STATE_DIR,
    SYSTEMD_UNIT_NAME,
    SYSTEMD_UNIT_PATH,
    Environment,
    default_root,
    goos,
)

MANAGER_SYSTEMD = "systemd"
MANAGER_LAUNCHD = "launchd"
MANAGER_NONE = "none"
COMMAND_TIMEOUT = 30.0
STOP_WAIT = 20.0


@dataclass(frozen=True)
class ServiceState:
    manager: str
    installed: bool
    active: bool
    autostart: bool
    agent_pid: int | None  # the agent holding the profile root's lock, however it was started

    @property
    def running(self) -> bool:
        return self.active or self.agent_pid is not None


def service_manager() -> str:
    """systemd when it is PID 1 here, launchd on macOS, else none."""
    system = goos()
    if system == "linux":
        if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
            return MANAGER_SYSTEMD
        return MANAGER_NONE
    if system == "darwin" and shutil.which("launchctl"):
        return MANAGER_LAUNCHD
    return MANAGER_NONE


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 127, "", str(exc))


def systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    return run(["systemctl", *args])


def state(env: Environment) -> ServiceState:
    manager = service_manager()
    pid = running_agent_pid(env.root)
    if manager == MANAGER_SYSTEMD:
        return ServiceState(
            manager=manager,
            installed=SYSTEMD_UNIT_PATH.is_file(),
            active=systemctl("is-active", SYSTEMD_UNIT_NAME).stdout.strip() == "active",
            autostart=systemctl("is-enabled", SYSTEMD_UNIT_NAME).stdout.strip() == "enabled",
            agent_pid=pid,
        )
    if manager == MANAGER_LAUNCHD:
        loaded = run(["launchctl", "list", LAUNCHD_LABEL]).returncode == 0
        installed = LAUNCHD_PLIST_PATH.is_file()
        return ServiceState(manager, installed, loaded, installed, pid)
    return ServiceState(MANAGER_NONE, False, False, False, pid)


def running_zipapp() -> Path | None:
    """The .pyz this code runs from, or None for an installed package."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if parent.is_file():
            return parent
    return None


def agent_command(install_dir: Path | None = None) -> list[str]:
    """How to run the agent: the zipapp (installed copy, or this one), or `wfm-agent` beside
    wfmctl, or this interpreter's `-m wfm_agent agent`."""
    zipapp = running_zipapp()
    if zipapp is not None:
        target = zipapp if install_dir is None else install_dir / "wfm-agent.pyz"
        return [sys.executable, str(target), "agent"]
    script = _script("wfm-agent")
    if script is not None:
        return [str(script)]
    return [sys.executable, "-m", "wfm_agent", "agent"]


def _script(name: str) -> Path | None:
    """A console script of this installation: beside wfmctl, in this interpreter's scripts
    directory (a venv's bin), or on PATH."""
    candidates = [
        Path(sys.argv[0]).resolve().parent / name,
        Path(sysconfig.get_path("scripts")) / name,
    ]
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    return None


def wfmctl_target(install_dir: Path) -> Path | None:
    """What /usr/local/bin/wfmctl should point to."""
    if running_zipapp() is not None:
        return install_dir / "wfm-agent.pyz"
    return _script("wfmctl")


def _quote(arg: str) -> str:
    if arg and all(ch.isalnum() or ch in "/._-+=:@" for ch in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def systemd_unit(command: list[str], env: Environment) -> str:
    """The §7.3 unit; KillMode=process so a restart never kills userspace tunnels
    (wireguard-go / amneziawg-go run as children of wg-quick, in the agent's cgroup)."""
    lines = [
        "[Unit]",
        "Description=WG Free Mesh Agent",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={' '.join(_quote(arg) for arg in command)}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartSec=3",
        "KillMode=process",
        "User=root",
        f"WorkingDirectory={LINUX_STATE_DIR}",
    ]
    if env.root != default_root():
        lines.append(f"Environment={_quote('WFM_AGENT_ROOT=' + str(env.root))}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def launchd_plist(command: list[str], env: Environment) -> bytes:
    document: dict[str, object] = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": command,
        "RunAtLoad": True,
        "KeepAlive": True,
        "UserName": "root",
        "EnvironmentVariables": {"WFM_AGENT_ROOT": str(env.root)},
        "StandardErrorPath": str(env.log_dir / "wfm-agent.stderr.log"),
    }
    return plistlib.dumps(document)


def signal_agent(root: Path, signum: int) -> int | None:
    """Send `signum` to the agent running on `root`; its pid, or None when none runs."""
    pid = running_agent_pid(root)
    if pid is None:
        return None
    os.kill(pid, signum)
    return pid


def stop_direct(root: Path, *, wait: float = STOP_WAIT) -> int | None:
    """SIGTERM the agent running on `root` and wait for it to release the lock."""
    pid = signal_agent(root, signal.SIGTERM)
    if pid is None:
        return None
    deadline = time.monotonic() + wait
    while running_agent_pid(root) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    return pid


def start_direct(command: list[str], env: Environment) -> subprocess.Popen[bytes]:
    """Run the agent in the background, detached from this terminal; it logs to its log dir."""
    argv = [*command, "--profile-root", str(env.root), "--log-dir", str(env.log_dir)]
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
