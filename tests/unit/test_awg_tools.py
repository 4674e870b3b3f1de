"""Pure AWG and key tools: protocol options, convert, generate, random params, keys."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from wfm_core.configs import awg_tools
from wfm_core.configs.awg_schemas import (
    AwgConfigParams,
    AwgConfigParamsInput,
    AwgConvertRequest,
    AwgGenerateRequest,
    AwgNodeParams,
    AwgNodeParamsInput,
)
from wfm_core.errors import WfmError
from wfm_core.mesh import service as mesh_service
from wfm_core.nodes import keys_service
from wfm_core.nodes.schemas import DerivePublicKeyRequest
from wfm_core.render import awg
from wfm_core.render.awg_random import INTENSITY_TABLE

PRIVATE = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
PUBLIC = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
HPK = base64.b64encode(bytes(range(1, 33))).decode("ascii")

CONFIG_20: dict[str, Any] = {
    "awg_s1": 20,
    "awg_s2": 76,  # = S1 + 56: forbidden in 1.5
    "awg_s3": 30,
    "awg_s4": 10,
    "awg_h1": "1000-2000",
    "awg_h2": "3000-4000",
    "awg_h3": "5000-6000",
    "awg_h4": "7000-8000",
}


def _raises(code: str, fn: Any, **kwargs: Any) -> WfmError:
    with pytest.raises(WfmError) as info:
        fn(**kwargs)
    assert info.value.code == code, info.value.message
    assert info.value.status == 400
    return info.value


def _config_params(model: AwgConfigParams) -> awg.ConfigAwgParams:
    return awg.ConfigAwgParams.from_columns(model.model_dump())


def _node_params(model: AwgNodeParams) -> awg.NodeAwgParams:
    return awg.NodeAwgParams.from_columns(model.model_dump())


# --- protocol options -----------------------------------------------------------------------


def test_protocol_options_matrix() -> None:
    options = awg_tools.protocol_options()
    assert options.default_awg_version == "3.1"
    assert options.awg_versions == ["1.5", "2.0", "3.1"]
    v15, v20, v31 = (options.versions[v] for v in ("1.5", "2.0", "3.1"))
    assert v15.s_fields == ["awg_s1", "awg_s2"]
    assert v20.s_fields == v31.s_fields == ["awg_s1", "awg_s2", "awg_s3", "awg_s4"]
    assert (v15.h_format, v20.h_format, v31.h_format) == ("integer", "range", "integer")
    assert v15.config_options == v20.config_options == {}
    assert v31.config_options == {
        "header_protection_key": "HeaderProtectionKey",
        "random_trailers": "RandomTrailers",
    }
    assert v15.node_options == {"j1": "J1", "j2": "J2", "j3": "J3", "itime": "Itime"}
    assert v20.node_options == {}
    assert list(v31.node_options) == [
        "content_padding_addition",
        "rekey_after_time",
        "rekey_timeout",
        "reject_after_time",
        "keepalive_timeout",
        "max_handshake_attempts",
        "random_trailers",
        "disable_cookies",
    ]
    assert options.model_dump() == awg.protocol_options()


# --- convert --------------------------------------------------------------------------------


def test_convert_20_to_15() -> None:
    result = awg_tools.convert_params(
        data=AwgConvertRequest(awg_version="1.5", source_version="2.0", **CONFIG_20)
    )
    assert (result.awg_version, result.source_version) == ("1.5", "2.0")
    assert (result.awg_s1, result.awg_s2, result.awg_s3, result.awg_s4) == (20, 15, 0, 0)
    assert [result.awg_h1, result.awg_h2, result.awg_h3, result.awg_h4] == [
        "1000",
        "3000",
        "5000",
        "7000",
    ]
    fields = {item.field for item in result.adjustments}
    assert {"awg_s2", "awg_s3", "awg_s4", "awg_h1", "awg_h4"} <= fields
    awg.validate_config_params("1.5", _config_params(result))


@pytest.mark.parametrize("source", ["1.5", "2.0"])
def test_convert_to_31_regenerates_and_adds_key(source: str) -> None:
    base = {**CONFIG_20, "awg_s2": 21} if source == "2.0" else {}
    result = awg_tools.convert_params(
        data=AwgConvertRequest(awg_version="3.1", source_version=source, **base)
    )
    s_values = {result.awg_s1, result.awg_s2, result.awg_s3, result.awg_s4}
    assert len(s_values) == 1
    assert all(value is not None and "-" not in value for value in [result.awg_h1, result.awg_h4])
    assert "header_protection_key" in result.awg_options
    assert any(a.field == "awg_options.header_protection_key" for a in result.adjustments)
    awg.validate_config_params("3.1", _config_params(result))


def test_convert_15_to_20_regenerates_s3_s4() -> None:
    result = awg_tools.convert_params(
        data=AwgConvertRequest(
            awg_version="2.0",
            source_version="1.5",
            awg_s1=20,
            awg_s2=30,
            awg_s3=0,
            awg_s4=0,
            awg_h1=11,  # a fixed H may come as a JSON number
            awg_h2="22",
            awg_h3="33",
            awg_h4="44",
        )
    )
    assert result.awg_h1 == "11"
    assert result.awg_s3 is not None and 15 <= result.awg_s3 <= 64
    assert result.awg_s4 is not None and 0 <= result.awg_s4 <= 32
    awg.validate_config_params("2.0", _config_params(result))


def test_convert_31_to_20_drops_31_options() -> None:
    result = awg_tools.convert_params(
        data=AwgConvertRequest(
            awg_version="2.0",
            source_version="3.1",
            awg_s1=16,
            awg_s2=16,
            awg_s3=16,
            awg_s4=16,
            awg_options={"header_protection_key": HPK, "random_trailers": True},
        )
    )
    assert result.awg_options == {}
    dropped = {a.field for a in result.adjustments if "not supported" in a.reason}
    assert dropped == {"awg_options.header_protection_key", "awg_options.random_trailers"}


def test_convert_without_source_only_fills_and_filters() -> None:
    result = awg_tools.convert_params(
        data=AwgConvertRequest(
            awg_version="2.0",
            source_version="",
            awg_s1=40,
            awg_options={"_random_direction": "dns", "header_protection_key": HPK},
        )
    )
    assert result.source_version is None
    assert result.awg_s1 == 40
    assert result.awg_options == {"_random_direction": "dns"}
    assert all(value is not None for value in (result.awg_s2, result.awg_h4))


def test_convert_keeps_explicitly_disabled_key() -> None:
    result = awg_tools.convert_params(
        data=AwgConvertRequest(
            awg_version="3.1", source_version="3.1", awg_options={"header_protection_key": None}
        )
    )
    assert result.awg_options == {"header_protection_key": None}


def test_convert_ignores_other_config_fields() -> None:
    data = AwgConvertRequest.model_validate(
        {"awg_version": "2.0", "name": "main", "virtual_subnet": "10.0.0.0/24", "awg_s1": 33}
    )
    assert awg_tools.convert_params(data=data).awg_s1 == 33


def test_convert_errors() -> None:
    error = _raises(
        "INVALID_AWG_VERSION", awg_tools.convert_params, data=AwgConvertRequest(awg_version="4.0")
    )
    assert error.detail["field"] == "awg_version"
    error = _raises(
        "INVALID_AWG_VERSION",
        awg_tools.convert_params,
        data=AwgConvertRequest(awg_version="2.0", source_version="9"),
    )
    assert error.detail["field"] == "source_version"
    _raises(
        "INVALID_AWG_H_RANGE",
        awg_tools.convert_params,
        data=AwgConvertRequest(awg_version="2.0", awg_h1="100-200", awg_h2="150-300"),
    )
    _raises(
        "INVALID_AWG_H_RANGE",
        awg_tools.convert_params,
        data=AwgConvertRequest(awg_version="2.0", awg_h1="abc"),
    )
    _raises(
        "INVALID_AWG_PARAMETER",  # S below 12 with a HeaderProtectionKey
        awg_tools.convert_params,
        data=AwgConvertRequest(
            awg_version="3.1",
            source_version="3.1",
            awg_s1=5,
            awg_s2=5,
            awg_s3=5,
            awg_s4=5,
            awg_options={"header_protection_key": HPK},
        ),
    )
    _raises(
        "INVALID_AWG_PARAMETER",
        awg_tools.convert_params,
        data=AwgConvertRequest(awg_version="2.0", awg_options={"bogus": 1}),
    )
    _raises(
        "INVALID_AWG_PARAMETER",
        awg_tools.convert_params,
        data=AwgConvertRequest(awg_version="2.0", awg_s1=70000),
    )


# --- generate -------------------------------------------------------------------------------


def _generate(**fields: Any) -> Any:
    return awg_tools.generate(data=AwgGenerateRequest.model_validate(fields))


@pytest.mark.parametrize("version", ["1.5", "2.0", "3.1"])
@pytest.mark.parametrize("intensity", ["low", "balanced", "high"])
def test_generate_all(version: str, intensity: str) -> None:
    result = _generate(
        awg_version=version,
        scope="all",
        direction="dns",
        intensity=intensity,
        nodes={"node_a": {}, "node_b": {"awg_jc": 3}},
    )
    profile = INTENSITY_TABLE[intensity]
    assert result.config.awg_options["_random_direction"] == "dns"
    assert result.config.awg_options["_random_intensity"] == intensity
    config = _config_params(result.config)
    assert config.s1 is not None and config.s1 <= profile.s_max
    assert sorted(result.nodes) == ["node_a", "node_b"]
    for node in result.nodes.values():
        params = _node_params(node)
        assert params.jc is not None and profile.jc[0] <= params.jc <= profile.jc[1]
        assert sum(1 for value in params.i_values() if value) == profile.packets
        awg.validate_node_params(version, params)
    if version != "3.1":
        awg.validate_config_params(version, config)


def test_generate_node_scope_echoes_config() -> None:
    config = {"awg_s1": 20, "awg_s2": 20, "awg_s3": 20, "awg_s4": 20, "awg_h1": "5"}
    result = _generate(
        awg_version="3.1",
        scope="node",
        config={**config, "awg_options": {"header_protection_key": HPK}},
        nodes={"node_a": {"awg_options": {"disable_cookies": True}}},
    )
    assert result.config.awg_s1 == 20 and result.config.awg_h1 == "5"
    assert result.config.awg_h2 is None
    assert result.config.awg_options == {"header_protection_key": HPK}
    assert list(result.nodes) == ["node_a"]
    assert result.nodes["node_a"].awg_options["disable_cookies"] is True


def test_generate_all_keeps_header_protection_key() -> None:
    result = _generate(
        awg_version="3.1",
        config={"awg_options": {"header_protection_key": HPK, "random_trailers": False}},
    )
    assert result.config.awg_options["header_protection_key"] == HPK
    assert result.config.awg_options["random_trailers"] is False
    assert result.config.awg_s1 is not None and result.config.awg_s1 >= 12
    assert result.nodes == {}
    awg.validate_config_params("3.1", _config_params(result.config))


def test_generate_defaults() -> None:
    result = awg_tools.generate(data=AwgGenerateRequest(awg_version="2.0"))
    assert result.config.awg_options == {
        "_random_direction": "generic",
        "_random_intensity": "balanced",
    }


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"awg_version": "2.1"}, "INVALID_AWG_VERSION"),
        ({"awg_version": ""}, "INVALID_AWG_VERSION"),
        ({"awg_version": "2.0", "scope": "some"}, "INVALID_AWG_PARAMETER"),
        ({"awg_version": "2.0", "direction": "smtp"}, "INVALID_AWG_PARAMETER"),
        ({"awg_version": "2.0", "intensity": "max"}, "INVALID_AWG_PARAMETER"),
        ({"awg_version": "2.0", "scope": "node"}, "INVALID_AWG_PARAMETER"),
        (
            {"awg_version": "2.0", "scope": "node", "nodes": {"a": {}, "b": {}}},
            "INVALID_AWG_PARAMETER",
        ),
        (
            {
                "awg_version": "3.1",
                "nodes": {
                    "a": {"awg_options": {"random_trailers": True}},
                    "b": {"awg_options": {"random_trailers": False}},
                },
            },
            "INVALID_AWG_PARAMETER",
        ),
    ],
)
def test_generate_errors(fields: dict[str, Any], code: str) -> None:
    _raises(code, awg_tools.generate, data=AwgGenerateRequest.model_validate(fields))


# --- random ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.5", "2.0", "3.1"])
def test_random_config_params(version: str) -> None:
    result = awg_tools.random_config_params(awg_version=version)
    assert result.awg_options == {}
    params = _config_params(result)
    awg.validate_config_params(version, params)
    h_values = [params.h1, params.h2, params.h3, params.h4]
    assert all(value is not None for value in h_values)
    assert any("-" in (value or "") for value in h_values) == (version == "2.0")


def test_random_config_params_regenerate_key() -> None:
    result = awg_tools.random_config_params(awg_version="3.1", regenerate_key=True)
    key = result.awg_options["header_protection_key"]
    assert len(awg.decode_header_protection_key(key)) == 32
    awg.validate_config_params("3.1", _config_params(result))
    other = awg_tools.random_config_params(awg_version="3.1", regenerate_key=True)
    assert other.awg_options["header_protection_key"] != key
    # Only 3.1 has a key; other versions ignore the flag.
    assert awg_tools.random_config_params(awg_version="2.0", regenerate_key=True).awg_options == {}


@pytest.mark.parametrize(
    ("version", "option_keys"),
    [
        ("1.5", {"j1", "j2", "j3", "itime"}),
        ("2.0", set()),
        ("3.1", set(awg.node_option_keys("3.1"))),
    ],
)
def test_random_node_params(version: str, option_keys: set[str]) -> None:
    result = awg_tools.random_node_params(awg_version=version)
    assert set(result.awg_options) == option_keys
    params = _node_params(result)
    assert params.jmin is not None and params.jmax is not None and params.jmax > params.jmin
    awg.validate_node_params(version, params)


def test_random_node_params_direction_and_intensity() -> None:
    result = awg_tools.random_node_params(awg_version="2.0", direction="stun", intensity="high")
    assert result.awg_i5 is not None and "2112a442" in result.awg_i1  # type: ignore[operator]
    _raises("INVALID_AWG_PARAMETER", awg_tools.random_node_params, awg_version="2.0", intensity="x")


def test_random_errors() -> None:
    for version in ("", "1.0", "3.1 ", "latest"):
        _raises("INVALID_AWG_VERSION", awg_tools.random_config_params, awg_version=version)
        _raises("INVALID_AWG_VERSION", awg_tools.random_node_params, awg_version=version)


# --- models ---------------------------------------------------------------------------------


def test_request_schemas_list_allowed_values() -> None:
    schema = AwgGenerateRequest.model_json_schema()
    props = schema["properties"]
    assert props["awg_version"]["enum"] == ["1.5", "2.0", "3.1"]
    assert props["scope"]["enum"] == ["all", "node"]
    assert props["direction"]["enum"] == ["generic", "dns", "stun", "rtp", "quic"]
    assert props["intensity"]["enum"] == ["low", "balanced", "high"]
    assert AwgConfigParamsInput().awg_options is None
    assert AwgNodeParamsInput().awg_options is None


# --- keys -----------------------------------------------------------------------------------


def test_generate_keypair() -> None:
    pair = keys_service.generate_keypair()
    assert len(base64.b64decode(pair.private_key)) == 32
    assert keys_service.derive_public(private_key=pair.private_key) == pair
    assert keys_service.generate_keypair().private_key != pair.private_key


def test_derive_public() -> None:
    data = DerivePublicKeyRequest.model_validate({"private_key": f"  {PRIVATE}\n"})
    pair = keys_service.derive_public(private_key=data.private_key)
    assert (pair.private_key, pair.public_key) == (PRIVATE, PUBLIC)


@pytest.mark.parametrize(
    "bad", ["", "   ", "not-base64!", base64.b64encode(b"x" * 31).decode(), PRIVATE[:-2], "é"]
)
def test_derive_public_rejects_bad_keys(bad: str) -> None:
    error = _raises("INVALID_KEY", keys_service.derive_public, private_key=bad)
    assert error.detail == {"field": "private_key"}


def test_new_preshared_key() -> None:
    first = mesh_service.new_preshared_key()
    assert len(base64.b64decode(first, validate=True)) == 32
    assert mesh_service.new_preshared_key() != first
