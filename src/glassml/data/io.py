"""Readers for propensity datasets: our own/GlassBench `.npz` files and the Bapst release.

Every reader returns the same `Configuration` record, so the rest of the pipeline never
cares where a file came from. Readers validate what they read (shapes, NaNs, missing
keys) and name the file and key in the error, because a bad file deep inside a dataset
is otherwise found only as a cryptic shape error during training.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import string
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------- raw files

#: First bytes of a zip archive (an .npz is a zip of .npy files) and of an empty zip.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _describe_start(head: bytes) -> str:
    """What the first bytes of a file look like, for error messages."""
    if not head:
        return "an empty file"
    if head.startswith(b"\x93NUMPY"):
        return "a single .npy array, not an .npz archive"
    if head[:1] == b"\x80":
        return "a Python pickle"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"binary data starting with {head[:8]!r}"
    return f"a text file starting with {text[:40]!r}"


def load_npz(
    path: str | os.PathLike[str], keys: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` file (all, or those of `keys` that it holds); a
    `DatasetError` naming the file for anything else.

    numpy's own errors do not say which file failed (a truncated archive raises a bare
    `BadZipFile`, a text file "contains pickled data"), and in a dataset of 500 files the
    broken one must be findable.
    """
    path = str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
        size = os.path.getsize(path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be opened ({exc})") from exc
    if not head.startswith(ZIP_MAGIC):
        raise DatasetError(
            f"{path}: expected an .npz archive (a zip of .npy arrays), found "
            f"{_describe_start(head)}"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files if keys is None or k in keys}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise DatasetError(
            f"{path}: truncated or corrupt .npz ({size} bytes; expected a complete zip "
            f"archive of .npy arrays, the zip reader says: {exc}); download or write this "
            "file again"
        ) from exc
    except ValueError as exc:
        raise DatasetError(
            f"{path}: an array in this .npz cannot be read without pickle (expected plain "
            f"numeric arrays; numpy says: {exc})"
        ) from exc


def npz_keys(path: str | os.PathLike[str]) -> list[str]:
    """Array names of an `.npz` file from its zip directory, without reading the arrays."""
    try:
        with zipfile.ZipFile(path) as zf:
            return [n.removesuffix(".npy") for n in zf.namelist()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path}: truncated or corrupt .npz ({exc})") from exc


#: The only globals a Bapst et al. pickle needs: numpy's array reconstruction.
SAFE_PICKLE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }
)


class UnsafePickleError(DatasetError):
    """A pickle asked for a global outside `SAFE_PICKLE_GLOBALS` (it could run code)."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds dicts, lists, numbers, strings and numpy arrays; refuses every other global,
    so that a crafted file cannot call a function while it is read."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in SAFE_PICKLE_GLOBALS:
            raise UnsafePickleError(f"{module}.{name}")
        return super().find_class(module, name)


def safe_load_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle a downloaded data file allowing only plain containers and numpy arrays."""
    path = str(path)
    try:
        with open(path, "rb") as fh:
            return _RestrictedUnpickler(fh).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"{path}: refused to load the global '{exc}' from this pickle: a Bapst et al. "
            "file holds only dicts, lists, numbers, strings and numpy arrays, and loading "
            "anything else could run code"
        ) from None
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise DatasetError(
            f"{path}: expected a complete Bapst et al. pickle (a dict of numpy arrays and "
            f"lists), found data that cannot be unpickled ({type(exc).__name__}: {exc})"
        ) from exc


# --------------------------------------------------------------------------- time grids


def _for_temperature(table: Mapping[Any, Any] | None, temperature: float | None) -> Any:
    """Entry of a per-temperature table (keys "0.44", 0.44, ...) for `temperature`."""
    if not table or temperature is None:
        return None
    for key, value in table.items():
        if abs(float(key) - float(temperature)) < 1e-6:
            return value
    return None


