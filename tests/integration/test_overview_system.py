"""Config overview, runtime snapshot, system status and system settings on both databases."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import update

import wfm_core
from wfm_core.configs import overview
from wfm_core.configs import service as configs
from wfm_core.configs.schemas import ConfigRequest
from wfm_core.db.uow import unit_of_work
from wfm_core.endpoints import service as endpoints
from wfm_core.endpoints.models import EndpointRuntimeStatus, NodeClientState
from wfm_core.mesh import service as mesh
from wfm_core.mesh.schemas import DirectionRequest, PeerLinkGroupRequest
from wfm_core.mesh.validation import NO_LINKS_WARNING
from wfm_core.nodes import service as nodes
from wfm_core.nodes.schemas import NodeRequest
from wfm_core.portforward import service as pf
from wfm_core.portforward.schemas import PortForwardRequest
from wfm_core.settings import Settings
from wfm_core.sync import service as sync
from wfm_core.system import repository as system_repo
from wfm_core.system import service as system
from wfm_core.system.schemas import MqttSettingsUpdate, UiSettingsUpdate

from .helpers import Sessions, expect_error, make_config, make_node, run

DUPLICATE = "Duplicate enabled peer links found between"


def _group(a: str, b: str) -> PeerLinkGroupRequest:
    return PeerLinkGroupRequest(
        forward=DirectionRequest(local_node_id=a, peer_node_id=b, allowed_ips="10.66.0.2/32"),
        reverse=DirectionRequest(local_node_id=b, peer_node_id=a, allowed_ips="10.66.0.1/32"),
    )


async def _link(sessions: Sessions, cid: str, a: str, b: str) -> None:
    await run(sessions, mesh.create_link_group, config_id=cid, data=_group(a, b))


async def _set_runtime(sessions: Sessions, node_id: str, **values: Any) -> None:
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(EndpointRuntimeStatus)
            .where(EndpointRuntimeStatus.node_id == node_id)
            .values(**values)
        )


async def _set_client(sessions: Sessions, node_id: str, **values: Any) -> None:
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(NodeClientState).where(NodeClientState.node_id == node_id).values(**values)
        )


ONLINE = {
    "online": True,
    "connectivity_state": "online",
    "wg_running": True,
    "wg_runtime_state": "running",
    "heartbeat_client_online": True,
    "heartbeat_wg_online": True,
}


async def _mesh(sessions: Sessions, name: str = "office") -> tuple[str, dict[str, str]]:
    """a, b dynamic; c static; d dynamic and disabled (its link a-d disabled with it)."""
    cid = await make_config(sessions, name)
    ids = {
        "a": await make_node(sessions, cid, "a", ipv4_address="192.0.2.1", tags=["edge"]),
        "b": await make_node(sessions, cid, "b", ipv4_address="192.0.2.2"),
        "c": await make_node(sessions, cid, "c", ipv4_address="192.0.2.3", node_type="static"),
        "d": await make_node(sessions, cid, "d", ipv4_address="192.0.2.4"),
    }
    for a, b in (("a", "b"), ("a", "c"), ("b", "c"), ("a", "d")):
        await _link(sessions, cid, ids[a], ids[b])
    await run(sessions, nodes.update_node, node_id=ids["d"], data=NodeRequest(enabled=False))
    return cid, ids


# --- config overview ---------------------------------------------------------------------------


async def test_overview_of_a_valid_mesh(sessions: Sessions) -> None:
    cid, ids = await _mesh(sessions)
    await _set_runtime(sessions, ids["a"], **ONLINE)
    await _set_runtime(sessions, ids["c"], **ONLINE)  # a static node never reads online
    rule = PortForwardRequest(
        from_node_id=ids["a"], from_port=8000, to_node_id=ids["b"], to_port=80
    )
    await run(sessions, pf.create_rule, config_id=cid, data=rule)

    view = await run(sessions, overview.config_overview, config_id=cid)

    assert view.stats.model_dump() == {
        "total_nodes": 4,
        "dynamic_nodes": 2,
        "static_nodes": 1,
        "disabled_nodes": 1,
        "online_nodes": 1,
        "peer_links": 4,  # a-b, a-c, b-c and the disabled a-d
    }
    assert view.topology.model_dump() == {
        "valid": True,
        "error_count": 0,
        "invalid_node_count": 0,
        "invalid_node_ids": [],
        "errors": [],
    }
    assert [card.id for card in view.node_cards] == [ids["a"], ids["b"], ids["c"]]
    assert [card.id for card in view.disabled_node_cards] == [ids["d"]]
    cards = {card.name: card for card in view.node_cards + view.disabled_node_cards}
    assert cards["a"].online and cards["a"].tags == ["edge"] and cards["a"].peers_total == 2
    assert not cards["c"].online and cards["c"].node_type == "static"
    assert not cards["d"].enabled and not cards["d"].online and cards["d"].peers_total == 0
    assert not any(card.mesh_error for card in cards.values())
    assert [node.id for node in view.nodes] == list(ids.values())
    assert view.nodes[0].tags == ["edge"] and view.nodes[0].private_key
    assert len(view.nodes[1].managed_hooks["post_up"]) == 1  # b is the rule's To node
    assert view.nodes == await run(sessions, nodes.list_nodes, config_id=cid)

    # The read model agrees with the use cases it replaces.
    assert view.config == await run(sessions, configs.get_config, config_id=cid)
    assert view.sync_status == await run(sessions, sync.config_sync_status, config_id=cid)
    assert [s.status for s in view.sync_status] == ["in_sync"] * 3
    assert all(s.topology_valid and s.topology_messages == [] for s in view.sync_status)


async def test_overview_of_an_invalid_mesh(sessions: Sessions) -> None:
    cid, ids = await _mesh(sessions)
    await _link(sessions, cid, ids["a"], ids["b"])  # a duplicate enabled pair
    await _set_runtime(sessions, ids["b"], **ONLINE)

    view = await run(sessions, overview.config_overview, config_id=cid)

    validation = await run(sessions, mesh.validate, config_id=cid)
    assert not validation.valid
    assert view.topology.valid is False
    assert view.topology.error_count == 1 and view.topology.errors == validation.errors
    assert DUPLICATE in view.topology.errors[0]
    assert view.topology.invalid_node_ids == sorted([ids["a"], ids["b"]])
    assert view.topology.invalid_node_count == 2
    assert view.stats.peer_links == 5 and view.stats.online_nodes == 1
    errors = {card.name: card.mesh_error for card in view.node_cards + view.disabled_node_cards}
    assert errors == {"a": True, "b": True, "c": False, "d": False}
    assert view.config.topology_invalid and view.config.topology_error_count == 1
    assert view.config == await run(sessions, configs.get_config, config_id=cid)
    expected = await run(sessions, sync.config_sync_status, config_id=cid)
    assert view.sync_status == expected
    statuses = {s.node_name: s.status for s in view.sync_status}
    assert statuses == {"a": "staged_outdated", "b": "staged_outdated", "c": "in_sync"}
    assert all(s.topology_messages == validation.errors for s in view.sync_status)


async def test_overview_without_links_warns_like_validation(sessions: Sessions) -> None:
    cid = await make_config(sessions, "bare")
    for name in ("a", "b"):
        await make_node(sessions, cid, name, ipv4_address="192.0.2.9")
    view = await run(sessions, overview.config_overview, config_id=cid)
    assert view.topology.valid and view.stats.peer_links == 0
    assert [s.topology_messages for s in view.sync_status] == [[NO_LINKS_WARNING]] * 2
    assert view.sync_status == await run(sessions, sync.config_sync_status, config_id=cid)


async def test_overview_of_a_disabled_config_hides_topology_errors(sessions: Sessions) -> None:
    cid, ids = await _mesh(sessions)
    await _link(sessions, cid, ids["a"], ids["b"])
    await run(sessions, configs.update_config, config_id=cid, data=ConfigRequest(enabled=False))
    view = await run(sessions, overview.config_overview, config_id=cid)
    assert not view.config.topology_invalid and view.config.topology_error_count == 0
    assert not view.topology.valid  # the page itself still shows what is wrong


async def test_overview_with_mqtt_off_reads_dynamic_nodes_as_static(sessions: Sessions) -> None:
    cid, ids = await _mesh(sessions)
    await _set_runtime(sessions, ids["a"], **ONLINE)
    view = await run(sessions, overview.config_overview, config_id=cid, mqtt_enabled=False)
    assert view.stats.online_nodes == 0 and view.config.online_node_count == 0
    assert not any(card.online for card in view.node_cards)
    assert all(item.connectivity_state == "offline" for item in view.runtime_snapshot)


async def test_overview_of_a_missing_config(sessions: Sessions) -> None:
    await expect_error(sessions, "CONFIG_NOT_FOUND", overview.config_overview, config_id="cfg_x")
    await expect_error(sessions, "CONFIG_NOT_FOUND", endpoints.runtime_snapshot, config_id="cfg_x")


# --- runtime snapshot --------------------------------------------------------------------------


async def test_runtime_snapshot_fields(sessions: Sessions) -> None:
    cid, ids = await _mesh(sessions)
    await _set_runtime(sessions, ids["a"], **ONLINE, peers_online=1, detect_client_online=True)
    await _set_runtime(sessions, ids["c"], **ONLINE)
    await _set_client(sessions, ids["a"], client_initialized=True, client_presence_state="online")
    text = "[Interface]\nPrivateKey = manual\n"
    await run(sessions, sync.set_applied_conf, config_id=cid, node_id=ids["b"], content=text)

    items = await run(sessions, endpoints.runtime_snapshot, config_id=cid)

    assert [item.node_name for item in items] == ["a", "b", "c"]  # enabled nodes only
    a, b, c = items
    assert a.model_dump() == {
        "node_id": ids["a"],
        "node_name": "a",
        "node_type": "dynamic",
        "online": True,
        "connectivity_state": "online",
        "wg_running": True,
        "wg_runtime_state": "running",
        "config_sync_state": "in_sync",
        "server_apply_status": "in_sync",
        "peers_online": 1,
        "peers_total": 2,
        "last_seen": None,
        "last_probe_sent_at": None,
        "last_probe_ack_at": None,
        "heartbeat_client_online": True,
        "heartbeat_wg_online": True,
        "detect_client_online": True,
        "detect_wg_online": False,
        "client_initialized": True,
        "client_presence_state": "online",
    }
    assert b.server_apply_status == "staged_outdated"  # a manual override is not the rendering
    assert not b.online and b.connectivity_state == "offline"
    assert b.client_presence_state == "offline" and not b.client_initialized
    # The stored row of static c says online; the read-time override says otherwise (§1.7).
    assert not c.online and not c.wg_running and not c.heartbeat_client_online
    assert c.connectivity_state == "offline" and c.wg_runtime_state == "unknown"
    assert c.peers_total == 2
    view = await run(sessions, overview.config_overview, config_id=cid)
    assert view.runtime_snapshot == items


# --- system status -----------------------------------------------------------------------------


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, secret_key="s" * 40, **values)


async def test_system_status(sessions: Sessions) -> None:
    alpha, ids = await _mesh(sessions, "alpha")
    await _link(sessions, alpha, ids["a"], ids["b"])  # alpha: invalid topology
    beta, beta_ids = await _mesh(sessions, "beta")
    await _link(sessions, beta, beta_ids["a"], beta_ids["b"])  # invalid too, but ...
    await run(sessions, configs.update_config, config_id=beta, data=ConfigRequest(enabled=False))
    gamma = await make_config(sessions, "gamma")
    g1 = await make_node(sessions, gamma, "g1", ipv4_address="192.0.2.20")
    g2 = await make_node(sessions, gamma, "g2", ipv4_address="192.0.2.21", auto_sync=False)
    await _link(sessions, gamma, g1, g2)
    manual = "[Interface]\nPrivateKey = manual\n"
    await run(sessions, sync.set_applied_conf, config_id=gamma, node_id=g1, content=manual)
    await run(sessions, sync.set_applied_conf, config_id=gamma, node_id=g2, content=manual)
    await _set_runtime(sessions, ids["a"], **ONLINE)
    await _set_runtime(sessions, beta_ids["a"], **ONLINE)  # a disabled config: not counted

    status = await run(
        sessions, system.system_status, settings=_settings(), mqtt_status="connected"
    )

    assert status.summary.model_dump() == {
        "configs": 3,
        "nodes": 10,
        "dynamic_nodes": 6,  # a and b of alpha and beta, g1, g2
        "online_nodes": 1,
    }
    assert status.topology.valid is False
    assert status.topology.invalid_config_count == 1
    assert status.topology.invalid_node_count == 2
    (invalid,) = status.topology.invalid_configs
    assert (invalid.config_id, invalid.config_name) == (alpha, "alpha")
    assert invalid.error_count == 1 and DUPLICATE in invalid.errors[0]
    # Issues: alpha's a and b wait behind the invalid topology; gamma's g1 carries a manual
    # override; g2 is not auto-synced, beta is disabled, d is disabled.
    issues = {(i.config_name, i.node_name): i for i in status.sync.issues}
    assert set(issues) == {("alpha", "a"), ("alpha", "b"), ("gamma", "g1")}
    assert status.sync.issue_count == 3
    assert issues["alpha", "a"].status == "staged_outdated"
    assert not issues["alpha", "a"].topology_valid
    assert issues["alpha", "a"].messages == invalid.errors
    assert issues["gamma", "g1"].node_id == g1 and issues["gamma", "g1"].topology_valid
    assert issues["gamma", "g1"].status == "staged_outdated"
    assert "older than the generated" in issues["gamma", "g1"].messages[0]
    assert status.services.model_dump() == {
        "database": "ok",
        "mqtt": "connected",
        "wireguard": "deferred",
    }
    assert status.update.model_dump() == {
        "has_update": False,
        "current_version": wfm_core.__version__,
        "latest_version": None,
        "is_prerelease": False,
        "release_url": None,
        "name": None,
        "published_at": None,
    }
    assert status.timestamp.tzinfo is not None

    mqtt_off = await run(
        sessions,
        system.system_status,
        settings=_settings(enable_mqtt_services=False),
        mqtt_status="disabled",
    )
    assert mqtt_off.summary.online_nodes == 0 and mqtt_off.services.mqtt == "disabled"


async def test_system_status_of_valid_configs(sessions: Sessions) -> None:
    empty = await run(sessions, system.system_status, settings=_settings(), mqtt_status="error")
    assert empty.summary.configs == 0 and empty.sync.issue_count == 0
    assert empty.topology.model_dump() == {
        "valid": True,
        "invalid_config_count": 0,
        "invalid_node_count": 0,
        "invalid_configs": [],
    }
    await _mesh(sessions)
    status = await run(sessions, system.system_status, settings=_settings(), mqtt_status="x")
    assert status.topology.valid and status.sync.issues == []
    assert status.summary.nodes == 4 and status.summary.dynamic_nodes == 2


def test_health_and_timezone() -> None:
    settings = _settings(timezone="Europe/Berlin", enable_dev_test_api=True)
    health = system.health(settings)
    assert health.status == "ok" and health.service == "wfm-api"
    assert health.version == wfm_core.__version__
    assert health.timezone == "Europe/Berlin"
    assert health.dev_test_api_enabled and health.mqtt_services_enabled
    assert health.timestamp.utcoffset() == timedelta(0)
    assert system.timezone(settings).timezone == "Europe/Berlin"


# --- settings ----------------------------------------------------------------------------------


async def test_settings_key_value_helpers(sessions: Sessions) -> None:
    assert await run(sessions, system_repo.get_setting, key="k1") is None
    await run(sessions, system_repo.set_setting, key="k1", value="one")
    await run(sessions, system_repo.set_setting, key="k1", value="uno")  # upsert
    await run(sessions, system_repo.set_setting, key="k2", value="two")
    assert await run(sessions, system_repo.get_setting, key="k1") == "uno"
    values = await run(sessions, system_repo.get_settings_map, keys=["k1", "k2", "k3"])
    assert values == {"k1": "uno", "k2": "two"}
    assert await run(sessions, system_repo.insert_setting_if_absent, key="k3", value="3")
    assert not await run(sessions, system_repo.insert_setting_if_absent, key="k3", value="x")
    await run(sessions, system_repo.delete_settings, keys=["k1", "k3"])
    assert await run(sessions, system_repo.get_settings_map, keys=["k1", "k2", "k3"]) == {
        "k2": "two"
    }


async def test_ui_settings(sessions: Sessions) -> None:
    ui = await run(sessions, system.get_ui_settings)
    assert ui.model_dump() == {"locale": "en-US", "theme_mode": "system"}
    saved = await run(
        sessions,
        system.update_ui_settings,
        data=UiSettingsUpdate(locale="zh-CN", theme_mode="dark"),
    )
    assert saved.model_dump() == {"locale": "zh-CN", "theme_mode": "dark"}
    assert await run(sessions, system.get_ui_settings) == saved
    partial = await run(
        sessions, system.update_ui_settings, data=UiSettingsUpdate(theme_mode="light")
    )
    assert partial.model_dump() == {"locale": "zh-CN", "theme_mode": "light"}
    invalid = await run(
        sessions, system.update_ui_settings, data=UiSettingsUpdate(locale="fr-FR", theme_mode="x")
    )
    assert invalid.model_dump() == {"locale": "en-US", "theme_mode": "system"}
    await run(sessions, system_repo.set_setting, key="ui_theme_mode", value="neon")
    assert (await run(sessions, system.get_ui_settings)).theme_mode == "system"


async def test_mqtt_settings(sessions: Sessions) -> None:
    plain = _settings()
    origin = _settings(public_origin="https://wfm.example.com")
    tls = _settings(
        public_origin="https://wfm.example.com",
        mqtt_public_host="broker.example.com",
        mqtt_tls_enabled=True,
        mqtt_public_tls_port=8884,
    )
    defaults = await run(sessions, system.get_mqtt_settings, settings=plain)
    assert defaults.model_dump() == {"host": "127.0.0.1", "port": 1883, "tls": False}
    by_origin = await run(sessions, system.get_mqtt_settings, settings=origin)
    assert by_origin.host == "wfm.example.com"
    by_tls = await run(sessions, system.get_mqtt_settings, settings=tls)
    assert by_tls.model_dump() == {"host": "broker.example.com", "port": 8884, "tls": True}

    data = MqttSettingsUpdate(host=" mqtt.example.net ", port=8883, tls=True)
    saved = await run(sessions, system.update_mqtt_settings, settings=plain, data=data)
    assert saved.model_dump() == {"host": "mqtt.example.net", "port": 8883, "tls": True}
    assert await run(sessions, system.get_mqtt_settings, settings=plain) == saved
    stored = await run(sessions, system_repo.get_setting, key="mqtt_client")
    assert json.loads(stored or "") == {"host": "mqtt.example.net", "port": 8883, "tls": True}

    v6 = MqttSettingsUpdate(host="[2001:db8::1]", port=1883)
    saved_v6 = await run(sessions, system.update_mqtt_settings, settings=plain, data=v6)
    assert saved_v6.host == "2001:db8::1"

    for host, words in (
        ("mqtt://broker.example.com", "scheme"),
        ("broker.example.com:1883", "port"),
        ("192.0.2.1:1883", "port"),
        ("two words", "spaces"),
        ("", "required"),
        ("bad_host!", "not a valid host name"),
        ("10.0.0.999", "not a valid host name"),
    ):
        err = await expect_error(
            sessions,
            "VALIDATION_ERROR",
            system.update_mqtt_settings,
            settings=plain,
            data=MqttSettingsUpdate(host=host, port=1883),
        )
        assert err.status == 422 and words in err.message, (host, err.message)
        assert err.detail == {"field": "host"}
    for port in (0, 65536):
        with pytest.raises(ValidationError):
            MqttSettingsUpdate(host="broker.example.com", port=port)
    assert (await run(sessions, system.get_mqtt_settings, settings=plain)).host == "2001:db8::1"

    reset = await run(sessions, system.reset_mqtt_settings, settings=tls)
    assert reset == by_tls
    assert await run(sessions, system.get_mqtt_settings, settings=tls) == by_tls
    assert await run(sessions, system_repo.get_setting, key="mqtt_client") is None

    # Damaged stored values fall back field by field.
    await run(sessions, system_repo.set_setting, key="mqtt_client", value='{"port": 99999}')
    assert await run(sessions, system.get_mqtt_settings, settings=plain) == defaults
    await run(sessions, system_repo.set_setting, key="mqtt_client", value='{"host": "h.example"}')
    merged = await run(sessions, system.get_mqtt_settings, settings=plain)
    assert merged.model_dump() == {"host": "h.example", "port": 1883, "tls": False}
    await run(sessions, system_repo.set_setting, key="mqtt_client", value="not json")
    assert await run(sessions, system.get_mqtt_settings, settings=plain) == defaults


# --- MQTT reachability test (the real Mosquitto of this machine on 127.0.0.1:1883) ------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_mqtt_connection_to_the_real_broker() -> None:
    result = await system.test_mqtt_connection(host="127.0.0.1", port=1883, tls=False)
    assert result.success, result.message
    assert result.latency_ms is not None and 0 <= result.latency_ms < 3000
    assert "Connected to 127.0.0.1:1883 over TCP" in result.message


async def test_mqtt_connection_refused() -> None:
    port = _closed_port()
    result = await system.test_mqtt_connection(host="127.0.0.1", port=port, tls=False)
    assert not result.success and result.latency_ms is None
    assert f"TCP connection to 127.0.0.1:{port} failed" in result.message
    assert "refused" in result.message.lower()


async def test_mqtt_tls_against_a_plain_port() -> None:
    result = await system.test_mqtt_connection(host="127.0.0.1", port=1883, tls=True)
    assert not result.success and result.latency_ms is None
    assert result.message.startswith("TLS handshake with 127.0.0.1:1883")


async def test_mqtt_connection_bad_host_and_timeout() -> None:
    bad = await system.test_mqtt_connection(host="mqtt://x", port=1883, tls=False)
    assert not bad.success and "scheme" in bad.message
    # A listener that never accepts the handshake: the TLS phase must time out, not hang.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        slow = await system.test_mqtt_connection(host="127.0.0.1", port=port, tls=True, timeout=0.3)
    assert not slow.success
    assert slow.message == f"TLS handshake with 127.0.0.1:{port} timed out after 0.3 s"
