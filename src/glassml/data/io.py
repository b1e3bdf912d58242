"""Readers for propensity datasets: our own/GlassBench `.npz` files and the Bapst release.

Every reader returns the same `Configuration` record, so the rest of the pipeline never
cares where a file came from. Readers validate what they read (shapes, NaNs, missing
keys) and name the file and key in the error, because a bad file deep inside a dataset
is otherwise found only as a cryptic shape error during training.
"""

from __future__ import annotations

import os
import pickle
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Position sets a dataset may train on, mapped to their key in GlassBench-layout files.
POSITION_KEYS: dict[str, str] = {
    "equilibrium": "initial_positions",
    "inherent": "initial_positions_inherent",
    "cage": "initial_positions_cage",
}

#: Per-particle dynamical targets a GlassBench-layout file may hold, each [n_times, N].
TARGET_KEYS: tuple[str, ...] = ("md_prop", "md_prop_cage", "bb_prop")

SPECIES_NAMES: tuple[str, ...] = tuple(string.ascii_uppercase)  # 0=A, 1=B, 2=C, ...


class DatasetError(ValueError):
    """A dataset file or directory is missing or malformed; the message names it."""


@dataclass
class Configuration:
    """One initial configuration with its propensities, whatever file format it came from."""

    source: str
    types: np.ndarray  # [N] int64
    positions: dict[str, np.ndarray]  # name in POSITION_KEYS -> [N, d] float64, wrapped
    box: np.ndarray  # [d] float64
    targets: dict[str, np.ndarray]  # name -> [n_times, N] float64
    times: np.ndarray | None = None  # [n_times]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_particles(self) -> int:
        return int(self.types.shape[0])

    @property
    def dim(self) -> int:
        return int(self.box.shape[0])


# --------------------------------------------------------------------------- validation


def _check_finite(path: str, key: str, array: np.ndarray) -> None:
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise DatasetError(f"{path}: key '{key}' contains {bad} NaN/inf values")


def _check_shape(path: str, key: str, array: np.ndarray, expected: Sequence[int | None]) -> None:
    ok = array.ndim == len(expected) and all(
        e is None or s == e for s, e in zip(array.shape, expected, strict=False)
    )
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise DatasetError(f"{path}: key '{key}' has shape {array.shape}, expected {want}")


def _box_from(
    path: str, stored: Any, box: Sequence[float] | None, density: float | None, n: int, d: int
) -> np.ndarray:
    """Box edges from the file, else from the config (explicit box, or N and density)."""
    if stored is not None:
        out = np.broadcast_to(np.asarray(stored, dtype=np.float64).reshape(-1), (d,)).copy()
    elif box is not None:
        out = np.broadcast_to(np.asarray(box, dtype=np.float64).reshape(-1), (d,)).copy()
    elif density is not None:
        out = np.full(d, (n / float(density)) ** (1.0 / d))
    else:
        raise DatasetError(
            f"{path}: no 'box' key in the file and neither dataset.reader.box nor "
            "dataset.reader.density is set; give one of them in the dataset config"
        )
    if np.any(out <= 0) or not np.all(np.isfinite(out)):
        raise DatasetError(f"{path}: box {out} must be positive and finite")
    return out


# --------------------------------------------------------------------------- readers


@dataclass
class ConfigDefaults:
    """Metadata from the dataset config, used where a file does not carry its own."""

    box: Sequence[float] | None = None
    density: float | None = None
    times: Sequence[float] | None = None
    temperature: float | None = None


