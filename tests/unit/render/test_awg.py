"""AWG versions, validation (§3.4), conversion (§3.6), rendered lines (§3.3), capability matrix."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from wfm_core.errors import WfmError
from wfm_core.render.awg import (
    AWG_VERSIONS,
    DEFAULT_AWG_VERSION,
    LEGACY_AWG_VERSION,
    ConfigAwgParams,
    NodeAwgParams,
    awg_lines,
    clear_node_columns,
    convert_config_params,
    effective_awg_version,
    normalize_tunnel_protocol,
    protocol_options,
    validate_config_params,
    validate_node_params,
)

HPK = base64.b64encode(bytes(range(1, 33))).decode()


@dataclass
class FakeConfig:
    tunnel_protocol: str = "amneziawg"
    awg_version: str | None = "2.0"
    awg_options_json: Any = field(default_factory=dict)
    awg_s1: int | None = None
    awg_s2: int | None = None
    awg_s3: int | None = None
    awg_s4: int | None = None
    awg_h1: str | None = None
    awg_h2: str | None = None
    awg_h3: str | None = None
    awg_h4: str | None = None


@dataclass
class FakeNode:
    awg_jc: int | None = None
    awg_jmin: int | None = None
    awg_jmax: int | None = None
    awg_i1: str | None = None
    awg_i2: str | None = None
    awg_i3: str | None = None
    awg_i4: str | None = None
    awg_i5: str | None = None
    awg_options_json: Any = field(default_factory=dict)


@contextmanager
def _raises(code: str, field_name: str | None = None) -> Iterator[None]:
    """Expect WfmError `code` (HTTP 400) whose detail names `field_name`."""
    with pytest.raises(WfmError) as info:
        yield
    assert info.value.code == code, (info.value.code, info.value.message)
    assert info.value.status == 400
    if field_name is not None:
        assert info.value.detail.get("field") == field_name, info.value.detail


# --- protocol / version ---------------------------------------------------------------------


def test_version_constants() -> None:
    assert AWG_VERSIONS == ("1.5", "2.0", "3.1")
    assert DEFAULT_AWG_VERSION == "3.1"
    assert LEGACY_AWG_VERSION == "2.0"


@pytest.mark.parametrize(
    ("protocol", "version", "expected"),
    [
        ("wireguard", None, ("wireguard", None)),
        ("wireguard", "", ("wireguard", None)),
        ("amneziawg", "1.5", ("amneziawg", "1.5")),
        ("amneziawg", "2.0", ("amneziawg", "2.0")),
        ("amneziawg", "3.1", ("amneziawg", "3.1")),
        ("amneziawg_2", None, ("amneziawg", "2.0")),
        ("amneziawg_2", "2.0", ("amneziawg", "2.0")),
    ],
)
def test_normalize_tunnel_protocol(
    protocol: str, version: str | None, expected: tuple[str, str | None]
) -> None:
    assert normalize_tunnel_protocol(protocol, version) == expected


@pytest.mark.parametrize(
    ("protocol", "version", "field_name"),
    [
        ("wireguard", "2.0", "awg_version"),
        ("amneziawg", None, "awg_version"),
        ("amneziawg", "2.1", "awg_version"),
        ("amneziawg_2", "3.1", "awg_version"),
        ("amneziawg_2", "1.5", "awg_version"),
        ("openvpn", None, "tunnel_protocol"),
    ],
)
def test_normalize_tunnel_protocol_errors(
    protocol: str, version: str | None, field_name: str
) -> None:
    with _raises("INVALID_AWG_VERSION", field_name):
        normalize_tunnel_protocol(protocol, version)


def test_effective_awg_version() -> None:
    assert effective_awg_version(FakeConfig(tunnel_protocol="wireguard", awg_version=None)) is None
    assert effective_awg_version(FakeConfig(awg_version=None)) == "2.0"  # legacy data
    assert effective_awg_version(FakeConfig(awg_version="1.5")) == "1.5"
    assert effective_awg_version(FakeConfig(tunnel_protocol="amneziawg_2", awg_version=None)) == (
        "2.0"
    )


# --- containers -----------------------------------------------------------------------------


def test_config_params_columns_round_trip() -> None:
    payload = {
        "awg_s1": 20,
        "awg_s2": "21",
        "awg_s3": "",
        "awg_s4": None,
        "awg_h1": 100,
        "awg_h2": " 200-300 ",
        "awg_h3": "",
        "awg_options": {"random_trailers": True},
    }
    params = ConfigAwgParams.from_columns(payload)
    assert params == ConfigAwgParams(
        s1=20, s2=21, h1="100", h2="200-300", options={"random_trailers": True}
    )
    assert params.to_columns() == {
        "awg_s1": 20,
        "awg_s2": 21,
        "awg_s3": None,
        "awg_s4": None,
        "awg_h1": "100",
        "awg_h2": "200-300",
        "awg_h3": None,
        "awg_h4": None,
        "awg_options_json": {"random_trailers": True},
    }
    assert "awg_options" in params.to_columns(options_key="awg_options")
    # JSON text column and the stored-column key are accepted too
    assert ConfigAwgParams.from_columns({"awg_options_json": '{"a": 1}'}).options == {"a": 1}


def test_node_params_from_view_and_columns() -> None:
    node = FakeNode(awg_jc=3, awg_jmin=64, awg_jmax=100, awg_i1="<r 5>", awg_options_json="{}")
    params = NodeAwgParams.from_view(node)
    assert params == NodeAwgParams(jc=3, jmin=64, jmax=100, i1="<r 5>")
    cols = params.to_columns()
    assert cols["awg_jc"] == 3
    assert cols["awg_i1"] == "<r 5>"
    assert cols["awg_i5"] is None
    assert cols["awg_options_json"] == {}
    assert NodeAwgParams.from_columns(cols) == params
    assert clear_node_columns() == {
        "awg_jc": None,
        "awg_jmin": None,
        "awg_jmax": None,
        "awg_i1": None,
        "awg_i2": None,
        "awg_i3": None,
        "awg_i4": None,
        "awg_i5": None,
        "awg_options_json": {},
    }


@pytest.mark.parametrize(
    "payload",
    [{"awg_s1": True}, {"awg_s1": "abc"}, {"awg_s1": 1.5}, {"awg_h1": ["1"]}, {"awg_options": []}],
)
def test_config_params_bad_types(payload: dict[str, Any]) -> None:
    with _raises("INVALID_AWG_PARAMETER"):
        ConfigAwgParams.from_columns(payload)


def test_copy_does_not_share_options() -> None:
    params = ConfigAwgParams(options={"random_trailers": True})
    clone = params.copy()
    clone.options["random_trailers"] = False
    assert params.options == {"random_trailers": True}


# --- config validation ----------------------------------------------------------------------


def _cfg(**kw: Any) -> ConfigAwgParams:
    base: dict[str, Any] = {
        "s1": 20,
        "s2": 30,
        "s3": 40,
        "s4": 10,
        "h1": "1000-1100",
        "h2": "2000-2100",
        "h3": "3000",
        "h4": "4000-4000",
    }
    base.update(kw)
    return ConfigAwgParams(**base)


def _cfg15(**kw: Any) -> ConfigAwgParams:
    return _cfg(**{"s3": 0, "s4": None, "h1": "1000", "h2": "2000", "h4": "4000", **kw})


def _cfg31(**kw: Any) -> ConfigAwgParams:
    return _cfg(**{"s1": 20, "s2": 20, "s3": 20, "s4": 20, "h1": "1", "h2": "2", **kw})


def test_valid_configs_pass() -> None:
    validate_config_params("2.0", _cfg())
    validate_config_params("2.0", ConfigAwgParams())  # all empty
    validate_config_params("2.0", _cfg(s1=0, s2=65535, h1="0", h4="4294967200-4294967295"))
    validate_config_params("1.5", _cfg15())
    validate_config_params("1.5", _cfg15(s1=10, s2=65))  # 10 + 56 = 66, so 65 is fine
    validate_config_params("3.1", _cfg31(options={"header_protection_key": HPK}))
    validate_config_params(
        "3.1", _cfg31(s1=12, s2=12, s3=12, s4=12, options={"header_protection_key": HPK})
    )
    # explicit null disables header protection: small S allowed again
    validate_config_params("3.1", _cfg31(s1=0, options={"header_protection_key": None}))
    validate_config_params("3.1", _cfg31(options={"random_trailers": True}))
    validate_config_params("3.1", _cfg31(s1=5, options={"random_trailers": False}))
    validate_config_params(
        "2.0", _cfg(options={"_random_direction": "quic", "_random_intensity": "high"})
    )


@pytest.mark.parametrize(
    ("version", "params", "code", "field_name"),
    [
        # S range
        ("2.0", _cfg(s1=-1), "INVALID_AWG_PARAMETER", "awg_s1"),
        ("2.0", _cfg(s4=65536), "INVALID_AWG_PARAMETER", "awg_s4"),
        # H format and range
        ("2.0", _cfg(h1="abc"), "INVALID_AWG_H_RANGE", "awg_h1"),
        ("2.0", _cfg(h1="5-"), "INVALID_AWG_H_RANGE", "awg_h1"),
        ("2.0", _cfg(h1="-5"), "INVALID_AWG_H_RANGE", "awg_h1"),
        ("2.0", _cfg(h2="4294967200-4294967296"), "INVALID_AWG_H_RANGE", "awg_h2"),
        ("2.0", _cfg(h3="4294967296"), "INVALID_AWG_H_RANGE", "awg_h3"),
        ("2.0", _cfg(h3="3100-3000"), "INVALID_AWG_H_RANGE", "awg_h3"),
        ("2.0", _cfg(h2="1100-1200"), "INVALID_AWG_H_RANGE", "awg_h2"),  # touches H1's end
        ("2.0", _cfg(h4="3000"), "INVALID_AWG_H_RANGE", "awg_h4"),  # equal to H3
        # 1.5 rules
        ("1.5", _cfg15(s3=5), "INVALID_AWG_PARAMETER", "awg_s3"),
        ("1.5", _cfg15(s4=1), "INVALID_AWG_PARAMETER", "awg_s4"),
        ("1.5", _cfg15(h2="2000-2100"), "INVALID_AWG_H_RANGE", "awg_h2"),
        ("1.5", _cfg15(s1=20, s2=76), "INVALID_AWG_PARAMETER", "awg_s2"),
        ("1.5", _cfg15(s1=0, s2=56), "INVALID_AWG_PARAMETER", "awg_s2"),
        # 3.1 header protection
        (
            "3.1",
            _cfg31(s3=11, options={"header_protection_key": HPK}),
            "INVALID_AWG_PARAMETER",
            "awg_s3",
        ),
        (
            "3.1",
            _cfg31(s4=None, options={"header_protection_key": HPK}),
            "INVALID_AWG_PARAMETER",
            "awg_s4",
        ),
        (
            "3.1",
            _cfg31(options={"header_protection_key": "not base64!"}),
            "INVALID_AWG_PARAMETER",
            "awg_options.header_protection_key",
        ),
        (
            "3.1",
            _cfg31(options={"header_protection_key": base64.b64encode(b"\x01" * 31).decode()}),
            "INVALID_AWG_PARAMETER",
            "awg_options.header_protection_key",
        ),
        (
            "3.1",
            _cfg31(options={"header_protection_key": base64.b64encode(bytes(32)).decode()}),
            "INVALID_AWG_PARAMETER",
            "awg_options.header_protection_key",
        ),
        (
            "3.1",
            _cfg31(options={"header_protection_key": 12345}),
            "INVALID_AWG_PARAMETER",
            "awg_options.header_protection_key",
        ),
        # shared random trailers
        (
            "3.1",
            _cfg31(s2=21, options={"random_trailers": True}),
            "INVALID_AWG_PARAMETER",
            "awg_options.random_trailers",
        ),
        (
            "3.1",
            _cfg31(options={"random_trailers": "yes"}),
            "INVALID_AWG_PARAMETER",
            "awg_options.random_trailers",
        ),
        # option keys
        ("2.0", _cfg(options={"bogus": 1}), "INVALID_AWG_PARAMETER", "awg_options.bogus"),
        ("3.1", _cfg31(options={"rekey_timeout": 5}), "INVALID_AWG_PARAMETER", None),
        (
            "2.0",
            _cfg(options={"header_protection_key": HPK}),
            "INVALID_AWG_PARAMETER",
            "awg_options.header_protection_key",
        ),
        (
            "1.5",
            _cfg15(options={"random_trailers": True}),
            "INVALID_AWG_PARAMETER",
            "awg_options.random_trailers",
        ),
        (
            "2.0",
            _cfg(options={"_random_direction": "http"}),
            "INVALID_AWG_PARAMETER",
            "awg_options._random_direction",
        ),
        (
            "2.0",
            _cfg(options={"_random_intensity": "extreme"}),
            "INVALID_AWG_PARAMETER",
            "awg_options._random_intensity",
        ),
        # version
        ("2.1", _cfg(), "INVALID_AWG_VERSION", "awg_version"),
    ],
)
def test_invalid_configs(
    version: str, params: ConfigAwgParams, code: str, field_name: str | None
) -> None:
    with _raises(code, field_name):
        validate_config_params(version, params)


def test_overlap_message_names_both_fields() -> None:
    with pytest.raises(WfmError) as exc:
        validate_config_params("2.0", _cfg(h3="2050-2060"))
    assert exc.value.code == "INVALID_AWG_H_RANGE"
    assert exc.value.message == "H2 overlaps with H3"
    assert exc.value.detail == {"field": "awg_h3", "fields": ["awg_h2", "awg_h3"]}


def test_unchanged_option_of_another_version_is_tolerated() -> None:
    stored = {"header_protection_key": HPK, "random_trailers": True}
    params = _cfg(options=dict(stored))
    validate_config_params("2.0", params, previous_options=stored)
    # ... also when its value would be invalid/ineffective for this version (S not equal)
    with _raises("INVALID_AWG_PARAMETER", "awg_options.random_trailers"):
        validate_config_params(
            "2.0", _cfg(options={"random_trailers": False}), previous_options=stored
        )
    with _raises("INVALID_AWG_PARAMETER", "awg_options.bogus"):
        validate_config_params("2.0", _cfg(options={"bogus": 1}), previous_options={"bogus": 1})


# --- node validation ------------------------------------------------------------------------


def _node(**kw: Any) -> NodeAwgParams:
    base: dict[str, Any] = {"jc": 4, "jmin": 64, "jmax": 512, "i1": "<r 32>", "i2": "<t><b 0x0a0b>"}
    base.update(kw)
    return NodeAwgParams(**base)


NODE31_OPTIONS: dict[str, Any] = {
    "content_padding_addition": "8-32",
    "rekey_after_time": "110-125",
    "rekey_timeout": 5,
    "reject_after_time": "126-190",
    "keepalive_timeout": "10",
    "max_handshake_attempts": 18,
    "random_trailers": True,
    "disable_cookies": False,
}


def test_valid_nodes_pass() -> None:
    validate_node_params("2.0", _node())
    validate_node_params("2.0", NodeAwgParams())
    validate_node_params("2.0", _node(jc=0, jmin=0, jmax=65535, i3=""))
    validate_node_params("3.1", _node(options=dict(NODE31_OPTIONS)), config_options={})
    validate_node_params("3.1", _node(options={"rekey_timeout": "0-65535"}))
    validate_node_params("3.1", _node(options={"rekey_timeout": None}))
    validate_node_params(
        "1.5", _node(options={"j1": "<r 40>", "j2": "", "j3": "<b 0x01>", "itime": 4294967295})
    )


@pytest.mark.parametrize(
    ("version", "params", "code", "field_name"),
    [
        ("2.0", _node(jmin=100, jmax=100), "INVALID_AWG_J_RANGE", "awg_jmax"),
        ("2.0", _node(jmin=100, jmax=99), "INVALID_AWG_J_RANGE", "awg_jmax"),
        ("2.0", _node(jc=-1), "INVALID_AWG_PARAMETER", "awg_jc"),
        ("2.0", _node(jmax=65536), "INVALID_AWG_PARAMETER", "awg_jmax"),
        ("2.0", _node(jmin=-5), "INVALID_AWG_PARAMETER", "awg_jmin"),
        ("2.0", _node(i1="<r 1001>"), "INVALID_AWG_PARAMETER", "awg_i1"),
        ("2.0", _node(i2="<t><t>"), "INVALID_AWG_PARAMETER", "awg_i2"),
        ("2.0", _node(i3="<b 0xabc>"), "INVALID_AWG_PARAMETER", "awg_i3"),
        ("2.0", _node(i4="<q 1>"), "INVALID_AWG_PARAMETER", "awg_i4"),
        ("2.0", _node(i5="junk"), "INVALID_AWG_PARAMETER", "awg_i5"),
        # 3.1 options
        (
            "3.1",
            _node(options={"rekey_after_time": "110-125", "reject_after_time": "125-190"}),
            "INVALID_AWG_PARAMETER",
            "awg_options.reject_after_time",
        ),
        (
            "3.1",
            _node(options={"rekey_after_time": 120, "reject_after_time": 100}),
            "INVALID_AWG_PARAMETER",
            "awg_options.reject_after_time",
        ),
        (
            "3.1",
            _node(options={"content_padding_addition": "0-65536"}),
            "INVALID_AWG_PARAMETER",
            "awg_options.content_padding_addition",
        ),
        (
            "3.1",
            _node(options={"rekey_timeout": "9-3"}),
            "INVALID_AWG_PARAMETER",
            "awg_options.rekey_timeout",
        ),
        (
            "3.1",
            _node(options={"keepalive_timeout": -1}),
            "INVALID_AWG_PARAMETER",
            "awg_options.keepalive_timeout",
        ),
        (
            "3.1",
            _node(options={"max_handshake_attempts": "a"}),
            "INVALID_AWG_PARAMETER",
            "awg_options.max_handshake_attempts",
        ),
        (
            "3.1",
            _node(options={"max_handshake_attempts": True}),
            "INVALID_AWG_PARAMETER",
            "awg_options.max_handshake_attempts",
        ),
        (
            "3.1",
            _node(options={"disable_cookies": "off"}),
            "INVALID_AWG_PARAMETER",
            "awg_options.disable_cookies",
        ),
        (
            "3.1",
            _node(options={"random_trailers": 1}),
            "INVALID_AWG_PARAMETER",
            "awg_options.random_trailers",
        ),
        # 1.5 options
        ("1.5", _node(options={"j1": "<r 2000>"}), "INVALID_AWG_PARAMETER", "awg_options.j1"),
        ("1.5", _node(options={"j2": 5}), "INVALID_AWG_PARAMETER", "awg_options.j2"),
        ("1.5", _node(options={"itime": 4294967296}), "INVALID_AWG_PARAMETER", "awg_options.itime"),
        ("1.5", _node(options={"itime": "10"}), "INVALID_AWG_PARAMETER", "awg_options.itime"),
        # option keys
        ("3.1", _node(options={"bogus": 1}), "INVALID_AWG_PARAMETER", "awg_options.bogus"),
        (
            "3.1",
            _node(options={"header_protection_key": HPK}),  # config-level key on a node
            "INVALID_AWG_PARAMETER",
            "awg_options.header_protection_key",
        ),
        ("2.0", _node(options={"rekey_timeout": 5}), "INVALID_AWG_PARAMETER", None),
        ("3.1", _node(options={"itime": 20}), "INVALID_AWG_PARAMETER", "awg_options.itime"),
        ("1.5", _node(options={"disable_cookies": True}), "INVALID_AWG_PARAMETER", None),
        ("9", _node(), "INVALID_AWG_VERSION", "awg_version"),
    ],
)
def test_invalid_nodes(
    version: str, params: NodeAwgParams, code: str, field_name: str | None
) -> None:
    with _raises(code, field_name):
        validate_node_params(version, params, config_options={})


def test_node_option_of_another_version_tolerated_only_unchanged() -> None:
    stored = {"itime": 20, "j1": "<r 40>"}
    validate_node_params("3.1", _node(options=dict(stored)), previous_options=stored)
    with _raises("INVALID_AWG_PARAMETER", "awg_options.itime"):
        validate_node_params("3.1", _node(options={"itime": 21}), previous_options=stored)
    with _raises("INVALID_AWG_PARAMETER", "awg_options.j2"):
        validate_node_params("3.1", _node(options={"j2": "<r 5>"}), previous_options=stored)


# --- rendering ------------------------------------------------------------------------------


def test_awg_lines_15() -> None:
    config = FakeConfig(
        awg_version="1.5",
        awg_s1=20,
        awg_s2=30,
        awg_s3=0,
        awg_s4=0,
        awg_h1="1001",
        awg_h2="1002",
        awg_h3="1003",
        awg_h4="1004",
        # stored HPK from an earlier 3.1 life and the strategy keys are never emitted
        awg_options_json={"header_protection_key": HPK, "_random_direction": "dns"},
    )
    node = FakeNode(
        awg_jc=4,
        awg_jmin=64,
        awg_jmax=512,
        awg_i1="<r 32>",
        awg_i3="",
        awg_options_json={"j1": "<r 40>", "j2": "", "itime": 20, "rekey_timeout": 5},
    )
    assert awg_lines(config, node) == [
        "Jc = 4",
        "Jmin = 64",
        "Jmax = 512",
        "S1 = 20",
        "S2 = 30",
        "H1 = 1001",
        "H2 = 1002",
        "H3 = 1003",
        "H4 = 1004",
        "I1 = <r 32>",
        "J1 = <r 40>",
        "Itime = 20",
    ]


def test_awg_lines_20() -> None:
    config = FakeConfig(
        awg_version="2.0",
        awg_s1=15,
        awg_s2=16,
        awg_s3=17,
        awg_s4=0,
        awg_h1="100000-100100",
        awg_h2="200000-200100",
        awg_h3="300000-300100",
        awg_h4="400000-400100",
        awg_options_json={"random_trailers": True},
    )
    node = FakeNode(
        awg_jc=5,
        awg_jmin=100,
        awg_jmax=800,
        awg_i1="<b 0x0a0b><r 10>",
        awg_i2="<t><rc 5>",
        awg_options_json={"rekey_timeout": 5, "j1": "<r 40>"},
    )
    assert awg_lines(config, node) == [
        "Jc = 5",
        "Jmin = 100",
        "Jmax = 800",
        "S1 = 15",
        "S2 = 16",
        "S3 = 17",
        "S4 = 0",
        "H1 = 100000-100100",
        "H2 = 200000-200100",
        "H3 = 300000-300100",
        "H4 = 400000-400100",
        "I1 = <b 0x0a0b><r 10>",
        "I2 = <t><rc 5>",
    ]


def _config31(options: dict[str, Any]) -> FakeConfig:
    return FakeConfig(
        awg_version="3.1",
        awg_s1=20,
        awg_s2=20,
        awg_s3=20,
        awg_s4=20,
        awg_h1="5000",
        awg_h2="6000",
        awg_h3="7000",
        awg_h4="8000",
        awg_options_json=options,
    )


def _node31(options: dict[str, Any]) -> FakeNode:
    return FakeNode(awg_jc=3, awg_jmin=64, awg_jmax=200, awg_i1="<r 100>", awg_options_json=options)


def test_awg_lines_31() -> None:
    node_options = dict(NODE31_OPTIONS, itime=20)  # itime is 1.5-only: not emitted
    assert awg_lines(_config31({"header_protection_key": HPK}), _node31(node_options)) == [
        "Jc = 3",
        "Jmin = 64",
        "Jmax = 200",
        "S1 = 20",
        "S2 = 20",
        "S3 = 20",
        "S4 = 20",
        "H1 = 5000",
        "H2 = 6000",
        "H3 = 7000",
        "H4 = 8000",
        "I1 = <r 100>",
        f"HeaderProtectionKey = {HPK}",
        "RandomTrailers = on",
        "ContentPaddingAddition = 8-32",
        "RekeyAfterTime = 110-125",
        "RekeyTimeout = 5",
        "RejectAfterTime = 126-190",
        "KeepaliveTimeout = 10",
        "MaxHandshakeAttempts = 18",
        "DisableCookies = off",
    ]


def test_awg_lines_31_shared_random_trailers_wins() -> None:
    config = _config31({"header_protection_key": None, "random_trailers": False})
    lines = awg_lines(config, _node31({"random_trailers": True, "disable_cookies": True}))
    assert lines[-3:] == ["I1 = <r 100>", "RandomTrailers = off", "DisableCookies = on"]
    assert sum(line.startswith("RandomTrailers") for line in lines) == 1
    assert not any(line.startswith("HeaderProtectionKey") for line in lines)  # explicit null


def test_awg_lines_wireguard_and_legacy() -> None:
    node = FakeNode(awg_jc=1, awg_jmin=2, awg_jmax=3)
    assert awg_lines(FakeConfig(tunnel_protocol="wireguard", awg_version=None), node) == []
    legacy = FakeConfig(awg_version=None, awg_s3=7, awg_options_json='{"random_trailers": true}')
    # null version renders as 2.0: S3 is emitted, 3.1 options are not
    assert awg_lines(legacy, node) == ["Jc = 1", "Jmin = 2", "Jmax = 3", "S3 = 7"]


# --- conversion -----------------------------------------------------------------------------


def test_convert_20_to_15() -> None:
    src = ConfigAwgParams(
        s1=10,
        s2=66,
        s3=20,
        s4=5,
        h1="100-200",
        h2="300-400",
        h3="500",
        h4="600-700",
        options={"_random_intensity": "low"},
    )
    out, adjustments = convert_config_params("2.0", "1.5", src, random.Random(1))
    assert out == ConfigAwgParams(
        s1=10,
        s2=15,
        s3=0,
        s4=0,
        h1="100",
        h2="300",
        h3="500",
        h4="600",
        options={"_random_intensity": "low"},
    )
    assert [a["field"] for a in adjustments] == [
        "awg_s3",
        "awg_s4",
        "awg_h1",
        "awg_h2",
        "awg_h4",
        "awg_s2",
    ]
    assert all(a["reason"] for a in adjustments)
    validate_config_params("1.5", out)
    assert src.s2 == 66  # input untouched


def test_convert_31_to_15_drops_3_1_options() -> None:
    src = _cfg31(options={"header_protection_key": HPK, "random_trailers": True})
    out, adjustments = convert_config_params("3.1", "1.5", src, random.Random(2))
    assert (out.s1, out.s2, out.s3, out.s4) == (20, 20, 0, 0)
    assert out.options == {}
    fields_ = {a["field"] for a in adjustments}
    assert {"awg_options.header_protection_key", "awg_options.random_trailers"} <= fields_
    validate_config_params("1.5", out)


@pytest.mark.parametrize("src_version", ["1.5", "2.0"])
def test_convert_to_31_regenerates_and_adds_key(src_version: str) -> None:
    src = _cfg15() if src_version == "1.5" else _cfg()
    out, adjustments = convert_config_params(src_version, "3.1", src, random.Random(3))
    assert out.s1 == out.s2 == out.s3 == out.s4
    assert out.s1 is not None
    assert 16 <= out.s1 <= 32
    for value in (out.h1, out.h2, out.h3, out.h4):
        assert value is not None
        assert value.isdigit()
    assert "header_protection_key" in out.options
    assert {a["field"] for a in adjustments} >= {
        "awg_s1",
        "awg_h1",
        "awg_options.header_protection_key",
    }
    validate_config_params("3.1", out)


def test_convert_15_to_20_regenerates_s3_s4() -> None:
    out, adjustments = convert_config_params("1.5", "2.0", _cfg15(), random.Random(4))
    assert (out.s1, out.s2, out.h1) == (20, 30, "1000")
    assert out.s3 is not None
    assert 15 <= out.s3 <= 64
    assert out.s4 is not None
    assert 0 <= out.s4 <= 32
    assert [a["field"] for a in adjustments][:2] == ["awg_s3", "awg_s4"]
    validate_config_params("2.0", out)


def test_convert_31_to_20_keeps_values_and_drops_options() -> None:
    src = _cfg31(options={"header_protection_key": HPK, "_random_direction": "stun"})
    out, adjustments = convert_config_params("3.1", "2.0", src, random.Random(5))
    assert out.to_columns()["awg_s1"] == 20
    assert (out.h1, out.h3) == ("1", "3000")
    assert out.options == {"_random_direction": "stun"}
    assert adjustments == [
        {"field": "awg_options.header_protection_key", "reason": "not supported by AWG 2.0"}
    ]


def test_convert_fills_empty_fields() -> None:
    out, adjustments = convert_config_params("2.0", "2.0", ConfigAwgParams(s1=30), random.Random(6))
    assert out.s1 == 30
    assert None not in (out.s2, out.s3, out.s4, out.h1, out.h2, out.h3, out.h4)
    assert [a["field"] for a in adjustments] == [
        "awg_s2",
        "awg_s3",
        "awg_s4",
        "awg_h1",
        "awg_h2",
        "awg_h3",
        "awg_h4",
    ]
    validate_config_params("2.0", out)


def test_convert_bad_version() -> None:
    with _raises("INVALID_AWG_VERSION"):
        convert_config_params("2.0", "4.0", ConfigAwgParams())


# --- capability matrix ----------------------------------------------------------------------


def test_protocol_options() -> None:
    all_s = ["awg_s1", "awg_s2", "awg_s3", "awg_s4"]
    assert protocol_options() == {
        "default_awg_version": "3.1",
        "awg_versions": ["1.5", "2.0", "3.1"],
        "versions": {
            "1.5": {
                "s_fields": ["awg_s1", "awg_s2"],
                "h_format": "integer",
                "config_options": {},
                "node_options": {"j1": "J1", "j2": "J2", "j3": "J3", "itime": "Itime"},
            },
            "2.0": {
                "s_fields": all_s,
                "h_format": "range",
                "config_options": {},
                "node_options": {},
            },
            "3.1": {
                "s_fields": all_s,
                "h_format": "integer",
                "config_options": {
                    "header_protection_key": "HeaderProtectionKey",
                    "random_trailers": "RandomTrailers",
                },
                "node_options": {
                    "content_padding_addition": "ContentPaddingAddition",
                    "rekey_after_time": "RekeyAfterTime",
                    "rekey_timeout": "RekeyTimeout",
                    "reject_after_time": "RejectAfterTime",
                    "keepalive_timeout": "KeepaliveTimeout",
                    "max_handshake_attempts": "MaxHandshakeAttempts",
                    "random_trailers": "RandomTrailers",
                    "disable_cookies": "DisableCookies",
                },
            },
        },
    }
