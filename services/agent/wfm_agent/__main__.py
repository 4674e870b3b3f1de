"""`python -m wfm_agent` and the zipapp's entry: `agent …` runs the daemon, anything else is wfmctl.

Installed as `wfm-agent` (a symlink to the zipapp), the program is the daemon too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None, *, program: str | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    name = os.path.basename(program if program is not None else sys.argv[0])
    if name == "wfm-agent" or arguments[:1] == ["agent"]:
        from wfm_agent.agent import main as agent_main

        return agent_main(arguments[1:] if arguments[:1] == ["agent"] else arguments)
    from wfm_agent.cli import main as cli_main

    return cli_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
