"""The MQTT link of one ingest process: connect, subscribe, hand messages over, publish.

One MQTT v5 connection as the services account (`WFM_MQTT_USERNAME`, or the EMQX superuser of
§6.1), client id `wfm-ingest-<instance id>`, clean start. It subscribes to the six upstream kinds
as shared subscriptions (`$share/<group>/wfm/+/+/<kind>`, QoS 1) so replicas split the load, and
hands every message to a synchronous handler (the subscriber: decode, validate, enqueue). It is
also the `Publisher` of the downstream half: QoS 1 publishes that return on PUBACK.

Broker down: reconnect after 0.5, 1, 2, then every 5 s (reference.md §6.6), reporting the link
state (`connecting`, `connected`, `error` + last error) in Redis for the API every few seconds
with a short TTL, so a dead process stops claiming a live link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.subscribeoptions import SubscribeOptions
from redis.asyncio import Redis
from redis.exceptions import RedisError

from wfm_core.db.types import utc_now
from wfm_core.protocol import backend_subscriptions
from wfm_core.settings import Settings
from wfm_core.system.runtime import MQTT_STATUS_KEY, write_mqtt_link_status
from wfm_mqtt_ingest import metrics
from wfm_mqtt_ingest.context import MqttUnavailable

log = logging.getLogger("wfm.ingest.mqtt")

MessageHandler = Callable[[str, bytes], None]

RECONNECT_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
STATUS_INTERVAL_SECONDS = 5.0
STATUS_TTL_SECONDS = 15
KEEPALIVE_SECONDS = 30
PUBLISH_TIMEOUT_SECONDS = 10.0
# QoS 1 messages in flight per direction; the broker's Receive Maximum caps ours further.
MAX_INFLIGHT = 1000


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def parse_mqtt_url(url: str) -> BrokerAddress:
    """`mqtt://host:port` (TCP, default 1883) or `mqtts://` / `ssl://` (TLS, default 8883)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("mqtt", "tcp"):
        tls = False
    elif scheme in ("mqtts", "ssl", "tls"):
        tls = True
    else:
        raise ValueError(f"WFM_MQTT_URL must be mqtt:// or mqtts://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"WFM_MQTT_URL has no host: {url!r}")
    return BrokerAddress(host=parts.hostname, port=parts.port or (8883 if tls else 1883), tls=tls)


def _insecure_tls_context() -> ssl.SSLContext:
    """TLS without certificate verification (reference.md §6.1: `mqtts://` means exactly this)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _Client(aiomqtt.Client):
    """aiomqtt's client, with incoming messages handed straight to a callback.

    aiomqtt queues every message and wraps it in its own Message/Topic objects, a task per
    message on the consumer side: at tens of thousands of messages per second that costs more
    than decoding them. The paho callback runs in the event loop (aiomqtt's socket reader), so
    the handler runs there too and must be quick and never raise.
    """

    def __init__(self, *args: Any, on_message: MessageHandler, **kwargs: Any) -> None:
        self._handler = on_message
        super().__init__(*args, **kwargs)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers refuse these; never trust that
            topic = ""
        try:
            self._handler(topic, bytes(message.payload))
        except Exception:
            log.exception("mqtt message handler failed")


class MqttLink:
    """The broker connection of one ingest process (implements `context.Publisher`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        instance_id: str,
        handler: MessageHandler | None,
        redis: Redis | None = None,
        shared: bool = True,
        reconnect_delays: Sequence[float] = RECONNECT_DELAYS,
        status_interval: float = STATUS_INTERVAL_SECONDS,
    ) -> None:
        self._settings = settings
        self._address = parse_mqtt_url(settings.mqtt_url)
        self.client_id = f"wfm-ingest-{instance_id}"
        self._handler = handler
        self._redis = redis
        self._filters = backend_subscriptions(settings.mqtt_share_group if shared else None)
        self._reconnect_delays = tuple(reconnect_delays) or RECONNECT_DELAYS
        self._status_interval = status_interval
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._status_changed = asyncio.Event()
        self._client: _Client | None = None
        self.status = "connecting"
        self.last_error: str | None = None
        self.last_connected_at: datetime | None = None
        self._claimed_connected = False  # our last status write said `connected`

    # --- Publisher --------------------------------------------------------------------------

    @property
    def connected(self) -> asyncio.Event:
        return self._connected

    async def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1, retain false; returns on PUBACK. MqttUnavailable when not connected or the
        connection drops before the broker acknowledged."""
        client = self._client
        if client is None or not self._connected.is_set():
            metrics.MQTT_PUBLISHED.labels("unavailable").inc()
            raise MqttUnavailable("MQTT broker is not connected")
        lost = self._lost
        publish = asyncio.ensure_future(
            client.publish(topic, payload, qos=1, retain=False, timeout=PUBLISH_TIMEOUT_SECONDS)
        )
        watcher = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({publish, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not publish.done():
                publish.cancel()
        if publish.cancelled():
            metrics.MQTT_PUBLISHED.labels("unavailable").inc()
            raise MqttUnavailable("MQTT connection lost before the broker acknowledged")
        try:
            publish.result()
        except aiomqtt.MqttError as exc:
            metrics.MQTT_PUBLISHED.labels("unavailable").inc()
            raise MqttUnavailable(f"MQTT publish failed: {exc}") from exc
        metrics.MQTT_PUBLISHED.labels("acked").inc()

    # --- connection loop --------------------------------------------------------------------

    def _new_client(self) -> _Client:
        settings = self._settings
        return _Client(
            self._address.host,
            self._address.port,
            on_message=self._handle,
            username=settings.backend_mqtt_username,
            password=settings.backend_mqtt_password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=True,
            keepalive=KEEPALIVE_SECONDS,
            timeout=10,
            max_inflight_messages=MAX_INFLIGHT,
            tls_context=_insecure_tls_context() if self._address.tls else None,
        )

    def _handle(self, topic: str, payload: bytes) -> None:
        if self._handler is not None:
            self._handler(topic, payload)

    async def _subscribe(self, client: _Client) -> None:
        options = SubscribeOptions(qos=1)
        codes = await client.subscribe([(topic, options) for topic in self._filters])
        refused = [
            topic
            for topic, code in zip(self._filters, codes, strict=False)
            if getattr(code, "is_failure", False) or (isinstance(code, int) and code >= 0x80)
        ]
        if refused or len(codes) != len(self._filters):
            raise aiomqtt.MqttError(f"subscription refused by the broker: {', '.join(refused)}")

    def _set_status(self, status: str, *, error: str | None = None) -> None:
        self.status = status
        if error is not None:
            self.last_error = error
        self._status_changed.set()

    async def run(self) -> None:
        """Connect and stay connected until cancelled."""
        reporter = asyncio.create_task(self._report_status(), name="wfm-ingest-mqtt-status")
        failures = 0
        try:
            while True:
                client = self._new_client()
                try:
                    async with client:
                        await self._subscribe(client)
                        self._client = client
                        self._lost = asyncio.Event()
                        self._connected.set()
                        self.last_connected_at = utc_now()
                        self._set_status("connected")
                        metrics.MQTT_CONNECTED.set(1)
                        metrics.MQTT_CONNECTS.labels("connected").inc()
                        log.info(
                            "mqtt connected",
                            extra={
                                "broker": f"{self._address.host}:{self._address.port}",
                                "client_id": self.client_id,
                                "subscriptions": self._filters,
                            },
                        )
                        failures = 0
                        # Messages arrive through the handler; this only waits for the end.
                        async for _ in client.messages:
                            pass
                except aiomqtt.MqttError as exc:
                    metrics.MQTT_CONNECTS.labels("failed").inc()
                    error = str(exc) or type(exc).__name__
                    self._set_status("error", error=error)
                    log.warning(
                        "mqtt link down",
                        extra={"error": error, "client_id": self.client_id},
                    )
                finally:
                    self._connected.clear()
                    self._lost.set()
                    self._client = None
                    metrics.MQTT_CONNECTED.set(0)
                delay = self._reconnect_delays[min(failures, len(self._reconnect_delays) - 1)]
                failures += 1
                await asyncio.sleep(delay)
        finally:
            self._connected.clear()
            self._lost.set()
            # The last report simply expires (≤ 15 s): deleting it would make the API refuse
            # commands while other replicas are still connected (rolling restarts).
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter

    # --- link status in Redis ---------------------------------------------------------------

    async def _report_status(self) -> None:
        while True:
            self._status_changed.clear()
            await self.write_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_changed.wait(), timeout=self._status_interval)

    async def write_status(self) -> None:
        """Report this link in Redis (`wfm:status:mqtt` + details, TTL 15 s).

        With several replicas the key holds one state: a replica that is not connected leaves
        a `connected` written by another replica alone (it expires if that one dies).
        """
        if self._redis is None:
            return
        try:
            if self.status != "connected" and not self._claimed_connected:
                current = await self._redis.get(MQTT_STATUS_KEY)
                if current in (b"connected", "connected"):
                    return
            await write_mqtt_link_status(
                self._redis,
                status=self.status,
                last_error=self.last_error,
                last_connected_at=self.last_connected_at,
                ttl_seconds=STATUS_TTL_SECONDS,
            )
            self._claimed_connected = self.status == "connected"
        except (RedisError, OSError) as exc:
            log.debug("mqtt status not written: %s", exc)
