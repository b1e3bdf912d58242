"""`glassml-data import`: a GlassBench-layout dataset from iso-configurational runs made
with other MD codes (LAMMPS text dumps, extended XYZ, HOOMD GSD; conf/import/).

Layout: under `root`, one folder per initial configuration (`configs` glob) holding the
t = 0 frame (`initial`) and one file per iso-configurational run (`runs` glob) with frames
at the output times. Each configuration becomes one `config_<k>.npz` as glassml-simulate
writes it (md_prop, md_prop_runs, md_prop_cage, bb_prop, cage positions, optionally the
inherent structure by our FIRE), so `dataset=generated dataset.root=<output_dir>` trains
on it.

Displacements need unwrapped trajectories. Frames with image flags or unwrapped
coordinates are continuous within their file; otherwise consecutive frames are joined by
the minimum image, which is exact only while every particle moves less than half a box
between two frames: a displacement beyond `unwrap.max_fraction` of the box is refused,
naming the file and frame, instead of silently folding a long jump back.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from glassml.data.io import DatasetError
from glassml.data.trajectory import FORMATS, Frame, TrajectoryError, read_frames
from glassml.io import atomic_save_npz, atomic_write_text
from glassml.resume import check_same_settings, npz_complete
from glassml.simulate.config import BondBreakingSpec, FireSpec, PotentialSpec
from glassml.simulate.potential import TRUNCATIONS
from glassml.specs import build_spec

log = logging.getLogger(__name__)

SPEC_FILE = "import_config.yaml"
REQUIRED_KEYS = ("types", "initial_positions", "md_prop")
# keys that may change between an import and its resumption without changing the data
RESUMABLE_KEYS = {"output_dir", "progress", "name"}


class ImportConfigError(DatasetError):
    """An `import.*` config value is missing, unknown or impossible."""


@dataclass(frozen=True)
class UnwrapSpec:
    max_fraction: float = 0.4
    start_tolerance: float = 1e-3


@dataclass(frozen=True)
class ImportSpec:
    root: str
    output_dir: str
    types: dict
    # the pair potential glassml-simulate takes; its values live in conf/import/lammps.yaml
    potential: PotentialSpec
    name: str = "import"
    format: str = "auto"
    configs: str = "*"
    initial: str | None = None
    runs: str = "run_*"
    n_iso: int | None = None
    dim: int = 3
    dt: float | None = None
    times: list | None = None
    time_key: str = "time"
    unwrap: UnwrapSpec = field(default_factory=UnwrapSpec)
    temperature: float | None = None
    tau_alpha: float | None = None
    cage_radius: float = 1.45
    cage_time: float = 1.0
    bond_breaking: BondBreakingSpec = field(default_factory=BondBreakingSpec)
    inherent: bool = False
    fire: FireSpec = field(default_factory=FireSpec)
    save_runs: bool = True


_NESTED = {
    "unwrap": UnwrapSpec,
    "potential": PotentialSpec,
    "bond_breaking": BondBreakingSpec,
    "fire": FireSpec,
}


def spec_from_config(section: Any) -> ImportSpec:
    """Validate the `import` config section (DictConfig or dict)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(section, DictConfig):
        section = OmegaConf.to_container(section, resolve=True)
    section = {k: v for k, v in dict(section).items() if k != "_target_"}
    for key in ("root", "output_dir"):
        if section.get(key) in (None, "", "???"):
            raise ImportConfigError(f"import.{key} is required (e.g. import.{key}=<folder>)")
    spec = build_spec(ImportSpec, section, "import", ImportConfigError, _NESTED)

    def need(ok: bool, key: str, what: str, got: Any) -> None:
        if not ok:
            raise ImportConfigError(f"import.{key} must be {what} (got {got!r})")

    need(spec.format in (*FORMATS, "auto"), "format", f"one of {FORMATS} or auto", spec.format)
    need(spec.dim in (2, 3), "dim", "2 or 3", spec.dim)
    need(
        isinstance(spec.types, dict) and len(spec.types) > 0,
        "types",
        "a mapping from the labels in the files to species indices (0 = A)",
        spec.types,
    )
    species = list(spec.types.values())
    need(
        all(isinstance(s, int) and s >= 0 for s in species),
        "types",
        "a mapping to species indices >= 0",
        spec.types,
    )
    need(spec.n_iso is None or spec.n_iso >= 1, "n_iso", "null or an integer >= 1", spec.n_iso)
    need(spec.dt is None or spec.dt > 0, "dt", "null or a positive time step", spec.dt)
    if spec.times is not None:
        t = np.asarray(spec.times, dtype=float)
        need(
            t.ndim == 1 and t.size >= 1 and bool(np.all(t > 0)) and bool(np.all(np.diff(t) > 0)),
            "times",
            "null or an increasing list of positive times",
            spec.times,
        )
    need(
        0 < spec.unwrap.max_fraction < 0.5,
        "unwrap.max_fraction",
        "in (0, 0.5): half a box is where the minimum image becomes ambiguous",
        spec.unwrap.max_fraction,
    )
    need(spec.cage_radius > 0, "cage_radius", "positive", spec.cage_radius)
    need(spec.cage_time > 0, "cage_time", "positive", spec.cage_time)
    bb = spec.bond_breaking
    need(0 < bb.r_in < bb.r_out, "bond_breaking", "0 < r_in < r_out", asdict(bb))
    n_species = max(species) + 1
    for key in ("epsilon", "sigma"):
        m = np.asarray(getattr(spec.potential, key), dtype=float)
        need(
            m.ndim == 2 and m.shape[0] == m.shape[1] >= n_species and np.allclose(m, m.T),
            f"potential.{key}",
            f"a symmetric matrix covering the {n_species} species of import.types",
            getattr(spec.potential, key),
        )
    need(
        spec.potential.truncation in TRUNCATIONS,
        "potential.truncation",
        f"one of {list(TRUNCATIONS)}",
        spec.potential.truncation,
    )
    return spec


