"""Random AmneziaWG parameters: config/node generation, filling and the generate draft (§3.5)."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wfm_core.errors import WfmError
from wfm_core.render.awg import (
    DIRECTION_KEY,
    H_FIELDS,
    HPK_BYTES,
    HPK_KEY,
    HPK_MIN_S,
    I_FIELDS,
    INTENSITIES,
    INTENSITY_KEY,
    RANDOM_TRAILERS_KEY,
    S_FIELDS,
    UINT16_MAX,
    ConfigAwgParams,
    NodeAwgParams,
    config_option_keys,
    parse_h_value,
    parse_uint16_range,
    require_awg_version,
)
from wfm_core.render.cps import CPS_DIRECTIONS, packet_chain

DEFAULT_DIRECTION = "generic"
DEFAULT_INTENSITY = "balanced"
SCOPES = ("all", "node")

# H ranges start above the small well-known WireGuard message types (1-4).
_H_START_MIN = 1024
_H_START_SPAN = 4_294_899_999
_H_WIDTH = (64, 575)


@dataclass(frozen=True, slots=True)
class IntensityProfile:
    """One row of the reference §3.5 intensity table."""

    s_max: int  # S upper bound used by generate_draft
    jc: tuple[int, int]
    jmin: tuple[int, int]
    jmax_max: int
    packets: int  # I1..I5 packets generated
    padding_max: int  # 3.1 content_padding_addition upper bound


INTENSITY_TABLE: dict[str, IntensityProfile] = {
    # low: Jmin ≤ min(256, Jmax max − 1) so a Jmax above Jmin always exists.
    "low": IntensityProfile(24, (1, 3), (64, 255), 256, 1, 16),
    "balanced": IntensityProfile(48, (4, 7), (64, 256), 768, 3, 64),
    "high": IntensityProfile(96, (8, 10), (64, 256), 1024, 5, 128),
}


def _make_config(s: list[int], h: list[str], options: dict[str, Any]) -> ConfigAwgParams:
    s1, s2, s3, s4 = s
    h1, h2, h3, h4 = h
    return ConfigAwgParams(s1, s2, s3, s4, h1, h2, h3, h4, options=options)


def _make_node(
    j: tuple[int, int, int], chain: list[str | None], options: dict[str, Any]
) -> NodeAwgParams:
    i1, i2, i3, i4, i5 = chain
    jc, jmin, jmax = j
    return NodeAwgParams(jc, jmin, jmax, i1, i2, i3, i4, i5, options=options)


def _rng(rng: random.Random | None) -> random.Random:
    return rng if rng is not None else random.SystemRandom()


def _choice_error(field_name: str, choices: Iterable[str]) -> WfmError:
    return WfmError(
        "INVALID_AWG_PARAMETER",
        f"{field_name} must be one of {', '.join(choices)}",
        detail={"field": field_name},
    )


def _profile(intensity: str) -> IntensityProfile:
    if intensity not in INTENSITY_TABLE:
        raise _choice_error("intensity", INTENSITIES)
    return INTENSITY_TABLE[intensity]


def _check_direction(direction: str) -> None:
    if direction not in CPS_DIRECTIONS:
        raise _choice_error("direction", CPS_DIRECTIONS)


def generation_strategy(config_options: Mapping[str, Any] | None) -> tuple[str, str]:
    """The persisted (direction, intensity) of a config, or the defaults."""
    options = config_options or {}
    direction = options.get(DIRECTION_KEY)
    intensity = options.get(INTENSITY_KEY)
    return (
        direction if direction in CPS_DIRECTIONS else DEFAULT_DIRECTION,
        intensity if intensity in INTENSITIES else DEFAULT_INTENSITY,
    )


# --- config level ---------------------------------------------------------------------------


def random_header_protection_key(rng: random.Random | None = None) -> str:
    """Base64 of 32 random bytes (never the all-zero key)."""
    rng = _rng(rng)
    while True:
        raw = rng.randbytes(HPK_BYTES)
        if any(raw):
            return base64.b64encode(raw).decode("ascii")


def random_equal_s(rng: random.Random | None = None) -> int:
    """The one S1=S2=S3=S4 value of a random 3.1 config."""
    return _rng(rng).randint(16, 32)


def _overlaps(interval: tuple[int, int], others: Iterable[tuple[int, int]]) -> bool:
    return any(interval[0] <= end and start <= interval[1] for start, end in others)


def random_h_values(
    version: str,
    rng: random.Random | None = None,
    *,
    count: int = 4,
    avoid: Iterable[tuple[int, int]] = (),
) -> list[str]:
    """`count` random H values, pairwise disjoint and disjoint from `avoid`.

    2.0 keeps `start-end` ranges; 1.5 and 3.1 use the range start as a fixed value.
    """
    rng = _rng(rng)
    taken = list(avoid)
    values: list[str] = []
    while len(values) < count:
        start = rng.randint(_H_START_MIN, _H_START_MIN + _H_START_SPAN)
        end = start + rng.randint(*_H_WIDTH)
        interval = (start, end) if version == "2.0" else (start, start)
        if _overlaps(interval, taken):
            continue
        taken.append(interval)
        values.append(f"{start}-{end}" if version == "2.0" else str(start))
    return values


def random_config_params(version: str, rng: random.Random | None = None) -> ConfigAwgParams:
    """Fresh random S1-S4/H1-H4 for `version` (no options; see ensure_config_params for HPK)."""
    require_awg_version(version)
    rng = _rng(rng)
    if version == "3.1":
        size = random_equal_s(rng)
        s_values = [size, size, size, size]
    else:
        s_values = [
            rng.randint(15, 64),
            rng.randint(15, 64),
            rng.randint(15, 64),
            rng.randint(0, 32),
        ]
        if version == "1.5":
            s_values[2] = s_values[3] = 0
    h_values = random_h_values(version, rng)
    return _make_config(s_values, h_values, {})


def _supplied_h_intervals(params: ConfigAwgParams) -> list[tuple[int, int]]:
    intervals = []
    for name in H_FIELDS:
        value = getattr(params, name)
        if value is None:
            continue
        try:
            intervals.append(parse_h_value(value))
        except WfmError:
            continue  # validation reports it; just do not build on it
    return intervals


def ensure_config_params(
    version: str, supplied: ConfigAwgParams, rng: random.Random | None = None
) -> ConfigAwgParams:
    """Random config params overridden by the supplied non-empty ones.

    3.1 adds a HeaderProtectionKey when the options have no `header_protection_key` key at all;
    the key present with value None is the explicit "no header protection" and stays None.
    """
    require_awg_version(version)
    rng = _rng(rng)
    fresh = random_config_params(version, rng)
    out = supplied.copy()
    for name in S_FIELDS:
        if getattr(out, name) is None:
            setattr(out, name, getattr(fresh, name))
    if version == "1.5" and supplied.s2 is None and out.s1 is not None:
        while out.s2 == out.s1 + 56:  # only reachable for a supplied S1 in 0..8
            out.s2 = rng.randint(15, 64)
    missing_h = [name for name in H_FIELDS if getattr(out, name) is None]
    if missing_h:
        avoid = _supplied_h_intervals(out)
        new_h = random_h_values(version, rng, count=len(missing_h), avoid=avoid)
        for name, value in zip(missing_h, new_h, strict=True):
            setattr(out, name, value)
    if version == "3.1" and HPK_KEY not in out.options:
        out.options[HPK_KEY] = random_header_protection_key(rng)
    return out


# --- node level -----------------------------------------------------------------------------


def _random_j(profile: IntensityProfile, rng: random.Random) -> tuple[int, int, int]:
    jmin = rng.randint(*profile.jmin)
    return rng.randint(*profile.jc), jmin, rng.randint(jmin + 1, profile.jmax_max)


def _i_chain(direction: str, profile: IntensityProfile, rng: random.Random) -> list[str | None]:
    packets: list[str | None] = list(packet_chain(direction, profile.packets, rng))
    return packets + [None] * (len(I_FIELDS) - len(packets))


def _shared_trailers(config_options: Mapping[str, Any] | None) -> bool | None:
    value = (config_options or {}).get(RANDOM_TRAILERS_KEY)
    return value if isinstance(value, bool) else None


def _node_extras(
    version: str,
    profile: IntensityProfile,
    rng: random.Random,
    *,
    random_trailers: bool,
) -> dict[str, Any]:
    if version == "3.1":
        half = profile.padding_max // 2
        return {
            "content_padding_addition": (
                f"{rng.randint(0, half)}-{rng.randint(half + 1, profile.padding_max)}"
            ),
            "rekey_after_time": f"{rng.randint(100, 115)}-{rng.randint(120, 135)}",
            "rekey_timeout": rng.randint(4, 6),
            "reject_after_time": f"{rng.randint(170, 180)}-{rng.randint(181, 195)}",
            "keepalive_timeout": rng.randint(8, 12),
            "max_handshake_attempts": rng.randint(16, 20),
            "random_trailers": random_trailers,
            "disable_cookies": False,
        }
    if version == "1.5":
        return {
            "j1": f"<r {rng.randint(32, 128)}>",
            "j2": f"<r {rng.randint(32, 128)}>",
            "j3": f"<r {rng.randint(32, 128)}>",
            "itime": rng.randint(10, 50),
        }
    return {}


def random_node_params(
    version: str,
    *,
    direction: str = DEFAULT_DIRECTION,
    intensity: str = DEFAULT_INTENSITY,
    config_options: Mapping[str, Any] | None = None,
    rng: random.Random | None = None,
) -> NodeAwgParams:
    """Fresh Jc/Jmin/Jmax, an I1-I5 packet chain and the version's node extras."""
    require_awg_version(version)
    _check_direction(direction)
    profile = _profile(intensity)
    rng = _rng(rng)
    jc, jmin, jmax = _random_j(profile, rng)
    chain = _i_chain(direction, profile, rng)
    trailers = _shared_trailers(config_options)
    options = _node_extras(
        version, profile, rng, random_trailers=True if trailers is None else trailers
    )
    return _make_node((jc, jmin, jmax), chain, options)


