"""The local profile store (reference.md §7.2): one 0700 directory per bound profile.

`<root>/<profile_id>/profile.json` (0600) holds the profile and its MQTT credentials,
`desired.conf` the last config text received, `<interface_name>.conf` the same text under the name
wg-quick derives the interface from. Every write is atomic (temp file + rename) so a crash never
leaves half a file; a broken or missing file is reported, never raised past the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfm_core.protocol import is_valid_id

PROFILE_FILE = "profile.json"
DESIRED_FILE = "desired.conf"
PROFILE_FIELDS = (
    "profile_id",
    "server_url",
    "config_id",
    "config_name",
    "node_id",
    "node_name",
    "interface_name",
    "hostname",
    "platform",
    "client_version",
)
STATE_PRESENT = "present"
STATE_MISSING = "missing"
STATE_INVALID = "invalid"

# A directory name that cannot climb out of the root or hide (`.`, `..`, `.tmp`).
_PROFILE_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
# What wg-quick accepts as an interface (and so as the .conf stem).
_INTERFACE_RE = re.compile(r"[A-Za-z0-9_=+.-]{1,15}")


class ProfileError(Exception):
    """A profile that is missing, unreadable or invalid; the message says which and why."""


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int
    tls: bool
    username: str
    password: str
    client_id: str
    ca_cert: str = ""
    topics: dict[str, list[str]] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "tls": self.tls,
            "username": self.username,
            "password": self.password,
            "client_id": self.client_id,
            "topics": self.topics,
            "ca_cert": self.ca_cert,
        }


@dataclass(frozen=True)
class Profile:
    """One bound node: identity, the interface it owns, and how to reach the broker."""

    profile_id: str
    server_url: str
    config_id: str
    config_name: str
    node_id: str
    node_name: str
    interface_name: str
    hostname: str
    platform: str
    client_version: str
    mqtt: MqttSettings
    directory: Path

    @property
    def interface(self) -> str:
        """The interface this profile owns; falls back to the profile id as the original does."""
        return self.interface_name or self.profile_id

    @property
    def conf_path(self) -> Path:
        return self.directory / f"{self.interface}.conf"

    @property
    def desired_path(self) -> Path:
        return self.directory / DESIRED_FILE

    @property
    def session_key(self) -> str:
        """What a running MQTT session depends on: a change means reconnect (a re-bind)."""
        return json.dumps([self.config_id, self.node_id, self.mqtt.to_document()], sort_keys=True)

    def to_document(self) -> dict[str, Any]:
        profile = {name: getattr(self, name) for name in PROFILE_FIELDS}
        return {"profile": profile, "mqtt": self.mqtt.to_document()}

    def with_interface(self, interface_name: str) -> Profile:
        values = {name: getattr(self, name) for name in PROFILE_FIELDS}
        values["interface_name"] = interface_name
        return Profile(mqtt=self.mqtt, directory=self.directory, **values)


@dataclass(frozen=True)
class ProfileEntry:
    """A directory under the root as `wfmctl list` reports it."""

    profile_id: str
    directory: Path
    state: str
    error: str = ""
    profile: Profile | None = None
    desired: str = STATE_MISSING
    conf: str = STATE_MISSING


def check_profile_id(value: str) -> str:
    if not isinstance(value, str) or _PROFILE_ID_RE.fullmatch(value) is None:
        raise ProfileError(f"invalid profile id {value!r}")
    return value


def check_interface_name(value: str) -> str:
    if not isinstance(value, str) or _INTERFACE_RE.fullmatch(value) is None:
        raise ProfileError(f"invalid interface name {value!r} (1-15 of [A-Za-z0-9_=+.-])")
    return value


def _text(section: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = section.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ProfileError(f"{name} must be a string")
    if required and not value:
        raise ProfileError(f"{name} is required")
    return value


def _topics(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    topics: dict[str, list[str]] = {}
    for key, items in value.items():
        if isinstance(key, str) and isinstance(items, list):
            topics[key] = [item for item in items if isinstance(item, str)]
    return topics


def parse_mqtt(section: object) -> MqttSettings:
    if not isinstance(section, dict):
        raise ProfileError("mqtt must be an object")
    port = section.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ProfileError("mqtt.port must be an integer 1-65535")
    tls = section.get("tls", False)
    if not isinstance(tls, bool):
        raise ProfileError("mqtt.tls must be a boolean")
    try:
        return MqttSettings(
            host=_text(section, "host", required=True),
            port=port,
            tls=tls,
            username=_text(section, "username", required=True),
            password=_text(section, "password", required=True),
            client_id=_text(section, "client_id", required=True),
            ca_cert=_text(section, "ca_cert"),
            topics=_topics(section.get("topics")),
        )
    except ProfileError as exc:
        raise ProfileError(f"mqtt.{exc}") from None


def parse_profile(document: object, directory: Path) -> Profile:
    """A Profile from `{"profile": {...}, "mqtt": {...}}`; ProfileError says what is wrong."""
    if not isinstance(document, dict):
        raise ProfileError("profile.json is not a JSON object")
    section = document.get("profile")
    if not isinstance(section, dict):
        raise ProfileError("profile must be an object")
    values = {name: _text(section, name) for name in PROFILE_FIELDS}
    check_profile_id(values["profile_id"])
    for name in ("config_id", "node_id"):
        if not is_valid_id(values[name]):
            raise ProfileError(f"profile.{name} is not a valid id")
    if values["interface_name"]:
        check_interface_name(values["interface_name"])
    return Profile(mqtt=parse_mqtt(document.get("mqtt")), directory=directory, **values)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write `data` to `path` through a temp file in the same directory, then rename over it."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)  # the umask may have taken bits away at creation
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def file_sha256(path: Path) -> str:
    """sha256 hex of a file's bytes, '' when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