# --------------------------------------------------------------------------- one config


def natural_key(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]


def frame_times(path: Path, frames: list[Frame], spec: ImportSpec) -> np.ndarray:
    """Time of every frame: stored time, else step * dt; explicit error otherwise."""
    out = []
    for k, f in enumerate(frames):
        if f.time is not None:
            out.append(f.time)
        elif f.step is not None and spec.dt is not None:
            out.append(f.step * spec.dt)
        else:
            what = "a step but import.dt is null" if f.step is not None else "no time or step"
            raise TrajectoryError(
                f"{path}, frame {k}: has {what}; set import.dt (time per step) or store "
                f"the time as '{spec.time_key}' in the frame"
            )
    times = np.asarray(out, dtype=np.float64)
    if np.any(np.diff(times) <= 0):
        raise TrajectoryError(f"{path}: frame times are not increasing: {times.tolist()}")
    return times


def species_of(path: Path, frame: Frame, mapping: dict) -> np.ndarray:
    table = {str(k): int(v) for k, v in mapping.items()}
    unknown = sorted(set(frame.labels.tolist()) - set(table))
    if unknown:
        raise TrajectoryError(
            f"{path}: particle type(s) {unknown} are not in import.types {table}; add them "
            f"(on the command line: +import.types.{unknown[0]}=<species index>)"
        )
    return np.asarray([table[s] for s in frame.labels], dtype=np.int64)


def check_frame(path: Path, k: int, frame: Frame, ref: Frame, ref_path: Path) -> None:
    """Same particles, species and box as the initial frame."""
    if frame.n != ref.n:
        raise TrajectoryError(
            f"{path}, frame {k}: {frame.n} particles, but the initial frame ({ref_path}) "
            f"has {ref.n}: N must not change"
        )
    if not np.array_equal(frame.labels, ref.labels):
        bad = int(np.flatnonzero(frame.labels != ref.labels)[0])
        raise TrajectoryError(
            f"{path}, frame {k}: particle {bad} has type {frame.labels[bad]} but "
            f"{ref.labels[bad]} in the initial frame ({ref_path}): types must not change"
        )
    if not np.allclose(frame.box, ref.box, rtol=1e-6, atol=0):
        raise TrajectoryError(
            f"{path}, frame {k}: box {frame.box.tolist()} differs from the initial frame's "
            f"{ref.box.tolist()} ({ref_path}): iso-configurational runs keep the box"
        )


def _min_image(d: np.ndarray, box: np.ndarray) -> np.ndarray:
    return d - box * np.rint(d / box)


@dataclass
class RunTrack:
    """Unwrapped positions of one run at the output times, [n_times, N, d]."""

    positions: np.ndarray


