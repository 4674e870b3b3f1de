"""Random AWG generation (reference §3.5): ranges, filling, the generate draft, validity."""

from __future__ import annotations

import base64
import random
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wfm_core.errors import WfmError
from wfm_core.render.awg import (
    AWG_VERSIONS,
    ConfigAwgParams,
    NodeAwgParams,
    convert_config_params,
    parse_h_value,
    validate_config_params,
    validate_node_params,
)
from wfm_core.render.awg_random import (
    INTENSITY_TABLE,
    IntensityProfile,
    ensure_config_params,
    fill_node_params,
    generate_draft,
    generation_strategy,
    random_config_params,
    random_h_values,
    random_header_protection_key,
    random_node_params,
)
from wfm_core.render.cps import CPS_DIRECTIONS

INTENSITIES = ("low", "balanced", "high")
HPK = base64.b64encode(bytes(range(1, 33))).decode()
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _s(params: ConfigAwgParams) -> list[int | None]:
    return [params.s1, params.s2, params.s3, params.s4]


def _h(params: ConfigAwgParams) -> list[str | None]:
    return [params.h1, params.h2, params.h3, params.h4]


def _i(params: NodeAwgParams) -> list[str | None]:
    return [params.i1, params.i2, params.i3, params.i4, params.i5]


def test_intensity_table() -> None:
    assert dict(INTENSITY_TABLE) == {
        "low": IntensityProfile(24, (1, 3), (64, 255), 256, 1, 16),
        "balanced": IntensityProfile(48, (4, 7), (64, 256), 768, 3, 64),
        "high": IntensityProfile(96, (8, 10), (64, 256), 1024, 5, 128),
    }


# --- config level ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(seed=seeds)
def test_random_config_params_ranges(seed: int) -> None:
    rng = random.Random(seed)
    v20 = random_config_params("2.0", rng)
    assert all(15 <= s <= 64 for s in _s(v20)[:3] if s is not None)
    assert v20.s4 is not None
    assert 0 <= v20.s4 <= 32
    for value in _h(v20):
        assert value is not None
        start, end = parse_h_value(value)
        assert 1024 <= start <= 1024 + 4294899999
        assert 64 <= end - start <= 575
    assert v20.options == {}

    v15 = random_config_params("1.5", rng)
    assert (v15.s3, v15.s4) == (0, 0)
    assert all(15 <= s <= 64 for s in (v15.s1, v15.s2) if s is not None)
    assert all(value is not None and value.isdigit() for value in _h(v15))

    v31 = random_config_params("3.1", rng)
    assert len(set(_s(v31))) == 1
    assert v31.s1 is not None
    assert 16 <= v31.s1 <= 32
    assert all(value is not None and value.isdigit() for value in _h(v31))

    for version, params in (("2.0", v20), ("1.5", v15), ("3.1", v31)):
        validate_config_params(version, params)


def test_random_h_values_avoid_given_intervals() -> None:
    rng = random.Random(11)
    avoid = [(0, 2_000_000_000)]
    for _ in range(50):
        for value in random_h_values("2.0", rng, count=4, avoid=avoid):
            assert parse_h_value(value)[0] > 2_000_000_000


def test_header_protection_key() -> None:
    key = random_header_protection_key(random.Random(1))
    raw = base64.b64decode(key, validate=True)
    assert len(raw) == 32
    assert any(raw)
    assert key != random_header_protection_key(random.Random(2))
    assert len(base64.b64decode(random_header_protection_key())) == 32


def test_ensure_config_params_supplied_values_win() -> None:
    supplied = ConfigAwgParams(s1=40, h2="5000-5100", options={"_random_intensity": "low"})
    out = ensure_config_params("2.0", supplied, random.Random(3))
    assert out.s1 == 40
    assert out.h2 == "5000-5100"
    assert None not in _s(out) + _h(out)
    assert out.options == {"_random_intensity": "low"}
    assert supplied.s2 is None  # input untouched
    validate_config_params("2.0", out)


