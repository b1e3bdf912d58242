"""Where glassml runs: the project root, the configs and the embedded sample.

Inside a checkout of the repository the project root is the folder holding the root
marker (`.project-root`, as in the lightning-hydra-template), whatever sub-folder the
command starts from; anywhere else it is the current folder. The configs and the sample
dataset ship inside the package (links to conf/ and data/sample/ in the repository,
real files in a wheel), so an installed glassml finds them from any folder.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_MARKER = ".project-root"
PACKAGE_DIR = Path(__file__).resolve().parent


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest folder at or above `start` (default: the current folder) holding the
    root marker; `start` itself when there is none."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ROOT_MARKER).is_file():
            return folder
    return here


def config_dir() -> Path:
    """The configs: the repository's conf/ next to src/, else the copy in the package."""
    repo = PACKAGE_DIR.parents[1] / "conf"
    return repo if repo.is_dir() else PACKAGE_DIR / "conf"


def sample_dir(data_dir: str | os.PathLike[str]) -> Path:
    """The embedded sample: `<data_dir>/sample` when it holds configurations (a checkout,
    or a user's own copy), else the copy shipped in the package."""
    local = Path(data_dir) / "sample"
    if any(local.glob("config_*.npz")):
        return local
    packaged = PACKAGE_DIR / "sample"
    return packaged if any(packaged.glob("config_*.npz")) else local
