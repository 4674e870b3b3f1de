"""Mesh topology: peer links, link drafts, quick mesh, endpoint resolution and validation."""
