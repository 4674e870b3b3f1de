"""WFM node agent (wfm-agent) and its CLI (wfmctl)."""

__version__ = "0.1.0"