def test_ensure_config_params_31_header_protection_key() -> None:
    rng = random.Random(4)
    added = ensure_config_params("3.1", ConfigAwgParams(), rng)
    assert len(base64.b64decode(added.options["header_protection_key"])) == 32
    kept = ensure_config_params("3.1", ConfigAwgParams(options={"header_protection_key": HPK}), rng)
    assert kept.options["header_protection_key"] == HPK
    # explicit null = header protection disabled: stays disabled
    disabled = ensure_config_params(
        "3.1", ConfigAwgParams(options={"header_protection_key": None}), rng
    )
    assert disabled.options == {"header_protection_key": None}
    for params in (added, kept, disabled):
        validate_config_params("3.1", params)
    assert (
        "header_protection_key" not in ensure_config_params("2.0", ConfigAwgParams(), rng).options
    )


@settings(max_examples=100, deadline=None)
@given(seed=seeds, s1=st.integers(0, 8))
def test_ensure_config_params_15_avoids_s2_rule(seed: int, s1: int) -> None:
    out = ensure_config_params("1.5", ConfigAwgParams(s1=s1, h1="1500"), random.Random(seed))
    assert out.s2 != s1 + 56
    validate_config_params("1.5", out)


@settings(max_examples=100, deadline=None)
@given(seed=seeds, version=st.sampled_from(AWG_VERSIONS))
def test_ensure_avoids_supplied_h(seed: int, version: str) -> None:
    # for 2.0 the supplied H1 covers about 70% of the space the generator draws from
    h1 = "1024-3000000000" if version == "2.0" else "3000000000"
    out = ensure_config_params(version, ConfigAwgParams(h1=h1), random.Random(seed))
    assert out.h1 == h1
    validate_config_params(version, out)


# --- node level -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    seed=seeds,
    version=st.sampled_from(AWG_VERSIONS),
    direction=st.sampled_from(CPS_DIRECTIONS),
    intensity=st.sampled_from(INTENSITIES),
)
def test_random_node_params_follow_the_table(
    seed: int, version: str, direction: str, intensity: str
) -> None:
    profile = INTENSITY_TABLE[intensity]
    node = random_node_params(
        version, direction=direction, intensity=intensity, rng=random.Random(seed)
    )
    assert node.jc is not None
    assert node.jmin is not None
    assert node.jmax is not None
    assert profile.jc[0] <= node.jc <= profile.jc[1]
    assert profile.jmin[0] <= node.jmin <= profile.jmin[1]
    assert node.jmin < node.jmax <= profile.jmax_max
    expected_packets = 1 if direction == "quic" else profile.packets
    chain = _i(node)
    assert all(value for value in chain[:expected_packets])
    assert chain[expected_packets:] == [None] * (5 - expected_packets)
    validate_node_params(version, node, config_options={})

    if version == "3.1":
        opts = node.options
        pad = profile.padding_max
        low, high = map(int, opts["content_padding_addition"].split("-"))
        assert 0 <= low <= pad // 2 < pad // 2 + 1 <= high <= pad
        a, b = map(int, opts["rekey_after_time"].split("-"))
        assert 100 <= a <= 115
        assert 120 <= b <= 135
        a, b = map(int, opts["reject_after_time"].split("-"))
        assert 170 <= a <= 180
        assert 181 <= b <= 195
        assert 4 <= opts["rekey_timeout"] <= 6
        assert 8 <= opts["keepalive_timeout"] <= 12
        assert 16 <= opts["max_handshake_attempts"] <= 20
        assert opts["random_trailers"] is True
        assert opts["disable_cookies"] is False
    elif version == "1.5":
        for key in ("j1", "j2", "j3"):
            match = re.fullmatch(r"<r (\d+)>", node.options[key])
            assert match is not None
            assert 32 <= int(match.group(1)) <= 128
        assert 10 <= node.options["itime"] <= 50
    else:
        assert node.options == {}


def test_random_node_params_uses_shared_random_trailers() -> None:
    node = random_node_params(
        "3.1", config_options={"random_trailers": False}, rng=random.Random(1)
    )
    assert node.options["random_trailers"] is False


