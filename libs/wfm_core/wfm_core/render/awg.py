"""AmneziaWG parameters: versions, validation, version conversion and the rendered AWG lines."""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from wfm_core.errors import WfmError
from wfm_core.render.cps import CPS_DIRECTIONS, validate_cps
from wfm_core.views import ConfigView, NodeView

AWG_VERSIONS = ("1.5", "2.0", "3.1")
DEFAULT_AWG_VERSION = "3.1"  # new configs
LEGACY_AWG_VERSION = "2.0"  # old data / amneziawg without a stored version
PROTOCOL_WIREGUARD = "wireguard"
PROTOCOL_AMNEZIAWG = "amneziawg"
LEGACY_PROTOCOL_AMNEZIAWG_2 = "amneziawg_2"
TUNNEL_PROTOCOLS = (PROTOCOL_WIREGUARD, PROTOCOL_AMNEZIAWG)

UINT16_MAX = 65_535
UINT32_MAX = 4_294_967_295
HPK_MIN_S = 12  # 3.1 header protection needs room for its 12-byte nonce in every padding
HPK_BYTES = 32

INTENSITIES = ("low", "balanced", "high")
DIRECTION_KEY = "_random_direction"
INTENSITY_KEY = "_random_intensity"
HPK_KEY = "header_protection_key"
RANDOM_TRAILERS_KEY = "random_trailers"

# Option key -> config file key, per version and level. Order here is render order.
_CONFIG_OPTION_LABELS: dict[str, dict[str, str]] = {
    "1.5": {},
    "2.0": {},
    "3.1": {HPK_KEY: "HeaderProtectionKey", RANDOM_TRAILERS_KEY: "RandomTrailers"},
}
_NODE_OPTION_LABELS: dict[str, dict[str, str]] = {
    "1.5": {"j1": "J1", "j2": "J2", "j3": "J3", "itime": "Itime"},
    "2.0": {},
    "3.1": {
        "content_padding_addition": "ContentPaddingAddition",
        "rekey_after_time": "RekeyAfterTime",
        "rekey_timeout": "RekeyTimeout",
        "reject_after_time": "RejectAfterTime",
        "keepalive_timeout": "KeepaliveTimeout",
        "max_handshake_attempts": "MaxHandshakeAttempts",
        "random_trailers": "RandomTrailers",
        "disable_cookies": "DisableCookies",
    },
}
# Persisted generation strategy: valid in every version, never rendered.
STRATEGY_OPTION_KEYS = (DIRECTION_KEY, INTENSITY_KEY)
NODE_RANGE_OPTIONS = (
    "content_padding_addition",
    "rekey_after_time",
    "rekey_timeout",
    "reject_after_time",
    "keepalive_timeout",
    "max_handshake_attempts",
)
NODE_BOOL_OPTIONS = ("random_trailers", "disable_cookies")
NODE_CPS_OPTIONS = ("j1", "j2", "j3")

S_FIELDS = ("s1", "s2", "s3", "s4")
H_FIELDS = ("h1", "h2", "h3", "h4")
J_FIELDS = ("jc", "jmin", "jmax")
I_FIELDS = ("i1", "i2", "i3", "i4", "i5")

_H_PATTERN = re.compile(r"^([0-9]{1,10})(?:-([0-9]{1,10}))?$")
_RANGE_PATTERN = re.compile(r"^([0-9]{1,5})(?:-([0-9]{1,5}))?$")


def config_option_keys(version: str) -> tuple[str, ...]:
    """Config-level option keys allowed for `version` (render order, then strategy keys)."""
    return (*_CONFIG_OPTION_LABELS[version], *STRATEGY_OPTION_KEYS)


def node_option_keys(version: str) -> tuple[str, ...]:
    """Node-level option keys allowed for `version`, in render order."""
    return tuple(_NODE_OPTION_LABELS[version])