def _bounds(value: Any) -> tuple[int, int] | None:
    try:
        return parse_uint16_range(value, "", "")
    except WfmError:
        return None


def _fill_j(out: NodeAwgParams, profile: IntensityProfile, rng: random.Random) -> None:
    jc, jmin, jmax = _random_j(profile, rng)
    if out.jc is None:
        out.jc = jc
    if out.jmin is None and out.jmax is None:
        out.jmin, out.jmax = jmin, jmax
    elif out.jmax is None and out.jmin is not None and out.jmin < UINT16_MAX:
        # Keep Jmax > a supplied Jmin.
        out.jmax = rng.randint(out.jmin + 1, max(out.jmin + 1, profile.jmax_max))
    elif out.jmin is None and out.jmax is not None and out.jmax > 0:
        high = min(profile.jmin[1], out.jmax - 1)
        out.jmin = rng.randint(min(profile.jmin[0], high), high)


def fill_node_params(
    version: str,
    supplied: NodeAwgParams,
    *,
    direction: str = DEFAULT_DIRECTION,
    intensity: str = DEFAULT_INTENSITY,
    config_options: Mapping[str, Any] | None = None,
    rng: random.Random | None = None,
) -> NodeAwgParams:
    """Fill only empty fields (node creation, first switch to AWG).

    Jc/Jmin/Jmax: each None is filled, keeping Jmax > Jmin. I1-I5 form one chain, so they are
    filled only when all five are empty. Options: keys absent from the node are added (a key
    present with None stays None); a RekeyAfterTime/RejectAfterTime that would contradict the
    node's own counterpart is left out.
    """
    require_awg_version(version)
    _check_direction(direction)
    profile = _profile(intensity)
    rng = _rng(rng)
    out = supplied.copy()
    _fill_j(out, profile, rng)
    if all(value is None or value == "" for value in out.i_values()):
        for name, value in zip(I_FIELDS, _i_chain(direction, profile, rng), strict=True):
            setattr(out, name, value)
    trailers = _shared_trailers(config_options)
    extras = _node_extras(
        version, profile, rng, random_trailers=True if trailers is None else trailers
    )
    for key, value in extras.items():
        if key in out.options:
            continue
        candidate = {**out.options, key: value}
        rekey = _bounds(candidate.get("rekey_after_time"))
        reject = _bounds(candidate.get("reject_after_time"))
        if rekey is not None and reject is not None and reject[0] <= rekey[1]:
            continue
        out.options[key] = value
    return out