def read_times_file(path: str | os.PathLike[str]) -> np.ndarray:
    """A time grid from a text file: one time per line (the first column if several)."""
    try:
        arr = np.loadtxt(path, ndmin=2, comments="#")
    except (OSError, ValueError) as exc:
        msg = f"{path}: expected a text column of times, cannot read it ({exc})"
        raise DatasetError(msg) from exc
    times = arr[:, 0] if arr.shape[0] > 1 else arr[0]
    if times.size == 0 or np.any(times <= 0) or np.any(np.diff(times) <= 0):
        raise DatasetError(
            f"{path}: expected positive, increasing times, found {times.tolist()[:12]}"
        )
    return times.astype(np.float64)


@functools.lru_cache(maxsize=16)
def _times_from_file(path: str, mtime_ns: int) -> np.ndarray:
    """`read_times_file`, once per file version (every configuration asks for it)."""
    return read_times_file(path)


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning(message)


@dataclass
class ConfigDefaults:
    """Metadata from the dataset config, used where a file does not carry its own.

    The time grid of files without one comes from, in order: `times` (explicit), the
    dataset archive's own grid file (`times_file`, a glob; the match whose name holds
    the temperature, e.g. KA_results/times_T0.44.dat), `times_by_temperature`.
    `tau_alpha` (or `tau_alpha_by_temperature`) picks the grid time closest to it.
    """

    box: Sequence[float] | None = None
    density: float | None = None
    times: Sequence[float] | None = None
    temperature: float | None = None
    tau_alpha: float | None = None
    times_file: str | None = None
    times_by_temperature: Mapping[Any, Sequence[float]] | None = None
    tau_alpha_by_temperature: Mapping[Any, float] | None = None

    def config_tau_alpha(self) -> float | None:
        if self.tau_alpha is not None:
            return float(self.tau_alpha)
        tau = _for_temperature(self.tau_alpha_by_temperature, self.temperature)
        return None if tau is None else float(tau)

    def archive_times_file(self) -> Path | None:
        """The archive's grid file for this temperature, if `times_file` matches one."""
        if not self.times_file or self.temperature is None:
            return None
        pattern = Path(str(self.times_file)).expanduser()
        tags = {f"{self.temperature:.2f}", f"{self.temperature:.2f}".replace(".", "")}
        hits = [
            p for p in sorted(pattern.parent.glob(pattern.name)) if any(t in p.stem for t in tags)
        ]
        if len(hits) > 1:
            raise DatasetError(
                f"dataset.reader.times_file={self.times_file} matches several grids for "
                f"T = {self.temperature}: {[str(h) for h in hits]}; name one file"
            )
        return hits[0] if hits else None

    def config_times(self, n_times: int | None) -> tuple[np.ndarray | None, str]:
        """The configured time grid for files without one, and where it came from."""
        if self.times is not None:
            return np.asarray(self.times, dtype=np.float64), "dataset.reader.times"
        path = self.archive_times_file()
        if path is not None:
            times = _times_from_file(str(path), path.stat().st_mtime_ns).copy()
            if n_times is None or times.shape[0] == n_times:
                return times, str(path)
            _warn_once(
                f"{path} holds {times.shape[0]} times but the files have {n_times} time "
                "scales: not used"
            )
        grid = _for_temperature(self.times_by_temperature, self.temperature)
        if grid is not None:
            where = f"dataset.reader.times_by_temperature[{self.temperature:.2f}]"
            return np.asarray(grid, dtype=np.float64), where
        return None, ""


# --------------------------------------------------------------------------- readers


