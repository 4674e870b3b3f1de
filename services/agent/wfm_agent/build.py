"""Build the agent's single-file zipapp (design.md §4) from the installed packages.

The archive holds wfm_agent, wfm_core.protocol (stdlib only) and paho-mqtt, plus paho's license
texts; nothing compiled, so one file runs on any OS and CPU with Python 3.9+. Entries are sorted
and stamped with a fixed time, so the same sources always give the same bytes (and sha256), and
no network is needed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import paho.mqtt

import wfm_agent
import wfm_core.protocol

SHEBANG = b"#!/usr/bin/env python3\n"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
DEFAULT_OUTPUT = Path("dist") / "wfm-agent.pyz"
# Not needed at run time on a node.
_EXCLUDED_AGENT_FILES = frozenset({"build.py"})

MAIN = '''"""WFM node agent zipapp: `python3 wfm-agent.pyz <wfmctl args>` or `… agent`."""
import sys

if sys.version_info < (3, 9):
    sys.stderr.write("wfm-agent needs Python 3.9 or newer\\n")
    sys.exit(1)

from wfm_agent.__main__ import main

sys.exit(main())
'''

CORE_INIT = '''"""WFM core as bundled with the node agent: only its stdlib-only `protocol`."""
'''


def _python_files(package_dir: Path, prefix: str) -> Iterator[tuple[str, bytes]]:
    for path in sorted(package_dir.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if path.suffix not in (".py", ".typed"):
            continue
        relative = path.relative_to(package_dir).as_posix()
        yield f"{prefix}/{relative}", path.read_bytes()


def _license_files(distribution: str, prefix: str) -> Iterator[tuple[str, bytes]]:
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        return
    for file in files:
        name = file.name.lower()
        if "license" in str(file).lower() or name.startswith(("copying", "notice")):
            located = Path(str(file.locate()))
            if located.is_file():
                yield f"{prefix}/{file.name}", located.read_bytes()


def zipapp_entries() -> dict[str, bytes]:
    """Archive name → bytes for everything the zipapp carries."""
    entries: dict[str, bytes] = {"__main__.py": MAIN.encode("utf-8")}
    agent_dir = Path(wfm_agent.__file__).parent
    for name, data in _python_files(agent_dir, "wfm_agent"):
        if name.split("/", 1)[1] not in _EXCLUDED_AGENT_FILES:
            entries[name] = data
    entries["wfm_core/__init__.py"] = CORE_INIT.encode("utf-8")
    protocol_dir = Path(wfm_core.protocol.__file__).parent
    entries.update(_python_files(protocol_dir, "wfm_core/protocol"))
    paho_dir = Path(paho.mqtt.__file__).parent.parent
    entries.update(_python_files(paho_dir, "paho"))
    entries.update(_license_files("paho-mqtt", "licenses/paho-mqtt"))
    return entries


def build_zipapp(output: Path = DEFAULT_OUTPUT) -> Path:
    """Write the zipapp to `output` (atomically, mode 0755) and return its path."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    try:
        with temp.open("wb") as handle:
            handle.write(SHEBANG)
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, data in sorted(zipapp_entries().items()):
                    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    info.create_system = 3  # Unix, whatever builds it
                    archive.writestr(info, data, compresslevel=9)
        os.chmod(temp, 0o755)
        os.replace(temp, output)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return output


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the wfm-agent zipapp.")
    parser.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    path = build_zipapp(args.output)
    sys.stdout.write(f"{path} {path.stat().st_size} bytes sha256={sha256_of(path)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