@pytest.mark.parametrize(
    ("kwargs", "code", "field_name"),
    [
        ({"direction": "http"}, "INVALID_AWG_PARAMETER", "direction"),
        ({"intensity": "max"}, "INVALID_AWG_PARAMETER", "intensity"),
    ],
)
def test_random_node_params_errors(kwargs: dict[str, Any], code: str, field_name: str) -> None:
    with pytest.raises(WfmError) as exc:
        random_node_params("2.0", **kwargs)
    assert exc.value.code == code
    assert exc.value.detail["field"] == field_name
    with pytest.raises(WfmError) as exc:
        random_node_params("2.5")
    assert exc.value.code == "INVALID_AWG_VERSION"


def test_fill_node_params_fills_only_empty_fields() -> None:
    supplied = NodeAwgParams(
        jc=2, i2="<r 10>", options={"disable_cookies": True, "rekey_timeout": None}
    )
    out = fill_node_params("3.1", supplied, rng=random.Random(5))
    assert out.jc == 2
    assert out.jmin is not None
    assert out.jmax is not None
    assert out.jmin < out.jmax
    assert _i(out) == [None, "<r 10>", None, None, None]  # a partial chain is left alone
    assert out.options["disable_cookies"] is True
    assert out.options["rekey_timeout"] is None  # present key (even null) is kept
    assert {"content_padding_addition", "random_trailers", "keepalive_timeout"} <= set(out.options)
    validate_node_params("3.1", out)
    assert supplied.jmin is None  # input untouched


def test_fill_node_params_empty_node_gets_a_full_set() -> None:
    out = fill_node_params(
        "1.5", NodeAwgParams(), direction="stun", intensity="high", rng=random.Random(6)
    )
    assert all(value is not None for value in _i(out))
    assert set(out.options) == {"j1", "j2", "j3", "itime"}
    validate_node_params("1.5", out)


@settings(max_examples=100, deadline=None)
@given(seed=seeds, jmin=st.integers(0, 65534), jmax=st.integers(1, 65535))
def test_fill_node_params_keeps_jmax_above_jmin(seed: int, jmin: int, jmax: int) -> None:
    rng = random.Random(seed)
    only_min = fill_node_params("2.0", NodeAwgParams(jmin=jmin), rng=rng)
    assert only_min.jmax is not None
    assert jmin < only_min.jmax <= 65535
    only_max = fill_node_params("2.0", NodeAwgParams(jmax=jmax), rng=rng)
    assert only_max.jmin is not None
    assert 0 <= only_max.jmin < jmax
    validate_node_params("2.0", only_min)
    validate_node_params("2.0", only_max)


def test_fill_node_params_does_not_contradict_supplied_rekey() -> None:
    out = fill_node_params(
        "3.1", NodeAwgParams(options={"rekey_after_time": "300-400"}), rng=random.Random(7)
    )
    assert "reject_after_time" not in out.options  # a random 170-195 would contradict 300-400
    validate_node_params("3.1", out)


def test_generation_strategy() -> None:
    assert generation_strategy(None) == ("generic", "balanced")
    assert generation_strategy({"_random_direction": "rtp", "_random_intensity": "low"}) == (
        "rtp",
        "low",
    )
    assert generation_strategy({"_random_direction": "bogus"}) == ("generic", "balanced")


# --- generate draft -------------------------------------------------------------------------


def _draft(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "awg_version": "3.1",
        "scope": "all",
        "direction": "generic",
        "intensity": "balanced",
        "config": {},
        "nodes": {},
        "rng": random.Random(1),
    }
    args.update(kw)
    return generate_draft(**args)


def _assert_draft_valid(version: str, draft: dict[str, Any]) -> None:
    config = ConfigAwgParams.from_columns(draft["config"])
    validate_config_params(version, config)
    for node in draft["nodes"].values():
        validate_node_params(
            version, NodeAwgParams.from_columns(node), config_options=config.options
        )