_ALL_CONFIG_OPTION_KEYS = frozenset(k for v in AWG_VERSIONS for k in config_option_keys(v))
_ALL_NODE_OPTION_KEYS = frozenset(k for v in AWG_VERSIONS for k in node_option_keys(v))


# --- errors ---------------------------------------------------------------------------------


def _param_error(message: str, field_name: str) -> WfmError:
    return WfmError("INVALID_AWG_PARAMETER", message, detail={"field": field_name})


def _h_error(message: str, field_name: str, **extra: Any) -> WfmError:
    return WfmError("INVALID_AWG_H_RANGE", message, detail={"field": field_name, **extra})


def require_awg_version(version: str | None) -> str:
    """`version` if it is a known AWG version, else INVALID_AWG_VERSION."""
    if version not in AWG_VERSIONS:
        raise WfmError(
            "INVALID_AWG_VERSION",
            f"awg_version must be one of {', '.join(AWG_VERSIONS)}",
            detail={"field": "awg_version", "value": version},
        )
    return version


# --- protocol / version ---------------------------------------------------------------------


def normalize_tunnel_protocol(
    tunnel_protocol: str, awg_version: str | None
) -> tuple[str, str | None]:
    """Input (protocol, version) -> stored (protocol, version); legacy `amneziawg_2` means 2.0."""
    version = awg_version or None  # "" from a form means "no version"
    if tunnel_protocol == PROTOCOL_WIREGUARD:
        if version is not None:
            raise WfmError(
                "INVALID_AWG_VERSION",
                "awg_version must be empty for the wireguard protocol",
                detail={"field": "awg_version", "value": version},
            )
        return PROTOCOL_WIREGUARD, None
    if tunnel_protocol == LEGACY_PROTOCOL_AMNEZIAWG_2:
        if version not in (None, "2.0"):
            raise WfmError(
                "INVALID_AWG_VERSION",
                "amneziawg_2 means AWG 2.0; awg_version must be empty or 2.0",
                detail={"field": "awg_version", "value": version},
            )
        return PROTOCOL_AMNEZIAWG, "2.0"
    if tunnel_protocol == PROTOCOL_AMNEZIAWG:
        if version is None:
            raise WfmError(
                "INVALID_AWG_VERSION",
                "awg_version is required for the amneziawg protocol",
                detail={"field": "awg_version", "value": None},
            )
        return PROTOCOL_AMNEZIAWG, require_awg_version(version)
    raise WfmError(
        "INVALID_AWG_VERSION",
        f"tunnel_protocol must be one of {', '.join(TUNNEL_PROTOCOLS)}",
        detail={"field": "tunnel_protocol", "value": tunnel_protocol},
    )


def effective_awg_version(config: ConfigView) -> str | None:
    """The AWG version a stored config renders with; None for plain WireGuard."""
    if config.tunnel_protocol == LEGACY_PROTOCOL_AMNEZIAWG_2:
        return "2.0"
    if config.tunnel_protocol != PROTOCOL_AMNEZIAWG:
        return None
    return config.awg_version if config.awg_version in AWG_VERSIONS else LEGACY_AWG_VERSION


# --- parameter containers -------------------------------------------------------------------


