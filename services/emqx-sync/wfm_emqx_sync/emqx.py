"""EMQX v5 adapter: built-in-database users over the management REST API (reference §6.10).

API key + secret as HTTP Basic. Users: POST …/users (201, duplicate 409 → PUT …/users/{id}),
DELETE …/users/{id} (204, 404 = gone), GET …/users paged. Sessions: DELETE /clients/{clientid}
kicks (404 CLIENTID_NOT_FOUND = gone) and DELETE /clients/{clientid}/authorization/cache drops
the authz answers EMQX caches for about a minute. Grants are not stored here: EMQX asks our
authz callback (wfm_emqx_sync.authz) for every publish/subscribe it has not cached.

EMQX never returns passwords, so what we last wrote is remembered in process (`_written`): a
periodic reconcile re-writes only accounts that changed since, and a forced one (start, broker
recovery, snapshot restore) re-writes everything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from wfm_core.broker.schemas import BrokerKind
from wfm_emqx_sync.port import (
    NODE_USER_PREFIX,
    BrokerUnavailable,
    NodeAccount,
    ObservedUser,
    Outcome,
    Revocation,
    ServiceAccount,
)

log = logging.getLogger("wfm.emqx_sync.emqx")

USERS_PATH = "/api/v5/authentication/password_based:built_in_database/users"
CLIENTS_PATH = "/api/v5/clients"


class EmqxError(RuntimeError):
    """EMQX refused one request (status and its `code`/`message`)."""

    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        try:
            body = response.json()
            detail = f"{body.get('code', '')} {body.get('message', '')}".strip()
        except ValueError:
            detail = response.text[:200]
        super().__init__(f"{method} {path}: HTTP {response.status_code} {detail}".strip())
        self.status_code = response.status_code


def _user_path(user_id: str) -> str:
    return f"{USERS_PATH}/{quote(user_id, safe='')}"


def _client_path(client_id: str) -> str:
    return f"{CLIENTS_PATH}/{quote(client_id, safe='')}"


class EmqxAdmin:
    """BrokerAdmin over the EMQX v5 management API."""

    kind: BrokerKind = "emqx"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        api_secret: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
        page_limit: int = 1000,
        concurrency: int = 8,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=httpx.BasicAuth(api_key, api_secret),
            headers={"accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        self._page_limit = page_limit
        self._concurrency = concurrency
        self._connected = False
        self._written: dict[str, str] = {}  # user_id -> fingerprint we last wrote

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        await self._request("GET", USERS_PATH, params={"page": 1, "limit": 1}, ok=(200,))
        self._connected = True

    async def close(self) -> None:
        self._connected = False

    async def aclose(self) -> None:
        """Release the HTTP pool (process shutdown)."""
        self._connected = False
        await self._http.aclose()

    def forget(self) -> None:
        self._written.clear()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...],
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """One call; BrokerUnavailable for transport errors, 5xx and a refused API key."""
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            self._connected = False
            raise BrokerUnavailable(f"EMQX API {method} {path}: {exc!r}") from exc
        if response.status_code in ok:
            return response
        if response.status_code in (401, 403) or response.status_code >= 500:
            self._connected = False
            raise BrokerUnavailable(str(EmqxError(method, path, response)))
        raise EmqxError(method, path, response)

    # --- users --------------------------------------------------------------------------

    async def _upsert_user(self, user_id: str, password: str, *, superuser: bool) -> None:
        body = {"user_id": user_id, "password": password, "is_superuser": superuser}
        response = await self._request("POST", USERS_PATH, json=body, ok=(200, 201, 409))
        if response.status_code != 409:
            return
        update = {"password": password, "is_superuser": superuser}
        response = await self._request("PUT", _user_path(user_id), json=update, ok=(200, 404))
        if response.status_code == 404:  # deleted between our two calls: create it again
            await self._request("POST", USERS_PATH, json=body, ok=(200, 201))

    async def ensure_service_account(self, account: ServiceAccount) -> None:
        await self._upsert_user(account.username, account.password, superuser=True)

    async def node_users(self) -> dict[str, ObservedUser]:
        seen: dict[str, ObservedUser] = {}
        page = 1
        while True:
            params = {"page": page, "limit": self._page_limit, "like_user_id": NODE_USER_PREFIX}
            response = await self._request("GET", USERS_PATH, params=params, ok=(200,))
            body = response.json()
            data = body.get("data") or []
            for user in data:
                user_id = str(user.get("user_id", ""))
                if user_id.startswith(NODE_USER_PREFIX):
                    seen[user_id] = ObservedUser(
                        username=user_id, detail={"is_superuser": bool(user.get("is_superuser"))}
                    )
            meta = body.get("meta") or {}
            more = meta.get("hasnext")
            if more is None:  # older EMQX: no hasnext, infer from count / a full page
                count = meta.get("count")
                more = page * self._page_limit < count if isinstance(count, int) else False
                more = more or (count is None and len(data) >= self._page_limit)
            if not more or not data:
                return seen
            page += 1

    def up_to_date(self, account: NodeAccount, seen: ObservedUser) -> bool:
        return self._written.get(account.username) == account.fingerprint and not seen.detail.get(
            "is_superuser"
        )

    async def _each(
        self,
        items: Sequence[Any],
        call: Callable[[Any], Awaitable[None]],
        key: Callable[[Any], str],
    ) -> Outcome:
        """Run `call` for every item, a few at a time; the first outage aborts the lot."""
        semaphore = asyncio.Semaphore(self._concurrency)
        outcome: Outcome = {}

        async def one(item: Any) -> None:
            async with semaphore:
                try:
                    await call(item)
                    outcome[key(item)] = None
                except EmqxError as exc:
                    outcome[key(item)] = str(exc)

        results = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return outcome

    async def upsert_node_users(self, accounts: Sequence[NodeAccount]) -> Outcome:
        async def upsert(account: NodeAccount) -> None:
            self._written.pop(account.username, None)
            await self._upsert_user(account.username, account.credential.password, superuser=False)
            self._written[account.username] = account.fingerprint

        return await self._each(accounts, upsert, lambda a: a.username)

    async def revoke_node_users(self, revocations: Sequence[Revocation]) -> Outcome:
        async def revoke(revocation: Revocation) -> None:
            self._written.pop(revocation.username, None)
            await self._request("DELETE", _user_path(revocation.username), ok=(200, 204, 404))
            # Deleting the user ends neither the session nor its cached authz answers.
            client = _client_path(revocation.client_id)
            await self._request("DELETE", f"{client}/authorization/cache", ok=(200, 204, 404))
            await self._request("DELETE", client, ok=(200, 204, 404))

        return await self._each(revocations, revoke, lambda r: r.username)

    async def list_clients(self, *, username: str | None = None) -> list[dict[str, Any]]:
        """Connected clients (operators, tests): every page of GET /clients."""
        clients: list[dict[str, Any]] = []
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "limit": self._page_limit}
            if username is not None:
                params["username"] = username
            response = await self._request("GET", CLIENTS_PATH, params=params, ok=(200,))
            body = response.json()
            data = body.get("data") or []
            clients += data
            if not (body.get("meta") or {}).get("hasnext") or not data:
                return clients
            page += 1
