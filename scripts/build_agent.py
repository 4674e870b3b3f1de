"""Build dist/wfm-agent.pyz, the node agent as one file (`uv run --frozen scripts/build_agent.py`).

`build_zipapp(output)` is importable from here too; the implementation lives in wfm_agent.build.
"""

from __future__ import annotations

import sys

from wfm_agent.build import build_zipapp, main

__all__ = ["build_zipapp", "main"]

if __name__ == "__main__":
    sys.exit(main())
