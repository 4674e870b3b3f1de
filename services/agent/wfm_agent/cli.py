"""`wfmctl`: install the agent service, bind profiles and look at them (reference.md §7.1).

Exit codes: 0 success, 1 failure (the message says why), 2 bad usage. Root is required only by
install, uninstall and service start/stop; the rest works on any profile root the user can write
(`--profile-root` or WFM_AGENT_ROOT), which is how several agents share one host.

The CLI is plain argparse: the agent must run from one zipapp on any Python 3.9+, and current
typer/click releases need Python 3.10+ (typer also pydantic, a compiled package).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from wfm_agent import __version__
from wfm_agent import service as svc
from wfm_agent.agent import LOG_FILE, running_agent_pid
from wfm_agent.bind import BindError, normalize_server, request_bind
from wfm_agent.profiles import (
    STATE_PRESENT,
    Profile,
    ProfileEntry,
    ProfileError,
    ProfileStore,
)
from wfm_agent.system import (
    BIN_DIR,
    INSTALL_DIR,
    LAUNCHD_LABEL,
    LAUNCHD_PLIST_PATH,
    LINUX_STATE_DIR,
    SYSTEMD_UNIT_NAME,
    SYSTEMD_UNIT_PATH,
    Environment,
    default_root,
    goos,
    hostname,
    is_root,
)
from wfm_agent.toolchain import Toolchain

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


class CliError(Exception):
    """A failure to report as `wfmctl: error: <message>` with exit status 1."""


class UsageError(Exception):
    """Bad arguments: exit status 2."""


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def emit_json(value: Any) -> None:
    out(json.dumps(value, indent=2, sort_keys=True))


def require_root(action: str) -> None:
    if not is_root():
        raise CliError(f"{action} needs root: run it with sudo")


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so `main` owns every exit status."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


# --- commands ---------------------------------------------------------------------------------


def cmd_version(args: argparse.Namespace, env: Environment) -> int:
    out(f"wfmctl {__version__}")
    return EXIT_OK


def _entry_document(entry: ProfileEntry) -> dict[str, Any]:
    profile = entry.profile
    document: dict[str, Any] = {
        "profile_id": entry.profile_id,
        "profile": entry.state,
        "desired": entry.desired,
        "conf": entry.conf,
        "directory": str(entry.directory),
    }
    if entry.error:
        document["error"] = entry.error
    if profile is not None:
        document.update(
            config_id=profile.config_id,
            config_name=profile.config_name,
            node_id=profile.node_id,
            node_name=profile.node_name,
            interface_name=profile.interface,
            server_url=profile.server_url,
            mqtt={
                "host": profile.mqtt.host,
                "port": profile.mqtt.port,
                "tls": profile.mqtt.tls,
                "client_id": profile.mqtt.client_id,
            },
        )
    return document


def _entry_line(entry: ProfileEntry) -> str:
    profile = entry.profile
    if profile is None:
        return (
            f"{entry.profile_id} | ?/? | server=? profile={entry.state} desired={entry.desired} "
            f"mqtt=? tls=? ({entry.error})"
        )
    return (
        f"{entry.profile_id} | {profile.config_name or profile.config_id}/"
        f"{profile.node_name or profile.node_id} | server={profile.server_url or '?'} "
        f"profile={entry.state} desired={entry.desired} "
        f"mqtt={profile.mqtt.host}:{profile.mqtt.port} tls={str(profile.mqtt.tls).lower()}"
    )


def cmd_list(args: argparse.Namespace, env: Environment) -> int:
    entries = ProfileStore(env.root).entries()
    if args.json:
        emit_json([_entry_document(entry) for entry in entries])
        return EXIT_OK
    if not entries:
        out(f"No profiles under {env.root}. Bind one with: wfmctl bind <server> <token>")
    for entry in entries:
        out(_entry_line(entry))
    return EXIT_OK


def _status_document(env: Environment) -> dict[str, Any]:
    state = svc.state(env)
    entries = ProfileStore(env.root).entries()
    return {
        "version": __version__,
        "platform": goos(),
        "hostname": hostname(),
        "service_manager": state.manager,
        "installed": state.installed,
        "running": state.running,
        "service_active": state.active,
        "autostart": state.autostart,
        "agent_pid": state.agent_pid,
        "agent_command": svc.agent_command(),
        "profile_root": str(env.root),
        "log_dir": str(env.log_dir),
        "bindings": len(entries),
        "healthy_bindings": sum(1 for entry in entries if entry.state == STATE_PRESENT),
        "profiles": [_entry_document(entry) for entry in entries],
    }


def cmd_status(args: argparse.Namespace, env: Environment) -> int:
    document = _status_document(env)
    if args.json:
        emit_json(document)
        return EXIT_OK
    manager = document["service_manager"]
    out(f"wfmctl {__version__} on {document['hostname']} ({document['platform']})")
    if manager == svc.MANAGER_NONE:
        out("service: no service manager here (agent run directly)")
    else:
        out(
            f"service: {manager} installed={_yes(document['installed'])} "
            f"active={_yes(document['service_active'])} autostart={_yes(document['autostart'])}"
        )
    pid = document["agent_pid"]
    out(f"agent: {'running (pid ' + str(pid) + ')' if pid else 'not running on this root'}")
    out(f"binary: {' '.join(document['agent_command'])}")
    out(f"profile root: {document['profile_root']}")
    out(f"logs: {document['log_dir']}")
    out(f"bindings: {document['bindings']} ({document['healthy_bindings']} healthy)")
    for profile in document["profiles"]:
        line = (
            f"  {profile['profile_id']}: profile={profile['profile']} "
            f"desired={profile['desired']} conf={profile['conf']}"
        )
        if profile.get("error"):
            line += f" ({profile['error']})"
        out(line)
    return EXIT_OK


def _yes(value: object) -> str:
    return "yes" if value else "no"


def _reload_agent(env: Environment) -> str:
    """Make a running agent pick up profile changes; a sentence saying what happened."""
    pid = running_agent_pid(env.root)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError as exc:
            return f"Could not signal the agent (pid {pid}): {exc.strerror}; restart it."
        return f"Agent (pid {pid}) is reloading its profiles."
    state = svc.state(env)
    if state.manager == svc.MANAGER_SYSTEMD and state.active:
        result = svc.systemctl("restart", SYSTEMD_UNIT_NAME)
        if result.returncode == 0:
            return "Restarted wfm-agent.service."
        return f"Could not restart wfm-agent.service: {result.stderr.strip()}"
    return "The agent is not running: start it with `wfmctl start` (or run `wfm-agent`)."


def cmd_bind(args: argparse.Namespace, env: Environment) -> int:
    server = args.server or args.server_pos
    token = args.token or args.token_pos
    if not server or not token:
        raise UsageError("bind: give the server and the token: wfmctl bind <server> <token>")
    try:
        server = normalize_server(server)
    except ValueError as exc:
        raise UsageError(f"bind: {exc}") from None
    try:
        data = request_bind(server, token, cafile=args.cacert)
    except BindError as exc:
        suffix = f" [{exc.code}]" if exc.code else ""
        raise CliError(f"bind failed: {exc.message}{suffix}") from None
    store = ProfileStore(env.root)
    try:
        profile = store.save_bound(data, server_url=server)
    except ProfileError as exc:
        raise CliError(f"the server's bind answer is not a valid profile: {exc}") from None
    except OSError as exc:
        raise CliError(f"cannot write the profile under {env.root}: {exc}") from None
    out(f"Bound profile {profile.profile_id} for node {profile.node_name or profile.node_id}")
    out(
        f"  config {profile.config_name} ({profile.config_id}), interface {profile.interface}, "
        f"mqtt {profile.mqtt.host}:{profile.mqtt.port} tls={str(profile.mqtt.tls).lower()}"
    )
    out(f"  stored in {profile.directory}")
    out(f"  {_reload_agent(env)}")
    return EXIT_OK


def _bring_down(profile: Profile, toolchain: Toolchain) -> str:
    """Stop the profile's tunnel (either toolchain) before its files go; '' when not running."""
    for family in ("wireguard", "amneziawg"):
        if toolchain.is_up(family, profile.interface):
            result = toolchain.down(family, profile.conf_path)
            if not result.ok:
                return f"could not stop {profile.interface}: {result.summary()}"
            return f"stopped {profile.interface}"
    return ""