# --- generate draft -------------------------------------------------------------------------


def _draft_config(
    version: str,
    params: ConfigAwgParams,
    profile: IntensityProfile,
    *,
    direction: str,
    intensity: str,
    rng: random.Random,
) -> ConfigAwgParams:
    allowed = config_option_keys(version)
    options = {k: v for k, v in params.options.items() if k in allowed}
    options[DIRECTION_KEY] = direction
    options[INTENSITY_KEY] = intensity
    if version == "3.1":
        # An absent key is filled with a key on save, so only an explicit null allows S < 12.
        low = 0 if HPK_KEY in options and options[HPK_KEY] is None else HPK_MIN_S
        size = rng.randint(low, profile.s_max)
        s_values = [size, size, size, size]
    else:
        s_values = [rng.randint(0, profile.s_max) for _ in S_FIELDS]
        if version == "1.5":
            s_values[2] = s_values[3] = 0
            if s_values[1] == s_values[0] + 56:
                s_values[1] = 0
    return _make_config(s_values, random_h_values(version, rng), options)


def _draft_random_trailers(
    config_options: Mapping[str, Any], nodes: Mapping[str, NodeAwgParams]
) -> bool:
    shared = _shared_trailers(config_options)
    if shared is not None:
        return shared
    seen = {
        value
        for params in nodes.values()
        if isinstance(value := params.options.get(RANDOM_TRAILERS_KEY), bool)
    }
    if len(seen) > 1:
        raise WfmError(
            "INVALID_AWG_PARAMETER",
            "nodes disagree on RandomTrailers and the config sets no shared value",
            detail={"field": "awg_options.random_trailers"},
        )
    return seen.pop() if seen else True


