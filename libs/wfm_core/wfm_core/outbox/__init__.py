"""Transactional outbox: events and node commands written with the business change."""