def track_run(
    path: Path,
    frames: list[Frame],
    times: np.ndarray,
    grid: np.ndarray,
    x0: np.ndarray,
    box: np.ndarray,
    spec: ImportSpec,
    initial_path: Path,
) -> RunTrack:
    """Follow the run from the wrapped start x0 through all its frames; keep grid times."""
    limit = spec.unwrap.max_fraction * box
    out = np.empty((grid.size, *x0.shape))
    want = {}
    for g, t in enumerate(grid):
        hit = np.flatnonzero(np.isclose(times, t, rtol=1e-6, atol=1e-9))
        if hit.size == 0:
            raise TrajectoryError(
                f"{path}: no frame at t = {t:g} (missing frame); it has frames at "
                f"t = {np.round(times, 6).tolist()}"
            )
        want[int(hit[0])] = g
    x = x0.copy()
    prev: Frame | None = None
    for k, (frame, t) in enumerate(zip(frames, times, strict=True)):
        if t < 0:
            raise TrajectoryError(f"{path}, frame {k}: negative time {t:g}")
        if prev is not None and prev.unwrapped and frame.unwrapped:
            d = frame.positions - prev.positions  # continuous coordinates: exact
        else:
            ref = x if prev is None else prev.positions
            d = _min_image(frame.positions - ref, box)
            if t == 0:
                err = float(np.abs(d).max())
                if err > spec.unwrap.start_tolerance:
                    raise TrajectoryError(
                        f"{path}, frame {k} (t = 0) differs from the initial frame "
                        f"({initial_path}) by up to {err:.3g}: the run does not start from "
                        "that configuration"
                    )
            over = np.abs(d) > limit
            if over.any():
                i, axis = np.argwhere(over)[0]
                raise TrajectoryError(
                    f"{path}, frame {k} (t = {t:g}): particle {i} moved {d[i, axis]:.3g} "
                    f"along axis {axis} since the previous frame, more than "
                    f"{spec.unwrap.max_fraction} of the box ({box[axis]:.4g}); wrapped frames "
                    "this far apart cannot be unwrapped: write image flags or unwrapped "
                    "coordinates, or frames closer in time"
                )
        x = x + d
        prev = frame
        if k in want:
            out[want[k]] = x
    return RunTrack(out)


def import_configuration(folder: Path, spec: ImportSpec) -> dict[str, Any]:
    """Arrays of one GlassBench-layout file from the runs in `folder`."""
    from glassml.simulate.propensity import Observer

    run_files = sorted((p for p in folder.glob(spec.runs) if p.is_file()), key=natural_key)
    if not run_files:
        raise TrajectoryError(f"{folder}: no run files matching import.runs='{spec.runs}'")
    if spec.n_iso is not None and len(run_files) != spec.n_iso:
        raise TrajectoryError(
            f"{folder}: {len(run_files)} run files match '{spec.runs}' but import.n_iso="
            f"{spec.n_iso} (missing runs?)"
        )
    runs = [(p, read_frames(p, spec.format, spec.dim, spec.time_key)) for p in run_files]
    run_times = [frame_times(p, fr, spec) for p, fr in runs]

    if spec.initial is not None:
        initial_path = folder / spec.initial
        initial = read_frames(initial_path, spec.format, spec.dim, spec.time_key)[0]
    else:
        initial_path, frames = runs[0]
        zero = np.flatnonzero(run_times[0] == 0)
        if zero.size == 0:
            raise TrajectoryError(
                f"{initial_path}: import.initial is null, so the runs' t = 0 frames are the "
                "initial configuration, but this run has none"
            )
        initial = frames[int(zero[0])]
    types = species_of(initial_path, initial, spec.types)
    box = initial.box
    x0 = np.mod(initial.positions, box)

    if spec.times is not None:
        grid = np.asarray(spec.times, dtype=np.float64)
    else:
        grid = run_times[0][run_times[0] > 0]
        if grid.size == 0:
            raise TrajectoryError(f"{runs[0][0]}: no frame after t = 0")
    steps = np.arange(grid.size)
    sigma = np.asarray(spec.potential.sigma, dtype=float)
    cage_step = int(np.argmin(np.abs(grid - spec.cage_time)))
    bonds = (spec.bond_breaking.r_in, spec.bond_breaking.r_out)
    first = Observer(x0, types, box, sigma, spec.cage_radius, bonds, steps, cage_step)
    results = []
    for (path, frames), times in zip(runs, run_times, strict=True):
        for k, frame in enumerate(frames):
            check_frame(path, k, frame, initial, initial_path)
        track = track_run(path, frames, times, grid, x0, box, spec, initial_path)
        obs = first.fresh()
        for g in steps:
            obs.record(int(g), track.positions[g])
        results.append(obs.result())

    cage = np.mean([r.cage_positions for r in results], axis=0)
    out: dict[str, Any] = {
        "types": types,
        "initial_positions": x0,
        "initial_positions_cage": np.mod(cage, box),
        "md_prop": np.mean([r.abs_disp for r in results], axis=0).astype(np.float32),
        "md_prop_cage": np.mean([r.cage_disp for r in results], axis=0).astype(np.float32),
        "bb_prop": np.mean([r.bond_broken for r in results], axis=0).astype(np.float32),
        "times": grid,
        "box": box,
        "density": np.float64(types.size / np.prod(box)),
        "potential": np.str_(spec.potential.name),
        "n_iso": np.int64(len(results)),
        "source": np.str_(str(folder)),
    }
    if spec.save_runs:  # as glassml-simulate: half precision is ample for the ceiling
        out["md_prop_runs"] = np.stack([r.abs_disp for r in results]).astype(np.float16)
    for key in ("temperature", "tau_alpha"):
        if getattr(spec, key) is not None:
            out[key] = np.float64(getattr(spec, key))
    if spec.inherent:
        out.update(inherent_structure(x0, types, box, spec, folder))
    return out


