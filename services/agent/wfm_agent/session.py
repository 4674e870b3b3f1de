"""One MQTT v5 session per profile (§7.4): connect, LWT, subscribe, heartbeat, run commands.

paho's network thread only moves bytes; every command runs in this session's worker thread, one
at a time in arrival order, so a slow `wg-quick` never stalls keepalives and two commands for
the same interface never overlap.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from wfm_agent.handlers import CommandHandler, Outbound
from wfm_agent.profiles import Profile, ProfileError, ProfileStore
from wfm_agent.toolchain import Toolchain
from wfm_core.protocol import (
    KIND_CONFIG_PUSH,
    KIND_CONTROL,
    KIND_EVENT,
    ProtocolError,
    build_upstream,
    new_session_id,
    node_subscribe_topics,
    topic,
)

log = logging.getLogger("wfm_agent")

KEEPALIVE = 60
CONNECT_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 8.0
HEARTBEAT_INTERVAL = 30 * 60.0
RECONNECT_MIN_DELAY = 5
RECONNECT_MAX_DELAY = 30
WORKER_JOIN_TIMEOUT = 60.0


def tls_context(ca_cert: str) -> ssl.SSLContext:
    """TLS 1.2+ that trusts only the bound CA and checks the broker's host name."""
    if "BEGIN CERTIFICATE" not in ca_cert:
        raise ProfileError("TLS is on but the profile has no CA certificate: re-bind this client")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=ca_cert)
    except (ssl.SSLError, ValueError) as exc:
        raise ProfileError(
            f"the profile's CA certificate is invalid ({exc}): re-bind this client"
        ) from None
    return context


class _Client(mqtt.Client):
    """paho's client, remembering why the last connection attempt failed (paho drops it)."""

    last_error = ""

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_error = str(exc) or type(exc).__name__
            raise


