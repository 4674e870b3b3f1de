"""Pure AWG tools behind configs/protocol-options and configs/awg/*: drafts only, no writes."""

from __future__ import annotations

from wfm_core.configs.awg_schemas import (
    AwgAdjustment,
    AwgConfigParams,
    AwgConvertRequest,
    AwgConvertResult,
    AwgGenerateRequest,
    AwgGenerateResult,
    AwgNodeParams,
    ProtocolOptions,
)
from wfm_core.errors import WfmError
from wfm_core.render import awg, awg_random

_KNOWN_CONFIG_OPTIONS = frozenset(
    key for version in awg.AWG_VERSIONS for key in awg.config_option_keys(version)
)


def protocol_options() -> ProtocolOptions:
    """The AWG capability matrix: versions, S fields, H format and option labels."""
    return ProtocolOptions.model_validate(awg.protocol_options())


def _config_params(params: awg.ConfigAwgParams) -> AwgConfigParams:
    return AwgConfigParams.model_validate(params.to_columns(options_key="awg_options"))


def _node_params(params: awg.NodeAwgParams) -> AwgNodeParams:
    return AwgNodeParams.model_validate(params.to_columns(options_key="awg_options"))


def _source_version(value: str | None) -> str | None:
    if not value:
        return None
    if value not in awg.AWG_VERSIONS:
        raise WfmError(
            "INVALID_AWG_VERSION",
            f"source_version must be one of {', '.join(awg.AWG_VERSIONS)}",
            detail={"field": "source_version", "value": value},
        )
    return value


def convert_params(*, data: AwgConvertRequest) -> AwgConvertResult:
    """Config params converted from `source_version` to `awg_version` (reference §3.6).

    Without a source version (e.g. switching from plain WireGuard) the params are only filtered
    to the target's options and filled. Unknown option keys and a result that could not be
    saved answer with their AWG error code instead of a draft.
    """
    target = awg.require_awg_version(data.awg_version)
    source = _source_version(data.source_version)
    params = awg.ConfigAwgParams.from_columns(data.model_dump())
    # Options of another version are dropped by the conversion; unknown ones are an error.
    for key in params.options:
        if key not in _KNOWN_CONFIG_OPTIONS:
            raise WfmError(
                "INVALID_AWG_PARAMETER",
                f"unknown config AWG option {key!r}",
                detail={"field": f"awg_options.{key}"},
            )
    converted, adjustments = awg.convert_config_params(source or target, target, params)
    awg.validate_config_params(target, converted)
    return AwgConvertResult(
        **_config_params(converted).model_dump(),
        awg_version=target,
        source_version=source,
        adjustments=[AwgAdjustment(**item) for item in adjustments],
    )


def generate(*, data: AwgGenerateRequest) -> AwgGenerateResult:
    """The generate draft of reference §3.5: fresh config and/or node params, never saved."""
    draft = awg_random.generate_draft(
        awg_version=awg.require_awg_version(data.awg_version),
        scope=data.scope,
        direction=data.direction,
        intensity=data.intensity,
        config=data.config.model_dump(),
        nodes={node_id: node.model_dump() for node_id, node in data.nodes.items()},
    )
    return AwgGenerateResult.model_validate(draft)


def random_config_params(*, awg_version: str, regenerate_key: bool = False) -> AwgConfigParams:
    """Random config-level S1-S4/H1-H4; `regenerate_key` adds a fresh HeaderProtectionKey (3.1).

    Without `regenerate_key` the options stay empty, so a client keeps its current key.
    """
    version = awg.require_awg_version(awg_version)
    params = awg_random.random_config_params(version)
    if regenerate_key and version == "3.1":
        params.options[awg.HPK_KEY] = awg_random.random_header_protection_key()
    return _config_params(params)


def random_node_params(
    *,
    awg_version: str,
    direction: str = awg_random.DEFAULT_DIRECTION,
    intensity: str = awg_random.DEFAULT_INTENSITY,
) -> AwgNodeParams:
    """Random node-level Jc/Jmin/Jmax, I1-I5 and the version's node options."""
    version = awg.require_awg_version(awg_version)
    params = awg_random.random_node_params(version, direction=direction, intensity=intensity)
    return _node_params(params)
