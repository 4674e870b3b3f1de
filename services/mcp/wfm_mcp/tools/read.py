"""Read tools (reference.md §8): each calls the use case of the matching REST GET route."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from wfm_core import __version__
from wfm_core.configs import overview
from wfm_core.configs import service as configs_service
from wfm_core.downloads import artifacts
from wfm_core.endpoints import control
from wfm_core.endpoints import service as endpoints_service
from wfm_core.errors import WfmError
from wfm_core.mesh import service as mesh_service
from wfm_core.nodes import service as nodes_service
from wfm_core.portforward import service as portforward_service
from wfm_core.snapshots import service as snapshots_service
from wfm_core.sync import service as sync_service
from wfm_core.system import service as system_service
from wfm_core.system.runtime import broker_sync_status, mqtt_service_status
from wfm_mcp.tools.base import ConfigArgs, NoArgs, NodeArgs, ToolEnv, read_tool


@read_tool(
    "read_system_status",
    title="System status",
    description="Counts of configs, nodes and online nodes, sync issues (nodes whose staged config "
    "differs from the latest rendering), topology errors per config, and the state of the "
    "database, MQTT and broker sync. Start here to see what needs attention.",
    args=NoArgs,
    summary=lambda _a: "Read system status",
)
async def read_system_status(env: ToolEnv, _args: NoArgs) -> Any:
    mqtt = await mqtt_service_status(redis=env.redis, settings=env.settings)
    broker = await broker_sync_status(redis=env.redis)
    return await system_service.system_status(
        env.session, settings=env.settings, mqtt_status=mqtt, broker_sync=broker
    )


@read_tool(
    "read_configs",
    title="List configs",
    description="Every config (one mesh each), newest first, with node counts (total, dynamic, "
    "online, offline, disabled) and whether its topology is invalid. Ids (`cfg_…`) found here "
    "are the `config_id` of every other tool.",
    args=NoArgs,
    summary=lambda _a: "List configs",
)
async def read_configs(env: ToolEnv, _args: NoArgs) -> Any:
    return await configs_service.list_configs(env.session)


@read_tool(
    "read_config",
    title="Read one config",
    description="One config: name, subnet, default port/MTU/DNS, auto_sync, tunnel protocol "
    "and AmneziaWG parameters, node counts.",
    args=ConfigArgs,
    summary=lambda a: f"Read config {a.config_id}",
)
async def read_config(env: ToolEnv, args: ConfigArgs) -> Any:
    return await configs_service.get_config(env.session, config_id=args.config_id)


@read_tool(
    "read_config_overview",
    title="Config overview",
    description="The config page in one read: config, stats, all nodes, node cards with online "
    "state and mesh errors, runtime snapshot, per-node sync status and the topology check.",
    args=ConfigArgs,
    summary=lambda a: f"Read overview of config {a.config_id}",
)
async def read_config_overview(env: ToolEnv, args: ConfigArgs) -> Any:
    return await overview.config_overview(
        env.session, config_id=args.config_id, mqtt_enabled=env.settings.enable_mqtt_services
    )


@read_tool(
    "read_nodes",
    title="List nodes",
    description="Every node of a config in creation order: addresses (public IPv4/IPv6 entry, "
    "virtual IP), listen port, type (dynamic/static), enabled, tags, keys, hooks (including "
    "port-forward managed hooks) and AmneziaWG values.",
    args=ConfigArgs,
    summary=lambda a: f"List nodes of config {a.config_id}",
)
async def read_nodes(env: ToolEnv, args: ConfigArgs) -> Any:
    return await nodes_service.list_nodes(env.session, config_id=args.config_id)


@read_tool(
    "read_node_workspace",
    title="Node workspace",
    description="One node with its config, the config's tags and the node's endpoint status "
    "(client binding, presence, runtime, config versions). `endpoint_status` is null with "
    "`endpoint_status_error` set when it cannot be read (MQTT disabled, node disabled).",
    args=NodeArgs,
    summary=lambda a: f"Read workspace of node {a.node_id}",
)
async def read_node_workspace(env: ToolEnv, args: NodeArgs) -> Any:
    config = await configs_service.get_config(env.session, config_id=args.config_id)
    node = await nodes_service.get_node(env.session, node_id=args.node_id)
    if node.config_id != args.config_id:
        raise WfmError(
            "NODE_CONFIG_MISMATCH",
            "Node does not belong to this config",
            detail={"node_ids": [args.node_id]},
        )
    tags = await nodes_service.list_tags(env.session, config_id=args.config_id)
    status: Any = None
    status_error: dict[str, str] | None = None
    try:
        status = await control.endpoint_status(
            env.session,
            config_id=args.config_id,
            node_id=args.node_id,
            redis=env.redis,
            settings=env.settings,
        )
    except WfmError as exc:
        status_error = {"code": exc.code, "message": exc.message}
    return {
        "config": config,
        "node": node,
        "tags": tags,
        "endpoint_status": status,
        "endpoint_status_error": status_error,
    }


@read_tool(
    "read_mesh_workspace",
    title="Mesh workspace of a node",
    description="The node's Mesh pairs (link groups): peer, both directions with AllowedIPs, "
    "Endpoint summary and keepalive, PSK, integrity (healthy/broken), duplicates, plus the "
    "config's topology validation. `link_group_id` is the `group_id` of the peer-link tools.",
    args=NodeArgs,
    summary=lambda a: f"Read mesh workspace of node {a.node_id}",
)
async def read_mesh_workspace(env: ToolEnv, args: NodeArgs) -> Any:
    return await mesh_service.workspace(env.session, config_id=args.config_id, node_id=args.node_id)


@read_tool(
    "read_mesh_validation",
    title="Validate topology",
    description="Check the config's topology: {valid, messages, errors, warnings}. Errors "
    "(duplicate pairs, links to disabled nodes, pairs with no usable Endpoint on either side) "
    "block sync until fixed.",
    args=ConfigArgs,
    summary=lambda a: f"Validate topology of config {a.config_id}",
)
async def read_mesh_validation(env: ToolEnv, args: ConfigArgs) -> Any:
    return await mesh_service.validate(env.session, config_id=args.config_id)


@read_tool(
    "read_endpoint_status",
    title="Endpoint status",
    description="A node's control-channel view: client binding (platform, version, presence "
    "online/dropped/offline), runtime (online, WireGuard running, peers), MQTT service state, "
    "desired/staged/confirmed config versions and drift, last control command.",
    args=NodeArgs,
    summary=lambda a: f"Read endpoint status of node {a.node_id}",
)
async def read_endpoint_status(env: ToolEnv, args: NodeArgs) -> Any:
    return await control.endpoint_status(
        env.session,
        config_id=args.config_id,
        node_id=args.node_id,
        redis=env.redis,
        settings=env.settings,
    )


@read_tool(
    "read_endpoint_logs",
    title="Endpoint control logs",
    description="The node's last control commands and client events, newest first: action, "
    "status (pending/acked/failed/timeout), who asked, summary and detail (wg_show output).",
    args=NodeArgs,
    summary=lambda a: f"Read control logs of node {a.node_id}",
)
async def read_endpoint_logs(env: ToolEnv, args: NodeArgs) -> Any:
    return await control.control_logs(
        env.session, config_id=args.config_id, node_id=args.node_id, settings=env.settings
    )


@read_tool(
    "read_port_forward_rules",
    title="Port-forward rules",
    description="Port-forward rules of a config, newest first, with From/To nodes, ports, "
    "platform, protocol and enabled.",
    args=ConfigArgs,
    summary=lambda a: f"List port-forward rules of config {a.config_id}",
)
async def read_port_forward_rules(env: ToolEnv, args: ConfigArgs) -> Any:
    return await portforward_service.list_rules(env.session, config_id=args.config_id)


@read_tool(
    "read_sync_status",
    title="Sync status of a config",
    description="For every enabled node: desired/staged/confirmed versions and sha256, status "
    "(empty, pending, staged_outdated, in_sync), runtime status and topology messages.",
    args=ConfigArgs,
    summary=lambda a: f"Read sync status of config {a.config_id}",
)
async def read_sync_status(env: ToolEnv, args: ConfigArgs) -> Any:
    return await sync_service.config_sync_status(env.session, config_id=args.config_id)


@read_tool(
    "read_node_sync_status",
    title="Sync status of a node",
    description="One node's desired/staged/confirmed versions, status and topology messages.",
    args=NodeArgs,
    summary=lambda a: f"Read sync status of node {a.node_id}",
)
async def read_node_sync_status(env: ToolEnv, args: NodeArgs) -> Any:
    return await sync_service.node_sync_status(
        env.session, config_id=args.config_id, node_id=args.node_id
    )


@read_tool(
    "read_wg_preview",
    title="Preview a node's config",
    description="The node's current WireGuard/AmneziaWG config text as rendered now (desired, "
    "not necessarily staged): {node_id, node_name, content, sha256}. Contains the private key.",
    args=NodeArgs,
    summary=lambda a: f"Preview config of node {a.node_id}",
)
async def read_wg_preview(env: ToolEnv, args: NodeArgs) -> Any:
    return await sync_service.preview(env.session, config_id=args.config_id, node_id=args.node_id)


@read_tool(
    "read_client_download_options",
    title="Agent download options",
    description="Sources, systems and architectures accepted by write_build_client_artifact, "
    "and the server version. One agent file serves every system.",
    args=NoArgs,
    summary=lambda _a: "Read client download options",
)
async def read_client_download_options(env: ToolEnv, _args: NoArgs) -> Any:
    return artifacts.client_options(env.settings, version=__version__)


@read_tool(
    "read_snapshots",
    title="List snapshots",
    description="The encrypted backups (snapshots) on the server, newest first: id, file name, "
    "size, note, created_at. write_export_snapshot gives a download link for one; creating, "
    "restoring and deleting snapshots is done in the console only.",
    args=NoArgs,
    summary=lambda _a: "List snapshots",
)
async def read_snapshots(env: ToolEnv, _args: NoArgs) -> Any:
    return await snapshots_service.list_snapshots(env.session, settings=env.settings)


# Runtime snapshot of a config: the REST route of the console's config page; listed for models
# that want online state without the whole overview.
@read_tool(
    "read_runtime_snapshot",
    title="Runtime snapshot of a config",
    description="Per enabled node: online, connectivity, WireGuard state, config sync state, "
    "peers online/total, last seen/probe times, client initialized, presence.",
    args=ConfigArgs,
    summary=lambda a: f"Read runtime snapshot of config {a.config_id}",
)
async def read_runtime_snapshot(env: ToolEnv, args: ConfigArgs) -> Any:
    return await endpoints_service.runtime_snapshot(
        env.session,
        config_id=args.config_id,
        mqtt_enabled=env.settings.enable_mqtt_services,
        presence_ttl=timedelta(seconds=env.settings.client_online_ttl_seconds),
    )
