"""Config/node name rules, download file stems and interface names."""

from __future__ import annotations

import re

import pytest

from wfm_core.errors import WfmError
from wfm_core.render.naming import (
    file_segment,
    file_stem,
    interface_name,
    validate_config_name,
    validate_node_name,
)


@pytest.mark.parametrize("name", ["main", "a", "x" * 32, "mesh_1=+.-", "COM0", "LPT10", "CONSOLE"])
def test_valid_config_names(name: str) -> None:
    assert validate_config_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "x" * 33, "has space", "slash/", "semi;colon", "ümlaut", "main\n", "tab\t", "a#b"],
)
def test_invalid_config_names(name: str) -> None:
    with pytest.raises(WfmError) as info:
        validate_config_name(name)
    assert info.value.code == "INVALID_CONFIG_NAME"
    assert info.value.status == 400


@pytest.mark.parametrize(
    "name",
    ["CON", "con", "Prn", "aux", "NUL", "COM1", "com9", "LPT1", "lpt9", "con.conf", "NUL.a.b"],
)
def test_windows_reserved_config_names(name: str) -> None:
    with pytest.raises(WfmError) as info:
        validate_config_name(name)
    assert info.value.code == "INVALID_CONFIG_NAME"
    assert "reserved" in info.value.message


def test_reserved_word_after_first_dot_is_fine() -> None:
    assert validate_config_name("mesh.con") == "mesh.con"


def test_node_name_is_trimmed() -> None:
    assert validate_node_name("  node a  ") == "node a"
    assert validate_node_name("节点-1") == "节点-1"
    assert validate_node_name("n" * 128) == "n" * 128


@pytest.mark.parametrize(
    "name", [None, "", "   ", "n" * 129, "a\nb", "a\x00b", "a\x7fb", "a\u2028b", "a\x85b"]
)
def test_invalid_node_names(name: str | None) -> None:
    with pytest.raises(WfmError) as info:
        validate_node_name(name)
    assert info.value.code == "INVALID_NODE_NAME"
    assert info.value.status == 400


def test_node_name_length_counts_after_trim() -> None:
    assert validate_node_name(" " + "n" * 128 + " ") == "n" * 128


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("main", "main"),
        ("Node-A_1.x", "Node-A_1.x"),
        ("node a", "nodeu0020a"),
        ("节点", "u8282u70b9"),
        ("--._edge_.--", "edge"),
        ("a/b", "au002fb"),
        ("😀", "u1f600"),
        ("", "fb"),
        (None, "fb"),
        ("-._", "fb"),
    ],
)
def test_file_segment(value: str | None, expected: str) -> None:
    assert file_segment(value, "fb") == expected


def test_file_segment_strips_only_edges_after_encoding() -> None:
    # A space becomes u0020, so the edge is no longer a separator and is kept.
    assert file_segment(" -a- ", "fb") == "u0020-a-u0020"


def test_file_stem() -> None:
    assert file_stem("main", "node a") == "main-nodeu0020a"
    assert file_stem("", "") == "wireguard-node"
    assert file_stem("...", "节点") == "wireguard-u8282u70b9"


def test_interface_name_shape_and_stability() -> None:
    name = interface_name(config_id="cfg_0123456789ab", node_id="node_0123456789ab")
    assert name == interface_name(config_id="cfg_0123456789ab", node_id="node_0123456789ab")
    assert len(name) == 14
    assert re.fullmatch(r"wfm-[a-z2-7]{10}", name)
    # wg-quick's own interface-name rule
    assert re.fullmatch(r"[a-zA-Z0-9_=+.-]{1,15}", name)


def test_interface_name_known_value() -> None:
    # base32(sha256("cfg_a/node_b"))[:10], lowercased: pins the construction.
    assert interface_name(config_id="cfg_a", node_id="node_b") == "wfm-6prdpwhcoa"


def test_interface_names_differ_per_node_and_config() -> None:
    names = {
        interface_name(config_id=f"cfg_{c}", node_id=f"node_{n:04d}")
        for c in range(4)
        for n in range(500)
    }
    assert len(names) == 2000