class ProfileSession:
    """The MQTT session and command worker of one profile."""

    def __init__(
        self,
        *,
        store: ProfileStore,
        profile: Profile,
        toolchain: Toolchain,
        boot_id: str,
        platform: str,
        client_version: str,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        reconnect_delays: tuple[int, int] = (RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY),
    ) -> None:
        self.profile = profile
        self.handler = CommandHandler(
            store=store,
            profile=profile,
            toolchain=toolchain,
            platform=platform,
            client_version=client_version,
        )
        self.boot_id = boot_id
        self.session_id = ""
        self.heartbeat_interval = heartbeat_interval
        self.connected = threading.Event()
        self._ever_connected = False
        self._failures = 0
        self._tasks: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        self._worker = threading.Thread(
            target=self._work, name=f"wfm-{profile.profile_id}", daemon=True
        )
        mqtt_settings = profile.mqtt
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=mqtt_settings.client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=True,
        )
        client.username_pw_set(mqtt_settings.username, mqtt_settings.password)
        if mqtt_settings.tls:
            client.tls_set_context(tls_context(mqtt_settings.ca_cert))
        client.connect_timeout = CONNECT_TIMEOUT
        client.reconnect_delay_set(*reconnect_delays)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    @property
    def name(self) -> str:
        return self.profile.profile_id

    def _describe(self) -> str:
        settings = self.profile.mqtt
        return (
            f"profile={self.name} host={settings.host} port={settings.port} "
            f"tls={str(settings.tls).lower()}"
        )

    def start(self) -> None:
        self._worker.start()
        self._client.connect_async(
            self.profile.mqtt.host, self.profile.mqtt.port, keepalive=KEEPALIVE, clean_start=False
        )
        self._client.loop_start()

    def stop(self, reason: str = "Agent stopped") -> None:
        """Finish the running command, say `offline` (a clean stop sends no will), disconnect."""
        self._tasks.put(("stop", "", b""))
        if self._worker.is_alive():
            self._worker.join(WORKER_JOIN_TIMEOUT)
        if self.connected.is_set():
            self._publish(self.handler.event("offline", reason, level="info"))
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    # --- paho callbacks (network thread) --------------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self.session_id = new_session_id()
        will = self._envelope(self.handler.event("offline", "Connection lost", level="warning"))
        client.will_set(
            topic(self.profile.config_id, self.profile.node_id, KIND_EVENT), will, qos=1
        )

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            self._failed(f"refused: {reason_code}")
            return
        verb = "reconnected" if self._ever_connected else "connected"
        self._ever_connected = True
        self._failures = 0
        log.info("mqtt %s %s", verb, self._describe())
        options = SubscribeOptions(qos=1)
        topics = node_subscribe_topics(self.profile.config_id, self.profile.node_id)
        client.subscribe([(name, options) for name in topics])
        self.connected.set()
        self._tasks.put(("connected", "", b""))

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._failed(getattr(client, "last_error", "") or "unreachable")

    def _failed(self, reason: str) -> None:
        self._failures += 1
        # 1st, 10th, 100th … failure: enough to see a broken profile without flooding the log.
        if self._failures in (1, 10, 100) or self._failures % 1000 == 0:
            log.warning(
                "mqtt connect failed %s reason=%s attempts=%d (retrying)",
                self._describe(),
                reason,
                self._failures,
            )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if self.connected.is_set():
            log.info("mqtt disconnected %s reason=%s", self._describe(), reason_code)
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._tasks.put(("message", message.topic, bytes(message.payload)))

    # --- worker thread ----------------------------------------------------------------------

    def _work(self) -> None:
        next_heartbeat: float | None = None
        while True:
            timeout = (
                None if next_heartbeat is None else max(0.0, next_heartbeat - time.monotonic())
            )
            try:
                task, name, payload = self._tasks.get(timeout=timeout)
            except queue.Empty:
                task, name, payload = "heartbeat", "", b""
            try:
                if task == "stop":
                    return
                if task == "connected":
                    self._publish(self.handler.event("online", "Agent online"))
                    self._publish(self.handler.heartbeat())
                    next_heartbeat = time.monotonic() + self.heartbeat_interval
                elif task == "heartbeat":
                    if self.connected.is_set():
                        self._publish(self.handler.heartbeat())
                    next_heartbeat = time.monotonic() + self.heartbeat_interval
                elif task == "message":
                    self._run_command(name, payload)
            except Exception:  # a bug must not end the session: log it and go on
                log.exception("profile=%s: error handling %s", self.name, task)

    def _run_command(self, name: str, payload: bytes) -> None:
        replies = self.handler.handle(name, payload)
        for reply in replies:
            self._publish(reply)
        self.profile = self.handler.profile
        if replies and name.endswith((KIND_CONTROL, KIND_CONFIG_PUSH)):
            # The tunnel may have changed state: report it now, not in 30 minutes.
            self._publish(self.handler.heartbeat())

    def _envelope(self, outbound: Outbound) -> bytes:
        return build_upstream(
            outbound.kind,
            config_id=self.profile.config_id,
            node_id=self.profile.node_id,
            boot_id=self.boot_id,
            session_id=self.session_id,
            payload=outbound.payload,
            request_id=outbound.request_id,
        ).to_json()

    def _publish(self, outbound: Outbound) -> bool:
        """QoS 1 publish, waiting up to 8 s for the broker's PUBACK."""
        try:
            data = self._envelope(outbound)
        except ProtocolError as exc:
            log.error("profile=%s: cannot build %s: %s", self.name, outbound.kind, exc)
            return False
        name = topic(self.profile.config_id, self.profile.node_id, outbound.kind)
        info = self._client.publish(name, data, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("profile=%s: publish %s failed rc=%s", self.name, outbound.kind, info.rc)
            return False
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            return False  # paho keeps it queued and sends it after reconnecting
        try:
            info.wait_for_publish(PUBLISH_TIMEOUT)
        except (RuntimeError, ValueError) as exc:
            log.warning("profile=%s: publish %s failed: %s", self.name, outbound.kind, exc)
            return False
        return info.is_published()
