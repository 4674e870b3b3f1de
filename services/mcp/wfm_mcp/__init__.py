"""WFM MCP server for AI clients at /mcp."""

__version__ = "0.1.0"