@dataclass
class NpzReader(ConfigDefaults):
    """Reads one `.npz` per configuration in the GlassBench layout (DESIGN.md, "Data format").

    Files written by `glassml-simulate` carry their own metadata; GlassBench files lack
    box, times, temperature and tau_alpha, which then come from the dataset config (see
    `ConfigDefaults`). Values stored in a file win over the config.
    """

    def __call__(self, path: str | os.PathLike[str]) -> Configuration:
        path = str(path)
        data = load_npz(path)
        for key in ("types", "initial_positions"):
            if key not in data:
                raise DatasetError(
                    f"{path}: missing required key '{key}' (found keys {sorted(data)})"
                )

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

        if "times" in data:
            times, where = np.asarray(data["times"], dtype=np.float64), "key 'times'"
        else:
            times, where = self.config_times(n_times)
        if times is not None:
            times = times.reshape(-1)
            if n_times is not None and times.shape[0] != n_times:
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
        if "tau_alpha" not in metadata and self.config_tau_alpha() is not None:
            metadata["tau_alpha"] = self.config_tau_alpha()
        if where and "times" not in data:
            metadata["times_source"] = where

        return Configuration(
            source=path,
            types=types,
            positions=positions,
            box=box,
            targets=targets,
            times=times,
            metadata=metadata,
        )


def _trajectory_targets(path: str, runs_per_time: Any, pos: np.ndarray) -> np.ndarray:
    """Propensity [n_rows, N] as the release's `get_targets`: per row, the mean over runs
    of |r(t) - r(0)|. Rows must hold the same number of runs, each an [N, d] array."""
    if not isinstance(runs_per_time, (list, tuple, np.ndarray)) or len(runs_per_time) == 0:
        raise DatasetError(
            f"{path}: key 'trajectory_target_positions' must be a list (one entry per "
            f"time) of lists of [N, 3] arrays, found {type(runs_per_time).__name__}"
        )
    counts = []
    for k, runs in enumerate(runs_per_time):
        if not isinstance(runs, (list, tuple, np.ndarray)):
            raise DatasetError(
                f"{path}: 'trajectory_target_positions'[{k}] must be a list of runs, found "
                f"{type(runs).__name__}"
            )
        counts.append(len(runs))
    if len(set(counts)) != 1 or counts[0] == 0:
        raise DatasetError(
            f"{path}: key 'trajectory_target_positions' has uneven run counts {counts} over "
            f"its {len(counts)} times; expected the same number of iso-configurational runs "
            "at every time (30 in the release): the file is incomplete"
        )
    out = np.empty((len(counts), pos.shape[0]))
    for k, runs in enumerate(runs_per_time):
        for r, run in enumerate(runs):
            arr = np.asarray(run, dtype=np.float64)
            if arr.shape != pos.shape:
                raise DatasetError(
                    f"{path}: 'trajectory_target_positions'[{k}][{r}] has shape "
                    f"{arr.shape}, expected {pos.shape} (the shape of 'positions')"
                )
            _check_finite(path, f"trajectory_target_positions[{k}][{r}]", arr)
        out[k] = np.mean([np.linalg.norm(np.asarray(t) - pos, axis=-1) for t in runs], axis=0)
    return out