def _remove_profile(store: ProfileStore, entry: ProfileEntry, toolchain: Toolchain) -> str:
    note = _bring_down(entry.profile, toolchain) if entry.profile is not None else ""
    store.delete(entry.profile_id)
    return f"Removed profile {entry.profile_id}" + (f" ({note})" if note else "")


def cmd_unbind(args: argparse.Namespace, env: Environment) -> int:
    if bool(args.all) == bool(args.profile_id):
        raise UsageError("unbind: give one profile id, or --all")
    store = ProfileStore(env.root)
    toolchain = Toolchain(env.tools)
    entries = store.entries()
    if not args.all:
        entries = [entry for entry in entries if entry.profile_id == args.profile_id]
        if not entries:
            raise CliError(f"no profile {args.profile_id!r} under {env.root} (see `wfmctl list`)")
    if not entries:
        out(f"No profiles under {env.root}.")
        return EXIT_OK
    for entry in entries:
        try:
            out(_remove_profile(store, entry, toolchain))
        except OSError as exc:
            raise CliError(f"cannot remove {entry.directory}: {exc}") from None
    out(_reload_agent(env))
    return EXIT_OK


def _tail(path: Path, lines: int) -> list[str]:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        block = min(size, max(65536, lines * 400))
        handle.seek(size - block)
        text = handle.read().decode("utf-8", "replace")
    return text.splitlines()[-lines:]


