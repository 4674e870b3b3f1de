"""Config revisions move with every committed change a config's overview can show."""

from __future__ import annotations

from sqlalchemy import select, update

from wfm_core.configs import repository as configs_repo
from wfm_core.configs.models import Config
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.configs.service import update_config
from wfm_core.db.revisions import bump_revisions
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.models import EndpointRuntimeStatus
from wfm_core.mesh import service as mesh
from wfm_core.mesh.schemas import QuickMeshRequestModel
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest

from .helpers import Sessions, make_config, make_node, run


async def revision(sessions: Sessions, config_id: str) -> int:
    async with sessions() as session:
        value = await configs_repo.get_revision(session, config_id=config_id)
    assert value is not None
    return value


async def test_each_kind_of_write_bumps_the_revision(sessions: Sessions) -> None:
    cid = await make_config(sessions, "rev")
    other = await make_config(sessions, "other")
    seen = [await revision(sessions, cid)]

    async def bumped() -> None:
        current = await revision(sessions, cid)
        assert current > seen[-1]
        seen.append(current)

    a = await make_node(sessions, cid, "a", ipv4_address="192.0.2.1")
    await bumped()
    await make_node(sessions, cid, "b", ipv4_address="192.0.2.2")
    await bumped()
    await run(
        sessions, mesh.quick_generate, config_id=cid, data=QuickMeshRequestModel(mode="full_mesh")
    )
    await bumped()
    await run(sessions, nodes.update_node, node_id=a, data=NodeRequest(name="a2"))
    await bumped()
    await run(sessions, update_config, config_id=cid, data=ConfigRequest(description="x"))
    await bumped()
    # A runtime change written through the ORM (as ingest's state writer will).
    async with unit_of_work(sessions) as session:
        row = await session.scalar(
            select(EndpointRuntimeStatus).where(EndpointRuntimeStatus.node_id == a)
        )
        assert row is not None
        row.online = True
    await bumped()
    # Bulk statements the ORM does not see bump explicitly.
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(EndpointRuntimeStatus)
            .where(EndpointRuntimeStatus.config_id == cid)
            .values(peers_online=1)
        )
        await bump_revisions(session, config_ids=[cid])
    await bumped()
    await run(sessions, nodes.delete_node, node_id=a)
    await bumped()
    # Other configs are untouched; a rolled-back change bumps nothing.
    assert await revision(sessions, other) == 0
    async with sessions() as session:
        config = await session.get(Config, cid)
        assert config is not None
        config.description = "rolled back"
        await session.flush()
        await session.rollback()
    assert await revision(sessions, cid) == seen[-1]


async def test_reads_do_not_bump(sessions: Sessions) -> None:
    cid = await make_config(sessions, "quiet")
    before = await revision(sessions, cid)
    async with unit_of_work(sessions) as session:
        await nodes.list_nodes(session, config_id=cid)
        config = await session.get(Config, cid)
        assert config is not None
        config.description = config.description  # assigning the same value is no change
    assert await revision(sessions, cid) == before
