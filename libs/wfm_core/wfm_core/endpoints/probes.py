"""Detect probes (reference.md §6.6): one use case for `probe-batch` and the detect rounds."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from wfm_core.configs.models import Config
from wfm_core.db.revisions import record_endpoint_changes
from wfm_core.db.types import utc_now
from wfm_core.endpoints import repository as endpoints_repo
from wfm_core.endpoints.commands import IssuedCommand, detect_command, issue_commands
from wfm_core.nodes.models import Node


async def send_probes(
    session: AsyncSession, *, config: Config, nodes: Sequence[Node], requested_by: str
) -> list[IssuedCommand]:
    """Send `detect` to each node and mark its runtime `probing` (`detect-sent`).

    The caller chose the targets (enabled, dynamic, initialized nodes of an enabled config). The
    answer is a detect ACK (ingest) or, after the detect timeout, `detect-timeout` (timers).
    """
    if not nodes:
        return []
    issued = await issue_commands(
        session,
        commands=[detect_command(config, node, requested_by=requested_by) for node in nodes],
    )
    node_ids = [node.id for node in nodes]
    # Config row first, then node rows: the lock order of every other writer (ingest batches).
    await record_endpoint_changes(session, endpoint_scopes={config.id: set(node_ids)})
    await endpoints_repo.mark_probing(session, node_ids=node_ids, now=utc_now())
    return issued