def cmd_logs(args: argparse.Namespace, env: Environment) -> int:
    if args.lines < 1:
        raise UsageError("logs: --lines must be at least 1")
    path = env.log_dir / LOG_FILE
    if path.is_file():
        try:
            for line in _tail(path, args.lines):
                out(line)
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}") from None
        return EXIT_OK
    if svc.service_manager() == svc.MANAGER_SYSTEMD:
        result = svc.run(
            ["journalctl", "-u", SYSTEMD_UNIT_NAME, "-n", str(args.lines), "--no-pager"]
        )
        sys.stdout.write(result.stdout)
        return EXIT_OK if result.returncode == 0 else EXIT_ERROR
    raise CliError(f"no agent log at {path} yet")


def _direct_hint(command: list[str], env: Environment) -> str:
    root = "" if env.root == default_root() else f" --profile-root {env.root}"
    return (
        f"run the agent directly (under any supervisor): {' '.join(command)}{root}\n"
        f"  or let wfmctl start it in the background: wfmctl start{root}"
    )


def cmd_start(args: argparse.Namespace, env: Environment) -> int:
    manager = svc.service_manager()
    if manager == svc.MANAGER_SYSTEMD and SYSTEMD_UNIT_PATH.is_file():
        require_root("start")
        return _systemctl_or_fail("start")
    if manager == svc.MANAGER_LAUNCHD and LAUNCHD_PLIST_PATH.is_file():
        require_root("start")
        return _run_or_fail(["launchctl", "kickstart", f"system/{LAUNCHD_LABEL}"])
    pid = running_agent_pid(env.root)
    if pid is not None:
        out(f"The agent already runs on {env.root} (pid {pid}).")
        return EXIT_OK
    process = svc.start_direct(svc.agent_command(), env)
    out(f"No installed service here: started wfm-agent directly (pid {process.pid}).")
    out(f"  logs: {env.log_dir / LOG_FILE}")
    return EXIT_OK


def cmd_stop(args: argparse.Namespace, env: Environment) -> int:
    manager = svc.service_manager()
    if manager == svc.MANAGER_SYSTEMD and SYSTEMD_UNIT_PATH.is_file():
        require_root("stop")
        return _systemctl_or_fail("stop")
    if manager == svc.MANAGER_LAUNCHD and LAUNCHD_PLIST_PATH.is_file():
        require_root("stop")
        return _run_or_fail(["launchctl", "kill", "TERM", f"system/{LAUNCHD_LABEL}"])
    try:
        pid = svc.stop_direct(env.root)
    except PermissionError:
        raise CliError("stop needs root: run it with sudo") from None
    except OSError as exc:
        raise CliError(f"cannot stop the agent: {exc.strerror}") from None
    out(f"Stopped the agent (pid {pid})." if pid else f"No agent runs on {env.root}.")
    return EXIT_OK


