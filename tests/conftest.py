"""Test-wide setup: a fixed secret key so encrypted columns are reproducible."""

from __future__ import annotations

import os

os.environ.setdefault("WFM_SECRET_KEY", "wfm-test-secret-key")
os.environ.setdefault("WFM_DEBUG", "true")
