"""`wfm-agent`: keeps one MQTT session per bound profile under a profile root (§7.4).

The root is re-read every `--rescan-interval` seconds and on SIGHUP, so `wfmctl bind` and
`wfmctl unbind` take effect without a restart. SIGTERM / SIGINT stop every session cleanly
(an `offline` event, then DISCONNECT). One agent per root: a lock file in the root refuses a
second one, which is also how `wfmctl` knows an agent is running without systemd.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import FrameType
from typing import IO

from wfm_agent import __version__
from wfm_agent.profiles import STATE_PRESENT, ProfileError, ProfileStore
from wfm_agent.session import HEARTBEAT_INTERVAL, ProfileSession
from wfm_agent.system import Environment, goos
from wfm_agent.toolchain import Toolchain
from wfm_core.protocol import new_boot_id

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the pid file is informative only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("wfm_agent")

LOCK_FILE = ".wfm-agent.pid"
LOG_FILE = "wfm-agent.log"
LOG_MAX_BYTES = 1024 * 1024
LOG_BACKUPS = 5
RESCAN_INTERVAL = 30.0


class AgentLockedError(Exception):
    """Another agent already runs on this profile root."""


class RootLock:
    """An exclusive lock on `<root>/.wfm-agent.pid` holding the agent's pid (POSIX flock)."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_FILE
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 - held for the lifetime
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                pid = handle.read().strip()
                handle.close()
                raise AgentLockedError(
                    f"another wfm-agent (pid {pid or '?'}) uses {self.path.parent}"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        os.chmod(self.path, 0o600)
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._handle.close()
            self._handle = None


def running_agent_pid(root: Path) -> int | None:
    """The pid of the agent holding the root's lock, or None when no agent runs there."""
    path = root / LOCK_FILE
    try:
        handle = open(path, encoding="ascii")  # noqa: SIM115
    except OSError:
        return None
    with handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                pass  # locked: an agent holds it
            else:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                return None
        text = handle.read().strip()
    return int(text) if text.isdigit() else None


class Agent:
    """Sessions for every valid profile under the root, kept in step with the directory."""

    def __init__(
        self,
        env: Environment,
        *,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        rescan_interval: float = RESCAN_INTERVAL,
        reconnect_delays: tuple[int, int] = (5, 30),
    ) -> None:
        self.env = env
        self.store = ProfileStore(env.root)
        self.toolchain = Toolchain(env.tools)
        self.heartbeat_interval = heartbeat_interval
        self.rescan_interval = rescan_interval
        self.reconnect_delays = reconnect_delays
        self.boot_id = new_boot_id()
        self.sessions: dict[str, tuple[str, ProfileSession]] = {}
        self._reported: dict[str, str] = {}
        self._idle_reported = False
        self.stopping = threading.Event()
        # The main thread sleeps in select() on this pair: a signal may be delivered to any
        # thread, and only a file descriptor (signal.set_wakeup_fd) reliably wakes the main one.
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)

    def scan(self) -> None:
        """Start sessions for new or re-bound profiles, stop those that disappeared."""
        seen: set[str] = set()
        for entry in self.store.entries():
            if entry.state != STATE_PRESENT or entry.profile is None:
                if self._reported.get(entry.profile_id) != entry.error:
                    log.warning("profile=%s %s: %s", entry.profile_id, entry.state, entry.error)
                    self._reported[entry.profile_id] = entry.error
                continue
            profile = entry.profile
            seen.add(profile.profile_id)
            current = self.sessions.get(profile.profile_id)
            if current is not None and current[0] == profile.session_key:
                continue
            if current is not None:
                log.info("profile=%s re-bound: reconnecting", profile.profile_id)
                current[1].stop("Profile re-bound")
                del self.sessions[profile.profile_id]
            try:
                session = ProfileSession(
                    store=self.store,
                    profile=profile,
                    toolchain=self.toolchain,
                    boot_id=self.boot_id,
                    platform=goos(),
                    client_version=__version__,
                    heartbeat_interval=self.heartbeat_interval,
                    reconnect_delays=self.reconnect_delays,
                )
            except ProfileError as exc:
                if self._reported.get(profile.profile_id) != str(exc):
                    log.error("profile=%s cannot start: %s", profile.profile_id, exc)
                    self._reported[profile.profile_id] = str(exc)
                continue
            self._reported.pop(profile.profile_id, None)
            session.start()
            self.sessions[profile.profile_id] = (profile.session_key, session)
        for profile_id in sorted(set(self.sessions) - seen):
            log.info("profile=%s removed: closing its session", profile_id)
            self.sessions.pop(profile_id)[1].stop("Profile removed")
        if not self.sessions and not self._idle_reported:
            log.info("No profiles. Waiting for wfmctl bind.")
        self._idle_reported = not self.sessions

    def run(self) -> None:
        self.store.ensure_root()
        log.info("wfm-agent %s starting root=%s", __version__, self.env.root)
        while not self.stopping.is_set():
            self.scan()
            self._sleep(self.rescan_interval)
        self.shutdown()

    def wakeup_fd(self) -> int:
        """For signal.set_wakeup_fd: any signal then ends the current sleep."""
        return self._wake_write.fileno()

    def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(OSError, ValueError):
            select.select([self._wake_read], [], [], seconds)
        with contextlib.suppress(OSError):
            while self._wake_read.recv(4096):
                pass

    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")

    def shutdown(self) -> None:
        for profile_id in sorted(self.sessions):
            self.sessions[profile_id][1].stop()
        self.sessions.clear()
        log.info("wfm-agent stopped")

    def request_stop(self) -> None:
        self.stopping.set()
        self._poke()

    def request_rescan(self) -> None:
        self._poke()