def _options_dict(value: Any, field_name: str) -> dict[str, Any]:
    """Options from a view/payload: dict, JSON text (raw column) or None."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _param_error(f"{field_name} must be a JSON object", field_name) from exc
    if not isinstance(value, Mapping):
        raise _param_error(f"{field_name} must be an object", field_name)
    return dict(value)


def _int_or_none(value: Any, field_name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _param_error(f"{field_name} must be an integer", field_name)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value.strip())
    raise _param_error(f"{field_name} must be an integer", field_name)


def _text_or_none(value: Any, field_name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _param_error(f"{field_name} must be a string", field_name)
    if isinstance(value, int):  # a fixed H sent as a JSON number
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise _param_error(f"{field_name} must be a string", field_name)


def _payload_options(data: Mapping[str, Any]) -> dict[str, Any]:
    key = "awg_options" if "awg_options" in data else "awg_options_json"
    return _options_dict(data.get(key), "awg_options")


@dataclass(slots=True)
class ConfigAwgParams:
    """Config-level (shared) AWG parameters: S1-S4, H1-H4 and config options."""

    s1: int | None = None
    s2: int | None = None
    s3: int | None = None
    s4: int | None = None
    h1: str | None = None
    h2: str | None = None
    h3: str | None = None
    h4: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_view(cls, config: ConfigView) -> ConfigAwgParams:
        return cls(
            s1=config.awg_s1,
            s2=config.awg_s2,
            s3=config.awg_s3,
            s4=config.awg_s4,
            h1=config.awg_h1,
            h2=config.awg_h2,
            h3=config.awg_h3,
            h4=config.awg_h4,
            options=_options_dict(config.awg_options_json, "awg_options"),
        )

    @classmethod
    def from_columns(cls, data: Mapping[str, Any]) -> ConfigAwgParams:
        """From an API payload or column dict (`awg_s1`…, `awg_options` or `awg_options_json`)."""
        values: dict[str, Any] = {}
        for name in S_FIELDS:
            values[name] = _int_or_none(data.get(f"awg_{name}"), f"awg_{name}")
        for name in H_FIELDS:
            values[name] = _text_or_none(data.get(f"awg_{name}"), f"awg_{name}")
        return cls(**values, options=_payload_options(data))

    def to_columns(self, *, options_key: str = "awg_options_json") -> dict[str, Any]:
        """Column dict; pass `options_key="awg_options"` for API-shaped drafts."""
        out: dict[str, Any] = {f"awg_{name}": getattr(self, name) for name in S_FIELDS + H_FIELDS}
        out[options_key] = dict(self.options)
        return out

    def copy(self) -> ConfigAwgParams:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["options"] = dict(self.options)
        return ConfigAwgParams(**values)


@dataclass(slots=True)
class NodeAwgParams:
    """Node-level AWG parameters: Jc/Jmin/Jmax, I1-I5 (CPS) and node options."""

    jc: int | None = None
    jmin: int | None = None
    jmax: int | None = None
    i1: str | None = None
    i2: str | None = None
    i3: str | None = None
    i4: str | None = None
    i5: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_view(cls, node: NodeView) -> NodeAwgParams:
        return cls(
            jc=node.awg_jc,
            jmin=node.awg_jmin,
            jmax=node.awg_jmax,
            i1=node.awg_i1,
            i2=node.awg_i2,
            i3=node.awg_i3,
            i4=node.awg_i4,
            i5=node.awg_i5,
            options=_options_dict(node.awg_options_json, "awg_options"),
        )

    @classmethod
    def from_columns(cls, data: Mapping[str, Any]) -> NodeAwgParams:
        """From an API payload or column dict (`awg_jc`…, `awg_options` or `awg_options_json`)."""
        values: dict[str, Any] = {}
        for name in J_FIELDS:
            values[name] = _int_or_none(data.get(f"awg_{name}"), f"awg_{name}")
        for name in I_FIELDS:
            values[name] = _text_or_none(data.get(f"awg_{name}"), f"awg_{name}")
        return cls(**values, options=_payload_options(data))

    def to_columns(self, *, options_key: str = "awg_options_json") -> dict[str, Any]:
        """Column dict; pass `options_key="awg_options"` for API-shaped drafts."""
        out: dict[str, Any] = {f"awg_{name}": getattr(self, name) for name in J_FIELDS + I_FIELDS}
        out[options_key] = dict(self.options)
        return out

    def copy(self) -> NodeAwgParams:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["options"] = dict(self.options)
        return NodeAwgParams(**values)

    def i_values(self) -> list[str | None]:
        return [self.i1, self.i2, self.i3, self.i4, self.i5]


def clear_node_columns() -> dict[str, Any]:
    """Columns that switching a config back to WireGuard resets on every node."""
    return NodeAwgParams().to_columns()


# --- value parsing --------------------------------------------------------------------------


def parse_h_value(value: str, field_name: str = "H") -> tuple[int, int]:
    """`"N"` or `"start-end"` -> inclusive (start, end) within uint32; INVALID_AWG_H_RANGE."""
    label = field_name.removeprefix("awg_").upper()
    match = _H_PATTERN.match(value) if isinstance(value, str) else None
    if match is None:
        raise _h_error(f"{label} must be an integer or a start-end range", field_name)
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) is not None else start
    if end > UINT32_MAX or start > UINT32_MAX:
        raise _h_error(f"{label} must be within 0-{UINT32_MAX}", field_name)
    if start > end:
        raise _h_error(f"{label} range start must not exceed its end", field_name)
    return start, end


def _uint(value: Any, maximum: int, field_name: str, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _param_error(f"{label} must be an integer", field_name)
    if not 0 <= value <= maximum:
        raise _param_error(f"{label} must be between 0 and {maximum}", field_name)
    return value


def parse_uint16_range(value: Any, field_name: str, label: str) -> tuple[int, int]:
    """Integer or `"start-end"` within 0-65535 -> (start, end); INVALID_AWG_PARAMETER."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = _uint(value, UINT16_MAX, field_name, label)
        return number, number
    match = _RANGE_PATTERN.match(value) if isinstance(value, str) else None
    if match is None:
        raise _param_error(f"{label} must be an integer or a start-end range", field_name)
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) is not None else start
    if end > UINT16_MAX or start > UINT16_MAX:
        raise _param_error(f"{label} must be within 0-{UINT16_MAX}", field_name)
    if start > end:
        raise _param_error(f"{label} range start must not exceed its end", field_name)
    return start, end


