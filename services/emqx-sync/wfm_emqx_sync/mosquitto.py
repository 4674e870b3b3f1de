"""Mosquitto 2 dynamic security adapter: accounts and per-node roles over `$CONTROL` (design §6).

Each node gets one client (username = node id, bound to client id `wfm-<node_id>`) holding one
role `wfm-node-<node_id>` whose ACLs are exactly its topics: publishClientSend on the six
upstream topics and subscribeLiteral on the four downstream ones. Defaults deny publishing and
subscribing, so nothing else is possible; receiving stays allowed by default because a client
only receives what it could subscribe to (literal grants), which keeps each role at ten ACLs —
dynsec 2.0 rewrites its whole JSON file after every command, so role size is provisioning time.

Commands go out in batches (one MQTT message, many commands) and replies are matched by
`correlationData`. Mosquitto stores only salted password hashes, so each client carries our
fingerprint in `textdescription`: a reconcile changes (and so disconnects) only accounts that
really differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import uuid
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import aiomqtt

from wfm_core.broker.schemas import BrokerKind
from wfm_core.protocol.topics import (
    DOWNSTREAM_KINDS,
    TOPIC_ROOT,
    UPSTREAM_KINDS,
    node_publish_topics,
    node_subscribe_topics,
)
from wfm_emqx_sync.port import (
    NODE_USER_PREFIX,
    BrokerUnavailable,
    NodeAccount,
    ObservedUser,
    Outcome,
    Revocation,
    ServiceAccount,
)

log = logging.getLogger("wfm.emqx_sync.mosquitto")

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
NODE_ROLE_PREFIX = "wfm-node-"
SERVICES_ROLE = "wfm-services"
FINGERPRINT_PREFIX = "wfm-fp:"
# Deny what is not granted; see the module docstring for why receiving is allowed.
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": True,
    "subscribe": False,
    "unsubscribe": True,
}
_GONE = ("not found",)  # "Client not found", "Role not found": already deleted

Acl = tuple[str, str, bool]  # (acltype, topic, allow)


def node_role_name(username: str) -> str:
    return f"{NODE_ROLE_PREFIX}{username}"


def node_role_acls(config_id: str, node_id: str) -> list[Acl]:
    """Exactly the node's grants: publish its upstream topics, subscribe its downstream ones."""
    acls: list[Acl] = [
        ("publishClientSend", t, True) for t in node_publish_topics(config_id, node_id)
    ]
    acls += [("subscribeLiteral", t, True) for t in node_subscribe_topics(config_id, node_id)]
    return acls


def services_role_acls(share_group: str) -> list[Acl]:
    """mqtt-ingest: subscribe to every node's upstream kinds, shared or not (the ACL check sees
    the full `$share/<group>/…` filter), and publish every node's downstream kinds."""
    acls: list[Acl] = []
    for kind in UPSTREAM_KINDS:
        filter_ = f"{TOPIC_ROOT}/+/+/{kind}"
        acls.append(("subscribeLiteral", f"$share/{share_group}/{filter_}", True))
        acls.append(("subscribeLiteral", filter_, True))
    acls += [("publishClientSend", f"{TOPIC_ROOT}/+/+/{kind}", True) for kind in DOWNSTREAM_KINDS]
    return acls


def _acl_json(acls: Iterable[Acl]) -> list[dict[str, Any]]:
    return [{"acltype": kind, "topic": topic, "allow": allow} for kind, topic, allow in acls]


def _acl_set(raw: object) -> frozenset[Acl]:
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(
        (str(acl.get("acltype")), str(acl.get("topic")), bool(acl.get("allow")))
        for acl in raw
        if isinstance(acl, dict)
    )


def _role_names(client: dict[str, Any]) -> list[str]:
    roles = client.get("roles") or []
    return [str(r.get("rolename")) for r in roles if isinstance(r, dict)]


class DynsecError(RuntimeError):
    """A dynsec command was refused (the reply's `error`)."""


