"""The change feed: each committed write leaves the §9 refresh hints in the outbox, once."""

from __future__ import annotations

from sqlalchemy import delete, select

from wfm_core.db.uow import unit_of_work
from wfm_core.mesh import service as mesh
from wfm_core.mesh.schemas import QuickMeshRequestModel
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.outbox.models import OutboxMessage
from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_core.settings import Settings
from wfm_core.system import service as system
from wfm_core.system.schemas import MqttSettingsUpdate

from .helpers import Sessions, make_config, make_node, run


async def hints(sessions: Sessions) -> list[tuple[str, dict[str, object]]]:
    """The event hints written since the last call (then forgets them)."""
    async with unit_of_work(sessions) as session:
        rows = (
            await session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.stream == EVENTS_STREAM)
                .order_by(OutboxMessage.id)
            )
        ).scalars()
        found = [(row.type, dict(row.payload)) for row in rows]
        await session.execute(delete(OutboxMessage))
    return found


async def test_node_create_hints(sessions: Sessions) -> None:
    cid = await make_config(sessions, "feed")
    assert ("config.list.updated", {}) in await hints(sessions)
    nid = await make_node(sessions, cid, "a")
    found = await hints(sessions)
    types = [t for t, _ in found]
    # One of each per transaction, whatever the number of flushes.
    assert types.count("config.overview.updated") == 1
    assert types.count("config.list.updated") == 1
    assert types.count("system.status.updated") == 1
    for type_ in (
        "node.workspace.updated",
        "node.apply.updated",
        "mesh.workspace.updated",
        "endpoint.status.updated",  # its runtime and client-state rows were created
    ):
        payloads = [p for t, p in found if t == type_]
        assert payloads == [{"config_id": cid, "node_ids": [nid]}]


async def test_quick_mesh_names_every_node(sessions: Sessions) -> None:
    cid = await make_config(sessions, "mesh")
    ids = [
        await make_node(sessions, cid, name, ipv4_address=f"192.0.2.{i}")
        for i, name in enumerate("abc", start=1)
    ]
    await hints(sessions)
    await run(
        sessions, mesh.quick_generate, config_id=cid, data=QuickMeshRequestModel(mode="full_mesh")
    )
    found = await hints(sessions)
    touched = {n for t, p in found if t == "mesh.workspace.updated" for n in p["node_ids"]}  # type: ignore[attr-defined]
    assert touched == set(ids)


async def test_rollback_leaves_no_hints(sessions: Sessions) -> None:
    cid = await make_config(sessions, "quiet")
    await hints(sessions)
    async with sessions() as session:
        await nodes.create_node(session, config_id=cid, data=NodeRequest(name="gone"))
        await session.flush()
        await session.rollback()
    assert await hints(sessions) == []


async def test_mqtt_settings_hint(sessions: Sessions) -> None:
    await run(
        sessions,
        system.update_mqtt_settings,
        settings=Settings(),
        data=MqttSettingsUpdate(host="mqtt.example.net", port=8883, tls=True),
    )
    found = await hints(sessions)
    assert (
        "settings.mqtt.updated",
        {"mqtt": {"host": "mqtt.example.net", "port": 8883, "tls": True}},
    ) in found