def decode_header_protection_key(
    value: Any, field_name: str = "awg_options.header_protection_key"
) -> bytes:
    """Base64 of 32 bytes that are not all zero; INVALID_AWG_PARAMETER otherwise."""
    if not isinstance(value, str):
        raise _param_error("HeaderProtectionKey must be a base64 string", field_name)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _param_error("HeaderProtectionKey must be valid base64", field_name) from exc
    if len(raw) != HPK_BYTES:
        raise _param_error(f"HeaderProtectionKey must decode to {HPK_BYTES} bytes", field_name)
    if not any(raw):
        raise _param_error("HeaderProtectionKey must not be all zero bytes", field_name)
    return raw


# --- validation -----------------------------------------------------------------------------


def _check_option_keys(
    *,
    options: Mapping[str, Any],
    allowed: tuple[str, ...],
    known: frozenset[str],
    version: str,
    previous_options: Mapping[str, Any] | None,
    level: str,
) -> None:
    previous = previous_options or {}
    for key, value in options.items():
        field_name = f"awg_options.{key}"
        if key not in known:
            raise _param_error(f"unknown {level} AWG option {key!r}", field_name)
        if key in allowed:
            continue
        # Stored values of another version survive edits; adding or changing one does not.
        if key in previous and previous[key] == value:
            continue
        raise _param_error(f"{level} option {key!r} is not supported by AWG {version}", field_name)


