"""Persistence: engine and session factory, declarative base, column types, unit of work."""
