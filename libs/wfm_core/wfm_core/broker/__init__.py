"""Broker projection domain: which node credentials the MQTT broker must hold, and who may use
which topic (reference.md §6.1, §6.8, §6.10). services/emqx-sync applies it to the broker."""
