"""The MCP tools: `REGISTRY` maps each tool name to its spec (reads first, then writes)."""

from __future__ import annotations

from wfm_mcp.tools import read as _read  # noqa: F401  (registers the read tools)
from wfm_mcp.tools import write as _write  # noqa: F401  (registers the write tools)
from wfm_mcp.tools.base import REGISTRY, ToolEnv, ToolSpec

__all__ = ["REGISTRY", "ToolEnv", "ToolSpec"]