def cmd_restart(args: argparse.Namespace, env: Environment) -> int:
    manager = svc.service_manager()
    if manager == svc.MANAGER_SYSTEMD and SYSTEMD_UNIT_PATH.is_file():
        require_root("restart")
        return _systemctl_or_fail("restart")
    cmd_stop(args, env)
    return cmd_start(args, env)


def _systemctl_or_fail(action: str) -> int:
    result = svc.systemctl(action, SYSTEMD_UNIT_NAME)
    if result.returncode != 0:
        raise CliError(f"systemctl {action} {SYSTEMD_UNIT_NAME}: {result.stderr.strip()}")
    out(f"wfm-agent.service: {action} done.")
    return EXIT_OK


def _run_or_fail(argv: list[str]) -> int:
    result = svc.run(argv)
    if result.returncode != 0:
        raise CliError(f"{' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")
    return EXIT_OK


def _tool_report(toolchain: Toolchain) -> list[str]:
    lines = []
    for family, show in (("wireguard", "wg"), ("amneziawg", "awg")):
        result = toolchain.version(family)
        if result.ok:
            lines.append(f"{show}: {result.output.splitlines()[0] if result.output else 'found'}")
        else:
            need = "WireGuard configs" if show == "wg" else "AmneziaWG configs"
            problem = "not found" if result.returncode is None else result.summary()
            lines.append(f"{show}: {problem}; needed for {need}")
    return lines


def ip_forward_report(*, enable: bool) -> str:
    try:
        value = IP_FORWARD.read_text().strip()
    except OSError:
        return "IPv4 forwarding: unknown (no /proc/sys/net/ipv4/ip_forward)"
    if value == "1":
        return "IPv4 forwarding: on"
    if enable:
        try:
            IP_FORWARD.write_text("1\n")
        except OSError as exc:
            return f"IPv4 forwarding: off, and enabling it failed ({exc.strerror})"
        return "IPv4 forwarding: enabled now (make it permanent in /etc/sysctl.d)"
    return (
        "IPv4 forwarding: off (needed when this node forwards ports or routes for others: "
        "sysctl -w net.ipv4.ip_forward=1, or wfmctl install --enable-ip-forward)"
    )


def _under(destdir: Path | None, path: Path) -> Path:
    return destdir / path.relative_to(path.anchor) if destdir is not None else path


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.is_dir() and not link.is_symlink():
            raise CliError(f"{link} is a directory")
        link.unlink()
    link.symlink_to(target)


def cmd_install(args: argparse.Namespace, env: Environment) -> int:
    destdir = Path(args.destdir).absolute() if args.destdir else None
    if destdir is None:
        require_root("install")
    system = goos()
    if system not in ("linux", "darwin"):
        raise CliError(f"install supports Linux and macOS; on {system} run wfm-agent yourself")
    out(f"Installing the WFM agent {__version__} on {hostname()} ({system})")
    install_dir = _under(destdir, INSTALL_DIR)
    zipapp = svc.running_zipapp()
    try:
        if zipapp is not None:
            install_dir.mkdir(parents=True, exist_ok=True)
            installed = install_dir / "wfm-agent.pyz"
            if zipapp.resolve() != installed.resolve():
                shutil.copyfile(zipapp, installed)
            os.chmod(installed, 0o755)
            out(f"  program: {installed}")
        command = svc.agent_command(INSTALL_DIR)
        for directory in (env.root, env.log_dir, LINUX_STATE_DIR):
            _under(destdir, directory).mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(_under(destdir, env.root), 0o700)
        out(f"  profile root: {env.root}")
        target = svc.wfmctl_target(INSTALL_DIR)
        if target is not None:
            _link(_under(destdir, BIN_DIR / "wfmctl"), target)
            if zipapp is not None:
                _link(_under(destdir, BIN_DIR / "wfm-agent"), target)
            out(f"  PATH: {BIN_DIR / 'wfmctl'} -> {target}")
        else:
            out(f"  PATH: no wfmctl script found to link from {BIN_DIR}")
    except OSError as exc:
        raise CliError(f"install failed: {exc}") from None
    for line in _tool_report(Toolchain(env.tools)):
        out(f"  {line}")
    if system == "linux":
        out(f"  {ip_forward_report(enable=args.enable_ip_forward and destdir is None)}")
    return _install_service(command, env, destdir=destdir, start=not args.no_start)


