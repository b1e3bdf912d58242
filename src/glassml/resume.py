"""Resumable output folders: which files are done, and whether a folder holds the same run.

A long job that writes one `.npz` per item redoes only the items whose file is missing or
unreadable, and refuses to add files to a folder made with other settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from glassml.io import atomic_write_text

log = logging.getLogger(__name__)


def npz_complete(path: Path, keys: Collection[str], redo: str = "made again") -> bool:
    """True if `path` exists and loads with all `keys`; a corrupt file is logged and redone."""
    if not path.exists():
        return False
    try:
        with np.load(path) as f:
            return all(key in f.files for key in keys)
    except Exception:  # truncated or corrupt: redo it
        log.warning("%s is unreadable; it will be %s", path, redo)
        return False


def check_same_settings(
    saved: Path,
    settings: dict[str, Any],
    resumable: Collection[str],
    error: Callable[[list[str]], Exception],
) -> None:
    """Raise `error(keys)` if `saved` records settings that differ in `keys`, else record them.

    Keys in `resumable` (output folder, progress bars, ...) may change between a run and its
    resumption without changing the data, so they are not compared.
    """
    current = {k: v for k, v in settings.items() if k not in resumable}
    if saved.exists():
        before = yaml.safe_load(saved.read_text()) or {}
        before = {k: v for k, v in before.items() if k not in resumable}
        differ = sorted(k for k in set(current) | set(before) if current.get(k) != before.get(k))
        if differ:
            raise error(differ)
    atomic_write_text(saved, yaml.safe_dump(settings, sort_keys=False))
