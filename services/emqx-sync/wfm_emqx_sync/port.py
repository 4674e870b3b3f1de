"""The `BrokerAdmin` port: what the reconciler needs from a broker, whichever it is.

Adapters: `emqx.EmqxAdmin` (EMQX v5 management REST) and `mosquitto.MosquittoAdmin` (Mosquitto 2
dynamic security over MQTT). Every broker failure surfaces as `BrokerUnavailable`; per-user
refusals come back in the results, so one bad account never stops the others.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wfm_core.broker.schemas import BrokerKind, NodeCredential

NODE_USER_PREFIX = "node_"


class BrokerUnavailable(Exception):
    """The broker (or its admin interface) cannot be reached or refused our admin account."""


@dataclass(frozen=True, slots=True)
class NodeAccount:
    """A node credential plus the fingerprint of everything the broker gets for it."""

    credential: NodeCredential
    fingerprint: str

    @property
    def username(self) -> str:
        return self.credential.username

    @property
    def client_id(self) -> str:
        return self.credential.client_id


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The services' own account (mqtt-ingest): EMQX superuser, Mosquitto `wfm-services` role."""

    username: str
    password: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class ObservedUser:
    """A node account as the broker reports it. `fingerprint` is None when the broker cannot
    tell what it holds (EMQX never returns passwords); `detail` is adapter-specific shape."""

    username: str
    fingerprint: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Revocation:
    """An account to remove: the user and the client id whose session must end."""

    username: str
    client_id: str


# username -> None on success, or the broker's error text.
Outcome = dict[str, str | None]


class BrokerAdmin(Protocol):
    kind: BrokerKind

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> None:
        """Open the admin link and check the admin account; BrokerUnavailable otherwise."""

    async def close(self) -> None: ...

    def forget(self) -> None:
        """Drop anything remembered about the broker's contents (next compare is from scratch)."""

    async def ensure_service_account(self, account: ServiceAccount) -> None:
        """Create or fix the services' account; BrokerUnavailable or RuntimeError on failure."""

    async def node_users(self) -> dict[str, ObservedUser]:
        """Every node account on the broker (usernames starting `node_`, and our node roles)."""

    def up_to_date(self, account: NodeAccount, seen: ObservedUser) -> bool:
        """True when `seen` already is exactly `account` (no write needed)."""

    async def upsert_node_users(self, accounts: Sequence[NodeAccount]) -> Outcome:
        """Create or replace accounts with their exact grants."""

    async def revoke_node_users(self, revocations: Sequence[Revocation]) -> Outcome:
        """Delete accounts and end their sessions at once ("already gone" is success)."""


def fingerprint(key: bytes, *parts: str) -> str:
    """A keyed digest of what we set on the broker: detects drift without storing secrets in
    the clear (the broker only keeps salted password hashes we cannot compare against)."""
    message = "\x00".join(parts).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def fingerprint_key(secret_key: str) -> bytes:
    return hashlib.sha256(b"wfm broker fingerprint v1\x00" + secret_key.encode("utf-8")).digest()


def node_account(credential: NodeCredential, *, key: bytes) -> NodeAccount:
    c = credential
    digest = fingerprint(key, "node", c.config_id, c.node_id, c.username, c.client_id, c.password)
    return NodeAccount(credential=c, fingerprint=digest)


def service_account(
    *, username: str, password: str, share_group: str, key: bytes
) -> ServiceAccount:
    digest = fingerprint(key, "services", username, password, share_group)
    return ServiceAccount(username=username, password=password, fingerprint=digest)