@dataclass
class BapstReader(ConfigDefaults):
    """Reads the pickled dicts of the Bapst et al. (2020) release (restricted unpickler).

    Keys used: `positions` [N, 3], `types` [N], `box` [3] (kept from the file: 15.0433
    in the release), `trajectory_target_positions` [rows][runs][N, 3] (unwrapped), `time`
    (the full grid, 169 values), `time_indices` (one per row, different per file) and
    `is_values` (row k: the time at which the intermediate scattering function fell to
    is_values[k]; the last row, 1/e, is tau_alpha). The propensity is recomputed as the
    release's loader does (mean over runs of |r_i(t) - r_i(0)|). Rows come out in time
    order (is_values decreasing: 0.9 ... 0.4, 1/e, 0.3 ... 0.1), so that tau_alpha is
    row 6 and every grid reads left to right; `metadata["release_rows"]` maps back.
    Files whose trajectories cover fewer rows than `time_indices` (the release's
    test_large.pickle) use their stored `targets` instead.
    """

    def __call__(self, path: str | os.PathLike[str]) -> Configuration:
        path = str(path)
        data = safe_load_pickle(path)
        if not isinstance(data, dict):
            raise DatasetError(f"{path}: expected a pickled dict, found {type(data).__name__}")
        for key in ("positions", "types", "trajectory_target_positions"):
            if key not in data:
                raise DatasetError(
                    f"{path}: missing required key '{key}' (found keys {sorted(data)})"
                )

        types = np.asarray(data["types"]).astype(np.int64).reshape(-1)
        n = types.shape[0]
        pos = np.asarray(data["positions"], dtype=np.float64)
        if pos.ndim != 2 or pos.shape[0] != n or pos.shape[1] not in (2, 3):
            raise DatasetError(f"{path}: key 'positions' has shape {pos.shape}, expected ({n}, 3)")
        _check_finite(path, "positions", pos)
        d = pos.shape[1]
        box = _box_from(path, data.get("box"), self.box, self.density, n, d)

        traj = data["trajectory_target_positions"]
        n_rows = len(data["time_indices"]) if "time_indices" in data else len(traj)
        if len(traj) < n_rows and "targets" in data:
            md_prop = np.asarray(data["targets"], dtype=np.float64)
            _check_shape(path, "targets", md_prop, (n_rows, n))
            _check_finite(path, "targets", md_prop)
        else:
            md_prop = _trajectory_targets(path, traj, pos)
        n_rows = md_prop.shape[0]

        times = self._times(path, data, n_rows)
        is_values = None
        if "is_values" in data:
            is_values = np.asarray(data["is_values"], dtype=np.float64).reshape(-1)
            if is_values.shape[0] != n_rows:
                raise DatasetError(
                    f"{path}: key 'is_values' has {is_values.shape[0]} entries, expected "
                    f"{n_rows} (one per row of trajectory_target_positions)"
                )
            order = np.argsort(-is_values, kind="stable")  # the ISF decays with time
        elif times is not None:
            order = np.argsort(times, kind="stable")
        else:
            order = np.arange(n_rows)

        metadata: dict[str, Any] = {"release_rows": order.tolist()}
        if is_values is not None:
            metadata["is_values"] = is_values[order].tolist()
            tau_rows = np.flatnonzero(np.isclose(is_values[order], np.exp(-1.0), atol=1e-4))
            if tau_rows.size == 1:
                metadata["tau_alpha_row"] = int(tau_rows[0])
                if times is not None:
                    metadata["tau_alpha"] = float(times[order][tau_rows[0]])
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
            targets={"md_prop": md_prop[order]},
            times=None if times is None else times[order],
            metadata=metadata,
        )

    def _times(self, path: str, data: dict[str, Any], n_rows: int) -> np.ndarray | None:
        """Times of the rows: `time[time_indices]` (the release), else a per-row `time`,
        else the dataset config's grid."""
        if "time" in data and "time_indices" in data:
            grid = np.asarray(data["time"], dtype=np.float64).reshape(-1)
            idx = np.asarray(data["time_indices"]).reshape(-1)
            if not np.issubdtype(idx.dtype, np.integer) or idx.shape[0] != n_rows:
                raise DatasetError(
                    f"{path}: key 'time_indices' must hold {n_rows} integers (one per row), "
                    f"found {idx.tolist()}"
                )
            if idx.min() < 0 or idx.max() >= grid.shape[0]:
                raise DatasetError(
                    f"{path}: key 'time_indices' {idx.tolist()} points outside 'time' "
                    f"({grid.shape[0]} values)"
                )
            return grid[idx]
        if "time" in data and len(data["time"]) == n_rows:
            return np.asarray(data["time"], dtype=np.float64).reshape(-1)
        times, _ = self.config_times(n_rows)
        if times is not None and times.shape[0] != n_rows:
            raise DatasetError(
                f"{path}: the configured time grid has {times.shape[0]} entries but the "
                f"file has {n_rows} rows"
            )
        return times


Reader = Callable[[str | os.PathLike[str]], Configuration]


def list_files(root: str | os.PathLike[str], pattern: str) -> list[Path]:
    """Files under `root` matching a glob `pattern`, in natural (numeric-aware) order."""
    import re

    def key(p: Path) -> list[Any]:
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]

    return sorted((p for p in Path(root).glob(pattern) if p.is_file()), key=key)