def test_draft_scope_all_shape_and_strategy() -> None:
    draft = _draft(
        awg_version="2.0",
        direction="dns",
        intensity="low",
        config={"awg_s1": 5, "awg_options": {"_random_direction": "rtp"}},
        nodes={"node_a": {}, "node_b": {"awg_jc": 9}},
    )
    assert set(draft) == {"config", "nodes"}
    assert set(draft["config"]) == {
        "awg_s1",
        "awg_s2",
        "awg_s3",
        "awg_s4",
        "awg_h1",
        "awg_h2",
        "awg_h3",
        "awg_h4",
        "awg_options",
    }
    assert draft["config"]["awg_options"] == {
        "_random_direction": "dns",
        "_random_intensity": "low",
    }
    assert set(draft["nodes"]) == {"node_a", "node_b"}
    node = draft["nodes"]["node_a"]
    assert set(node) == {
        "awg_jc",
        "awg_jmin",
        "awg_jmax",
        "awg_i1",
        "awg_i2",
        "awg_i3",
        "awg_i4",
        "awg_i5",
        "awg_options",
    }
    assert node["awg_i1"].startswith("<r 2><b 0x0100")
    assert node["awg_i2"] is None  # low intensity: one packet
    assert 1 <= node["awg_jc"] <= 3
    _assert_draft_valid("2.0", draft)


def test_draft_31_preserves_key_cookies_and_trailers() -> None:
    draft = _draft(
        config={"awg_options": {"header_protection_key": HPK, "random_trailers": False}},
        nodes={
            "node_a": {"awg_options": {"disable_cookies": True, "random_trailers": True}},
            "node_b": {},
        },
    )
    options = draft["config"]["awg_options"]
    assert options["header_protection_key"] == HPK
    assert options["random_trailers"] is False
    s_values = {draft["config"][f"awg_s{i}"] for i in range(1, 5)}
    assert len(s_values) == 1
    assert 12 <= s_values.pop() <= 48
    assert draft["nodes"]["node_a"]["awg_options"]["disable_cookies"] is True
    assert draft["nodes"]["node_b"]["awg_options"]["disable_cookies"] is False
    assert {n["awg_options"]["random_trailers"] for n in draft["nodes"].values()} == {False}
    _assert_draft_valid("3.1", draft)


def test_draft_31_node_random_trailers_agreement_and_conflict() -> None:
    agreed = _draft(
        nodes={
            "node_a": {"awg_options": {"random_trailers": False}},
            "node_b": {"awg_options": {"random_trailers": False}},
            "node_c": {},
        }
    )
    assert {n["awg_options"]["random_trailers"] for n in agreed["nodes"].values()} == {False}
    with pytest.raises(WfmError) as exc:
        _draft(
            nodes={
                "node_a": {"awg_options": {"random_trailers": False}},
                "node_b": {"awg_options": {"random_trailers": True}},
            }
        )
    assert exc.value.code == "INVALID_AWG_PARAMETER"
    # a shared value settles the disagreement
    settled = _draft(
        config={"awg_options": {"random_trailers": True}},
        nodes={
            "node_a": {"awg_options": {"random_trailers": False}},
            "node_b": {"awg_options": {"random_trailers": True}},
        },
    )
    assert {n["awg_options"]["random_trailers"] for n in settled["nodes"].values()} == {True}


def test_draft_31_without_key_allows_small_s() -> None:
    seen = set()
    for seed in range(300):
        draft = _draft(
            config={"awg_options": {"header_protection_key": None}},
            intensity="low",
            rng=random.Random(seed),
        )
        seen.add(draft["config"]["awg_s1"])
        _assert_draft_valid("3.1", draft)
    assert min(seen) < 12
    assert max(seen) <= 24


def test_draft_15_rules() -> None:
    for seed in range(300):
        draft = _draft(awg_version="1.5", intensity="high", rng=random.Random(seed))
        config = draft["config"]
        assert (config["awg_s3"], config["awg_s4"]) == (0, 0)
        assert config["awg_s2"] != config["awg_s1"] + 56
        assert 0 <= config["awg_s1"] <= 96
        _assert_draft_valid("1.5", draft)


