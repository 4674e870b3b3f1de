"""WFM broker sync: EMQX v5 and Mosquitto dynamic-security users, ACLs and authz."""

__version__ = "0.1.0"
