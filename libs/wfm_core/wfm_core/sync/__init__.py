"""Desired → staged → confirmed config state per node (reference.md §3.8)."""