def test_draft_scope_node() -> None:
    config = {"awg_s1": 20, "awg_s2": 20, "awg_s3": 20, "awg_s4": 20, "awg_h1": "7"}
    draft = _draft(scope="node", config=config, nodes={"node_a": {}}, direction="quic")
    assert draft["config"]["awg_s1"] == 20
    assert draft["config"]["awg_h1"] == "7"
    assert draft["config"]["awg_options"] == {}  # strategy is only recorded for scope all
    node = draft["nodes"]["node_a"]
    assert len(node["awg_i1"]) == len("<b 0x>") + 2400
    assert node["awg_i2"] is None
    for nodes in ({}, {"node_a": {}, "node_b": {}}):
        with pytest.raises(WfmError) as exc:
            _draft(scope="node", nodes=nodes)
        assert exc.value.code == "INVALID_AWG_PARAMETER"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"scope": "mesh"}, "INVALID_AWG_PARAMETER"),
        ({"direction": "tcp"}, "INVALID_AWG_PARAMETER"),
        ({"intensity": "extreme"}, "INVALID_AWG_PARAMETER"),
        ({"awg_version": "2.5"}, "INVALID_AWG_VERSION"),
        ({"config": {"awg_s1": "x"}}, "INVALID_AWG_PARAMETER"),
    ],
)
def test_draft_errors(kwargs: dict[str, Any], code: str) -> None:
    with pytest.raises(WfmError) as exc:
        _draft(**kwargs)
    assert exc.value.code == code


def test_draft_is_pure() -> None:
    config = {"awg_options": {"header_protection_key": HPK}}
    nodes = {"node_a": {"awg_jc": 1, "awg_options": {"disable_cookies": True}}}
    _draft(config=config, nodes=nodes)
    assert config == {"awg_options": {"header_protection_key": HPK}}
    assert nodes == {"node_a": {"awg_jc": 1, "awg_options": {"disable_cookies": True}}}


# --- every generated set passes validation --------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    seed=seeds,
    version=st.sampled_from(AWG_VERSIONS),
    direction=st.sampled_from(CPS_DIRECTIONS),
    intensity=st.sampled_from(INTENSITIES),
    with_key=st.sampled_from(["absent", "null", "set"]),
)
def test_generated_sets_always_validate(
    seed: int, version: str, direction: str, intensity: str, with_key: str
) -> None:
    rng = random.Random(seed)
    options: dict[str, Any] = {}
    if version == "3.1" and with_key != "absent":
        options["header_protection_key"] = HPK if with_key == "set" else None
    config = ensure_config_params(version, ConfigAwgParams(options=options), rng)
    validate_config_params(version, config)

    node = random_node_params(
        version, direction=direction, intensity=intensity, config_options=config.options, rng=rng
    )
    validate_node_params(version, node, config_options=config.options)
    filled = fill_node_params(
        version, NodeAwgParams(), direction=direction, intensity=intensity, rng=rng
    )
    validate_node_params(version, filled, config_options=config.options)

    for scope, nodes in (("all", {"node_a": {}, "node_b": {}}), ("node", {"node_a": {}})):
        draft = generate_draft(
            awg_version=version,
            scope=scope,
            direction=direction,
            intensity=intensity,
            config=config.to_columns(options_key="awg_options"),
            nodes=nodes,
            rng=rng,
        )
        _assert_draft_valid(version, draft)


@settings(max_examples=200, deadline=None)
@given(seed=seeds, src=st.sampled_from(AWG_VERSIONS), dst=st.sampled_from(AWG_VERSIONS))
def test_conversions_always_validate(seed: int, src: str, dst: str) -> None:
    rng = random.Random(seed)
    source = ensure_config_params(src, random_config_params(src, rng), rng)
    if src == "2.0":
        # exercise S2 = S1 + 56 on the way to 1.5
        source.s1, source.s2 = 10, 66
    validate_config_params(src, source)
    converted, adjustments = convert_config_params(src, dst, source, rng)
    validate_config_params(dst, converted)
    for item in adjustments:
        assert set(item) == {"field", "reason"}