class ProfileStore:
    """Profiles under one root directory; several stores (agents) can share a host."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure_root(self) -> None:
        if not self.root.is_dir():
            self.root.mkdir(parents=True, mode=0o700)
            os.chmod(self.root, 0o700)

    def directory(self, profile_id: str) -> Path:
        return self.root / check_profile_id(profile_id)

    def profile_ids(self) -> list[str]:
        """Directory names that can be profiles, sorted; temp and hidden entries are skipped."""
        try:
            names = sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir())
        except OSError:
            return []
        return [name for name in names if _PROFILE_ID_RE.fullmatch(name)]

    def load(self, profile_id: str) -> Profile:
        directory = self.directory(profile_id)
        path = directory / PROFILE_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ProfileError(f"{path} is missing") from None
        except OSError as exc:
            raise ProfileError(f"{path}: {exc.strerror or exc}") from None
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ProfileError(f"{path} is not valid JSON") from None
        profile = parse_profile(document, directory)
        if profile.profile_id != profile_id:
            raise ProfileError(
                f"{path}: profile_id {profile.profile_id!r} does not match its directory"
            )
        return profile

    def entry(self, profile_id: str) -> ProfileEntry:
        directory = self.root / profile_id
        desired = STATE_PRESENT if (directory / DESIRED_FILE).is_file() else STATE_MISSING
        try:
            profile = self.load(profile_id)
        except ProfileError as exc:
            missing = not (directory / PROFILE_FILE).exists()
            return ProfileEntry(
                profile_id=profile_id,
                directory=directory,
                state=STATE_MISSING if missing else STATE_INVALID,
                error=str(exc),
                desired=desired,
            )
        conf = STATE_PRESENT if profile.conf_path.is_file() else STATE_MISSING
        return ProfileEntry(
            profile_id=profile_id,
            directory=directory,
            state=STATE_PRESENT,
            profile=profile,
            desired=desired,
            conf=conf,
        )

    def entries(self) -> list[ProfileEntry]:
        return [self.entry(profile_id) for profile_id in self.profile_ids()]

    def _make_directory(self, profile_id: str) -> Path:
        self.ensure_root()
        directory = self.directory(profile_id)
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        return directory

    def save_bound(self, bound: object, *, server_url: str) -> Profile:
        """Store the `data` of a bind response: profile.json, and the config text if any."""
        if not isinstance(bound, dict):
            raise ProfileError("bind response has no data object")
        document = {"profile": bound.get("profile"), "mqtt": bound.get("mqtt")}
        section = document["profile"]
        if isinstance(section, dict) and not section.get("server_url"):
            section = {**section, "server_url": server_url}
            document["profile"] = section
        profile_id = check_profile_id(
            section.get("profile_id", "") if isinstance(section, dict) else ""
        )
        profile = parse_profile(document, self.root / profile_id)
        self._make_directory(profile_id)
        self.write_profile(profile)
        desired = bound.get("desired_conf")
        if isinstance(desired, str) and desired:
            self.write_config(profile, desired)
        return profile

    def write_profile(self, profile: Profile) -> None:
        data = json.dumps(profile.to_document(), indent=2, ensure_ascii=False) + "\n"
        atomic_write(profile.directory / PROFILE_FILE, data.encode("utf-8"))

    def write_config(self, profile: Profile, text: str) -> None:
        """desired.conf and `<interface>.conf`, both 0600."""
        data = text.encode("utf-8")
        atomic_write(profile.desired_path, data)
        atomic_write(profile.conf_path, data)

    def adopt_config(self, profile: Profile, *, interface_name: str, text: str) -> Profile:
        """A config push: adopt its interface name, write all three files, drop a renamed conf."""
        check_interface_name(interface_name)
        updated = profile.with_interface(interface_name)
        self.write_config(updated, text)
        if updated.interface_name != profile.interface_name:
            self.write_profile(updated)
            if profile.conf_path != updated.conf_path:
                with contextlib.suppress(FileNotFoundError):
                    profile.conf_path.unlink()
        return updated

    def delete(self, profile_id: str) -> bool:
        directory = self.directory(profile_id)
        if not directory.is_dir():
            return False
        shutil.rmtree(directory)
        return True
