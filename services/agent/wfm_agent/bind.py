"""`POST <server>/api/client/bind` with the standard library (reference.md §2.3 "Client bind")."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from typing import Any

from wfm_agent import __version__
from wfm_agent.system import goos, hostname

BIND_PATH = "/api/client/bind"
BIND_TIMEOUT = 15.0
MAX_RESPONSE_BYTES = 8 * 1024 * 1024

# What an operator should do about each error code the bind API answers with (§12).
ERROR_HINTS = {
    "CLIENT_BIND_TOKEN_INVALID": "The bind token is not valid: copy a fresh bind command from "
    "the console.",
    "CLIENT_BIND_TOKEN_USED": "This bind token was already used: create a new bind command "
    "(a token binds once).",
    "CLIENT_BIND_TOKEN_EXPIRED": "The bind token has expired (tokens last 5 minutes): create a "
    "new bind command.",
    "CLIENT_BIND_NOT_ALLOWED": "The server does not let this node bind: it must be an enabled "
    "dynamic node of an enabled config.",
    "CLIENT_BIND_STATIC_NODE": "Only dynamic nodes can bind a client.",
    "MQTT_DISABLED": "MQTT services are disabled on the server, so nodes cannot bind.",
    "MQTT_TLS_CA_NOT_READY": "The server has MQTT TLS on but its CA certificate is not ready: "
    "ask the administrator, then bind again.",
    "EMQX_USER_SYNC_FAILED": "The server could not create this node's broker account: try "
    "again shortly.",
    "VALIDATION_ERROR": "The server rejected the bind request as malformed.",
}


class BindError(Exception):
    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def normalize_server(url: str) -> str:
    value = url.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or any(ch.isspace() for ch in value):
        raise ValueError(f"server must be an http:// or https:// URL, got {url!r}")
    return value


def bind_request_body(token: str) -> dict[str, str]:
    return {
        "token": token,
        "hostname": hostname(),
        "platform": goos(),
        "client_version": __version__,
    }


def _error_from(raw: bytes, status: int) -> BindError:
    code, message = "", ""
    try:
        document = json.loads(raw.decode("utf-8"))
        error = document.get("error") if isinstance(document, dict) else None
        if isinstance(error, dict):
            code = str(error.get("code") or "")
            message = str(error.get("message") or "")
    except (UnicodeDecodeError, ValueError):
        pass
    hint = ERROR_HINTS.get(code)
    if hint and message and code == "VALIDATION_ERROR":
        hint = f"{hint} ({message})"
    text = hint or (f"{message}" if message else f"the server answered HTTP {status}")
    return BindError(text, code=code, status=status)


def request_bind(
    server: str, token: str, *, cafile: str | None = None, timeout: float = BIND_TIMEOUT
) -> dict[str, Any]:
    """The `data` of a successful bind response; BindError with an operator-facing message."""
    url = normalize_server(server) + BIND_PATH
    body = json.dumps(bind_request_body(token)).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"wfmctl/{__version__}",
        },
    )
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            raw = response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        raise _error_from(exc.read(MAX_RESPONSE_BYTES), exc.code) from None
    except urllib.error.URLError as exc:
        raise BindError(f"cannot reach {server}: {exc.reason}") from None
    except (socket.timeout, TimeoutError):
        raise BindError(f"{server} did not answer within {timeout:g} s") from None
    except (ssl.SSLError, OSError) as exc:
        raise BindError(f"cannot reach {server}: {exc}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BindError(f"{url} did not answer with JSON: is this a WFM server?") from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or document.get("success") is not True:
        raise BindError(f"{url} answered without a bind result: is this a WFM server?")
    return data