def _install_service(
    command: list[str], env: Environment, *, destdir: Path | None, start: bool
) -> int:
    manager = svc.service_manager() if destdir is None else None
    if goos() == "darwin":
        plist = _under(destdir, LAUNCHD_PLIST_PATH)
        plist.parent.mkdir(parents=True, exist_ok=True)
        plist.write_bytes(svc.launchd_plist(command, env))
        out(f"  service: {plist} written")
        if manager == svc.MANAGER_LAUNCHD and start:
            svc.run(["launchctl", "bootout", f"system/{LAUNCHD_LABEL}"])
            _run_or_fail(["launchctl", "bootstrap", "system", str(plist)])
            out("  service: loaded and started (starts at boot)")
        return EXIT_OK
    unit = _under(destdir, SYSTEMD_UNIT_PATH)
    if destdir is not None or manager == svc.MANAGER_SYSTEMD:
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(svc.systemd_unit(command, env))
        out(f"  service: {unit} written")
    if manager == svc.MANAGER_SYSTEMD:
        svc.systemctl("daemon-reload")
        _run_or_fail(["systemctl", "enable", SYSTEMD_UNIT_NAME])
        if start:
            _run_or_fail(["systemctl", "restart", SYSTEMD_UNIT_NAME])
            out("  service: enabled and (re)started")
        else:
            out("  service: enabled (not started: --no-start)")
    elif destdir is None:
        out("  service: systemd is not running here, so no unit was installed.")
        out(f"  {_direct_hint(command, env)}")
    out("Next: wfmctl bind <server> <token>  (the bind command is in the console)")
    return EXIT_OK


def cmd_uninstall(args: argparse.Namespace, env: Environment) -> int:
    require_root("uninstall")
    manager = svc.service_manager()
    if manager == svc.MANAGER_SYSTEMD:
        svc.systemctl("disable", "--now", SYSTEMD_UNIT_NAME)
        if SYSTEMD_UNIT_PATH.exists():
            SYSTEMD_UNIT_PATH.unlink()
            out(f"Removed {SYSTEMD_UNIT_PATH}")
        svc.systemctl("daemon-reload")
    elif manager == svc.MANAGER_LAUNCHD:
        svc.run(["launchctl", "bootout", f"system/{LAUNCHD_LABEL}"])
    if LAUNCHD_PLIST_PATH.exists():
        LAUNCHD_PLIST_PATH.unlink()
    pid = svc.stop_direct(env.root)
    if pid:
        out(f"Stopped the agent (pid {pid})")
    for name in ("wfmctl", "wfm-agent"):
        link = BIN_DIR / name
        if link.is_symlink():
            link.unlink()
            out(f"Removed {link}")
    with contextlib.suppress(FileNotFoundError):
        (INSTALL_DIR / "wfm-agent.pyz").unlink()
    if args.purge:
        store = ProfileStore(env.root)
        toolchain = Toolchain(env.tools)
        for entry in store.entries():
            out(_remove_profile(store, entry, toolchain))
        for directory in (env.root, env.log_dir, LINUX_STATE_DIR, INSTALL_DIR):
            if directory.is_dir():
                shutil.rmtree(directory, ignore_errors=True)
                out(f"Removed {directory}")
        if env.root == default_root():
            with contextlib.suppress(OSError):
                env.root.parent.rmdir()  # /etc/wg-free-mesh, when nothing else is left in it
        out("Purged local data (server-side permissions are unchanged: reset the node there).")
    out("Uninstalled.")
    return EXIT_OK


