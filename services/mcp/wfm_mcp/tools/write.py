"""Write tools (reference.md §8): each calls the use case of the matching REST route.

Every call needs a write token and the user's consent (MCP elicitation showing the summary and
impact below); the server asks before the body runs. Download tools hand out a REST path plus a
URL carrying a 5-minute file token, never the bytes.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from wfm_core import __version__
from wfm_core.auth import service as auth_service
from wfm_core.configs import service as configs_service
from wfm_core.configs.schemas import ConfigDeleteResult, ConfigRequest
from wfm_core.downloads import artifacts
from wfm_core.downloads import service as downloads_service
from wfm_core.downloads.schemas import BulkPackageRequest, ClientArtifactRequest
from wfm_core.downloads.store import PackageStore
from wfm_core.endpoints import bind, control
from wfm_core.endpoints.commands import BY_MCP
from wfm_core.mesh import service as mesh_service
from wfm_core.mesh.schemas import PeerLinkGroupRequest, QuickMeshRequestModel
from wfm_core.nodes import service as nodes_service
from wfm_core.nodes.schemas import NodeDeleteResult, NodeRequest, TagDeleteResult
from wfm_core.portforward import service as portforward_service
from wfm_core.portforward.schemas import PortForwardRequest
from wfm_core.snapshots import service as snapshots_service
from wfm_core.sync import service as sync_service
from wfm_mcp.tools.base import (
    ID_BOUNDS,
    ConfigArgs,
    NodeArgs,
    ToolArgs,
    ToolEnv,
    node_id_field,
    write_tool,
)
from wfm_mcp.tools.docs import CONTROL_ACTIONS

# Must match the download routes' file kinds (wfm_api.routers.downloads).
ARTIFACT_FILE_KIND = "client_artifact"
BULK_FILE_KIND = "config_bulk_package"


def _fields(payload: Any) -> str:
    names = sorted(payload.model_fields_set)
    return ", ".join(names) if names else "no fields"


# --- configs ----------------------------------------------------------------------------------


class CreateConfigArgs(ToolArgs):
    payload: ConfigRequest = Field(
        description="The new config; only `name` is required, the rest have defaults"
    )


class UpdateConfigArgs(ConfigArgs):
    payload: ConfigRequest = Field(
        description="Fields to change; fields left out keep their current value"
    )


@write_tool(
    "write_create_config",
    title="Create a config",
    description="Create a config (one mesh): name, virtual subnet, default listen port/MTU/DNS, "
    "auto_sync default, tunnel protocol (wireguard or amneziawg with awg_version). Empty "
    "AmneziaWG parameters are filled randomly. Returns the config with its `id`.",
    args=CreateConfigArgs,
    summary=lambda a: f"Create config '{a.payload.name}'",
    impact="A new config without nodes is added; existing configs and nodes are not touched.",
)
async def write_create_config(env: ToolEnv, args: CreateConfigArgs) -> Any:
    return await configs_service.create_config(env.session, data=args.payload)


@write_tool(
    "write_update_config",
    title="Update a config",
    description="Change config fields (only those sent). Switching protocol or AmneziaWG "
    "version converts the parameters and reports `adjustments`; `change_hints` list follow-ups.",
    args=UpdateConfigArgs,
    summary=lambda a: f"Update config {a.config_id} ({_fields(a.payload)})",
    impact="Every node of the config is re-rendered; auto-sync nodes stage and receive the new "
    "config at once, others on their next sync.",
)
async def write_update_config(env: ToolEnv, args: UpdateConfigArgs) -> Any:
    return await configs_service.update_config(
        env.session, config_id=args.config_id, data=args.payload
    )


@write_tool(
    "write_delete_config",
    title="Delete a config",
    description="Delete a config with all its nodes, Mesh pairs, port-forward rules and state.",
    args=ConfigArgs,
    summary=lambda a: f"Delete config {a.config_id}",
    impact="The configuration, nodes, Mesh links, and related managed state will be removed.",
)
async def write_delete_config(env: ToolEnv, args: ConfigArgs) -> Any:
    await configs_service.delete_config(env.session, config_id=args.config_id)
    return ConfigDeleteResult(message="Config deleted")


# --- nodes and tags ---------------------------------------------------------------------------


class CreateNodeArgs(ConfigArgs):
    payload: NodeRequest = Field(
        description="The new node; only `name` is required (keys and virtual IP are generated)"
    )


class NodeIdArgs(ToolArgs):
    node_id: str = node_id_field()


class UpdateNodeArgs(NodeIdArgs):
    payload: NodeRequest = Field(
        description="Fields to change; fields left out keep their current value"
    )


@write_tool(
    "write_create_node",
    title="Add a node",
    description="Add a node to a config. Give a public `ipv4_address`/`ipv6_address` (IP or "
    "domain) for nodes others can reach; leave `virtual_ip` empty to get the next free address. "
    "A new node is in no Mesh pair: create pairs or run write_quick_generate_mesh.",
    args=CreateNodeArgs,
    summary=lambda a: f"Add node '{a.payload.name}' to config {a.config_id}",
    impact="A node with fresh keys is added; no other node's config changes until it is paired.",
)
async def write_create_node(env: ToolEnv, args: CreateNodeArgs) -> Any:
    return await nodes_service.create_node(env.session, config_id=args.config_id, data=args.payload)


@write_tool(
    "write_update_node",
    title="Update a node",
    description="Change node fields (only those sent): addresses, port, virtual IP, MTU, DNS, "
    "auto_sync, enabled, type, keys, tags, hooks, AmneziaWG values. `change_hints` tell what to "
    "review (e.g. AllowedIPs after a virtual IP change).",
    args=UpdateNodeArgs,
    summary=lambda a: f"Update node {a.node_id} ({_fields(a.payload)})",
    impact="The node and its peers are re-rendered; disabling it disables its Mesh pairs; "
    "changing node_type resets its agent binding.",
)
async def write_update_node(env: ToolEnv, args: UpdateNodeArgs) -> Any:
    return await nodes_service.update_node(env.session, node_id=args.node_id, data=args.payload)


@write_tool(
    "write_delete_node",
    title="Delete a node",
    description="Delete a node with its Mesh pairs, port-forward rules and agent binding.",
    args=NodeIdArgs,
    summary=lambda a: f"Delete node {a.node_id}",
    impact="The node, its Mesh pairs, port-forward rules and agent credentials are removed; its "
    "peers' configs lose the [Peer] for it.",
)
async def write_delete_node(env: ToolEnv, args: NodeIdArgs) -> Any:
    await nodes_service.delete_node(env.session, node_id=args.node_id)
    return NodeDeleteResult(message="Node deleted")


class TagArgs(ConfigArgs):
    tag: str = Field(description="Tag name, 1–64 characters", max_length=1024)


class ApplyTagArgs(TagArgs):
    node_ids: list[str] = Field(
        description="Nodes of this config that get the tag", max_length=10_000
    )


@write_tool(
    "write_create_tag",
    title="Create a tag",
    description="Add a tag to the config's tag catalog (nodes are not changed).",
    args=TagArgs,
    summary=lambda a: f"Create tag '{a.tag}' in config {a.config_id}",
    impact="The tag appears in the config's catalog; no node changes.",
)
async def write_create_tag(env: ToolEnv, args: TagArgs) -> Any:
    return await nodes_service.create_tag(env.session, config_id=args.config_id, name=args.tag)


@write_tool(
    "write_apply_tag",
    title="Tag nodes",
    description="Add a tag to the given nodes of a config (all must belong to it).",
    args=ApplyTagArgs,
    summary=lambda a: f"Tag {len(a.node_ids)} node(s) of config {a.config_id} with '{a.tag}'",
    impact="The listed nodes get the tag; configs are not re-rendered.",
)
async def write_apply_tag(env: ToolEnv, args: ApplyTagArgs) -> Any:
    return await nodes_service.apply_tag(
        env.session, config_id=args.config_id, tag=args.tag, node_ids=args.node_ids
    )


@write_tool(
    "write_delete_tag",
    title="Delete a tag",
    description="Remove a tag from the config's catalog and from every node carrying it.",
    args=TagArgs,
    summary=lambda a: f"Delete tag '{a.tag}' from config {a.config_id}",
    impact="The tag is removed from the catalog and from every node of the config.",
)
async def write_delete_tag(env: ToolEnv, args: TagArgs) -> Any:
    removed = await nodes_service.delete_tag(env.session, config_id=args.config_id, tag=args.tag)
    return TagDeleteResult(message="Tag deleted", removed_count=removed)


# --- mesh -------------------------------------------------------------------------------------


class CreateLinkArgs(ConfigArgs):
    payload: PeerLinkGroupRequest = Field(
        description="Both directions of the pair: forward (A→B) and reverse (B→A, mirrored)"
    )


class GroupArgs(ToolArgs):
    group_id: str = Field(
        description="Mesh pair id (`group_…`, `link_group_id` in read_mesh_workspace)",
        **ID_BOUNDS,
    )


class UpdateLinkArgs(GroupArgs):
    payload: PeerLinkGroupRequest = Field(
        description="The pair's new values (both directions are replaced)"
    )


class QuickMeshArgs(ConfigArgs):
    payload: QuickMeshRequestModel = Field(description="Mode and roles of the generated mesh")


def _pair(payload: PeerLinkGroupRequest) -> str:
    return f"{payload.forward.local_node_id} ↔ {payload.forward.peer_node_id}"


@write_tool(
    "write_create_peer_link_group",
    title="Create a Mesh pair",
    description="Connect two enabled nodes: two peer links (forward = A's [Peer] for B, reverse "
    "= B's [Peer] for A). Reverse must mirror forward's nodes. AllowedIPs usually = the other "
    "node's virtual IP; Endpoint auto uses the other node's public address.",
    args=CreateLinkArgs,
    summary=lambda a: f"Create Mesh pair {_pair(a.payload)} in config {a.config_id}",
    impact="Both nodes' configs gain a [Peer] for each other.",
)
async def write_create_peer_link_group(env: ToolEnv, args: CreateLinkArgs) -> Any:
    return await mesh_service.create_link_group(
        env.session, config_id=args.config_id, data=args.payload
    )


@write_tool(
    "write_update_peer_link_group",
    title="Update a Mesh pair",
    description="Replace both directions of a Mesh pair (AllowedIPs, Endpoint, keepalive, PSK, "
    "notes, enabled).",
    args=UpdateLinkArgs,
    summary=lambda a: f"Update Mesh pair {a.group_id} ({_pair(a.payload)})",
    impact="Both nodes' [Peer] sections for each other change.",
)
async def write_update_peer_link_group(env: ToolEnv, args: UpdateLinkArgs) -> Any:
    return await mesh_service.update_link_group(
        env.session, group_id=args.group_id, data=args.payload
    )


@write_tool(
    "write_delete_peer_link_group",
    title="Delete a Mesh pair",
    description="Delete both directions of a Mesh pair.",
    args=GroupArgs,
    summary=lambda a: f"Delete Mesh pair {a.group_id}",
    impact="Both nodes lose their [Peer] for each other; traffic between them stops after sync.",
)
async def write_delete_peer_link_group(env: ToolEnv, args: GroupArgs) -> Any:
    await mesh_service.delete_link_group(env.session, group_id=args.group_id)
    return {"message": "Peer link deleted"}


@write_tool(
    "write_quick_generate_mesh",
    title="Generate the whole mesh",
    description="Replace ALL Mesh pairs of a config by a generated topology: hub_spoke "
    "(hub_node_id), full_mesh, or free_mesh (gateway_node_ids + leaf_assignments). Every enabled "
    "node needs a virtual IP; hubs/gateways (all nodes in full_mesh) need a public address of "
    "endpoint_ref_family.",
    args=QuickMeshArgs,
    summary=lambda a: f"Regenerate the mesh of config {a.config_id} as {a.payload.mode}",
    impact="ALL existing Mesh pairs of the config are deleted and replaced by the generated "
    "ones; every node's config changes.",
)
async def write_quick_generate_mesh(env: ToolEnv, args: QuickMeshArgs) -> Any:
    return await mesh_service.quick_generate(
        env.session, config_id=args.config_id, data=args.payload
    )


# --- sync and endpoints -----------------------------------------------------------------------


class ControlArgs(NodeArgs):
    action: str = Field(
        description="start (tunnel up), stop (tunnel down), push_config (send the staged "
        "config), wg_show (read `wg` output into the control logs)",
        max_length=64,
        json_schema_extra={"enum": CONTROL_ACTIONS},
    )


class ProbeArgs(ConfigArgs):
    node_ids: list[str] = Field(
        default_factory=list,
        description="Nodes to probe; empty = every enabled dynamic node of the config",
        max_length=10_000,
    )


class BindArgs(NodeArgs):
    server_url: str | None = Field(
        default=None,
        max_length=2048,
        description="URL the agent uses to reach this server; empty = the public origin",
    )


_CONTROL_IMPACT = {
    "start": "The node's tunnel is brought up with its local config.",
    "stop": "The node's tunnel goes down; traffic through it stops.",
    "push_config": "The node receives its staged config; a running tunnel restarts with it.",
    "wg_show": "The agent reports `wg` output into the control logs; nothing changes.",
}


@write_tool(
    "write_sync_node",
    title="Sync a node",
    description="Stage the node's current rendering (needs a valid topology) and push it to its "
    "agent when online. Returns the staged version and sync status.",
    args=NodeArgs,
    summary=lambda a: f"Sync node {a.node_id} of config {a.config_id}",
    impact="The node's staged config becomes its current rendering; an online agent applies it.",
)
async def write_sync_node(env: ToolEnv, args: NodeArgs) -> Any:
    return await sync_service.sync_node(env.session, config_id=args.config_id, node_id=args.node_id)


@write_tool(
    "write_sync_all",
    title="Sync all nodes",
    description="Stage the current rendering of every enabled node of a config (needs a valid "
    "topology) and push to online agents.",
    args=ConfigArgs,
    summary=lambda a: f"Sync all nodes of config {a.config_id}",
    impact="Every enabled node's staged config becomes its current rendering; online agents "
    "apply it.",
)
async def write_sync_all(env: ToolEnv, args: ConfigArgs) -> Any:
    return await sync_service.sync_all(env.session, config_id=args.config_id)


@write_tool(
    "write_endpoint_control",
    title="Control a node's tunnel",
    description="Send a command to a dynamic node's agent over MQTT. Answers with a request_id; "
    "the outcome appears in read_endpoint_logs when the agent acknowledges.",
    args=ControlArgs,
    summary=lambda a: f"Send {a.action} to node {a.node_id}",
    impact=lambda a: _CONTROL_IMPACT.get(a.action, "Unknown action: nothing is sent."),
)
async def write_endpoint_control(env: ToolEnv, args: ControlArgs) -> Any:
    return await control.control(
        env.session,
        config_id=args.config_id,
        node_id=args.node_id,
        action=args.action,
        requested_by=BY_MCP,
        redis=env.redis,
        settings=env.settings,
    )


@write_tool(
    "write_probe_endpoints",
    title="Probe nodes",
    description="Ask agents to report now (detect): online and tunnel state refresh within "
    "seconds. Answers which nodes were probed and which were skipped and why.",
    args=ProbeArgs,
    summary=lambda a: f"Probe {len(a.node_ids) or 'all dynamic'} node(s) of config {a.config_id}",
    impact="Agents report their state; nothing is changed on the nodes.",
)
async def write_probe_endpoints(env: ToolEnv, args: ProbeArgs) -> Any:
    return await control.probe_batch(
        env.session,
        config_id=args.config_id,
        node_ids=args.node_ids,
        requested_by=BY_MCP,
        redis=env.redis,
        settings=env.settings,
    )


@write_tool(
    "write_create_bind_command",
    title="Create an agent bind command",
    description="A one-time `wfmctl bind --server … --token …` command (valid 5 minutes) that "
    "binds the agent on a dynamic node to this node.",
    args=BindArgs,
    summary=lambda a: f"Create a bind command for node {a.node_id}",
    impact="A new one-time bind token is issued; older unused tokens of the node stop working.",
)
async def write_create_bind_command(env: ToolEnv, args: BindArgs) -> Any:
    return await bind.create_bind_command(
        env.session,
        config_id=args.config_id,
        node_id=args.node_id,
        server_url=args.server_url,
        fallback_url=env.base_url,
        settings=env.settings,
    )


@write_tool(
    "write_reset_client",
    title="Reset a node's agent binding",
    description="Forget the agent bound to a node: its MQTT credentials are revoked; the agent "
    "must bind again with a new bind command.",
    args=NodeArgs,
    summary=lambda a: f"Reset the agent binding of node {a.node_id}",
    impact="The node's agent loses its MQTT access and must be bound again.",
)
async def write_reset_client(env: ToolEnv, args: NodeArgs) -> Any:
    return await control.reset_client(
        env.session, config_id=args.config_id, node_id=args.node_id, settings=env.settings
    )


# --- port forwarding --------------------------------------------------------------------------


class PortForwardArgs(ConfigArgs):
    payload: PortForwardRequest = Field(description="The rule: From (service) and To (entry)")


class RuleArgs(ToolArgs):
    rule_id: str = Field(description="Rule id (`pf_…`), from read_port_forward_rules", **ID_BOUNDS)


class RuleEnabledArgs(RuleArgs):
    enabled: bool = Field(description="true to apply the rule, false to keep it inactive")


@write_tool(
    "write_create_port_forward_rule",
    title="Create a port-forward rule",
    description="Expose a service of the From node on a port of the To node: the To node gets "
    "DNAT/MASQUERADE hooks in its config. Both nodes need IPv4 virtual IPs.",
    args=PortForwardArgs,
    summary=lambda a: (
        f"Forward {a.payload.to_node_id}:{a.payload.to_port} to "
        f"{a.payload.from_node_id}:{a.payload.from_port} ({a.payload.protocol})"
    ),
    impact="The To node's config gains PostUp/PreDown hooks; they apply when it re-applies.",
)
async def write_create_port_forward_rule(env: ToolEnv, args: PortForwardArgs) -> Any:
    return await portforward_service.create_rule(
        env.session, config_id=args.config_id, data=args.payload
    )


@write_tool(
    "write_set_port_forward_rule_enabled",
    title="Enable or disable a port-forward rule",
    description="Turn a rule's hooks on or off (the rule stays listed).",
    args=RuleEnabledArgs,
    summary=lambda a: f"{'Enable' if a.enabled else 'Disable'} port-forward rule {a.rule_id}",
    impact="The To node's config gains or loses the rule's hooks.",
)
async def write_set_port_forward_rule_enabled(env: ToolEnv, args: RuleEnabledArgs) -> Any:
    return await portforward_service.set_enabled(
        env.session, rule_id=args.rule_id, enabled=args.enabled
    )


@write_tool(
    "write_delete_port_forward_rule",
    title="Delete a port-forward rule",
    description="Delete a port-forward rule; the To node loses its DNAT hooks.",
    args=RuleArgs,
    summary=lambda a: f"Delete port-forward rule {a.rule_id}",
    impact="The To node's config loses the rule's hooks.",
)
async def write_delete_port_forward_rule(env: ToolEnv, args: RuleArgs) -> Any:
    await portforward_service.delete_rule(env.session, rule_id=args.rule_id)
    return {"message": "Port forward rule deleted"}


# --- downloads (links, never bytes) -----------------------------------------------------------


class BuildArtifactArgs(ClientArtifactRequest):
    """The agent download: one zipapp serves every system."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BulkPackageArgs(BulkPackageRequest):
    """Selected nodes' staged configs as one zip."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _link(env: ToolEnv, path: str, token: str) -> str:
    return f"{env.base_url}{path}?download_token={token}"


@write_tool(
    "write_build_client_artifact",
    title="Get an agent download link",
    description="A 5-minute download link to the wfm agent (one Python zipapp for every "
    "system; source bundled, goos linux/darwin/windows, goarch amd64/arm64/386) and the one-line "
    "install command. Never returns the file itself.",
    args=BuildArtifactArgs,
    summary=lambda a: f"Create an agent download link ({a.source}, {a.goos}/{a.goarch})",
    impact="A download link valid for 5 minutes is created; nothing else changes.",
)
async def write_build_client_artifact(env: ToolEnv, args: BuildArtifactArgs) -> Any:
    read, artifact = artifacts.artifact_for(args, env.settings, version=__version__)
    token, claims = await auth_service.issue_file_token(
        env.session,
        settings=env.settings,
        file_kind=ARTIFACT_FILE_KIND,
        resource_id=artifact.artifact_id,
    )
    url = _link(env, read.download_path, token)
    return {
        **read.model_dump(mode="json"),
        "download_url": url,
        "download_token_expires_at": claims.expires_at,
        "install_command": artifacts.install_command(url),
    }


@write_tool(
    "write_create_config_bulk_package",
    title="Get a zip of node configs",
    description="Zip the staged configs of the selected nodes (all must be synced) and return a "
    "5-minute download link. Replaces any earlier package. Never returns the file itself.",
    args=BulkPackageArgs,
    summary=lambda a: f"Package the configs of {len(a.node_ids)} node(s) of config {a.config_id}",
    impact="A zip with the nodes' configs (private keys included) is downloadable for 5 minutes; "
    "earlier packages are deleted.",
)
async def write_create_config_bulk_package(env: ToolEnv, args: BulkPackageArgs) -> Any:
    package = await downloads_service.build_bulk_package(
        env.session,
        store=PackageStore(env.redis),
        config_id=args.config_id,
        node_ids=args.node_ids,
    )
    token, claims = await auth_service.issue_file_token(
        env.session,
        settings=env.settings,
        file_kind=BULK_FILE_KIND,
        resource_id=package.package_id,
    )
    return {
        **package.model_dump(mode="json"),
        "download_url": _link(env, package.download_path, token),
        "download_token_expires_at": claims.expires_at,
    }


class SnapshotArgs(ToolArgs):
    snapshot_id: str = Field(description="Snapshot id (`snap_…`), from read_snapshots", **ID_BOUNDS)


@write_tool(
    "write_export_snapshot",
    title="Get a snapshot download link",
    description="A 5-minute download link to one encrypted snapshot archive (restoring it later "
    "needs the admin password of the time it was made). Never returns the file itself.",
    args=SnapshotArgs,
    summary=lambda a: f"Create a download link for snapshot {a.snapshot_id}",
    impact="A download link to the encrypted snapshot is valid for 5 minutes; nothing changes.",
)
async def write_export_snapshot(env: ToolEnv, args: SnapshotArgs) -> Any:
    grant = await snapshots_service.grant_download(
        env.session, settings=env.settings, snapshot_id=args.snapshot_id
    )
    path = grant.download_path.split("?", 1)[0]
    return {
        **grant.model_dump(mode="json", exclude={"download_path", "download_token"}),
        "download_path": path,
        "download_url": f"{env.base_url}{grant.download_path}",
        "download_token_expires_at": grant.download_token_expires_at,
    }
