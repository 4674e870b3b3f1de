"""The help texts an AI client reads to drive WFM without any other documentation."""

from __future__ import annotations

from typing import Any

from wfm_mcp.tools import REGISTRY, ToolSpec

OVERVIEW = """\
# WG Free Mesh (WFM) over MCP

WFM is the control plane of WireGuard / AmneziaWG meshes. It stores configs and nodes, renders
each node's wg-quick config, and pushes configs and commands to node agents over MQTT. It never
carries tunnel traffic.

## Concepts
- **Config** (`cfg_…`): one mesh. Virtual subnet (e.g. 10.66.0.0/24), default ListenPort / MTU /
  DNS, `auto_sync` default for new nodes, tunnel protocol `wireguard` or `amneziawg` (with
  `awg_version` 1.5, 2.0 or 3.1 and S1–S4/H1–H4 parameters, filled randomly when empty).
- **Node** (`node_…`): one device. `virtual_ip` = its mesh address (`10.66.0.2/32`; empty on
  create = next free one). `ipv4_address` / `ipv6_address` = its *public entry* (IP or domain)
  that peers put in `Endpoint`; leave empty for a node behind NAT. `node_type`: `dynamic`
  (managed by the wfm agent over MQTT) or `static` (config downloaded by hand). Disabled nodes
  are left out of every config.
- **Mesh pair** (link group `group_…`): two nodes that peer. It has two directions: `forward`
  (rendered as a [Peer] in the first node's config) and `reverse` (the mirror). Per direction:
  `allowed_ips` (usually the other node's virtual IP, or the whole subnet through a hub),
  `endpoint_mode` (`auto` = the peer's public address of `endpoint_ref_family`, `none`,
  `manual`), `persistent_keepalive` (25 when the direction has an Endpoint). At least one
  direction of every pair needs a usable Endpoint, or the topology is invalid.
- **Quick mesh** regenerates ALL pairs of a config: `hub_spoke` (one hub with a public address,
  spokes reach each other through it), `full_mesh` (every node needs a public address),
  `free_mesh` (gateways with public addresses meshed together, every other node a leaf of one
  gateway).
- **Desired → staged → confirmed**: every change re-renders each node (*desired*). *Staged* is
  what downloads and agents get: nodes with `auto_sync` stage every valid rendering at once;
  others (and any node after manual edits) need write_sync_node / write_sync_all. *Confirmed* is
  what the agent reported applied. Sync status `in_sync` = staged equals desired.
- **Topology validation** (read_mesh_validation): duplicate pairs, pairs referencing disabled
  nodes, and pairs without any Endpoint are errors; while any error exists nothing can be staged
  (TOPOLOGY_INVALID).
- **Agents**: a dynamic node runs `wfm-agent`. write_create_bind_command gives a one-time
  `wfmctl bind` command (5 minutes); after binding, the node is controlled with
  write_endpoint_control (start/stop/push_config/wg_show) and refreshed with
  write_probe_endpoints. Commands are acknowledged asynchronously: read_endpoint_logs shows them.
- **Port forwarding**: expose a service of the From node (node, port) on the To node's port; the
  To node (Linux iptables, Linux nftables or macOS pf) gets DNAT hooks in its config.

## Access and safety
- Your token is `read` (resources and read_* tools) or `write` (also write_* tools).
- Every write_* call is shown to the user with its summary and impact and runs only if they
  accept (MCP elicitation). A client without elicitation cannot write.
- Every resource read and tool call is audited (token, tool, summary, impact, consent, result).
- Download tools return links valid for 5 minutes, never file contents. Snapshots can be listed
  and exported (a link) but not created, restored or deleted over MCP.

## Calling tools
- Ids come from reads: read_configs → `id` is a `config_id`; read_nodes → node ids;
  read_mesh_workspace → `link_group_id`; read_port_forward_rules → rule ids.
- `payload` arguments are the REST request bodies (their fields are described in each tool's
  input schema and in wfm://schema/payloads). On update tools, fields you leave out keep their
  value.
- A failure is a tool result with `is_error: true` whose text is
  `{"success": false, "error": {"code", "message", "detail"}}`. Read `code`:
  VALIDATION_ERROR (bad or missing argument: `detail.errors[].loc` names it), CONFIG_NOT_FOUND,
  NODE_NOT_FOUND, NODE_CONFIG_MISMATCH, CONFIG_NAME_EXISTS, INVALID_CONFIG_NAME,
  INVALID_VIRTUAL_IP, NODE_DISABLED, TOPOLOGY_INVALID (`detail.messages` says why),
  QUICK_MESH_* (missing hub/gateway/public address/virtual IP), PORT_FORWARD_*, MQTT_DISABLED,
  MQTT_CONTROL_UNAVAILABLE (broker down: retry later), MCP_WRITE_NOT_ALLOWED (read token),
  MCP_CONFIRMATION_REJECTED (the user said no: do not retry unasked),
  MCP_CONFIRMATION_UNSUPPORTED (the client cannot ask the user).
"""

