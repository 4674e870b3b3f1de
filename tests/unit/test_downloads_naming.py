"""Download file names: the stem rule, bulk zip names, in-zip dedupe and package ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from wfm_core.downloads.naming import (
    bulk_download_path,
    bulk_zip_filename,
    conf_filename,
    file_segment,
    file_stem,
    node_download_path,
    unique_filenames,
)
from wfm_core.downloads.store import is_package_id, new_package_id


@pytest.mark.parametrize(
    ("config_name", "node_name", "stem"),
    [
        ("main", "node-a", "main-node-a"),
        ("Mesh_1.prod", "Node.A_b-c", "Mesh_1.prod-Node.A_b-c"),
        ("办公", "节点1", "u529eu516c-u8282u70b91"),
        ("mesh", "😀", "mesh-u1f600"),  # beyond the BMP: %04x simply grows
        ("mesh", "node a", "mesh-nodeu0020a"),
        ("mesh", " a", "mesh-u0020a"),  # replaced first, so a space is never stripped
        ("mesh", "a/b\\c:d", "mesh-au002fbu005ccu003ad"),
        ("..main..", "._node_.", "main-node"),
        ("-_.main", "node.-_", "main-node"),
        ("", "", "wireguard-node"),
        (None, None, "wireguard-node"),
        ("---", "...", "wireguard-node"),
        ("mesh", "._-", "mesh-node"),
    ],
)
def test_file_stem(config_name: str | None, node_name: str | None, stem: str) -> None:
    assert file_stem(config_name, node_name) == stem
    assert conf_filename(config_name, node_name) == f"{stem}.conf"


def test_file_segment_keeps_only_ascii_safe_characters() -> None:
    assert file_segment("ä", "x") == "u00e4"
    assert file_segment("a..b", "x") == "a..b"  # inner separators stay
    assert file_segment("\u0000", "x") == "u0000"
    assert all(ch.isascii() for ch in file_segment("Ωmega ∑", "x"))


def test_bulk_zip_filename_uses_utc() -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert bulk_zip_filename("main", at) == "wg-configs-main-20240102-030405.zip"
    shanghai = at.astimezone(timezone(timedelta(hours=8)))
    assert bulk_zip_filename("main", shanghai) == "wg-configs-main-20240102-030405.zip"
    assert bulk_zip_filename("", at) == "wg-configs-wireguard-20240102-030405.zip"
    assert bulk_zip_filename("办", at) == "wg-configs-u529e-20240102-030405.zip"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["a.conf", "b.conf"], ["a.conf", "b.conf"]),
        (["a.conf", "a.conf", "a.conf"], ["a.conf", "a-2.conf", "a-3.conf"]),
        (["A.conf", "a.conf"], ["A.conf", "a-2.conf"]),  # Windows/macOS fold case
        (["a-2.conf", "a.conf", "a.conf"], ["a-2.conf", "a.conf", "a-3.conf"]),
        (["a.conf", "a.conf", "a-2.conf"], ["a.conf", "a-2.conf", "a-2-2.conf"]),
        (["m-x.y.conf", "m-x.y.conf"], ["m-x.y.conf", "m-x.y-2.conf"]),
        (["plain", "plain"], ["plain", "plain-2"]),
    ],
)
def test_unique_filenames(names: list[str], expected: list[str]) -> None:
    assert unique_filenames(names) == expected


def test_download_paths() -> None:
    assert (
        node_download_path("cfg_1", "node_2") == "/api/v1/configs/cfg_1/nodes/node_2/download-conf"
    )
    assert bulk_download_path("pkg_ab") == "/api/v1/tools/download/config-bulk/pkg_ab"


def test_package_ids() -> None:
    ids = {new_package_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(is_package_id(value) for value in ids)
    good = "pkg_" + "0123456789abcdef" * 2
    assert is_package_id(good)
    for bad in (
        "",
        "pkg_",
        good.upper(),
        "PKG_" + good[4:],
        good[:-1],
        good + "0",
        good + "\n",
        "pkg_../../etc/passwd",
        "pkg_" + "g" * 32,
        "wfm:bulk:index",
    ):
        assert not is_package_id(bad), bad
