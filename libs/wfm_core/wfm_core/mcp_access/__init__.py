"""MCP access: tokens (stored hashed) and the audit trail of every MCP call."""