def _effective_options(options: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Options that apply to `version` and carry a value (tolerated foreign keys are inert)."""
    return {k: v for k, v in options.items() if k in allowed and v is not None}


def validate_config_params(
    version: str,
    params: ConfigAwgParams,
    *,
    previous_options: Mapping[str, Any] | None = None,
) -> None:
    """Every config-level rule of reference §3.4; raises WfmError naming the field in `detail`.

    Validate the final values (after any random filling). `previous_options` are the stored
    options: keys of another version are tolerated only when unchanged from them.
    """
    require_awg_version(version)
    s_values = [getattr(params, name) for name in S_FIELDS]
    for name, value in zip(S_FIELDS, s_values, strict=True):
        if value is not None:
            _uint(value, UINT16_MAX, f"awg_{name}", name.upper())

    ranges: list[tuple[str, tuple[int, int]]] = []
    for name in H_FIELDS:
        value = getattr(params, name)
        if value is None:
            continue
        ranges.append((name, parse_h_value(value, f"awg_{name}")))
        if version == "1.5" and "-" in value:
            raise _h_error(f"{name.upper()} must be a fixed value in AWG 1.5", f"awg_{name}")
    for index, (left_name, (left_start, left_end)) in enumerate(ranges):
        for right_name, (right_start, right_end) in ranges[index + 1 :]:
            if left_start <= right_end and right_start <= left_end:
                raise _h_error(
                    f"{left_name.upper()} overlaps with {right_name.upper()}",
                    f"awg_{right_name}",
                    fields=[f"awg_{left_name}", f"awg_{right_name}"],
                )

    if version == "1.5":
        for name in ("s3", "s4"):
            if getattr(params, name) not in (None, 0):
                raise _param_error(f"{name.upper()} must be 0 in AWG 1.5", f"awg_{name}")
        if params.s1 is not None and params.s2 is not None and params.s2 == params.s1 + 56:
            raise _param_error("S2 must not equal S1 + 56 in AWG 1.5", "awg_s2")

    allowed = config_option_keys(version)
    _check_option_keys(
        options=params.options,
        allowed=allowed,
        known=_ALL_CONFIG_OPTION_KEYS,
        version=version,
        previous_options=previous_options,
        level="config",
    )
    _validate_config_option_values(version, params, _effective_options(params.options, allowed))


def _validate_config_option_values(
    version: str, params: ConfigAwgParams, options: Mapping[str, Any]
) -> None:
    direction = options.get(DIRECTION_KEY)
    if direction is not None and direction not in CPS_DIRECTIONS:
        raise _param_error(
            f"{DIRECTION_KEY} must be one of {', '.join(CPS_DIRECTIONS)}",
            f"awg_options.{DIRECTION_KEY}",
        )
    intensity = options.get(INTENSITY_KEY)
    if intensity is not None and intensity not in INTENSITIES:
        raise _param_error(
            f"{INTENSITY_KEY} must be one of {', '.join(INTENSITIES)}",
            f"awg_options.{INTENSITY_KEY}",
        )
    if version != "3.1":
        return
    if HPK_KEY in options:  # None (explicitly disabled) was dropped by _effective_options
        decode_header_protection_key(options[HPK_KEY])
        for name in S_FIELDS:
            value = getattr(params, name)
            if value is None or value < HPK_MIN_S:
                raise _param_error(
                    f"{name.upper()} must be at least {HPK_MIN_S} when HeaderProtectionKey is set",
                    f"awg_{name}",
                )
    trailers = options.get(RANDOM_TRAILERS_KEY)
    if trailers is not None:
        if not isinstance(trailers, bool):
            raise _param_error("random_trailers must be a boolean", "awg_options.random_trailers")
        s_values = [getattr(params, name) for name in S_FIELDS]
        if trailers and len(set(s_values)) != 1:
            raise _param_error(
                "RandomTrailers requires S1 = S2 = S3 = S4", "awg_options.random_trailers"
            )


def validate_node_params(
    version: str,
    params: NodeAwgParams,
    *,
    config_options: Mapping[str, Any] | None = None,
    previous_options: Mapping[str, Any] | None = None,
) -> None:
    """Every node-level rule of reference §3.4; raises WfmError naming the field in `detail`.

    `config_options` is accepted so callers pass the mesh context uniformly; no node rule
    depends on it today (a shared RandomTrailers simply overrides the node's at render time).
    `previous_options` are the node's stored options (see validate_config_params).
    """
    del config_options
    require_awg_version(version)
    for name in J_FIELDS:
        value = getattr(params, name)
        if value is not None:
            _uint(value, UINT16_MAX, f"awg_{name}", name.capitalize())
    if params.jmin is not None and params.jmax is not None and params.jmax <= params.jmin:
        raise WfmError(
            "INVALID_AWG_J_RANGE",
            "Jmax must be greater than Jmin",
            detail={"field": "awg_jmax", "fields": ["awg_jmin", "awg_jmax"]},
        )
    for name in I_FIELDS:
        value = getattr(params, name)
        if value:  # "" and None both mean "not set"
            validate_cps(value, field=f"awg_{name}")

    allowed = node_option_keys(version)
    _check_option_keys(
        options=params.options,
        allowed=allowed,
        known=_ALL_NODE_OPTION_KEYS,
        version=version,
        previous_options=previous_options,
        level="node",
    )
    options = _effective_options(params.options, allowed)
    if version == "3.1":
        _validate_node_options_31(options)
    elif version == "1.5":
        _validate_node_options_15(options)


def _validate_node_options_31(options: Mapping[str, Any]) -> None:
    parsed: dict[str, tuple[int, int]] = {}
    for key in NODE_RANGE_OPTIONS:
        if key in options:
            label = _NODE_OPTION_LABELS["3.1"][key]
            parsed[key] = parse_uint16_range(options[key], f"awg_options.{key}", label)
    rekey = parsed.get("rekey_after_time")
    reject = parsed.get("reject_after_time")
    if rekey is not None and reject is not None and reject[0] <= rekey[1]:
        raise _param_error(
            "RejectAfterTime lower bound must exceed the RekeyAfterTime upper bound",
            "awg_options.reject_after_time",
        )
    for key in NODE_BOOL_OPTIONS:
        if key in options and not isinstance(options[key], bool):
            raise _param_error(f"{key} must be a boolean", f"awg_options.{key}")


def _validate_node_options_15(options: Mapping[str, Any]) -> None:
    for key in NODE_CPS_OPTIONS:
        if key in options:
            value = options[key]
            if not isinstance(value, str):
                raise _param_error(f"{key.upper()} must be a CPS string", f"awg_options.{key}")
            if value:
                validate_cps(value, field=f"awg_options.{key}")
    if "itime" in options:
        _uint(options["itime"], UINT32_MAX, "awg_options.itime", "Itime")


# --- version conversion ---------------------------------------------------------------------


def convert_config_params(
    src_version: str,
    dst_version: str,
    params: ConfigAwgParams,
    rng: random.Random | None = None,
) -> tuple[ConfigAwgParams, list[dict[str, str]]]:
    """Convert config params between versions (reference §3.6) -> (params, [{field, reason}])."""
    # Deferred: awg_random builds on the containers defined here.
    from wfm_core.render import awg_random

    require_awg_version(src_version)
    require_awg_version(dst_version)
    rng = rng or random.SystemRandom()
    out = params.copy()
    adjustments: list[dict[str, str]] = []

    def adjust(name: str, value: Any, reason: str) -> None:
        if getattr(out, name) != value:
            setattr(out, name, value)
            adjustments.append({"field": f"awg_{name}", "reason": reason})

    if dst_version == "1.5":
        for name in ("s3", "s4"):
            adjust(name, 0, "AWG 1.5 has no S3/S4; set to 0")
        for name in H_FIELDS:
            value = getattr(out, name)
            if value is not None and "-" in value:
                adjust(
                    name, value.split("-", 1)[0], "AWG 1.5 needs a fixed H; kept the range start"
                )
        if out.s1 is not None and out.s2 == out.s1 + 56:
            adjust("s2", 15, "AWG 1.5 forbids S2 = S1 + 56")
    elif dst_version == "3.1" and src_version != "3.1":
        size = awg_random.random_equal_s(rng)
        for name in S_FIELDS:
            adjust(name, size, "regenerated for AWG 3.1 (equal S1-S4)")
        for name, value in zip(H_FIELDS, awg_random.random_h_values("3.1", rng), strict=True):
            adjust(name, value, "regenerated for AWG 3.1 (fixed H)")
    elif src_version == "1.5" and dst_version == "2.0":
        fresh = awg_random.random_config_params("2.0", rng)
        adjust("s3", fresh.s3, "regenerated for AWG 2.0")
        adjust("s4", fresh.s4, "regenerated for AWG 2.0")

    allowed = config_option_keys(dst_version)
    for key in list(out.options):
        if key not in allowed:
            del out.options[key]
            adjustments.append(
                {"field": f"awg_options.{key}", "reason": f"not supported by AWG {dst_version}"}
            )

    filled = awg_random.ensure_config_params(dst_version, out, rng)
    for name in S_FIELDS + H_FIELDS:
        if getattr(out, name) is None and getattr(filled, name) is not None:
            adjustments.append({"field": f"awg_{name}", "reason": "filled with a random value"})
    if HPK_KEY in filled.options and HPK_KEY not in out.options:
        adjustments.append(
            {"field": f"awg_options.{HPK_KEY}", "reason": "generated a HeaderProtectionKey"}
        )
    return filled, adjustments


# --- rendering ------------------------------------------------------------------------------


def _format_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    text = str(value)
    return text or None


def awg_lines(config: ConfigView, node: NodeView) -> list[str]:
    """The `Key = value` AWG lines of the node's [Interface] (reference §3.3); [] for WireGuard."""
    version = effective_awg_version(config)
    if version is None:
        return []
    config_options = _options_dict(config.awg_options_json, "awg_options")
    node_options = _options_dict(node.awg_options_json, "awg_options")
    s_fields = S_FIELDS[:2] if version == "1.5" else S_FIELDS
    pairs: list[tuple[str, Any]] = [
        ("Jc", node.awg_jc),
        ("Jmin", node.awg_jmin),
        ("Jmax", node.awg_jmax),
        *((name.upper(), getattr(config, f"awg_{name}")) for name in s_fields),
        *((name.upper(), getattr(config, f"awg_{name}")) for name in H_FIELDS),
        *((name.upper(), getattr(node, f"awg_{name}")) for name in I_FIELDS),
    ]
    if version == "3.1":
        shared_trailers = config_options.get(RANDOM_TRAILERS_KEY)
        pairs.append(("HeaderProtectionKey", config_options.get(HPK_KEY)))
        # The node's RandomTrailers takes the shared one's place when the mesh sets none.
        trailers = (
            shared_trailers
            if shared_trailers is not None
            else node_options.get(RANDOM_TRAILERS_KEY)
        )
        pairs.append(("RandomTrailers", trailers))
        for key, label in _NODE_OPTION_LABELS["3.1"].items():
            if key != RANDOM_TRAILERS_KEY:
                pairs.append((label, node_options.get(key)))
    elif version == "1.5":
        pairs.extend(
            (label, node_options.get(key)) for key, label in _NODE_OPTION_LABELS["1.5"].items()
        )
    lines = []
    for key, value in pairs:
        text = _format_value(value)
        if text is not None:
            lines.append(f"{key} = {text}")
    return lines


def protocol_options() -> dict[str, Any]:
    """The AWG capability matrix of GET /configs/protocol-options."""
    versions: dict[str, Any] = {}
    for version in AWG_VERSIONS:
        s_fields = S_FIELDS[:2] if version == "1.5" else S_FIELDS
        versions[version] = {
            "s_fields": [f"awg_{name}" for name in s_fields],
            "h_format": "range" if version == "2.0" else "integer",
            "config_options": dict(_CONFIG_OPTION_LABELS[version]),
            "node_options": dict(_NODE_OPTION_LABELS[version]),
        }
    return {
        "default_awg_version": DEFAULT_AWG_VERSION,
        "awg_versions": list(AWG_VERSIONS),
        "versions": versions,
    }
