"""The downstream half inside the real mqtt-ingest service (issue 6), on both databases.

`IngestService` runs its own MQTT link (the production `Publisher`), subscriber, batched writer
and relay next to the dispatcher, timers and auto push. A sync-all reaches every online node of
the config through auto push; the nodes' `applied` ACKs close the push logs and confirm the
staged config; a command nobody answers times out.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest
from brokers import BrokerInstance, provision_services_account
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.commands import BY_ADMIN, control_command, issue_command
from wfm_core.lookups import require_config, require_config_node
from wfm_core.outbox.streams import EVENTS_STREAM
from wfm_core.sync import service as sync
from wfm_mqtt_ingest import autopush, timers
from wfm_mqtt_ingest.app import IngestService

from .dispatch_support import (
    REDIS_DB_URL,
    SERVICES_PASSWORD,
    SERVICES_USERNAME,
    AckingNodes,
    Sessions,
    ingest_settings,
    logs_of,
    mark_bound,
    pause_other_relays,
    wait_for,
)
from .helpers import make_config, make_node, run
from .ingest_support import provision_nodes


async def test_sync_all_is_pushed_acked_and_confirmed_through_the_service(
    engine: AsyncEngine,
    sessions: Sessions,
    broker: BrokerInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pause_other_relays(monkeypatch)
    monkeypatch.setattr(timers, "SWEEP_SECONDS", 0.2)
    redis = Redis.from_url(REDIS_DB_URL)
    await redis.flushdb()
    provision_services_account(broker, SERVICES_USERNAME, SERVICES_PASSWORD)
    cid = await make_config(sessions, "e2e")
    node_ids = [await make_node(sessions, cid, f"n{i}") for i in range(3)]
    passwords = {node_id: secrets.token_urlsafe(12) for node_id in node_ids}
    await provision_nodes(broker, [(cid, n, passwords[n]) for n in node_ids])
    await mark_bound(sessions, node_ids=node_ids)
    settings = ingest_settings(
        engine.url.render_as_string(hide_password=False),
        mqtt_url=broker.url,
        mqtt_username=SERVICES_USERNAME,
        mqtt_password=SERVICES_PASSWORD,
        mqtt_share_group="wfm-ingest-downstream",
        control_ack_timeout_seconds=1.0,
    )
    service = IngestService(settings, instance_id=f"e2e-{uuid.uuid4().hex[:6]}", engine=engine)
    nodes = AckingNodes(host=broker.host, port=broker.port, config_id=cid, passwords=passwords)
    await service.start()
    try:
        await nodes.start()

        async def autopush_listening() -> bool:
            groups: Any = await redis.xinfo_groups(EVENTS_STREAM)
            return any(g["name"] == autopush.GROUP.encode() for g in groups)

        await wait_for(autopush_listening, what="auto push")
        await run(sessions, sync.sync_all, config_id=cid)

        async def all_confirmed() -> bool:
            for node_id in node_ids:
                logs = await logs_of(sessions, node_id=node_id, action="push_config")
                if [log.status for log in logs] != ["acked"]:
                    return False
            return True

        await wait_for(all_confirmed, within=10, what="every push acked")
        for node_id in node_ids:
            state = await run(sessions, sync.node_sync_status, config_id=cid, node_id=node_id)
            assert state.confirmed_sha256 == state.staged_sha256
            assert state.confirmed_version == state.staged_version
            assert len(nodes.pushes[node_id]) == 1

        # The simulated nodes answer pushes only: a start command times out.
        async with unit_of_work(sessions) as session:
            config = await require_config(session, config_id=cid)
            node = await require_config_node(session, config_id=cid, node_id=node_ids[0])
            await issue_command(
                session,
                command=control_command(config, node, "start", None, requested_by=BY_ADMIN),
            )

        async def start_timed_out() -> bool:
            logs = await logs_of(sessions, node_id=node_ids[0], action="start")
            return [log.status for log in logs] == ["timeout"]

        await wait_for(start_timed_out, within=5, what="start command timeout")
    finally:
        await nodes.stop()
        await service.stop()
        await redis.flushdb()
        await redis.aclose()
