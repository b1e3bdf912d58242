"""Descriptors of one file, cached on disk and keyed by the specs and the file identity."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glassml.features.registry import compute_descriptors
from glassml.features.spec import BaseSpec, spec_to_dict
from glassml.io import atomic_save_npz

#: Bump when any descriptor's definition changes, so that old caches are never read.
FEATURES_VERSION = 3


def cache_key(path: Path, specs: Sequence[BaseSpec], num_species: int, reader: Any) -> str:
    """Hash of what determines the descriptors: specs, species count, reader, file identity."""
    st = path.stat()
    blob = {
        "version": FEATURES_VERSION,
        "specs": [spec_to_dict(s) for s in specs],
        "num_species": int(num_species),
        "reader": repr(reader),
        "file": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:20]


def file_descriptors(
    path: Path,
    reader: Callable[[Path], Any],
    specs: Sequence[BaseSpec],
    num_species: int,
    cache_dir: Path | None = None,
    key: str = "dataset.node_features",
) -> tuple[np.ndarray, list[str]]:
    """float32 [N, F] descriptors of the configuration in `path`, and their names."""
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / f"{path.stem}-{cache_key(path, specs, num_species, reader)}.npz"
        if cache_file.exists():
            try:
                with np.load(cache_file, allow_pickle=False) as f:
                    return f["values"], [str(n) for n in f["names"]]
            except Exception:  # a corrupt entry (e.g. disk full) is recomputed, not fatal
                pass
    conf = reader(path)
    values, names = compute_descriptors(
        conf.positions, conf.types, conf.box, num_species, specs, source=str(path), key=key
    )
    values = values.astype(np.float32)
    if cache_file is not None:
        atomic_save_npz(cache_file, values=values, names=np.asarray(names, dtype=str))
    return values, names
