"""The batched writer through a database outage: it keeps the batch, retries, loses nothing.

PostgreSQL is reached through a TCP relay the test cuts and restores (the shared test server
itself stays up); SQLite has no connection to cut.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from wfm_core.configs.models import Config
from wfm_core.db.engine import create_engine, session_factory
from wfm_core.db.types import utc_now
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints.commands import BY_ADMIN, info_command, issue_command
from wfm_core.endpoints.models import EndpointControlLog
from wfm_core.endpoints.signals import Signal
from wfm_core.nodes.models import Node
from wfm_core.protocol import KIND_HEARTBEAT, KIND_INFO_ACK
from wfm_mqtt_ingest import metrics
from wfm_mqtt_ingest.writer import BatchWriter

from .helpers import Sessions, make_config, make_node
from .ingest_support import client_state, free_port, mark_bound, wait_for


class TcpRelay:
    """127.0.0.1:<port> → target; `cut()` refuses and drops every connection until `restore()`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()


@pytest.fixture
async def relay(engine: AsyncEngine) -> AsyncIterator[TcpRelay]:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no connection to cut")
    url = engine.url
    tcp = TcpRelay(url.host or "127.0.0.1", url.port or 5432)
    await tcp.restore()
    yield tcp
    await tcp.cut()


async def test_writer_keeps_and_retries_its_batch_while_the_database_is_down(
    engine: AsyncEngine, sessions: Sessions, relay: TcpRelay
) -> None:
    config_id = await make_config(sessions)
    node_id = await make_node(sessions, config_id, "n1")
    await mark_bound(sessions, node_ids=[node_id])
    async with unit_of_work(sessions) as session:
        config = await session.get(Config, config_id)
        node = await session.get(Node, node_id)
        assert config is not None and node is not None
        issued = await issue_command(
            session, command=info_command(config, node, requested_by=BY_ADMIN)
        )
    relayed = create_engine(
        make_url(engine.url.render_as_string(hide_password=False))
        .set(host="127.0.0.1", port=relay.port)
        .render_as_string(hide_password=False)
    )
    writer = BatchWriter(session_factory(relayed), retry_delays=(0.1,))
    task = asyncio.create_task(writer.run())
    transient = metrics.FLUSH_ERRORS.labels("transient")
    try:
        await relay.cut()
        errors_before = transient._value.get()

        def envelope(kind: str, payload: dict[str, object], request_id: str = "") -> Signal:
            return Signal(
                kind=kind,
                config_id=config_id,
                node_id=node_id,
                request_id=request_id,
                boot_id="boot-1",
                session_id="session-1",
                payload=payload,
                received_at=utc_now(),
            )

        writer.submit(envelope(KIND_HEARTBEAT, {"client_online": True, "wg_online": True}))
        writer.submit(
            envelope(
                KIND_INFO_ACK,
                {"status": "applied", "message": "shown", "action": "wg_show"},
                issued.request_id,
            )
        )
        await wait_for(lambda: transient._value.get() >= errors_before + 3, within=10)
        assert writer.dropped == 0 and writer.processed == 0
        assert (await client_state(sessions, node_id)).client_presence_state == "offline"

        await relay.restore()
        await asyncio.wait_for(writer.wait_idle(), timeout=15)
        assert writer.processed == 2 and writer.dropped == 0
        assert (await client_state(sessions, node_id)).client_presence_state == "online"
        async with sessions() as session:
            log = (
                await session.scalars(
                    select(EndpointControlLog).where(
                        EndpointControlLog.request_id == issued.request_id
                    )
                )
            ).one()
        assert (log.status, log.summary) == ("acked", "shown")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
        task.cancel()
        await relayed.dispose()