@dataclass
class NpzReader(ConfigDefaults):
    """Reads one `.npz` per configuration in the GlassBench layout (DESIGN.md, "Data format").

    Files written by `glassml-simulate` carry their own metadata; GlassBench files lack
    box, times and temperature, which then come from these fields (set in the dataset
    config). Values stored in a file win over the config.
    """

    def __call__(self, path: str | os.PathLike[str]) -> Configuration:
        path = str(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError) as exc:
            raise DatasetError(f"{path}: cannot be read as an .npz file ({exc})") from exc
        for key in ("types", "initial_positions"):
            if key not in data:
                raise DatasetError(f"{path}: missing required key '{key}'")

        types = np.asarray(data["types"])
        _check_shape(path, "types", types, (None,))
        if not np.issubdtype(types.dtype, np.integer) and np.any(types != np.round(types)):
            raise DatasetError(f"{path}: key 'types' must hold integer species indices")
        types = types.astype(np.int64)
        if types.min() < 0:
            raise DatasetError(f"{path}: key 'types' has negative species indices")
        n = types.shape[0]

        pos0 = np.asarray(data["initial_positions"], dtype=np.float64)
        if pos0.ndim != 2 or pos0.shape[0] != n or pos0.shape[1] not in (2, 3):
            raise DatasetError(
                f"{path}: key 'initial_positions' has shape {pos0.shape}, expected ({n}, 2|3)"
            )
        d = pos0.shape[1]
        box = _box_from(path, data.get("box"), self.box, self.density, n, d)

        positions: dict[str, np.ndarray] = {}
        for name, key in POSITION_KEYS.items():
            if key in data:
                arr = np.asarray(data[key], dtype=np.float64)
                _check_shape(path, key, arr, (n, d))
                _check_finite(path, key, arr)
                positions[name] = np.mod(arr, box)  # GlassBench stores [-L/2, L/2)

        targets: dict[str, np.ndarray] = {}
        n_times: int | None = None
        for key in TARGET_KEYS:
            if key in data:
                arr = np.asarray(data[key], dtype=np.float64)
                _check_shape(path, key, arr, (n_times, n))
                _check_finite(path, key, arr)
                n_times = arr.shape[0]
                targets[key] = arr

        times = data.get("times")
        if times is None and self.times is not None:
            times = np.asarray(self.times, dtype=np.float64)
        if times is not None:
            times = np.asarray(times, dtype=np.float64).reshape(-1)
            if n_times is not None and times.shape[0] != n_times:
                where = "key 'times'" if "times" in data else "dataset.reader.times"
                raise DatasetError(
                    f"{path}: {where} has {times.shape[0]} entries but the targets have "
                    f"{n_times} time scales"
                )

        metadata: dict[str, Any] = {}
        for key in ("temperature", "density", "potential", "n_iso", "seed", "tau_alpha"):
            if key in data:
                value = data[key]
                metadata[key] = value.item() if np.ndim(value) == 0 else value
        if "temperature" not in metadata and self.temperature is not None:
            metadata["temperature"] = float(self.temperature)

        return Configuration(
            source=path,
            types=types,
            positions=positions,
            box=box,
            targets=targets,
            times=times,
            metadata=metadata,
        )


@dataclass
class BapstReader(ConfigDefaults):
    """Reads the pickled dicts of the Bapst et al. (2020) release.

    Keys: `positions` [N, 3], `types` [N], `box` [3], `time` [n_times],
    `trajectory_target_positions` [n_times][n_runs][N, 3] (unwrapped), plus `time_indices`,
    `is_values`, `trajectory_start_velocities` and `metadata`, which are not needed here.
    The propensity is recomputed exactly as the release's own loader does: the mean over
    runs of |r_i(t) - r_i(0)|.
    """

    def __call__(self, path: str | os.PathLike[str]) -> Configuration:
        path = str(path)
        try:
            with open(path, "rb") as fh:
                data = pickle.load(fh)  # the release is pickled; only read trusted files
        except (OSError, pickle.UnpicklingError, EOFError) as exc:
            raise DatasetError(f"{path}: cannot be read as a Bapst pickle ({exc})") from exc
        if not isinstance(data, dict):
            raise DatasetError(f"{path}: expected a pickled dict, found {type(data).__name__}")
        for key in ("positions", "types", "trajectory_target_positions"):
            if key not in data:
                raise DatasetError(f"{path}: missing required key '{key}'")

        types = np.asarray(data["types"]).astype(np.int64).reshape(-1)
        n = types.shape[0]
        pos = np.asarray(data["positions"], dtype=np.float64)
        if pos.ndim != 2 or pos.shape[0] != n or pos.shape[1] not in (2, 3):
            raise DatasetError(f"{path}: key 'positions' has shape {pos.shape}, expected ({n}, 3)")
        _check_finite(path, "positions", pos)
        d = pos.shape[1]
        box = _box_from(path, data.get("box"), self.box, self.density, n, d)

        targets_pos = np.asarray(data["trajectory_target_positions"], dtype=np.float64)
        if targets_pos.ndim != 4 or targets_pos.shape[2:] != (n, d):
            raise DatasetError(
                f"{path}: key 'trajectory_target_positions' has shape {targets_pos.shape}, "
                f"expected (n_times, n_runs, {n}, {d})"
            )
        _check_finite(path, "trajectory_target_positions", targets_pos)
        md_prop = np.linalg.norm(targets_pos - pos[None, None], axis=-1).mean(axis=1)

        times = data.get("time")
        if times is None and self.times is not None:
            times = self.times
        if times is not None:
            times = np.asarray(times, dtype=np.float64).reshape(-1)
            if times.shape[0] != md_prop.shape[0]:
                times = None  # some releases store the full time grid; keep indices then
        metadata: dict[str, Any] = {}
        meta = data.get("metadata")
        if isinstance(meta, dict) and "temperature" in meta:
            metadata["temperature"] = float(meta["temperature"])
        elif self.temperature is not None:
            metadata["temperature"] = float(self.temperature)
        return Configuration(
            source=path,
            types=types,
            positions={"equilibrium": np.mod(pos, box)},
            box=box,
            targets={"md_prop": md_prop},
            times=times,
            metadata=metadata,
        )


Reader = Callable[[str | os.PathLike[str]], Configuration]


def list_files(root: str | os.PathLike[str], pattern: str) -> list[Path]:
    """Files under `root` matching a glob `pattern`, in natural (numeric-aware) order."""
    import re

    def key(p: Path) -> list[Any]:
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]

    return sorted((p for p in Path(root).glob(pattern) if p.is_file()), key=key)
