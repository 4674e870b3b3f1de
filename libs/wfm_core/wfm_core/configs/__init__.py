"""configs domain."""