class MosquittoAdmin:
    """BrokerAdmin over one MQTT connection as the dynsec admin account."""

    kind: BrokerKind = "mosquitto"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        share_group: str,
        tls: bool = False,
        batch_size: int = 100,
        reply_timeout: float = 60.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self._host, self._port = host, port
        self._username, self._password = username, password
        self._share_group = share_group
        self._tls = tls
        self._batch_size = batch_size
        self._reply_timeout = reply_timeout
        self._connect_timeout = connect_timeout
        self._client: aiomqtt.Client | None = None
        self._stack: AsyncExitStack | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._prefix = uuid.uuid4().hex[:12]
        self._seq = 0
        self._send_lock = asyncio.Lock()
        # Names seen on the broker (last listing plus our own writes); None = unknown.
        self._clients: set[str] | None = None
        self._roles: set[str] | None = None

    # --- connection ---------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None and self._reader is not None and not self._reader.done()

    async def connect(self) -> None:
        await self.close()
        tls_context: ssl.SSLContext | None = None
        if self._tls:
            # Same policy as the services' MQTT link (§6.1): TLS without verification.
            tls_context = ssl.create_default_context()
            tls_context.check_hostname = False
            tls_context.verify_mode = ssl.CERT_NONE
        client = aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            identifier=f"wfm-sync-{self._prefix}",
            protocol=aiomqtt.ProtocolVersion.V5,
            # The broker runs a batch without answering pings (dynsec saves its file after
            # every command): the keepalive must outlast the slowest batch.
            keepalive=60,
            timeout=self._connect_timeout,
            tls_context=tls_context,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        stack = AsyncExitStack()
        try:
            await stack.enter_async_context(client)
            await client.subscribe(RESPONSE_TOPIC, qos=0)
        except (aiomqtt.MqttError, OSError) as exc:
            await stack.aclose()
            raise BrokerUnavailable(f"Mosquitto at {self._host}:{self._port}: {exc}") from exc
        self._client, self._stack = client, stack
        self._reader = asyncio.create_task(self._read(client), name="wfm-dynsec-replies")
        self._clients = self._roles = None
        await self._ensure_default_acl()

    async def close(self) -> None:
        reader, stack = self._reader, self._stack
        self._client = self._stack = self._reader = None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.aclose()
        self._fail_pending("connection closed")

    def forget(self) -> None:
        self._clients = self._roles = None

    async def _read(self, client: aiomqtt.Client) -> None:
        try:
            async for message in client.messages:
                self._dispatch(message.payload)
        except aiomqtt.MqttError as exc:
            log.warning("dynsec link lost: %s", exc)
        finally:
            self._fail_pending("connection lost")

    def _dispatch(self, payload: object) -> None:
        if not isinstance(payload, bytes | bytearray):
            return
        try:
            data = json.loads(payload)
        except ValueError:
            return
        responses = data.get("responses") if isinstance(data, dict) else None
        for reply in responses if isinstance(responses, list) else ():
            if not isinstance(reply, dict):
                continue
            future = self._pending.pop(str(reply.get("correlationData")), None)
            if future is not None and not future.done():
                future.set_result(reply)

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(BrokerUnavailable(f"Mosquitto dynsec: {reason}"))

    # --- commands -----------------------------------------------------------------------

    async def run(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send commands in batches; the replies in command order (each may carry `error`)."""
        replies: list[dict[str, Any]] = []
        for start in range(0, len(commands), self._batch_size):
            replies += await self._run_batch(commands[start : start + self._batch_size])
        return replies

    async def _run_batch(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        client = self._client
        if client is None or not self.connected:
            raise BrokerUnavailable("Mosquitto dynsec: not connected")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[dict[str, Any]]] = []
        batch = []
        for command in commands:
            self._seq += 1
            correlation = f"{self._prefix}:{self._seq}"
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._pending[correlation] = future
            futures.append(future)
            batch.append({**command, "correlationData": correlation})
        payload = json.dumps({"commands": batch}, separators=(",", ":"))
        try:
            async with self._send_lock:
                # Mosquitto runs the whole batch before it acknowledges the message.
                await client.publish(CONTROL_TOPIC, payload, qos=1, timeout=self._reply_timeout)
            async with asyncio.timeout(self._reply_timeout):
                return list(await asyncio.gather(*futures))
        except (aiomqtt.MqttError, TimeoutError) as exc:
            for future in futures:
                future.cancel()
            await self.close()
            raise BrokerUnavailable(f"Mosquitto dynsec: no reply ({exc or 'timeout'})") from exc
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()

    async def _ensure_default_acl(self) -> None:
        [reply] = await self.run([{"command": "getDefaultACLAccess"}])
        current = {
            str(acl.get("acltype")): bool(acl.get("allow"))
            for acl in (reply.get("data") or {}).get("acls", [])
            if isinstance(acl, dict)
        }
        if current == DEFAULT_ACL_ACCESS:
            return
        wanted = [{"acltype": k, "allow": v} for k, v in DEFAULT_ACL_ACCESS.items()]
        [reply] = await self.run([{"command": "setDefaultACLAccess", "acls": wanted}])
        if reply.get("error"):
            raise BrokerUnavailable(f"Mosquitto dynsec: setDefaultACLAccess: {reply['error']}")

    # --- services account ---------------------------------------------------------------

    async def ensure_service_account(self, account: ServiceAccount) -> None:
        if account.username == self._username:
            raise DynsecError("the services' MQTT account must not be the dynsec admin account")
        client_reply, role_reply = await self.run(
            [
                {"command": "getClient", "username": account.username},
                {"command": "getRole", "rolename": SERVICES_ROLE},
            ]
        )
        wanted = frozenset(services_role_acls(self._share_group))
        client = (client_reply.get("data") or {}).get("client")
        role = (role_reply.get("data") or {}).get("role")
        if (
            isinstance(client, dict)
            and isinstance(role, dict)
            and client.get("textdescription") == FINGERPRINT_PREFIX + account.fingerprint
            and _role_names(client) == [SERVICES_ROLE]
            and not client.get("clientid")
            and not client.get("disabled")
            and _acl_set(role.get("acls")) == wanted
        ):
            return
        replies = await self.run(
            [
                {"command": "deleteClient", "username": account.username},
                {"command": "deleteRole", "rolename": SERVICES_ROLE},
                {
                    "command": "createRole",
                    "rolename": SERVICES_ROLE,
                    "textname": "WFM services (mqtt-ingest)",
                    "acls": _acl_json(services_role_acls(self._share_group)),
                },
                {
                    "command": "createClient",
                    "username": account.username,
                    "password": account.password,
                    "textdescription": FINGERPRINT_PREFIX + account.fingerprint,
                    "roles": [{"rolename": SERVICES_ROLE}],
                },
            ]
        )
        errors = [r["error"] for r in replies[2:] if r.get("error")]
        if errors:
            raise DynsecError(f"services account: {'; '.join(map(str, errors))}")

    # --- node accounts ------------------------------------------------------------------

    async def node_users(self) -> dict[str, ObservedUser]:
        clients_reply, roles_reply = await self.run(
            [
                {"command": "listClients", "verbose": True, "count": -1, "offset": 0},
                {"command": "listRoles", "verbose": True, "count": -1, "offset": 0},
            ]
        )
        for reply in (clients_reply, roles_reply):
            if reply.get("error"):
                raise BrokerUnavailable(f"Mosquitto dynsec: {reply['command']}: {reply['error']}")
        clients = {
            str(c.get("username")): c
            for c in (clients_reply.get("data") or {}).get("clients", [])
            if isinstance(c, dict)
        }
        roles = {
            str(r.get("rolename")): r
            for r in (roles_reply.get("data") or {}).get("roles", [])
            if isinstance(r, dict)
        }
        self._clients, self._roles = set(clients), set(roles)
        seen: dict[str, ObservedUser] = {}
        for username, client in clients.items():
            if not username.startswith(NODE_USER_PREFIX):
                continue
            role = roles.get(node_role_name(username))
            description = str(client.get("textdescription") or "")
            seen[username] = ObservedUser(
                username=username,
                fingerprint=description.removeprefix(FINGERPRINT_PREFIX)
                if description.startswith(FINGERPRINT_PREFIX)
                else None,
                detail={
                    "clientid": client.get("clientid"),
                    "roles": _role_names(client),
                    "groups": client.get("groups") or [],
                    "disabled": bool(client.get("disabled")),
                    "acls": _acl_set(role.get("acls")) if role else None,
                },
            )
        for rolename in roles:
            username = rolename.removeprefix(NODE_ROLE_PREFIX)
            if rolename.startswith(NODE_ROLE_PREFIX) and username not in seen:
                seen[username] = ObservedUser(username=username, detail={"orphan_role": True})
        return seen

    def up_to_date(self, account: NodeAccount, seen: ObservedUser) -> bool:
        c, detail = account.credential, seen.detail
        return (
            seen.fingerprint == account.fingerprint
            and detail.get("clientid") == c.client_id
            and detail.get("roles") == [node_role_name(c.username)]
            and not detail.get("groups")
            and not detail.get("disabled")
            and detail.get("acls") == frozenset(node_role_acls(c.config_id, c.node_id))
        )

    def _deletes(self, username: str, *, force: bool) -> list[dict[str, Any]]:
        """Delete commands for what may exist (all of it when we do not know, or `force`):
        on a fresh broker a bulk provisioning then costs two commands per node, not four."""
        commands: list[dict[str, Any]] = []
        if force or self._clients is None or username in self._clients:
            commands.append({"command": "deleteClient", "username": username})
        role = node_role_name(username)
        if force or self._roles is None or role in self._roles:
            commands.append({"command": "deleteRole", "rolename": role})
        return commands

    async def upsert_node_users(self, accounts: Sequence[NodeAccount]) -> Outcome:
        outcome = await self._replace(accounts, force=False)
        # Our idea of what exists may be stale (someone else's change): retry those cleanly.
        retry = [a for a in accounts if outcome[a.username] is not None]
        if retry:
            outcome.update(await self._replace(retry, force=True))
        return outcome

    async def _replace(self, accounts: Sequence[NodeAccount], *, force: bool) -> Outcome:
        # Replace rather than patch: a changed account gets a new password anyway, and any
        # password change disconnects the client, so patching would not spare the session.
        commands: list[dict[str, Any]] = []
        owners: list[tuple[str, bool]] = []  # (username, counts toward success)
        for account in accounts:
            c = account.credential
            for command in self._deletes(c.username, force=force):
                commands.append(command)
                owners.append((c.username, False))
            role = node_role_name(c.username)
            commands.append(
                {
                    "command": "createRole",
                    "rolename": role,
                    "acls": _acl_json(node_role_acls(c.config_id, c.node_id)),
                }
            )
            commands.append(
                {
                    "command": "createClient",
                    "username": c.username,
                    "password": c.password,
                    "clientid": c.client_id,
                    "textdescription": FINGERPRINT_PREFIX + account.fingerprint,
                    "roles": [{"rolename": role}],
                }
            )
            owners += [(c.username, True), (c.username, True)]
        replies = await self.run(commands)
        outcome: Outcome = {a.username: None for a in accounts}
        for (username, counts), reply in zip(owners, replies, strict=True):
            error = reply.get("error")
            if counts and error and outcome[username] is None:
                outcome[username] = f"{reply.get('command')}: {error}"
        for username in outcome:
            self._note(username, exists=True)  # created, or in an unknown state: delete first
        return outcome

    async def revoke_node_users(self, revocations: Sequence[Revocation]) -> Outcome:
        # deleteClient disconnects every session of that username: the kick Mosquitto lacks.
        commands: list[dict[str, Any]] = []
        owners: list[str] = []
        for revocation in revocations:
            commands += [
                {"command": "deleteClient", "username": revocation.username},
                {"command": "deleteRole", "rolename": node_role_name(revocation.username)},
            ]
            owners += [revocation.username, revocation.username]
        replies = await self.run(commands)
        outcome: Outcome = {r.username: None for r in revocations}
        for username, reply in zip(owners, replies, strict=True):
            refusal = str(reply.get("error") or "")
            if refusal and not refusal.lower().endswith(_GONE) and outcome[username] is None:
                outcome[username] = f"{reply.get('command')}: {refusal}"
        for username, failure in outcome.items():
            if failure is None:
                self._note(username, exists=False)
        return outcome

    def _note(self, username: str, *, exists: bool) -> None:
        for names, name in ((self._clients, username), (self._roles, node_role_name(username))):
            if names is None:
                continue
            if exists:
                names.add(name)
            else:
                names.discard(name)
