"""The user's consent to one write, asked through MCP elicitation.

Two transports, one question ("<summary>\\nImpact: <impact>\\nAllow this WG Free Mesh write
operation?", schema `{confirmed: bool}`):

- protocol ≤ 2025-11-25: an `elicitation/create` request sent mid-call on the request's
  stream. It needs a session (a back channel); on a stateless connection it cannot be sent,
  which counts as "unsupported".
- protocol ≥ 2026-07-28: the call answers `InputRequiredResult` carrying the question; the
  client asks the user and retries the same call with the answer. The `request_state` we hand
  out names the exact question; the SDK's RequestStateBoundary seals it and binds it to this
  tool, these arguments and this token, so an answer is never replayed onto another call.

Executed only on accept with `confirmed: true`. Missing capability, no back channel or an error
from the client = unsupported; decline, cancel, `confirmed: false` or no answer in time =
rejected.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import (
    REQUEST_TIMEOUT,
    CallToolRequestParams,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
)
from mcp_types.version import is_version_at_least

Outcome = Literal["accepted", "rejected", "unsupported"]

INPUT_REQUIRED_VERSION = "2026-07-28"
CONFIRM_KEY = "wfm_confirm"
_STATE_PREFIX = "wfm-confirm:"
# How long a user may take to answer before the write is dropped as rejected.
CONSENT_TIMEOUT_SECONDS = 300.0


CONFIRMATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "confirmed": {
            "type": "boolean",
            "title": "Allow",
            "description": "true to run this WG Free Mesh write operation",
        }
    },
    "required": ["confirmed"],
}


def consent_message(summary: str, impact: str) -> str:
    return f"{summary}\nImpact: {impact}\nAllow this WG Free Mesh write operation?"


def _question(message: str) -> ElicitRequest:
    return ElicitRequest(
        params=ElicitRequestFormParams(message=message, requested_schema=CONFIRMATION_SCHEMA)
    )


def _state(message: str) -> str:
    digest = hashlib.sha256(message.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{_STATE_PREFIX}{digest}"


def _decide(answer: ElicitResult | Any) -> Outcome:
    if not isinstance(answer, ElicitResult) or answer.action != "accept":
        return "rejected"
    content = answer.content or {}
    return "accepted" if content.get("confirmed") is True else "rejected"


def _client_can_elicit(ctx: ServerRequestContext[Any, Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare `elicitation: {}` (before modes existed) means form support; url-only does not.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def ask_consent(
    ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams, *, message: str
) -> Outcome | InputRequiredResult:
    """The user's answer, or (≥ 2026-07-28, first round) the question to send back."""
    if not _client_can_elicit(ctx):
        return "unsupported"
    if is_version_at_least(ctx.protocol_version, INPUT_REQUIRED_VERSION):
        state = _state(message)
        answers = params.input_responses or {}
        if params.request_state == state and CONFIRM_KEY in answers:
            return _decide(answers[CONFIRM_KEY])
        return InputRequiredResult(
            input_requests={CONFIRM_KEY: _question(message)}, request_state=state
        )
    try:
        answer = await ctx.session.send_request(
            _question(message),
            ElicitResult,
            request_read_timeout_seconds=CONSENT_TIMEOUT_SECONDS,
            metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
        )
    except NoBackChannelError:
        return "unsupported"
    except MCPError as exc:
        if exc.code == REQUEST_TIMEOUT:
            return "rejected"
        return "unsupported"
    return _decide(answer)