WORKFLOWS = """\
# Workflows

## inspect_system
1. read_system_status: counts, sync issues, invalid topologies, MQTT state.
2. read_configs: every config with node counts and `topology_invalid`.

## inspect_config_before_change
1. read_config_overview(config_id): nodes, online state, sync status, topology.
2. read_mesh_validation(config_id) and read_sync_status(config_id).
Change nothing until you know which nodes a write affects; tell the user.

## create_basic_mesh
1. write_create_config({payload: {name: "office", virtual_subnet: "10.66.0.0/24"}}).
2. write_create_node for each node: `{config_id, payload: {name, ipv4_address: <public IP or
   empty behind NAT>, node_type: "dynamic"|"static"}}` (virtual IPs are assigned).
3. write_quick_generate_mesh: hub_spoke `{mode: "hub_spoke", hub_node_id: <node with a public
   address>}` or full_mesh when every node has a public address.
4. read_mesh_validation: must be `valid: true`.
5. write_sync_all(config_id) (or rely on auto_sync), then read_sync_status: `in_sync`.
6. read_wg_preview(config_id, node_id) shows a node's config; static nodes download theirs with
   write_create_config_bulk_package; dynamic nodes bind an agent (bind_dynamic_node).

## bind_dynamic_node
1. write_create_bind_command(config_id, node_id) → run `command` on the node within 5 minutes
   (after installing the agent: write_build_client_artifact → `install_command`).
2. write_probe_endpoints(config_id, [node_id]), then read_endpoint_status: presence `online`.
3. write_endpoint_control(action: "push_config") sends the staged config; "start" brings the
   tunnel up.

## diagnose_offline_endpoint
1. read_endpoint_status: `client_state.client_initialized` (bound?), presence, `last_reachable_at`,
   `mqtt_service.status` (broker link), `config_state` (staged vs confirmed, drift).
2. read_endpoint_logs: failed or timed-out commands and client events.
3. write_probe_endpoints to ask the agent now; MQTT_CONTROL_UNAVAILABLE means the broker is down.
4. Not bound or credentials lost: write_reset_client, then bind_dynamic_node.

## regenerate_quick_mesh
write_quick_generate_mesh DELETES every existing pair of the config (manual pairs included) and
creates the generated ones. Read read_mesh_workspace of a few nodes first and tell the user what
will be lost. Then validate and sync as in create_basic_mesh.

## create_port_forward
1. read_nodes: both nodes need IPv4 virtual IPs; the To node must be Linux or macOS.
2. write_create_port_forward_rule({config_id, payload: {from_node_id, from_port, to_node_id,
   to_port, to_platform: "linux"|"linux-nft"|"darwin", protocol: "tcp"|"udp"|"all"}}).
3. Sync the To node (write_sync_node) and push/restart it so the hooks run; the To node needs
   IPv4 forwarding enabled.

## backup_and_restore
1. read_snapshots lists the encrypted snapshots (newest first).
2. write_export_snapshot(snapshot_id) gives a 5-minute download link for one archive.
Creating, importing, restoring and deleting snapshots is done in the console only: snapshots are
encrypted with the admin password, which never goes through MCP. Tell the user to create a
snapshot in the console before large changes (write_quick_generate_mesh, deletes).
"""


def tool_signature(spec: ToolSpec[Any]) -> str:
    schema = spec.input_schema()
    required = set(schema.get("required", []))
    names = [name if name in required else f"{name}?" for name in schema.get("properties", {})]
    return f"{spec.name}({', '.join(names)})"


def tool_index() -> str:
    lines = [
        "# Tool index",
        "",
        "`name(arguments)`: `?` marks optional arguments. Permission: read tools need any token,",
        "write tools a write token and the user's confirmation.",
    ]
    for write in (False, True):
        lines += ["", "## Write tools" if write else "## Read tools", ""]
        for spec in REGISTRY.values():
            if spec.write == write:
                lines.append(f"- `{tool_signature(spec)}`: {spec.title}. {spec.description}")
    return "\n".join(lines) + "\n"


def payload_schemas() -> dict[str, Any]:
    """Input schema of every tool, by name (the payloads are the REST request bodies)."""
    return {
        name: {"write": spec.write, "input_schema": spec.input_schema()}
        for name, spec in REGISTRY.items()
    }
