"""The MCP resources (reference.md §8): help texts, payload schemas, and two live reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wfm_core.configs import service as configs_service
from wfm_core.system import service as system_service
from wfm_core.system.runtime import broker_sync_status, mqtt_service_status
from wfm_mcp.errors import dumps
from wfm_mcp.resources import help as help_texts
from wfm_mcp.tools import ToolEnv
from wfm_mcp.tools.base import to_plain


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    uri: str
    key: str  # audit target_name (reference.md §1.12)
    name: str
    title: str
    description: str
    mime_type: str
    read: Callable[[ToolEnv], Awaitable[str]]


async def _overview(_env: ToolEnv) -> str:
    return help_texts.OVERVIEW


async def _tool_index(_env: ToolEnv) -> str:
    return help_texts.tool_index()


async def _workflows(_env: ToolEnv) -> str:
    return help_texts.WORKFLOWS


async def _payloads(_env: ToolEnv) -> str:
    return dumps(help_texts.payload_schemas())


async def _system_status(env: ToolEnv) -> str:
    mqtt = await mqtt_service_status(redis=env.redis, settings=env.settings)
    broker = await broker_sync_status(redis=env.redis)
    status = await system_service.system_status(
        env.session, settings=env.settings, mqtt_status=mqtt, broker_sync=broker
    )
    return dumps(to_plain(status))


async def _configs(env: ToolEnv) -> str:
    return dumps(to_plain(await configs_service.list_configs(env.session)))


RESOURCES: dict[str, ResourceSpec] = {
    spec.uri: spec
    for spec in (
        ResourceSpec(
            "wfm://help/overview",
            "help_overview",
            "help_overview",
            "WFM overview",
            "Read first: what WFM manages, its concepts, permissions and error codes.",
            "text/markdown",
            _overview,
        ),
        ResourceSpec(
            "wfm://help/tool-index",
            "help_tool_index",
            "help_tool_index",
            "Tool index",
            "Every tool with its arguments and what it does.",
            "text/markdown",
            _tool_index,
        ),
        ResourceSpec(
            "wfm://help/workflows",
            "help_workflows",
            "help_workflows",
            "Workflows",
            "Step-by-step recipes: inspect, create a mesh, bind an agent, diagnose, forward ports.",
            "text/markdown",
            _workflows,
        ),
        ResourceSpec(
            "wfm://schema/payloads",
            "schema_payloads",
            "schema_payloads",
            "Tool input schemas",
            "JSON schema of every tool's arguments (payloads are the REST request bodies).",
            "application/json",
            _payloads,
        ),
        ResourceSpec(
            "wfm://system/status",
            "system_status",
            "system_status",
            "System status",
            "Live system status (same as read_system_status).",
            "application/json",
            _system_status,
        ),
        ResourceSpec(
            "wfm://configs",
            "configs",
            "configs",
            "Configs",
            "Live list of configs with node counts (same as read_configs).",
            "application/json",
            _configs,
        ),
    )
}