def inherent_structure(
    x0: np.ndarray, types: np.ndarray, box: np.ndarray, spec: ImportSpec, folder: Path
) -> dict[str, Any]:
    """FIRE minimum of the configured potential (our minimiser, as glassml-simulate)."""
    from glassml.simulate.fire import fire_minimize
    from glassml.simulate.md import LJSystem

    table = spec.potential.table
    if float(box.min()) <= 2 * table.max_rcut:
        raise ImportConfigError(
            f"{folder}: the box {box.tolist()} is not longer than twice the potential's "
            f"cut-off {table.max_rcut:.3g}; import.inherent=true needs a larger system"
        )
    system = LJSystem(x0, types, box, table)
    res = fire_minimize(system, ftol=spec.fire.ftol, max_steps=spec.fire.max_steps)
    if not res.converged:
        log.warning(
            "FIRE did not reach ftol=%g for %s (max force %.3g)",
            spec.fire.ftol,
            folder,
            res.max_force,
        )
    return {
        "initial_positions_inherent": system.wrapped_positions(),
        "inherent_energy": np.float64(res.energy / types.size),
    }


# --------------------------------------------------------------------------- dataset


def output_path(out: Path, k: int) -> Path:
    return out / f"config_{k:04d}.npz"


def is_finished(path: Path) -> bool:
    return npz_complete(path, REQUIRED_KEYS, redo="imported again")


def check_resumable(spec: ImportSpec, out: Path) -> None:
    """Refuse to mix files made with different import settings in one output folder."""

    def error(differ: list[str]) -> ImportConfigError:
        return ImportConfigError(
            f"{out} holds an import made with other settings (differs in "
            f"{', '.join('import.' + k for k in differ)}); choose another "
            "import.output_dir or remove that folder"
        )

    check_same_settings(out / SPEC_FILE, asdict(spec), RESUMABLE_KEYS, error)


def configuration_folders(spec: ImportSpec) -> list[Path]:
    root = Path(spec.root).expanduser()
    if not root.is_dir():
        raise TrajectoryError(f"import.root={root} is not a folder")
    folders = sorted((p for p in root.glob(spec.configs) if p.is_dir()), key=natural_key)
    if not folders:
        raise TrajectoryError(
            f"{root}: no configuration folders match import.configs='{spec.configs}'"
        )
    return folders


def import_dataset(spec: ImportSpec, progress: bool = True) -> Path:
    """Import every configuration folder (skipping finished files); returns output_dir."""
    from tqdm.auto import tqdm

    folders = configuration_folders(spec)
    out = Path(spec.output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    check_resumable(spec, out)
    resolved = yaml.safe_dump(asdict(spec), sort_keys=False)
    todo = [k for k in range(len(folders)) if not is_finished(output_path(out, k))]
    log.info(
        "import %s: %d of %d configurations to do into %s", spec.name, len(todo), len(folders), out
    )
    for k in tqdm(todo, desc="importing configurations", unit="config", disable=not progress):
        arrays = import_configuration(folders[k], spec)
        arrays["config"] = np.str_(resolved)
        atomic_save_npz(output_path(out, k), **arrays)
    write_summary(spec, out, folders)
    return out


def write_summary(spec: ImportSpec, out: Path, folders: list[Path]) -> None:
    files = sorted(p.name for p in out.glob("config_*.npz"))
    with np.load(output_path(out, 0)) as f:
        times, n = f["times"].tolist(), int(f["types"].shape[0])
        n_iso = int(f["n_iso"])
    summary = {
        "name": spec.name,
        "n_files": len(files),
        "files": files,
        "sources": [str(p) for p in folders],
        "times": times,
        "N": n,
        "dim": spec.dim,
        "n_iso": n_iso,
        "config": asdict(spec),
    }
    atomic_write_text(out / "dataset.json", json.dumps(summary, indent=2))


def run_import(cfg: Any) -> Path:
    """Entry of `glassml-data import`: validate `cfg.import`, then import."""
    spec = spec_from_config(cfg["import"])
    return import_dataset(spec, progress=bool(cfg.get("progress", True)))
