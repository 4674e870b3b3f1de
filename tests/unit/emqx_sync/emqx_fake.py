"""An HTTP fake of the EMQX v5 management API subset emqx-sync uses (EMQX cannot run here).

Built from the EMQX 5.8 API contract (emqx_authn_api.erl, emqx_mgmt_api_clients.erl and the
REST API docs): HTTP Basic with an API key/secret (401 BAD_API_KEY_OR_SECRET otherwise); users
of the `password_based:built_in_database` authenticator: POST → 201 {user_id, is_superuser},
duplicate → 409 ALREADY_EXISTS; PUT …/{user_id} → 200, missing → 404 NOT_FOUND; DELETE → 204,
missing → 404 NOT_FOUND; GET paged with `page` (from 1), `limit`, `like_user_id` (substring) →
{data, meta: {page, limit, count, hasnext}}. Clients: GET /clients paged, DELETE
/clients/{clientid} (kick) → 204, unknown → 404 CLIENTID_NOT_FOUND; DELETE
/clients/{clientid}/authorization/cache → 204, unknown → 404 CLIENTID_NOT_FOUND.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

AUTHENTICATOR = "password_based:built_in_database"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


@dataclass
class FakeEmqx:
    api_key: str = "wfm-key"
    api_secret: str = "wfm-secret"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    unavailable: bool = False  # answer 503 to everything (EMQX starting / overloaded)
    vanish_on_put: bool = False  # a user deleted between our POST (409) and PUT
    refuse: set[str] = field(default_factory=set)  # user ids answered 400 (a user_error)

    def __post_init__(self) -> None:
        base = "/api/v5/authentication/{authenticator}/users"
        self.app = Starlette(
            routes=[
                Route(base, self._users, methods=["GET", "POST"]),
                Route(base + "/{user_id}", self._user, methods=["GET", "PUT", "DELETE"]),
                Route("/api/v5/clients", self._list_clients, methods=["GET"]),
                Route("/api/v5/clients/{clientid}", self._client, methods=["GET", "DELETE"]),
                Route(
                    "/api/v5/clients/{clientid}/authorization/cache",
                    self._authz_cache,
                    methods=["GET", "DELETE"],
                ),
            ]
        )
        self.app.add_middleware(_Recorder, fake=self)

    def connect(self, clientid: str, username: str) -> None:
        """A client session as EMQX would hold it (with a cached authz answer)."""
        self.clients[clientid] = {
            "clientid": clientid,
            "username": username,
            "connected": True,
            "authz_cache": [{"topic": "t", "access": "publish", "result": "allow"}],
        }

    # --- helpers --------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (key, secret) == (self.api_key, self.api_secret)

    def _guard(self, request: Request) -> Response | None:
        if self.unavailable:
            return _error(503, "SERVICE_UNAVAILABLE", "Service unavailable")
        if not self._authorized(request):
            return _error(401, "BAD_API_KEY_OR_SECRET", "Check api_key/api_secret")
        if "authenticator" in request.path_params and (
            request.path_params["authenticator"] != AUTHENTICATOR
        ):
            authenticator = request.path_params["authenticator"]
            return _error(404, "NOT_FOUND", f"Authenticator '{authenticator}' does not exist")
        return None

    @staticmethod
    def _page(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
        page = int(request.query_params.get("page", "1"))
        limit = int(request.query_params.get("limit", "100"))
        if page < 1 or not 1 <= limit <= 10_000:
            return _error(400, "INVALID_PARAMETER", "page_limit_invalid")
        chunk = items[(page - 1) * limit : page * limit]
        meta = {"page": page, "limit": limit, "count": len(items)}
        meta["hasnext"] = page * limit < len(items)
        return JSONResponse({"data": chunk, "meta": meta})

    @staticmethod
    async def _json(request: Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    # --- users ----------------------------------------------------------------------------

    def _public(self, user_id: str) -> dict[str, Any]:
        return {"user_id": user_id, "is_superuser": self.users[user_id]["is_superuser"]}

    async def _users(self, request: Request) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        if request.method == "GET":
            like = request.query_params.get("like_user_id")
            ids = sorted(u for u in self.users if like is None or like in u)
            return self._page(request, [self._public(u) for u in ids])
        body = await self._json(request)
        if body is None or "user_id" not in body:
            return _error(400, "BAD_REQUEST", "Missing required parameter: user_id")
        if "password" not in body:
            return _error(400, "BAD_REQUEST", "Missing required parameter: password")
        user_id = str(body["user_id"])
        if user_id in self.refuse:
            return _error(400, "BAD_REQUEST", "User error: bad_username_or_password")
        if user_id in self.users:
            return _error(409, "ALREADY_EXISTS", "User already exists")
        self.users[user_id] = {
            "password": str(body["password"]),
            "is_superuser": bool(body.get("is_superuser", False)),
        }
        return JSONResponse(self._public(user_id), status_code=201)

    async def _user(self, request: Request) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        user_id = request.path_params["user_id"]
        if request.method == "PUT" and self.vanish_on_put:
            self.vanish_on_put = False
            self.users.pop(user_id, None)
        if user_id not in self.users:
            return _error(404, "NOT_FOUND", "User not found")
        if request.method == "GET":
            return JSONResponse(self._public(user_id))
        if request.method == "DELETE":
            del self.users[user_id]
            return Response(status_code=204)
        body = await self._json(request)
        if body is None or not ({"password", "is_superuser"} & body.keys()):
            return _error(400, "BAD_REQUEST", "Missing required parameter: password")
        if "password" in body:
            self.users[user_id]["password"] = str(body["password"])
        if "is_superuser" in body:
            self.users[user_id]["is_superuser"] = bool(body["is_superuser"])
        return JSONResponse(self._public(user_id))

    # --- clients --------------------------------------------------------------------------

    async def _list_clients(self, request: Request) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        usernames = request.query_params.getlist("username")
        items = [
            {k: v for k, v in c.items() if k != "authz_cache"}
            for _, c in sorted(self.clients.items())
            if not usernames or c["username"] in usernames
        ]
        return self._page(request, items)

    async def _client(self, request: Request) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        clientid = request.path_params["clientid"]
        if clientid not in self.clients:
            return _error(404, "CLIENTID_NOT_FOUND", "Client ID not found")
        if request.method == "DELETE":
            del self.clients[clientid]
            return Response(status_code=204)
        return JSONResponse({k: v for k, v in self.clients[clientid].items() if k != "authz_cache"})

    async def _authz_cache(self, request: Request) -> Response:
        if (refused := self._guard(request)) is not None:
            return refused
        clientid = request.path_params["clientid"]
        if clientid not in self.clients:
            return _error(404, "CLIENTID_NOT_FOUND", "Client ID not found")
        if request.method == "DELETE":
            self.clients[clientid]["authz_cache"] = []
            return Response(status_code=204)
        return JSONResponse(self.clients[clientid]["authz_cache"])


class _Recorder:
    """Pure ASGI middleware: records (method, path, status) of every call."""

    def __init__(self, app: Any, fake: FakeEmqx) -> None:
        self.app, self.fake = app, fake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 0}

        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, record)
        self.fake.calls.append((scope["method"], scope["path"], status["code"]))
