"""The profile store: layout and modes of §7.2, atomic writes, and honest reports of bad files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from wfm_agent.profiles import (
    STATE_INVALID,
    STATE_MISSING,
    STATE_PRESENT,
    ProfileError,
    ProfileStore,
    atomic_write,
    file_sha256,
)

from .conftest import CONFIG_TEXT, IFACE, bound_data


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_bound_writes_the_reference_layout_with_private_modes(store: ProfileStore) -> None:
    profile = store.save_bound(bound_data(desired=CONFIG_TEXT), server_url="http://other")
    directory = store.root / "cfg_unit-node_unit"
    assert profile.directory == directory
    assert _mode(store.root) == 0o700
    assert _mode(directory) == 0o700
    for name in ("profile.json", "desired.conf", f"{IFACE}.conf"):
        assert _mode(directory / name) == 0o600, name
    assert (directory / "desired.conf").read_text() == CONFIG_TEXT
    assert (directory / f"{IFACE}.conf").read_text() == CONFIG_TEXT
    document = json.loads((directory / "profile.json").read_text())
    assert set(document) == {"profile", "mqtt"}
    assert document["profile"]["profile_id"] == "cfg_unit-node_unit"
    # The server's own URL wins over the one wfmctl used (it answered with one).
    assert document["profile"]["server_url"] == "http://wfm.test"
    assert document["mqtt"]["password"] == "secret-password"
    assert document["mqtt"]["client_id"] == "wfm-node_unit"
    assert "tunnel_protocol" not in document["profile"]  # deliberately not stored
    assert store.load("cfg_unit-node_unit") == profile
    assert not [p for p in directory.iterdir() if p.name.startswith(".")]  # no temp files left


def test_save_bound_without_config_text_writes_no_conf(store: ProfileStore) -> None:
    data = bound_data()
    data["profile"]["server_url"] = ""
    profile = store.save_bound(data, server_url="http://used-by-wfmctl")
    assert profile.server_url == "http://used-by-wfmctl"
    assert not profile.conf_path.exists()
    assert not profile.desired_path.exists()
    [entry] = store.entries()
    assert (entry.state, entry.desired, entry.conf) == (STATE_PRESENT, STATE_MISSING, STATE_MISSING)


@pytest.mark.parametrize(
    "profile_id", ["../escape", "..", ".hidden", "a/b", "", "x" * 201, "bad id"]
)
def test_profile_ids_that_could_leave_the_root_are_refused(
    store: ProfileStore, profile_id: str
) -> None:
    with pytest.raises(ProfileError):
        store.save_bound(bound_data(profile_id=profile_id), server_url="http://wfm.test")
    assert not store.root.exists() or not any(store.root.iterdir())


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("mqtt", "port", 0),
        ("mqtt", "port", "1883"),
        ("mqtt", "tls", "yes"),
        ("mqtt", "host", ""),
        ("mqtt", "password", None),
        ("profile", "node_id", "node/with/slash"),
        ("profile", "interface_name", "much-too-long-interface"),
    ],
)
def test_invalid_bind_answers_are_refused(
    store: ProfileStore, section: str, field: str, value: object
) -> None:
    data = bound_data()
    data[section][field] = value
    with pytest.raises(ProfileError):
        store.save_bound(data, server_url="http://wfm.test")


def test_broken_and_missing_profiles_are_reported_not_raised(store: ProfileStore) -> None:
    store.save_bound(bound_data(), server_url="http://wfm.test")
    broken = store.root / "cfg_x-node_broken"
    broken.mkdir()
    (broken / "profile.json").write_text("{not json")
    empty = store.root / "cfg_x-node_empty"
    empty.mkdir()
    moved = store.root / "cfg_x-node_moved"
    moved.mkdir()
    # A valid profile.json whose id does not match its directory.
    (moved / "profile.json").write_text(
        (store.root / "cfg_unit-node_unit" / "profile.json").read_text()
    )
    (store.root / ".tmp-dir").mkdir()  # hidden entries are not profiles
    (store.root / "stray-file").write_text("x")
    entries = {entry.profile_id: entry for entry in store.entries()}
    assert set(entries) == {
        "cfg_unit-node_unit",
        "cfg_x-node_broken",
        "cfg_x-node_empty",
        "cfg_x-node_moved",
    }
    assert entries["cfg_unit-node_unit"].state == STATE_PRESENT
    assert entries["cfg_x-node_broken"].state == STATE_INVALID
    assert "not valid JSON" in entries["cfg_x-node_broken"].error
    assert entries["cfg_x-node_empty"].state == STATE_MISSING
    assert entries["cfg_x-node_moved"].state == STATE_INVALID
    assert "does not match" in entries["cfg_x-node_moved"].error
    with pytest.raises(ProfileError):
        store.load("cfg_x-node_empty")


def test_missing_root_lists_nothing(tmp_path: Path) -> None:
    assert ProfileStore(tmp_path / "nowhere").entries() == []


def test_adopt_config_renames_the_interface_file(store: ProfileStore) -> None:
    profile = store.save_bound(bound_data(desired="old\n"), server_url="http://wfm.test")
    old_conf = profile.conf_path
    updated = store.adopt_config(profile, interface_name="wfm-renamed01", text="new\n")
    assert updated.interface == "wfm-renamed01"
    assert not old_conf.exists()
    assert updated.conf_path.read_text() == "new\n"
    assert updated.desired_path.read_text() == "new\n"
    assert _mode(updated.conf_path) == 0o600
    assert store.load(profile.profile_id).interface_name == "wfm-renamed01"
    # The MQTT session does not depend on the interface: no reconnect for a rename.
    assert updated.session_key == profile.session_key
    with pytest.raises(ProfileError):
        store.adopt_config(updated, interface_name="bad name", text="x")


def test_session_key_changes_with_new_credentials(store: ProfileStore) -> None:
    first = store.save_bound(bound_data(), server_url="http://wfm.test")
    second = store.save_bound(bound_data(password="rotated"), server_url="http://wfm.test")
    assert first.session_key != second.session_key


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "file.conf"
    atomic_write(path, b"one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.conf"]
    assert file_sha256(path) == "3fc4ccfe745870e2c0d99f71f30ff0656c8dedd41cc1d7d3d376b0dbe685e2f3"
    assert file_sha256(tmp_path / "absent") == ""


def test_delete(store: ProfileStore) -> None:
    profile = store.save_bound(bound_data(desired="x\n"), server_url="http://wfm.test")
    assert store.delete(profile.profile_id)
    assert not profile.directory.exists()
    assert not store.delete(profile.profile_id)
