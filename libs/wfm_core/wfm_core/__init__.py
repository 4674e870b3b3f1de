"""WFM core: domain rules, persistence, protocol and settings shared by every WFM service."""

__version__ = "0.1.0"
