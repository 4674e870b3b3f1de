"""Admin authentication: password, session tokens, download tokens, login rate limiting."""