# --- parser -----------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Environment], int]


def build_parser() -> Parser:
    common = Parser(add_help=False)
    common.add_argument(
        "--profile-root",
        default=argparse.SUPPRESS,
        help="profile directory (env WFM_AGENT_ROOT; default /etc/wg-free-mesh/profiles)",
    )
    common.add_argument(
        "--log-dir", default=argparse.SUPPRESS, help="agent log directory (env WFM_AGENT_LOG_DIR)"
    )
    parser = Parser(
        prog="wfmctl",
        description="WG Free Mesh node client: bind this machine to a WFM server and run the "
        "agent that applies its tunnel configuration.",
        parents=[common],
    )
    parser.add_argument("-v", "--version", action="store_true", help="print the version")
    commands = parser.add_subparsers(dest="command", metavar="<command>", parser_class=Parser)

    def add(name: str, handler: Handler, summary: str) -> Parser:
        sub: Parser = commands.add_parser(name, help=summary, description=summary, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    install = add("install", cmd_install, "install and start the agent service (root)")
    install.add_argument("--no-start", action="store_true", help="enable but do not start")
    install.add_argument(
        "--enable-ip-forward", action="store_true", help="turn on net.ipv4.ip_forward now"
    )
    install.add_argument("--destdir", help=argparse.SUPPRESS)  # packaging: write files only
    uninstall = add("uninstall", cmd_uninstall, "stop and remove the agent service (root)")
    uninstall.add_argument(
        "--purge", action="store_true", help="also delete profiles, tunnels' configs and logs"
    )
    bind = add("bind", cmd_bind, "bind this machine with a token from the console")
    bind.add_argument("server_pos", nargs="?", metavar="server", help="WFM server URL")
    bind.add_argument("token_pos", nargs="?", metavar="token", help="one-time bind token")
    bind.add_argument("--server", help="WFM server URL, e.g. https://wfm.example.net")
    bind.add_argument("--token", help="one-time bind token")
    bind.add_argument("--cacert", help="CA file to trust for an https server")
    unbind = add("unbind", cmd_unbind, "stop a profile's tunnel and delete the profile")
    unbind.add_argument("profile_id", nargs="?", help="profile id (see wfmctl list)")
    unbind.add_argument("--all", action="store_true", help="every profile")
    listing = add("list", cmd_list, "list bound profiles")
    listing.add_argument("--json", action="store_true", help="JSON output")
    status = add("status", cmd_status, "service, agent and profile health")
    status.add_argument("--json", action="store_true", help="JSON output")
    logs = add("logs", cmd_logs, "show the agent's recent log lines")
    logs.add_argument("-n", "--lines", type=int, default=100, help="how many (default 100)")
    add("start", cmd_start, "start the agent (service, or directly without one)")
    add("stop", cmd_stop, "stop the agent (autostart stays on)")
    add("restart", cmd_restart, "restart the agent")
    add("version", cmd_version, "print the version")
    helper = add("help", cmd_version, "help for wfmctl or one command")
    helper.add_argument("topic", nargs="?", help="a command")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except UsageError as exc:
        err(str(exc))
        err("Run `wfmctl help` for the commands.")
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if args.version:
        return cmd_version(args, Environment.from_env())
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "help":
        return _help(parser, args.topic)
    env = Environment.from_env(
        root=getattr(args, "profile_root", None), log_dir=getattr(args, "log_dir", None)
    )
    handler: Handler = args.handler
    try:
        return handler(args, env)
    except UsageError as exc:
        err(f"wfmctl: {exc}")
        return EXIT_USAGE
    except CliError as exc:
        err(f"wfmctl: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        err("wfmctl: interrupted")
        return EXIT_ERROR
    except subprocess.SubprocessError as exc:
        err(f"wfmctl: error: {exc}")
        return EXIT_ERROR


def _help(parser: Parser, topic: str | None) -> int:
    if not topic:
        parser.print_help()
        return EXIT_OK
    try:
        parser.parse_args([topic, "--help"])
    except SystemExit:
        return EXIT_OK
    except UsageError as exc:
        err(str(exc))
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
