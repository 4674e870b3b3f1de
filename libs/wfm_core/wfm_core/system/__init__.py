"""System domain: key/value system settings, health and status projections."""
