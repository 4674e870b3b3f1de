"""Snapshots: encrypted application-level backups, their index, import, export and restore."""
