"""The MCP server: tool and resource handlers over the `wfm_core` use cases, with consent and
audit. Built on the SDK's low-level `Server` so that argument validation, permission checks,
consent and error shaping are ours: every call ends in an audited result, never a broken
session.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    InputRequiredResult,
    ListResourcesResult,
    ListToolsResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    TextResourceContents,
    Tool,
    ToolAnnotations,
)
from pydantic import ValidationError

from wfm_core.db.uow import unit_of_work
from wfm_core.errors import WfmError
from wfm_core.mcp_access import service as mcp_access
from wfm_core.mcp_access.schemas import (
    CONFIRMATION_NOT_ALLOWED,
    RESULT_FAILED,
    RESULT_REJECTED,
    RESULT_SUCCEEDED,
    TARGET_RESOURCE,
    TARGET_TOOL,
    McpAuditEntry,
    McpPrincipal,
)
from wfm_mcp import __version__, metrics
from wfm_mcp.auth import principal_of_scope
from wfm_mcp.consent import ask_consent, consent_message
from wfm_mcp.errors import (
    CONFIRMATION_REJECTED,
    CONFIRMATION_UNSUPPORTED,
    RESOURCE_NOT_FOUND,
    TOOL_NOT_FOUND,
    WRITE_NOT_ALLOWED,
    as_wfm_error,
    error_result,
    success_result,
    validation_error,
)
from wfm_mcp.resources import RESOURCES
from wfm_mcp.state import McpState
from wfm_mcp.tools import REGISTRY, ToolEnv, ToolSpec

log = logging.getLogger("wfm.mcp")

SERVER_NAME = "wg-free-mesh"
INSTRUCTIONS = (
    "WG Free Mesh manages WireGuard/AmneziaWG meshes. Read wfm://help/overview first, then "
    "wfm://help/workflows. read_* tools are safe; write_* tools need a write token and the "
    "user's confirmation. Failures are results with is_error whose text carries an error code."
)
DESTRUCTIVE = frozenset(
    {
        "write_delete_config",
        "write_delete_node",
        "write_delete_tag",
        "write_delete_peer_link_group",
        "write_delete_port_forward_rule",
        "write_quick_generate_mesh",
        "write_reset_client",
        "write_update_config",
        "write_update_node",
        "write_update_peer_link_group",
        "write_endpoint_control",
    }
)


def request_state_key(secret_key: str) -> bytes:
    """The key sealing 2026-07-28 `requestState`: shared by every replica, derived from
    WFM_SECRET_KEY under its own label (never the secret itself)."""
    return hashlib.sha256(b"wfm-mcp/request-state\x00" + secret_key.encode()).digest()


def _principal_id(ctx: ServerRequestContext[Any, Any]) -> str | None:
    principal = principal_of_scope(getattr(ctx.request, "scope", None))
    return principal.token_id if principal is not None else None


def _tool(spec: ToolSpec[Any]) -> Tool:
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema(),
        annotations=ToolAnnotations(
            title=spec.title,
            read_only_hint=not spec.write,
            destructive_hint=spec.name in DESTRUCTIVE if spec.write else None,
            open_world_hint=False,
        ),
    )


class WfmMcp:
    """The handlers; `state` is attached by the app's lifespan before any request."""

    def __init__(self, *, secret_key: str) -> None:
        self.state: McpState | None = None
        self._tools = [_tool(spec) for spec in REGISTRY.values()]
        self._resources = [
            Resource(
                uri=spec.uri,
                name=spec.name,
                title=spec.title,
                description=spec.description,
                mime_type=spec.mime_type,
            )
            for spec in RESOURCES.values()
        ]
        self.server: Server[Any] = Server(
            SERVER_NAME,
            version=__version__,
            title="WG Free Mesh",
            instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_read_resource=self.read_resource,
        )
        security = RequestStateSecurity(
            keys=[request_state_key(secret_key)], bind_principal=_principal_id
        )
        self.server.middleware.append(RequestStateBoundary(security, default_audience=SERVER_NAME))

    # --- plumbing -----------------------------------------------------------------------------

    def _state(self) -> McpState:
        if self.state is None:
            raise RuntimeError("MCP service is not started")
        return self.state

    def _principal(self, ctx: ServerRequestContext[Any, Any]) -> McpPrincipal:
        principal = principal_of_scope(getattr(ctx.request, "scope", None))
        if principal is None:  # the bearer middleware guarantees one on every HTTP request
            raise MCPError(code=INVALID_PARAMS, message="No MCP principal on this request")
        return principal

    def _base_url(self, ctx: ServerRequestContext[Any, Any]) -> str:
        state = self._state()
        if state.settings.public_origin:
            return state.settings.public_origin.rstrip("/")
        base_url = getattr(ctx.request, "base_url", None)
        return str(base_url).rstrip("/") if base_url is not None else ""

    async def _audit(self, entry: McpAuditEntry) -> None:
        """Recorded in its own transaction: a failed use case's rollback keeps its audit row."""
        try:
            async with unit_of_work(self._state().sessions) as session:
                await mcp_access.record_audit(session, entry=entry)
        except Exception:
            log.exception("could not record MCP audit row", extra={"target": entry.target_name})

    def _observe(self, audit: McpAuditEntry, *, started: float, known: bool) -> None:
        elapsed = time.perf_counter() - started
        metrics.observe_call(
            audit.target_kind, audit.target_name if known else "unknown", audit.result, elapsed
        )
        log.info(
            "%s %s %s",
            audit.target_kind,
            audit.target_name,
            audit.result,
            extra={
                "target": audit.target_name,
                "result": audit.result,
                "error_code": audit.error_code,
                "confirmation": audit.confirmation_result,
                "token_id": audit.token_id,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )

    async def _failed(
        self, entry: dict[str, Any], error: WfmError, *, started: float, known: bool = True
    ) -> CallToolResult:
        """An error result, audited in its own transaction (the use case's was rolled back)."""
        entry.setdefault("result", RESULT_FAILED)
        audit = McpAuditEntry(**entry, error_code=error.code)
        await self._audit(audit)
        self._observe(audit, started=started, known=known)
        return error_result(error)

    # --- handlers -----------------------------------------------------------------------------

    async def list_tools(
        self, _ctx: ServerRequestContext[Any, Any], _params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return ListToolsResult(tools=self._tools)

    async def list_resources(
        self, _ctx: ServerRequestContext[Any, Any], _params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        return ListResourcesResult(resources=self._resources)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
    ) -> CallToolResult | InputRequiredResult:
        started = time.perf_counter()
        state = self._state()
        principal = self._principal(ctx)
        entry: dict[str, Any] = {
            "token_id": principal.token_id,
            "token_name": principal.token_name,
            "permission": principal.permission,
            "target_kind": TARGET_TOOL,
            "target_name": params.name,
        }
        spec = REGISTRY.get(params.name)
        if spec is None:
            entry["summary"] = f"Unknown tool {params.name[:64]}"
            error = WfmError(
                TOOL_NOT_FOUND,
                f"No tool named {params.name[:64]!r}; see wfm://help/tool-index",
                status=404,
            )
            return await self._failed(entry, error, started=started, known=False)

        async def finish(error: WfmError) -> CallToolResult:
            return await self._failed(entry, error, started=started)

        entry["summary"] = spec.title
        if spec.write:
            entry["confirmation_required"] = True
            if not principal.can_write:
                entry.update(confirmation_result=CONFIRMATION_NOT_ALLOWED, result=RESULT_REJECTED)
                return await finish(
                    WfmError(
                        WRITE_NOT_ALLOWED,
                        "This MCP token is read-only; write tools need a write token",
                        status=403,
                    )
                )
        try:
            args = spec.args.model_validate(params.arguments or {})
        except ValidationError as exc:
            return await finish(validation_error(exc))
        effect = spec.effect(args)
        entry.update(summary=effect.summary, impact=effect.impact)
        if spec.write:
            consent = await ask_consent(
                ctx, params, message=consent_message(effect.summary, effect.impact)
            )
            if isinstance(consent, InputRequiredResult):
                return consent  # the client asks the user and calls again with the answer
            entry["confirmation_result"] = consent
            if consent != "accepted":
                entry["result"] = RESULT_REJECTED
                if consent == "unsupported":
                    code, message = (
                        CONFIRMATION_UNSUPPORTED,
                        "This client cannot ask for confirmation (MCP elicitation); "
                        "write operations need it",
                    )
                else:
                    code, message = CONFIRMATION_REJECTED, "The user did not allow this operation"
                return await finish(WfmError(code, message, status=403))
        try:
            async with unit_of_work(state.sessions) as session:
                env = ToolEnv(
                    session=session,
                    settings=state.settings,
                    redis=state.redis,
                    principal=principal,
                    base_url=self._base_url(ctx),
                )
                result = success_result(await spec.run(env, args))
                # The audit row commits with the change: no write without its audit row.
                audit = McpAuditEntry(**entry, result=RESULT_SUCCEEDED)
                await mcp_access.record_audit(session, entry=audit)
        except Exception as exc:
            return await finish(as_wfm_error(exc, target=spec.name))
        self._observe(audit, started=started, known=True)
        return result

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        started = time.perf_counter()
        state = self._state()
        principal = self._principal(ctx)
        uri = str(params.uri)
        spec = RESOURCES.get(uri)
        entry = McpAuditEntry(
            token_id=principal.token_id,
            token_name=principal.token_name,
            permission=principal.permission,
            target_kind=TARGET_RESOURCE,
            target_name=spec.key if spec is not None else uri,
            summary=f"Read {spec.title if spec is not None else uri[:64]}",
            result=RESULT_FAILED,
        )
        if spec is None:
            entry.error_code = RESOURCE_NOT_FOUND
            await self._audit(entry)
            self._observe(entry, started=started, known=False)
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"{RESOURCE_NOT_FOUND}: no resource {uri[:128]!r}",
                data={"uri": uri[:256]},
            )
        try:
            async with unit_of_work(state.sessions) as session:
                env = ToolEnv(
                    session=session,
                    settings=state.settings,
                    redis=state.redis,
                    principal=principal,
                    base_url=self._base_url(ctx),
                )
                text = await spec.read(env)
                entry.result = RESULT_SUCCEEDED
                await mcp_access.record_audit(session, entry=entry)
        except Exception as exc:
            error = as_wfm_error(exc, target=uri)
            entry.result, entry.error_code = RESULT_FAILED, error.code
            await self._audit(entry)
            self._observe(entry, started=started, known=True)
            raise MCPError(
                code=INTERNAL_ERROR,
                message=f"{error.code}: {error.message}",
                data={"uri": uri, "code": error.code},
            ) from exc
        self._observe(entry, started=started, known=True)
        return ReadResourceResult(
            contents=[TextResourceContents(uri=uri, text=text, mime_type=spec.mime_type)]
        )
