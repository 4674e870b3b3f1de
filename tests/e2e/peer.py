"""A scripted MQTT peer that plays a node agent (aiomqtt, MQTT v5, the node's own credentials).

It speaks the §6 contract through `wfm_core.protocol` exactly as the agent does: an LWT `offline`
event on its event topic, heartbeats, events, and ACKs for the commands it receives. Tests drive it
step by step; `auto_ack` makes it answer every command like a healthy agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from wfm_core.protocol import (
    ACK_KINDS,
    KIND_DETECT,
    KIND_EVENT,
    KIND_HEARTBEAT,
    build_upstream,
    new_boot_id,
    new_session_id,
    node_subscribe_topics,
    topic,
)


@dataclass
class Credentials:
    host: str
    port: int
    config_id: str
    node_id: str
    username: str
    password: str
    client_id: str

    @classmethod
    def from_bind(cls, bound: dict[str, Any], *, host: str, port: int) -> Credentials:
        mqtt = bound["mqtt"]
        return cls(
            host=host,
            port=port,
            config_id=bound["profile"]["config_id"],
            node_id=bound["profile"]["node_id"],
            username=mqtt["username"],
            password=mqtt["password"],
            client_id=mqtt["client_id"],
        )


@dataclass
class Received:
    topic: str
    envelope: dict[str, Any]


@dataclass
class ScriptedNode:
    creds: Credentials
    auto_ack: bool = False
    ack_status: str = "applied"
    wg_online: bool = False
    boot_id: str = field(default_factory=new_boot_id)
    session_id: str = field(default_factory=new_session_id)
    received: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    _client: aiomqtt.Client | None = None
    _task: asyncio.Task[None] | None = None

    def _envelope(self, kind: str, payload: dict[str, Any], request_id: str = "") -> bytes:
        return build_upstream(
            kind,
            config_id=self.creds.config_id,
            node_id=self.creds.node_id,
            boot_id=self.boot_id,
            session_id=self.session_id,
            payload=payload,
            request_id=request_id,
        ).to_json()

    def _will(self) -> aiomqtt.Will:
        payload = self._envelope(
            KIND_EVENT, {"level": "warning", "event": "offline", "message": "connection lost"}
        )
        return aiomqtt.Will(
            topic=topic(self.creds.config_id, self.creds.node_id, KIND_EVENT),
            payload=payload,
            qos=1,
        )

    async def connect(self) -> None:
        """Connect (raises aiomqtt.MqttError when the broker refuses the credentials)."""
        client = aiomqtt.Client(
            self.creds.host,
            self.creds.port,
            identifier=self.creds.client_id,
            username=self.creds.username,
            password=self.creds.password,
            protocol=aiomqtt.ProtocolVersion.V5,
            keepalive=60,
            will=self._will(),
            timeout=5,
        )
        await client.__aenter__()
        self._client = client
        for downstream in node_subscribe_topics(self.creds.config_id, self.creds.node_id):
            await client.subscribe(downstream, qos=1)
        self._task = asyncio.create_task(self._receive(client))

    async def _receive(self, client: aiomqtt.Client) -> None:
        with contextlib.suppress(aiomqtt.MqttError, asyncio.CancelledError):
            async for message in client.messages:
                raw = message.payload
                text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
                envelope = json.loads(text)
                await self.received.put(Received(topic=str(message.topic), envelope=envelope))
                if self.auto_ack:
                    await self.ack(envelope)

    @property
    def client(self) -> aiomqtt.Client:
        assert self._client is not None, "not connected"
        return self._client

    async def publish(self, kind: str, payload: dict[str, Any], request_id: str = "") -> None:
        await self.client.publish(
            topic(self.creds.config_id, self.creds.node_id, kind),
            self._envelope(kind, payload, request_id),
            qos=1,
        )

    async def heartbeat(self, *, config_sha256: str = "") -> None:
        payload: dict[str, Any] = {"client_online": True, "wg_online": self.wg_online}
        if config_sha256:
            payload["config_sha256"] = config_sha256
        await self.publish(KIND_HEARTBEAT, payload)

    async def event(self, name: str, message: str, *, level: str = "info") -> None:
        await self.publish(KIND_EVENT, {"level": level, "event": name, "message": message})

    async def ack(
        self, envelope: dict[str, Any], *, status: str | None = None, message: str = "done"
    ) -> None:
        kind = envelope["type"]
        payload: dict[str, Any] = {"status": status or self.ack_status, "message": message}
        if kind == KIND_DETECT:
            payload |= {
                "client_online": True,
                "wg_online": self.wg_online,
                "platform": "linux",
                "client_version": "test",
            }
        elif "action" in envelope.get("payload", {}):
            payload["action"] = envelope["payload"]["action"]
        await self.publish(ACK_KINDS[kind], payload, request_id=envelope["request_id"])

    async def next_command(self, within: float = 10) -> Received:
        async with asyncio.timeout(within):
            return await self.received.get()

    async def disconnect(self) -> None:
        """A clean DISCONNECT: the broker does not publish the will."""
        if self._task is not None:
            self._task.cancel()
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)
        self._client = self._task = None

    async def drop(self) -> None:
        """Vanish without a clean DISCONNECT (reason 0x04): the broker publishes the LWT."""
        if self._client is not None:
            properties = Properties(PacketTypes.DISCONNECT)
            with contextlib.suppress(Exception):
                self._client._client.disconnect(reasoncode=_with_will(), properties=properties)
        await asyncio.sleep(0.2)
        await self.disconnect()

    async def __aenter__(self) -> ScriptedNode:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()


def _with_will() -> Any:
    from paho.mqtt.reasoncodes import ReasonCode

    return ReasonCode(PacketTypes.DISCONNECT, identifier=4)  # Disconnect with Will Message


async def connect_with_retry(node: ScriptedNode, *, within: float = 10.0) -> None:
    """Connect once the broker knows the credentials (emqx-sync provisions them after bind)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            await node.connect()
            return
        except aiomqtt.MqttError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
