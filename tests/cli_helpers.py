"""Run the glassml entry points in a child process, as a user's shell does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_module(
    module: str,
    *args: str,
    cwd: Path = REPO,
    env: dict[str, str | None] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` with this checkout's src/ first on PYTHONPATH.

    `env` entries override the inherited environment; a None value removes the variable.
    The output is captured as text.
    """
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
