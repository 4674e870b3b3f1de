"""The change feed: every transaction that changes a config's rows emits the refresh hints of
reference.md §9 (as outbox rows, so they leave only if the transaction commits).

Hints name scopes, not data: consoles refetch the REST projection of what they show. Node-level
hints carry every node the transaction touched (`node_ids`), once per transaction. Writes
outside config scopes (settings, snapshots) emit their own event with `outbox.writer`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from wfm_core.outbox.models import OutboxMessage
from wfm_core.outbox.streams import EVENTS_STREAM

_EMITTED = "wfm_emitted_scopes"
OUTBOX_WRITTEN = "wfm_outbox_written"

NODE_EVENTS = ("node.workspace.updated", "node.apply.updated", "mesh.workspace.updated")


def node_ids_of(obj: Any) -> Iterable[str]:
    """The nodes a changed row concerns (a node itself, a per-node row, a link's two ends)."""
    from wfm_core.nodes.models import Node

    if isinstance(obj, Node):
        return (obj.id,)
    ids = [getattr(obj, name, None) for name in ("node_id", "local_node_id", "peer_node_id")]
    ids += [getattr(obj, name, None) for name in ("from_node_id", "to_node_id")]
    return tuple(i for i in ids if isinstance(i, str))


def _add(session: Session, type_: str, payload: dict[str, Any]) -> None:
    session.add(OutboxMessage(stream=EVENTS_STREAM, type=type_, payload=payload))
    session.info[OUTBOX_WRITTEN] = True


ENDPOINT_TABLES = frozenset({"endpoint_runtime_status", "node_client_state"})


def record_changes(
    session: Session,
    *,
    scopes: dict[str, set[str]],
    endpoint_scopes: dict[str, set[str]] | None = None,
) -> None:
    """Emit the hints for `scopes` ({config_id: touched node ids}) not yet emitted in this
    transaction; `endpoint_scopes` names nodes whose runtime or client state changed
    (`endpoint.status.updated`). Called from the flush hook in wfm_core.db.revisions."""
    emitted: set[tuple[str, ...]] = session.info.setdefault(_EMITTED, set())
    fresh_configs = False
    for config_id, node_ids in sorted(scopes.items()):
        if ("config", config_id) not in emitted:
            emitted.add(("config", config_id))
            fresh_configs = True
            _add(session, "config.overview.updated", {"config_id": config_id})
        new_nodes = sorted(n for n in node_ids if ("node", n) not in emitted)
        if new_nodes:
            emitted.update(("node", n) for n in new_nodes)
            for type_ in NODE_EVENTS:
                _add(session, type_, {"config_id": config_id, "node_ids": new_nodes})
    for config_id, node_ids in sorted((endpoint_scopes or {}).items()):
        new_nodes = sorted(n for n in node_ids if ("endpoint", n) not in emitted)
        if new_nodes:
            emitted.update(("endpoint", n) for n in new_nodes)
            _add(
                session, "endpoint.status.updated", {"config_id": config_id, "node_ids": new_nodes}
            )
    if fresh_configs:
        for type_ in ("config.list.updated", "system.status.updated"):
            if (type_,) not in emitted:
                emitted.add((type_,))
                _add(session, type_, {})


def forget(session: Session) -> None:
    session.info.pop(_EMITTED, None)