def _draft_node(
    version: str,
    existing: NodeAwgParams,
    profile: IntensityProfile,
    *,
    direction: str,
    random_trailers: bool,
    rng: random.Random,
) -> NodeAwgParams:
    jc, jmin, jmax = _random_j(profile, rng)
    options = _node_extras(version, profile, rng, random_trailers=random_trailers)
    if "disable_cookies" in options and isinstance(existing.options.get("disable_cookies"), bool):
        options["disable_cookies"] = existing.options["disable_cookies"]
    return _make_node((jc, jmin, jmax), _i_chain(direction, profile, rng), options)


def generate_draft(
    *,
    awg_version: str,
    scope: str,
    direction: str,
    intensity: str,
    config: Mapping[str, Any],
    nodes: Mapping[str, Mapping[str, Any]],
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """The pure draft of POST /configs/awg/generate: `{config: {...}, nodes: {node_id: {...}}}`.

    scope "all" regenerates the shared S/H, records direction/intensity in the config options
    and regenerates every given node; scope "node" regenerates the one given node and echoes
    the config. HeaderProtectionKey, DisableCookies and a shared RandomTrailers are preserved.
    Dicts use the API shape (`awg_s1`…, `awg_options`).
    """
    require_awg_version(awg_version)
    if scope not in SCOPES:
        raise _choice_error("scope", SCOPES)
    _check_direction(direction)
    profile = _profile(intensity)
    if scope == "node" and len(nodes) != 1:
        raise WfmError(
            "INVALID_AWG_PARAMETER",
            "scope 'node' needs exactly one node",
            detail={"field": "nodes"},
        )
    rng = _rng(rng)
    config_params = ConfigAwgParams.from_columns(config)
    node_params = {node_id: NodeAwgParams.from_columns(data) for node_id, data in nodes.items()}
    if scope == "all":
        config_params = _draft_config(
            awg_version, config_params, profile, direction=direction, intensity=intensity, rng=rng
        )
    trailers = (
        _draft_random_trailers(config_params.options, node_params) if awg_version == "3.1" else True
    )
    draft_nodes = {
        node_id: _draft_node(
            awg_version,
            existing,
            profile,
            direction=direction,
            random_trailers=trailers,
            rng=rng,
        ).to_columns(options_key="awg_options")
        for node_id, existing in node_params.items()
    }
    return {"config": config_params.to_columns(options_key="awg_options"), "nodes": draft_nodes}
