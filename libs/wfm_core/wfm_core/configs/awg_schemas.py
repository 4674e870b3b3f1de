"""Models of the pure AWG and key tools (reference.md §2.3: configs/awg/*, keys, psk).

Version, scope, direction and intensity are plain strings validated by the use cases, so a bad
value answers with its reference error code (`INVALID_AWG_VERSION`, `INVALID_AWG_PARAMETER`)
rather than a 422; the allowed values still appear in OpenAPI as enums.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from wfm_core.render.awg import AWG_VERSIONS, INTENSITIES
from wfm_core.render.awg_random import DEFAULT_DIRECTION, DEFAULT_INTENSITY, SCOPES
from wfm_core.render.cps import CPS_DIRECTIONS
from wfm_core.schemas import RequestModel, ResponseModel


def _enum(values: tuple[str, ...]) -> dict[str, Any]:
    return {"enum": list(values)}


# --- capability matrix ----------------------------------------------------------------------


class AwgVersionOptions(ResponseModel):
    s_fields: list[str]
    h_format: Literal["integer", "range"]
    config_options: dict[str, str]  # option key -> config file label
    node_options: dict[str, str]


class ProtocolOptions(ResponseModel):
    """GET /configs/protocol-options."""

    default_awg_version: str
    awg_versions: list[str]
    versions: dict[str, AwgVersionOptions]


# --- parameter drafts -----------------------------------------------------------------------


class AwgConfigParamsInput(RequestModel):
    """Config-level AWG fields of a draft; H values are `"N"`, `"start-end"` or a number."""

    awg_s1: int | None = None
    awg_s2: int | None = None
    awg_s3: int | None = None
    awg_s4: int | None = None
    awg_h1: str | int | None = None
    awg_h2: str | int | None = None
    awg_h3: str | int | None = None
    awg_h4: str | int | None = None
    awg_options: dict[str, Any] | None = None


class AwgNodeParamsInput(RequestModel):
    """Node-level AWG fields of a draft."""

    awg_jc: int | None = None
    awg_jmin: int | None = None
    awg_jmax: int | None = None
    awg_i1: str | None = None
    awg_i2: str | None = None
    awg_i3: str | None = None
    awg_i4: str | None = None
    awg_i5: str | None = None
    awg_options: dict[str, Any] | None = None


class AwgConfigParams(ResponseModel):
    awg_s1: int | None
    awg_s2: int | None
    awg_s3: int | None
    awg_s4: int | None
    awg_h1: str | None
    awg_h2: str | None
    awg_h3: str | None
    awg_h4: str | None
    awg_options: dict[str, Any] = Field(default_factory=dict)


class AwgNodeParams(ResponseModel):
    awg_jc: int | None
    awg_jmin: int | None
    awg_jmax: int | None
    awg_i1: str | None
    awg_i2: str | None
    awg_i3: str | None
    awg_i4: str | None
    awg_i5: str | None
    awg_options: dict[str, Any] = Field(default_factory=dict)


# --- convert --------------------------------------------------------------------------------


class AwgConvertRequest(AwgConfigParamsInput):
    """POST /configs/awg/convert: the config form plus target and source versions.

    Other config fields a client sends along (name, subnet, …) are ignored.
    """

    awg_version: str = Field(json_schema_extra=_enum(AWG_VERSIONS))
    source_version: str | None = Field(default=None, json_schema_extra=_enum(AWG_VERSIONS))


class AwgAdjustment(ResponseModel):
    field: str
    reason: str


class AwgConvertResult(AwgConfigParams):
    awg_version: str
    source_version: str | None
    adjustments: list[AwgAdjustment] = Field(default_factory=list)


# --- generate -------------------------------------------------------------------------------


class AwgGenerateRequest(RequestModel):
    """POST /configs/awg/generate (reference §3.5 generate_draft)."""

    awg_version: str = Field(json_schema_extra=_enum(AWG_VERSIONS))
    scope: str = Field(default="all", json_schema_extra=_enum(SCOPES))
    direction: str = Field(default=DEFAULT_DIRECTION, json_schema_extra=_enum(CPS_DIRECTIONS))
    intensity: str = Field(default=DEFAULT_INTENSITY, json_schema_extra=_enum(INTENSITIES))
    config: AwgConfigParamsInput = Field(default_factory=AwgConfigParamsInput)
    nodes: dict[str, AwgNodeParamsInput] = Field(default_factory=dict, max_length=10_000)


class AwgGenerateResult(ResponseModel):
    config: AwgConfigParams
    nodes: dict[str, AwgNodeParams]
