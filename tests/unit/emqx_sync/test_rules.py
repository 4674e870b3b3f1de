"""Pure parts of broker sync: the §6.8 rule, the dynsec role contents, event dispatch."""

from __future__ import annotations

from typing import Any

import pytest

from wfm_core.broker.authz import is_allowed, subject_for
from wfm_core.protocol.topics import backend_subscriptions, topic
from wfm_emqx_sync.events import dispatch
from wfm_emqx_sync.mosquitto import node_role_acls, services_role_acls

CFG, A, B = "cfg_000000000001", "node_00000000000a", "node_00000000000b"
SUBJECT = subject_for(node_id=A, config_id=CFG, client_id=f"wfm-{A}", active=True)


def allowed(username: str = A, clientid: str = f"wfm-{A}", **kw: Any) -> bool:
    kw.setdefault("subject", SUBJECT)
    kw.setdefault("superuser", "svc")
    kw.setdefault("mqtt_enabled", True)
    return is_allowed(username=username, clientid=clientid, **kw)


def test_rule_grants_exact_topics_only() -> None:
    assert allowed(topic=topic(CFG, A, "heartbeat"), action="publish")
    assert allowed(topic=topic(CFG, A, "control"), action="subscribe")
    assert not allowed(topic=topic(CFG, A, "control"), action="publish")
    assert not allowed(topic=topic(CFG, B, "heartbeat"), action="publish")
    assert not allowed(topic=f"wfm/{CFG}/{A}/#", action="subscribe")
    assert not allowed(topic=topic(CFG, A, "heartbeat"), action="publish", mqtt_enabled=False)
    inactive = subject_for(node_id=A, config_id=CFG, client_id=f"wfm-{A}", active=False)
    assert not allowed(topic=topic(CFG, A, "heartbeat"), action="publish", subject=inactive)
    assert not allowed(topic=topic(CFG, A, "heartbeat"), action="publish", subject=None)
    assert not allowed(clientid="wfm-x", topic=topic(CFG, A, "heartbeat"), action="publish")
    assert allowed(username="svc", clientid="any", topic="#", action="subscribe", subject=None)
    assert not allowed(username="", topic="#", action="subscribe", superuser="")


def test_dynsec_roles() -> None:
    acls = node_role_acls(CFG, A)
    assert len(acls) == 10 and all(allow for _, _, allow in acls)
    assert {t for kind, t, _ in acls if kind == "publishClientSend"} == {
        topic(CFG, A, k)
        for k in ("heartbeat", "event", "config/push/ack", "control/ack", "detect/ack", "info/ack")
    }
    assert {t for kind, t, _ in acls if kind == "subscribeLiteral"} == {
        topic(CFG, A, k) for k in ("config/push", "control", "detect", "info")
    }
    services = services_role_acls("wfm-ingest")
    subscribable = {t for kind, t, _ in services if kind == "subscribeLiteral"}
    assert set(backend_subscriptions("wfm-ingest")) <= subscribable
    assert set(backend_subscriptions(None)) <= subscribable


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def request_nodes(self, ids: Any, *, revoke: bool) -> None:
        self.calls.append(("nodes" if revoke else "checks", sorted(ids)))

    def request_configs(self, ids: Any) -> None:
        self.calls.append(("configs", sorted(ids)))

    def request_everything(self) -> None:
        self.calls.append(("everything", None))

    def request_full(self, *, force: bool = False) -> None:
        self.calls.append(("full", force))


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        ("node.credentials.updated", {"config_id": CFG, "node_id": A}, ("nodes", [A])),
        ("node.credentials.revoked", {"node_id": A, "reason": "x"}, ("nodes", [A])),
        ("config.credentials.changed", {"config_id": CFG}, ("configs", [CFG])),
        ("node.workspace.updated", {"config_id": CFG, "node_ids": [A, B]}, ("checks", [A, B])),
        ("endpoint.status.updated", {"config_id": CFG, "node_ids": [A]}, ("checks", [A])),
        ("config.list.updated", {}, ("everything", None)),
        ("snapshot.restored", {}, ("full", True)),
        ("node.credentials.rotated", {}, ("full", False)),
        ("mesh.workspace.updated", {"config_id": CFG}, None),
    ],
)
def test_event_dispatch(event_type: str, payload: dict[str, Any], expected: Any) -> None:
    recorder = Recorder()
    dropped: list[dict[str, Any]] = []
    handled = dispatch(event_type, payload, recorder, lambda **kw: dropped.append(kw))  # type: ignore[arg-type]
    assert handled == (expected is not None)
    assert recorder.calls == ([expected] if expected else [])
