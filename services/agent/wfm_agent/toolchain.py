"""Runs wg / wg-quick or awg / awg-quick for one tunnel protocol, with timeouts (§7.4).

The agent only ever names its own profile's interface or .conf file: `show <iface>`,
`<quick> up <conf>`, `<quick> down <conf>`. Each tool can be replaced by a command line from the
environment (`WFM_AGENT_WG="ip netns exec ns1 wg"`), which is how tests and multi-namespace hosts
point the agent at a namespace.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wfm_core.protocol import tool_names

COMMAND_TIMEOUT = 15.0
SHOW_TIMEOUT = 10.0
# Enough of a tool's output for an ACK message; the full text goes to events.
TAIL_CHARS = 1500


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    error: str = ""  # set when the command could not run or timed out

    @property
    def ok(self) -> bool:
        return not self.error and self.returncode == 0

    @property
    def output(self) -> str:
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)

    def summary(self) -> str:
        """One line for ACK messages and logs: what failed and the tail of what it said."""
        if self.error:
            return self.error
        text = " ".join(self.output.split())
        if len(text) > TAIL_CHARS:
            text = "…" + text[-TAIL_CHARS:]
        status = f"exit status {self.returncode}"
        return f"{status}: {text}" if text else status


def normalize_protocol(tunnel_protocol: str) -> str:
    """The toolchain family: 'wireguard' or 'amneziawg' ('' means wireguard)."""
    show, _ = tool_names(tunnel_protocol)
    return "wireguard" if show == "wg" else "amneziawg"


class Toolchain:
    """The tools of both protocols; commands resolved once from the environment overrides."""

    def __init__(
        self,
        overrides: Mapping[str, str] | None = None,
        *,
        command_timeout: float = COMMAND_TIMEOUT,
        show_timeout: float = SHOW_TIMEOUT,
    ) -> None:
        self._commands: dict[str, list[str]] = {}
        for name in ("wg", "wg-quick", "awg", "awg-quick"):
            value = (overrides or {}).get(name)
            self._commands[name] = shlex.split(value) if value else [name]
        self.command_timeout = command_timeout
        self.show_timeout = show_timeout

    def command(self, name: str) -> list[str]:
        return list(self._commands[name])

    def tools(self, tunnel_protocol: str) -> tuple[list[str], list[str]]:
        show, quick = tool_names(tunnel_protocol)
        return self.command(show), self.command(quick)

    def available(self, tunnel_protocol: str) -> bool:
        """True when the protocol's show tool can be found (checked on every call: cheap)."""
        show, _ = self.tools(tunnel_protocol)
        return shutil.which(show[0], path=_tool_env()["PATH"]) is not None

    def _run(self, argv: Sequence[str], timeout: float) -> CommandResult:
        args = tuple(argv)
        try:
            completed = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
                env=_tool_env(),
            )
        except FileNotFoundError:
            return CommandResult(args, None, error=f"{args[0]} not found (is it installed?)")
        except PermissionError:
            return CommandResult(args, None, error=f"{args[0]}: permission denied")
        except subprocess.TimeoutExpired as exc:
            return CommandResult(
                args,
                None,
                stdout=_decode(exc.stdout),
                stderr=_decode(exc.stderr),
                error=f"{' '.join(args[-3:])} timed out after {timeout:g} s",
            )
        except OSError as exc:
            return CommandResult(args, None, error=f"{args[0]}: {exc.strerror or exc}")
        return CommandResult(
            args, completed.returncode, _decode(completed.stdout), _decode(completed.stderr)
        )

    def show(self, tunnel_protocol: str, interface: str) -> CommandResult:
        show, _ = self.tools(tunnel_protocol)
        return self._run([*show, "show", interface], self.show_timeout)

    def is_up(self, tunnel_protocol: str, interface: str) -> bool:
        """`<tool> show <iface>` succeeds with output (§7.4): the interface exists and is ours."""
        if not self.available(tunnel_protocol):
            return False
        result = self.show(tunnel_protocol, interface)
        return result.ok and bool(result.stdout.strip())

    def up(self, tunnel_protocol: str, conf_path: Path) -> CommandResult:
        _, quick = self.tools(tunnel_protocol)
        return self._run([*quick, "up", str(conf_path)], self.command_timeout)

    def down(self, tunnel_protocol: str, conf_path: Path) -> CommandResult:
        _, quick = self.tools(tunnel_protocol)
        return self._run([*quick, "down", str(conf_path)], self.command_timeout)

    def version(self, tunnel_protocol: str) -> CommandResult:
        show, _ = self.tools(tunnel_protocol)
        return self._run([*show, "--version"], self.show_timeout)


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", "replace")


def _tool_env() -> dict[str, str]:
    """The agent's environment with a PATH that has the sbin directories (systemd's may not)."""
    env = dict(os.environ)
    parts = [part for part in env.get("PATH", "").split(os.pathsep) if part]
    for extra in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if extra not in parts:
            parts.append(extra)
    env["PATH"] = os.pathsep.join(parts)
    return env
