"""portforward domain."""
