"""Snapshot use cases on PostgreSQL and SQLite: create → restore on the same database, the
recovery after a restore, the index rebuilt from the directory, note edits, deletes, imports and
the original product's version 1 archives. (Cross-database round trip:
test_snapshots_roundtrip.py; bad archives: test_snapshots_bad.py.)"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wfm_core.auth import service as auth_service
from wfm_core.auth.schemas import PasswordChangeRequest, SetupRequest
from wfm_core.configs.models import Config
from wfm_core.configs.service import delete_config
from wfm_core.db.registry import metadata
from wfm_core.db.types import utc_now
from wfm_core.endpoints.bind import bind_client, create_bind_command
from wfm_core.endpoints.models import EndpointControlLog, EndpointRuntimeStatus, NodeClientState
from wfm_core.endpoints.schemas import BindRequest
from wfm_core.ids import new_id, new_request_id
from wfm_core.mcp_access.models import McpAuditLog, McpToken
from wfm_core.mesh.schemas import QuickMeshRequestModel
from wfm_core.mesh.service import quick_generate
from wfm_core.nodes.service import apply_tag, create_tag
from wfm_core.outbox.models import OutboxMessage
from wfm_core.portforward.schemas import PortForwardRequest
from wfm_core.portforward.service import create_rule
from wfm_core.settings import Settings
from wfm_core.snapshots import service
from wfm_core.snapshots.schemas import SnapshotCreateRequest, SnapshotRestoreRequest
from wfm_core.sync.service import sync_all
from wfm_core.system.schemas import MqttSettingsUpdate, UiSettingsUpdate
from wfm_core.system.service import update_mqtt_settings, update_ui_settings

from .helpers import expect_error, make_config, make_node, run

Sessions = async_sessionmaker[AsyncSession]
PASSWORD = "first admin password"

# Columns a restore sets on purpose (everything else comes back exactly as it was).
RUNTIME_RESET = {
    "online",
    "connectivity_state",
    "wg_runtime_state",
    "wg_running",
    "heartbeat_client_online",
    "heartbeat_wg_online",
    "detect_client_online",
    "detect_wg_online",
    "peers_online",
    "last_connectivity_reason",
    "last_probe_sent_at",
    "updated_at",
}
PRESENCE_RESET = {"client_presence_state", "last_offline_at", "updated_at"}
MANAGED = {
    "configs": {"revision"},
    "endpoint_runtime_status": RUNTIME_RESET,
    "node_client_state": PRESENCE_RESET,
}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"secret_key": "wfm-test-secret-key", "data_dir": data_dir}
    values.update(overrides)
    return Settings(**values)


@dataclass
class World:
    config_id: str
    other_config_id: str
    bound_node: str
    static_node: str
    nodes: list[str]


async def populate(sessions: Sessions, settings: Settings, *, password: str = PASSWORD) -> World:
    """Something in every table a snapshot carries: admin, two configs (one AmneziaWG), a
    meshed and synced mesh with PSKs, tags, a port forward, a bound dynamic node with MQTT
    credentials and online runtime, control logs, MCP tokens with audit, UI and MQTT settings."""
    await run(sessions, auth_service.setup, settings=settings, data=SetupRequest(password=password))
    cid = await make_config(sessions, "lab", virtual_subnet="10.70.0.0/24")
    other = await make_config(
        sessions,
        "awg",
        virtual_subnet="10.71.0.0/24",
        tunnel_protocol="amneziawg",
        awg_version="2.0",
    )
    nodes = [
        await make_node(sessions, cid, f"n{i}", ipv4_address=f"198.51.100.{i}", node_type=kind)
        for i, kind in enumerate(("dynamic", "dynamic", "static", "dynamic"), start=1)
    ]
    awg_nodes = [
        await make_node(sessions, other, f"a{i}", ipv4_address=f"203.0.113.{i}") for i in (1, 2)
    ]
    for config_id in (cid, other):
        await run(
            sessions,
            quick_generate,
            config_id=config_id,
            data=QuickMeshRequestModel(mode="full_mesh", use_preshared_key=True),
        )
        await run(sessions, sync_all, config_id=config_id)
    await run(sessions, create_tag, config_id=cid, name="edge")
    await run(sessions, apply_tag, config_id=cid, tag="edge", node_ids=nodes[:2])
    await run(
        sessions,
        create_rule,
        config_id=cid,
        data=PortForwardRequest(
            from_node_id=nodes[0], from_port=8080, to_node_id=nodes[2], to_port=80
        ),
    )
    command = await run(
        sessions,
        create_bind_command,
        config_id=cid,
        node_id=nodes[0],
        server_url="https://wfm.example.net",
        fallback_url="https://wfm.example.net",
        settings=settings,
    )
    await run(
        sessions,
        bind_client,
        data=BindRequest(token=command.token, hostname="edge-1", platform="linux"),
        server_url="https://wfm.example.net",
        settings=settings,
    )
    await run(
        sessions, update_ui_settings, data=UiSettingsUpdate(locale="zh-CN", theme_mode="dark")
    )
    await run(
        sessions,
        update_mqtt_settings,
        settings=settings,
        data=MqttSettingsUpdate(host="mqtt.example.net", port=8883, tls=True),
    )
    now = utc_now()
    async with sessions() as session, session.begin():
        await session.execute(
            update(EndpointRuntimeStatus)
            .where(EndpointRuntimeStatus.node_id == nodes[0])
            .values(
                online=True,
                connectivity_state="online",
                wg_runtime_state="running",
                wg_running=True,
                peers_online=2,
                last_seen=now,
                last_connectivity_reason="client-heartbeat",
            )
        )
        await session.execute(
            update(NodeClientState)
            .where(NodeClientState.node_id == nodes[0])
            .values(client_presence_state="online", last_heartbeat_at=now, boot_id="boot-1")
        )
        token = McpToken(
            id=new_id("mcp"),
            name="ci",
            token_hash="a" * 64,
            token_prefix="wfm_mcp_abcdef",
            permission="write",
            expires_at=now + timedelta(days=30),
        )
        session.add(token)
        await session.flush()
        session.add(
            McpAuditLog(
                id=new_id("mcpaudit"),
                token_id=token.id,
                token_name="ci",
                permission="write",
                target_kind="tool",
                target_name="write_create_config",
                summary="created",
                confirmation_required=True,
                confirmation_result="accepted",
                result="succeeded",
            )
        )
        session.add(
            EndpointControlLog(
                id=new_id("elog"),
                request_id=new_request_id(),
                config_id=cid,
                node_id=nodes[0],
                action="push_config",
                status="acked",
                requested_by="admin",
                summary="Config applied",
                config_sha256="b" * 64,
                ack_at=now,
            )
        )
    return World(cid, other, nodes[0], nodes[2], nodes + awg_nodes)


def _pk(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


async def logical_dump(sessions: Sessions, *, tables: list[Table] | None = None) -> dict[str, Any]:
    """Every row of every snapshot table as decoded values (secrets in clear), by primary key."""
    dump: dict[str, Any] = {}
    async with sessions() as session:
        for table in tables or service.snapshot_tables():
            rows = (await session.execute(select(table).order_by(*_pk(table)))).mappings().all()
            dump[table.name] = [dict(row) for row in rows]
    return dump


_RELAYED = ("outbox", "sent_at")


async def raw_dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored value of every table exactly as the database holds it (sealed secrets,
    the outbox and the snapshot index included): "byte for byte". Except `outbox.sent_at`:
    the relays of the API apps other tests started publish earlier rows in the background."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            order = ", ".join(column.name for column in _pk(table))
            columns = ", ".join(c.name for c in table.columns if (table.name, c.name) != _RELAYED)
            result = await conn.execute(
                text(f"SELECT {columns} FROM {table.name} ORDER BY {order}")
            )
            dump[table.name] = [tuple(row) for row in result.all()]
    return dump


def differences(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
    """Readable differences between two dumps: table, row key, column, both values."""
    out: list[str] = []
    for name in sorted(set(left) | set(right)):
        table = metadata.tables[name]
        key_columns = [column.name for column in _pk(table)]

        def keyed(rows: list[dict[str, Any]], columns: list[str] = key_columns) -> dict[Any, Any]:
            return {tuple(row[c] for c in columns): row for row in rows}

        a, b = keyed(left.get(name, [])), keyed(right.get(name, []))
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{name} {key}: only in {'right' if key in b else 'left'}")
                continue
            for column in sorted(set(a[key]) | set(b[key])):
                if a[key].get(column) != b[key].get(column):
                    out.append(
                        f"{name} {key} {column}: {a[key].get(column)!r} != {b[key].get(column)!r}"
                    )
    return out


def without_managed(dump: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rows in dump.items():
        if name == "system_settings":
            rows = [r for r in rows if r["key"] not in service.KEPT_SETTING_KEYS]
        skip = MANAGED.get(name, set())
        out[name] = [{k: v for k, v in row.items() if k not in skip} for row in rows]
    return out


async def create(
    sessions: Sessions, settings: Settings, *, password: str = PASSWORD, note: str = ""
) -> Any:
    return await run(
        sessions,
        service.create_snapshot,
        session_factory=sessions,
        settings=settings,
        data=SnapshotCreateRequest(password=password, note=note),
    )


async def restore(
    sessions: Sessions, settings: Settings, snapshot_id: str, password: str = PASSWORD
) -> Any:
    return await run(
        sessions,
        service.restore_snapshot,
        settings=settings,
        snapshot_id=snapshot_id,
        data=SnapshotRestoreRequest(password=password),
    )


async def outbox_types(sessions: Sessions, *, after: int = 0) -> list[tuple[str, dict[str, Any]]]:
    async with sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.id > after).order_by(OutboxMessage.id)
        )
        return [(row.type, row.payload) for row in rows]


async def last_outbox_id(sessions: Sessions) -> int:
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxMessage.id))).all()
        return max(rows, default=0)


# --- tests ---------------------------------------------------------------------------------------


async def test_create_needs_the_current_admin_password(sessions: Sessions, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await populate(sessions, settings)
    await expect_error(
        sessions,
        "AUTH_FAILED",
        service.create_snapshot,
        session_factory=sessions,
        settings=settings,
        data=SnapshotCreateRequest(password="not it"),
    )
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())


async def test_restore_brings_every_row_back(sessions: Sessions, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    world = await populate(sessions, settings)
    before = await logical_dump(sessions)
    snapshot = await create(sessions, settings, note="known good")
    assert snapshot.note == "known good" and snapshot.name.startswith("snapshot_")
    assert Path(snapshot.path).is_file() and snapshot.size == Path(snapshot.path).stat().st_size

    # Afterwards: the admin changes the password, a config is deleted, settings change.
    session_token = (
        await run(
            sessions,
            auth_service.change_password,
            settings=settings,
            data=PasswordChangeRequest(current_password=PASSWORD, new_password="second password"),
        )
    ).access_token
    await run(sessions, delete_config, config_id=world.other_config_id)
    await run(sessions, update_ui_settings, data=UiSettingsUpdate(locale="en-US"))
    revisions = {c["id"]: c["revision"] for c in (await logical_dump(sessions))["configs"]}
    mark = await last_outbox_id(sessions)

    # The snapshot opens with the password it was made with, not the current one.
    await expect_error(
        sessions,
        "SNAPSHOT_PASSWORD_INVALID",
        service.restore_snapshot,
        settings=settings,
        snapshot_id=snapshot.id,
        data=SnapshotRestoreRequest(password="second password"),
    )
    result = await restore(sessions, settings, snapshot.id)
    assert result.message == "Snapshot restored"
    assert result.tables["peer_links"] == len(before["peer_links"])
    assert result.tables["system_settings"] == len(
        [r for r in before["system_settings"] if r["key"] not in service.KEPT_SETTING_KEYS]
    )
    assert result.recovery.mqtt_users_sync == "requested"
    assert result.recovery.mqtt_credentials == 1
    assert result.recovery.detect_requested == 1
    assert result.recovery.runtime_reset == len(world.nodes)
    assert result.recovery.mqtt_users_synced is None

    after = await logical_dump(sessions)
    assert differences(without_managed(after), without_managed(before)) == []
    # This deployment's admin credentials stay: the new password, and the session still works.
    async with sessions() as session:
        assert await auth_service.verify_password(session, password="second password")
        assert not await auth_service.verify_password(session, password=PASSWORD)
        auth_service.forget_cached_secret()
        await auth_service.verify_session(session, token=session_token)
    # Revisions move past both histories (cached overviews and ETags never repeat).
    for config in after["configs"]:
        old = next(c["revision"] for c in before["configs"] if c["id"] == config["id"])
        assert config["revision"] > max(old, revisions.get(config["id"], 0))

    # Runtime and presence: nothing historical is trusted; the bound node is being probed.
    runtime = {r["node_id"]: r for r in after["endpoint_runtime_status"]}
    probed = runtime[world.bound_node]
    assert (probed["online"], probed["connectivity_state"]) == (False, "probing")
    assert probed["last_connectivity_reason"] == "detect-sent"
    for node_id in world.nodes[1:]:
        row = runtime[node_id]
        assert (row["online"], row["connectivity_state"], row["wg_runtime_state"]) == (
            False,
            "offline",
            "unknown",
        )
        assert row["last_connectivity_reason"] == "snapshot-restore"
    clients = {c["node_id"]: c for c in after["node_client_state"]}
    assert {c["client_presence_state"] for c in clients.values()} == {"offline"}
    bound = clients[world.bound_node]
    assert bound["client_initialized"] and bound["mqtt_password"]
    assert bound["mqtt_password"] == next(
        c["mqtt_password"] for c in before["node_client_state"] if c["node_id"] == world.bound_node
    )

    events = await outbox_types(sessions, after=mark)
    types = [t for t, _ in events]
    assert {"snapshot.restored", "snapshot.list.updated", "config.list.updated"} <= set(types)
    assert "system.status.updated" in types
    overviews = {p["config_id"] for t, p in events if t == "config.overview.updated"}
    assert overviews == {world.config_id, world.other_config_id}
    endpoint = [p for t, p in events if t == "endpoint.status.updated"]
    assert {n for p in endpoint for n in p["node_ids"]} == set(world.nodes)
    detects = [p for t, p in events if t == "node.command" and p["kind"] == "detect"]
    assert [p["node_id"] for p in detects] == [world.bound_node]
    assert ("snapshot.restored", {"snapshot_id": snapshot.id}) in events


async def test_restore_with_mqtt_off_requests_nothing(sessions: Sessions, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await populate(sessions, settings)
    snapshot = await create(sessions, settings)
    off = make_settings(tmp_path, enable_mqtt_services=False)
    result = await restore(sessions, off, snapshot.id)
    assert result.recovery.mqtt_users_sync == "disabled"
    assert (result.recovery.detect_requested, result.recovery.mqtt_credentials) == (0, 0)


async def test_index_is_rebuilt_from_the_directory(sessions: Sessions, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await populate(sessions, settings)
    first = await create(sessions, settings, note="one")
    listed = await run(sessions, service.list_snapshots, settings=settings)
    assert [s.id for s in listed] == [first.id]

    backups = tmp_path / "backups"
    # A copy of the same archive (same manifest id): listed under a stable `snap_file_` id.
    shutil.copy(backups / first.name, backups / "copy.zip")
    # A file that is not a snapshot at all is still listed (restoring it says what is wrong).
    (backups / "junk.zip").write_bytes(b"not a zip")
    (backups / "readme.txt").write_text("ignored")
    listed = await run(sessions, service.list_snapshots, settings=settings)
    by_name = {s.name: s for s in listed}
    assert set(by_name) == {first.name, "copy.zip", "junk.zip"}
    assert by_name[first.name].id == first.id
    assert by_name["copy.zip"].id == "snap_file_copy"
    assert by_name["copy.zip"].note == "one"
    assert by_name["junk.zip"].id == "snap_file_junk"
    again = await run(sessions, service.list_snapshots, settings=settings)
    assert [s.id for s in again] == [s.id for s in listed]

    # Removed behind our back: gone from the list, and 404 to every use case.
    (backups / "copy.zip").unlink()
    listed = await run(sessions, service.list_snapshots, settings=settings)
    assert {s.name for s in listed} == {first.name, "junk.zip"}
    await expect_error(
        sessions,
        "SNAPSHOT_NOT_FOUND",
        service.restore_snapshot,
        settings=settings,
        snapshot_id="snap_file_copy",
        data=SnapshotRestoreRequest(password=PASSWORD),
    )
    error = await expect_error(
        sessions,
        "SNAPSHOT_INVALID_ARCHIVE",
        service.restore_snapshot,
        settings=settings,
        snapshot_id="snap_file_junk",
        data=SnapshotRestoreRequest(password=PASSWORD),
    )
    assert error.detail["reason"] == "not_a_zip"


async def test_index_survives_a_restore(sessions: Sessions, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await populate(sessions, settings)
    old = await create(sessions, settings)
    newer = await create(sessions, settings, note="newer")
    await restore(sessions, settings, old.id)
    listed = await run(sessions, service.list_snapshots, settings=settings)
    assert {s.id for s in listed} == {old.id, newer.id}
    assert {s.name for s in listed} == {old.name, newer.name}  # same second: `_1` suffix
    async with sessions() as session:
        assert len(list(await service.repo.list_index(session))) == 2


async def test_note_edit_rewrites_the_manifest(sessions: Sessions, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await populate(sessions, settings)
    snapshot = await create(sessions, settings, note="before")
    edited = await run(
        sessions, service.update_note, settings=settings, snapshot_id=snapshot.id, note="after ✓"
    )
    assert edited.note == "after ✓" and edited.id == snapshot.id
    # The manifest is the truth: an index rebuilt from scratch reads the new note.
    async with sessions() as session, session.begin():
        await service.repo.delete_index(session, snapshot_ids=[snapshot.id])
    listed = await run(sessions, service.list_snapshots, settings=settings)
    assert [(s.id, s.note) for s in listed] == [(snapshot.id, "after ✓")]
    # ... and the archive still restores (the note is not sealed).
    await restore(sessions, settings, snapshot.id)
    await expect_error(
        sessions,
        "VALIDATION_ERROR",
        service.update_note,
        settings=settings,
        snapshot_id=snapshot.id,
        note="x" * 2001,
    )


async def test_delete(sessions: Sessions, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await populate(sessions, settings)
    snapshot = await create(sessions, settings)
    result = await run(
        sessions, service.delete_snapshot, settings=settings, snapshot_id=snapshot.id
    )
    assert result.message == "Snapshot deleted"
    assert not Path(snapshot.path).exists()
    assert await run(sessions, service.list_snapshots, settings=settings) == []
    await expect_error(
        sessions,
        "SNAPSHOT_NOT_FOUND",
        service.delete_snapshot,
        settings=settings,
        snapshot_id=snapshot.id,
    )


async def test_snapshot_is_a_consistent_read(sessions: Sessions, tmp_path: Path) -> None:
    """Rows committed while a dump runs are either entirely in it or entirely absent."""
    settings = make_settings(tmp_path)
    world = await populate(sessions, settings)
    from wfm_core.snapshots import repository as snapshot_repo

    original = snapshot_repo.stream_table
    wrote = False

    async def interleaved(session: AsyncSession, **kwargs: Any) -> Any:
        nonlocal wrote
        async for batch in original(session, **kwargs):
            yield batch
        if kwargs["table"].name == "configs" and not wrote:
            wrote = True  # a writer commits a new node after configs were read
            await make_node(sessions, world.config_id, "late", ipv4_address="198.51.100.99")

    snapshot_repo.stream_table = interleaved  # type: ignore[assignment]
    try:
        snapshot = await create(sessions, settings)
    finally:
        snapshot_repo.stream_table = original  # type: ignore[assignment]
    assert wrote
    result = await restore(sessions, settings, snapshot.id)
    assert result.tables["nodes"] == len(world.nodes)
    assert result.tables["node_config_state"] == len(world.nodes)


async def test_restores_the_original_products_archives(sessions: Sessions, tmp_path: Path) -> None:
    from unit.snapshots.crafting import legacy_v1

    from wfm_core.render.keys import generate_keypair

    settings = make_settings(tmp_path)
    await run(sessions, auth_service.setup, settings=settings, data=SetupRequest(password=PASSWORD))
    stamp = "2025-01-01T00:00:00"
    keys = [(f"node_00000000000{i}", *generate_keypair()) for i in (1, 2)]
    database = {
        "format": "application",
        "tables": {
            "configs": [
                {
                    "id": "cfg_0000000000aa",
                    "name": "legacy",
                    "description": "",
                    "enabled": 1,
                    "virtual_subnet": "10.66.0.0/24",
                    "default_listen_port": 51820,
                    "default_mtu": None,
                    "default_dns": None,
                    "auto_sync": 1,
                    "tunnel_protocol": "wireguard",
                    "awg_version": None,
                    "awg_options_json": "{}",
                    **{f"awg_s{i}": None for i in range(1, 5)},
                    **{f"awg_h{i}": None for i in range(1, 5)},
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            ],
            "nodes": [
                {
                    "id": node_id,
                    "config_id": "cfg_0000000000aa",
                    "name": node_id[-2:],
                    "ipv4_address": f"192.0.2.{index}",
                    "virtual_ip": f"10.66.0.{index}/32",
                    "node_type": "static",
                    "enabled": 1,
                    "auto_sync": 1,
                    "public_key": public,
                    "private_key": private,  # in clear in the original
                    "tags_json": "[]",
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for index, (node_id, private, public) in enumerate(keys, start=1)
            ],
            "peer_links": [
                {
                    "id": f"plink_00000000000{index}",
                    "config_id": "cfg_0000000000aa",
                    "local_node_id": local,
                    "peer_node_id": peer,
                    "link_group_id": "group_000000000001",
                    "direction": direction,
                    "enabled": 1,
                    "allowed_ips": "10.66.0.0/24",
                    "endpoint_mode": "auto",
                    "endpoint_ref_family": "ipv4",
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for index, (local, peer, direction) in enumerate(
                    [
                        (keys[0][0], keys[1][0], "forward"),
                        (keys[1][0], keys[0][0], "reverse"),
                    ],
                    start=1,
                )
            ],
            "node_config_state": [
                {"id": f"ncs_{n[0][-12:]}", "config_id": "cfg_0000000000aa", "node_id": n[0]}
                for n in keys
            ],
            "endpoint_runtime_status": [
                {"id": f"rt_{n[0][-12:]}", "config_id": "cfg_0000000000aa", "node_id": n[0]}
                for n in keys
            ],
            "node_client_state": [{"node_id": n[0], "config_id": "cfg_0000000000aa"} for n in keys],
            "system_settings": [
                {"key": "auth_token_secret", "value": "the originals secret", "updated_at": stamp},
                {"key": "ui_locale", "value": "zh-CN", "updated_at": stamp},
            ],
            "backups": [],
        },
    }
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "snapshot_20250101_000000.zip").write_bytes(
        legacy_v1("old password", database, files={"data/wireguard/cfg/n.conf": b"[Interface]"})
    )
    (listed,) = await run(sessions, service.list_snapshots, settings=settings)
    assert listed.id == "snap_a1b2c3d4e5f6" and listed.note == "from the original"
    result = await restore(sessions, settings, listed.id, password="old password")
    assert result.tables["configs"] == 1
    dump = await logical_dump(sessions)
    (config,) = dump["configs"]
    assert config["name"] == "legacy" and config["enabled"] is True
    # Rendered by this version: counters stored, desired texts made and staged (auto-sync).
    assert config["revision"] >= 1 and config["peer_link_count"] == 2
    assert config["topology_error_count"] == 0
    for state in dump["node_config_state"]:
        assert state["desired_text"] and state["staged_sha256"] == state["desired_sha256"]
    private = {n["id"]: n["private_key"] for n in dump["nodes"]}
    assert private == {node_id: key for node_id, key, _ in keys}
    keys = {row["key"]: row["value"] for row in dump["system_settings"]}
    assert keys["ui_locale"] == "zh-CN"
    # The original's token secret is not taken over: our own admin session keeps working.
    assert keys["auth_token_secret"] != "the originals secret"
    async with sessions() as session:
        assert await auth_service.verify_password(session, password=PASSWORD)


async def test_concurrent_creates_get_distinct_files(sessions: Sessions, tmp_path: Path) -> None:
    count = 3
    settings = make_settings(tmp_path)
    await populate(sessions, settings)
    made = await asyncio.gather(*(create(sessions, settings) for _ in range(count)))
    assert len({s.name for s in made}) == count
    assert len({s.id for s in made}) == count


async def test_config_rows_match_the_orm(sessions: Sessions, tmp_path: Path) -> None:
    """Restored rows are ordinary rows: the ORM reads them, secrets decrypt."""
    settings = make_settings(tmp_path)
    world = await populate(sessions, settings)
    snapshot = await create(sessions, settings)
    await restore(sessions, settings, snapshot.id)
    async with sessions() as session:
        config = await session.get(Config, world.config_id)
        assert config is not None and config.name == "lab"
        client = await session.get(NodeClientState, world.bound_node)
        assert client is not None and client.mqtt_password and len(client.mqtt_password) >= 32