def setup_logging(log_dir: Path | None, *, level: int = logging.INFO) -> Path | None:
    """stderr plus a rotating file in `log_dir` (when writable); returns the file's path."""
    logger = logging.getLogger("wfm_agent")
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter)
    logger.addHandler(stream)
    if log_dir is None:
        return None
    path = log_dir / LOG_FILE
    try:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        handler = RotatingFileHandler(
            path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        logger.warning("cannot write logs to %s: %s (logging to stderr only)", path, exc)
        return None
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    return path


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 1 <= seconds <= 86400:
        raise argparse.ArgumentTypeError("must be between 1 and 86400 seconds")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wfm-agent",
        description="WFM node agent: one MQTT session per profile bound with `wfmctl bind`.",
    )
    parser.add_argument("--profile-root", help="profile directory (env WFM_AGENT_ROOT)")
    parser.add_argument("--log-dir", help="log directory (env WFM_AGENT_LOG_DIR)")
    parser.add_argument(
        "--heartbeat-interval",
        type=_seconds,
        default=HEARTBEAT_INTERVAL,
        help="seconds between heartbeats (default 1800)",
    )
    parser.add_argument(
        "--rescan-interval",
        type=_seconds,
        default=RESCAN_INTERVAL,
        help="seconds between profile directory scans (default 30; SIGHUP scans at once)",
    )
    parser.add_argument("--debug", action="store_true", help="debug logging")
    parser.add_argument("-V", "--version", action="version", version=f"wfm-agent {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = Environment.from_env(root=args.profile_root, log_dir=args.log_dir)
    setup_logging(env.log_dir, level=logging.DEBUG if args.debug else logging.INFO)
    agent = Agent(
        env, heartbeat_interval=args.heartbeat_interval, rescan_interval=args.rescan_interval
    )
    try:
        agent.store.ensure_root()
    except OSError as exc:
        log.error("cannot create profile root %s: %s", env.root, exc)
        return 1
    lock = RootLock(env.root)
    try:
        lock.acquire()
    except AgentLockedError as exc:
        log.error("%s", exc)
        return 1
    except OSError as exc:
        log.error("cannot lock %s: %s", lock.path, exc)
        return 1

    def _stop(signum: int, frame: FrameType | None) -> None:
        agent.request_stop()

    def _rescan(signum: int, frame: FrameType | None) -> None:
        agent.request_rescan()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, _rescan)
    signal.set_wakeup_fd(agent.wakeup_fd(), warn_on_full_buffer=False)
    try:
        agent.run()
    finally:
        signal.set_wakeup_fd(-1)
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
