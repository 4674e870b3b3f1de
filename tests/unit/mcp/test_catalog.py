"""The tool catalog an AI client sees: names, descriptions, input schemas, effects, help texts."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from wfm_mcp.errors import (
    CONFIRMATION_REJECTED,
    CONFIRMATION_UNSUPPORTED,
    WRITE_NOT_ALLOWED,
    validation_error,
)
from wfm_mcp.resources import RESOURCES
from wfm_mcp.resources.help import OVERVIEW, WORKFLOWS, payload_schemas, tool_index
from wfm_mcp.tools import REGISTRY
from wfm_mcp.tools.base import ToolSpec

# reference.md §8.
REFERENCE_READS = {
    "read_system_status", "read_configs", "read_config", "read_config_overview", "read_nodes",
    "read_node_workspace", "read_mesh_workspace", "read_mesh_validation", "read_endpoint_status",
    "read_endpoint_logs", "read_port_forward_rules", "read_sync_status", "read_node_sync_status",
    "read_wg_preview", "read_client_download_options", "read_snapshots",
}  # fmt: skip
REFERENCE_WRITES = {
    "write_create_config", "write_update_config", "write_delete_config", "write_create_node",
    "write_update_node", "write_delete_node", "write_create_tag", "write_apply_tag",
    "write_delete_tag", "write_create_peer_link_group", "write_update_peer_link_group",
    "write_delete_peer_link_group", "write_quick_generate_mesh", "write_sync_node",
    "write_sync_all", "write_endpoint_control", "write_probe_endpoints",
    "write_create_bind_command", "write_reset_client", "write_create_port_forward_rule",
    "write_set_port_forward_rule_enabled", "write_delete_port_forward_rule",
    "write_build_client_artifact", "write_create_config_bulk_package", "write_export_snapshot",
}  # fmt: skip

SPECS = list(REGISTRY.values())


def test_every_reference_tool_is_served() -> None:
    reads = {name for name, spec in REGISTRY.items() if not spec.write}
    writes = {name for name, spec in REGISTRY.items() if spec.write}
    assert reads >= REFERENCE_READS
    assert writes == REFERENCE_WRITES
    assert all(name.startswith("read_") for name in reads)


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"/{name}", prop) for name, prop in schema.get("properties", {}).items()]
    for model, definition in schema.get("$defs", {}).items():
        found += [(f"{model}/{n}", p) for n, p in definition.get("properties", {}).items()]
    return found


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_schema_is_a_described_json_schema(spec: ToolSpec[Any]) -> None:
    schema = spec.input_schema()
    assert schema["type"] == "object"
    json.dumps(schema)  # plain JSON
    assert spec.title and len(spec.description) > 30
    undescribed = [path for path, prop in _properties(schema) if not prop.get("description")]
    assert undescribed == [], f"{spec.name}: properties without description: {undescribed}"
    if schema.get("properties"):
        assert schema.get("additionalProperties") is False


def _example(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        if "$ref" in prop:
            args[name] = _example(defs[prop["$ref"].rsplit("/", 1)[-1]], defs)
        elif prop.get("type") == "array":
            args[name] = ["node_a"]
        elif prop.get("type") == "integer":
            args[name] = 80
        elif prop.get("type") == "boolean":
            args[name] = True
        else:
            args[name] = (prop.get("enum") or ["x_1"])[0]
    return args


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_effect_texts(spec: ToolSpec[Any]) -> None:
    schema = spec.input_schema()
    args = spec.args.model_validate(_example(schema, schema.get("$defs", {})))
    effect = spec.effect(args)
    assert effect.summary
    assert bool(effect.impact) is spec.write


def test_arguments_are_strict() -> None:
    spec = REGISTRY["read_config"]
    with pytest.raises(ValidationError):
        spec.args.model_validate({"config_id": "cfg_1", "extra": 1})
    with pytest.raises(ValidationError):
        spec.args.model_validate({"config_id": 5})
    with pytest.raises(ValidationError):
        spec.args.model_validate({"config_id": "a\x00b"})
    assert spec.args.model_validate({"config_id": "  cfg_1 "}).config_id == "cfg_1"


def test_validation_error_shape() -> None:
    with pytest.raises(ValidationError) as info:
        REGISTRY["write_create_node"].args.model_validate({"payload": {"listen_port": 0}})
    error = validation_error(info.value)
    assert (error.code, error.status) == ("VALIDATION_ERROR", 422)
    assert error.message == "config_id is required"
    locs = [e["loc"] for e in error.detail["errors"]]
    assert ["config_id"] in locs and ["payload", "listen_port"] in locs
    assert "input" not in error.detail["errors"][0]


def test_help_texts_cover_the_catalog() -> None:
    index = tool_index()
    for name in REGISTRY:
        assert f"`{name}(" in index
    mentioned = set(re.findall(r"\b(?:read|write)_[a-z_]+", OVERVIEW + WORKFLOWS))
    assert mentioned - {"read_", "write_"} <= set(REGISTRY), mentioned - set(REGISTRY)
    for code in (WRITE_NOT_ALLOWED, CONFIRMATION_REJECTED, CONFIRMATION_UNSUPPORTED):
        assert code in OVERVIEW
    for workflow in (
        "inspect_system", "inspect_config_before_change", "diagnose_offline_endpoint",
        "create_basic_mesh", "regenerate_quick_mesh", "create_port_forward", "backup_and_restore",
    ):  # fmt: skip
        assert f"## {workflow}" in WORKFLOWS
    assert set(payload_schemas()) == set(REGISTRY)


def test_resources() -> None:
    assert set(RESOURCES) == {
        "wfm://help/overview", "wfm://help/tool-index", "wfm://help/workflows",
        "wfm://schema/payloads", "wfm://system/status", "wfm://configs",
    }  # fmt: skip
    keys = [spec.key for spec in RESOURCES.values()]
    assert len(set(keys)) == len(keys) and all(len(key) <= 128 for key in keys)
