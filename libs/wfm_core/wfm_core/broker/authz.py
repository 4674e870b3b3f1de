"""The MQTT authorization rule of reference.md §6.8, without I/O.

The superuser may do anything; a node account may publish exactly its six upstream topics and
subscribe exactly its four downstream topics, from client id `wfm-<node_id>`, while the node is
an enabled dynamic node of an enabled config and MQTT services are on. Nothing else is allowed:
no wildcards, no shared subscriptions, no other node's topics.
"""

from __future__ import annotations

from wfm_core.broker.schemas import AuthzSubject
from wfm_core.protocol.topics import node_publish_topics, node_subscribe_topics

ACTIONS = frozenset({"publish", "subscribe"})
CLIENT_ID_PREFIX = "wfm-"


def node_client_id(node_id: str) -> str:
    return f"{CLIENT_ID_PREFIX}{node_id}"


def subject_for(
    *, node_id: str, config_id: str, client_id: str | None, active: bool
) -> AuthzSubject:
    """The subject of a node account with its exact grants (precomputed once per lookup)."""
    return AuthzSubject(
        node_id=node_id,
        config_id=config_id,
        client_id=client_id or node_client_id(node_id),
        active=active,
        publish_topics=frozenset(node_publish_topics(config_id, node_id)),
        subscribe_topics=frozenset(node_subscribe_topics(config_id, node_id)),
    )


def is_allowed(
    *,
    username: str,
    clientid: str,
    topic: str,
    action: str,
    subject: AuthzSubject | None,
    superuser: str,
    mqtt_enabled: bool,
) -> bool:
    """True only when §6.8 allows `action` on `topic` for this connection."""
    if superuser and username == superuser:
        return True
    if not mqtt_enabled or subject is None or not subject.active:
        return False  # with MQTT off dynamic nodes read as static (§6.9): no grants at all
    if action not in ACTIONS or "+" in topic or "#" in topic:
        return False
    if username != subject.node_id:
        return False
    if clientid != node_client_id(subject.node_id) or clientid != subject.client_id:
        return False
    allowed = subject.publish_topics if action == "publish" else subject.subscribe_topics
    return topic in allowed
