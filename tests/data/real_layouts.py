"""Small files in the published layouts, written from their description (REFERENCE.md,
"The real files"), not with glassml.data.synthetic: GlassBench KA 3D / KA 2D `.npz` files
(train/test folders, no metadata, positions in [-L/2, L/2), cage positions in part of the
files, published predictions in the test files) and Bapst et al. pickles."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

#: The published GlassBench KA 3D grid at T = 0.44 (index 6 = tau_alpha).
T044_TIMES = [0.13, 1.3, 13.0, 130.0, 412.0, 1300.0, 4120.0, 13000.0, 41200.0, 130000.0]
#: Published predictions and descriptors in the GlassBench test files.
MODELS = ("BOTAN", "CAGE", "GlassMLP", "SE3")
DESCRIPTORS = ("SBO", "SBO_CG", "DEN", "EPOT", "PSI6")


def _propensity(rng: np.random.Generator, mobility: np.ndarray, n_times: int) -> np.ndarray:
    """Growing propensity [n_times, N] whose pattern is set by a per-particle mobility."""
    grow = np.geomspace(0.05, 3.0, n_times)[:, None]
    noise = rng.lognormal(0.0, 0.3, size=(n_times, mobility.size))
    return grow * mobility[None] * noise


def write_glassbench(
    root: Path,
    dim: int,
    temperature: float,
    n_train: int = 6,
    n_test: int = 3,
    n_particles: int = 100,
    n_times: int = 10,
    cage_files: int = 2,
    seed: int = 0,
) -> Path:
    """`root/{KA_models|KA2D_models}/T<T>/{train,test}/N<N>T<T>_<i>.npz`; returns the T folder.

    3D: two species 80:20, box from rho = 1.2; 2D: three species, box 32.8962. Only the
    first `cage_files` training files and all test files hold cage positions (as files
    1-100 and 401-500 of the archive). Test files hold per-time predictions of the
    published models ([n_times, N], correlated with md_prop) and single-array
    descriptors ([N]).
    """
    rng = np.random.default_rng(seed)
    t = f"{temperature:.2f}"
    folder = root / ("KA_models" if dim == 3 else "KA2D_models") / f"T{t}"
    if dim == 3:
        box = (n_particles / 1.2) ** (1 / 3)
        types = (np.arange(n_particles) >= int(0.8 * n_particles)).astype(np.int32)
    else:
        box = 32.8962
        types = np.repeat([0, 1, 2], [n_particles // 2, n_particles // 4, n_particles // 4])
        types = np.concatenate([types, np.zeros(n_particles - types.size, int)]).astype(np.int32)
    total = n_train + n_test
    for i in range(1, total + 1):
        split = "train" if i <= n_train else "test"
        pos = rng.uniform(-box / 2, box / 2, size=(n_particles, dim))
        mobility = rng.lognormal(0.0, 0.5, size=n_particles)
        md = _propensity(rng, mobility, n_times)
        data = {
            "types": types,
            "initial_positions": pos,
            "initial_positions_inherent": pos + rng.normal(0, 0.05, pos.shape),
            "md_prop": md,
            "bb_prop": np.clip(md / md.max(), 0, 1),
        }
        if i <= cage_files or split == "test":
            data["initial_positions_cage"] = pos + rng.normal(0, 0.02, pos.shape)
        if split == "test":
            for k, name in enumerate(MODELS):
                data[name] = md * rng.lognormal(0.0, 0.2 + 0.2 * k, size=md.shape)
            for name in DESCRIPTORS:
                data[name] = mobility + rng.normal(0, 1.0, n_particles)
        out = folder / split / f"N{n_particles}T{t}_{i}.npz"
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, **data)
    return folder


def bapst_record(
    rng: np.random.Generator, n_particles: int = 40, n_runs: int = 4, box: float = 15.0433
) -> dict:
    """One dict of the Bapst et al. release: 169-value `time`, per-file `time_indices`
    whose row 9 (is_values 1/e) lies between rows 5 and 6, ragged lists of run arrays."""
    time = np.concatenate([[0.0], np.geomspace(0.003, 3.0e4, 168)]).tolist()
    base = [26, 40, 115, 126, 134, 140, 146, 151, 158, 142]
    time_indices = [int(i + rng.integers(-1, 2)) for i in base]
    time_indices[9] = int(rng.integers(time_indices[5] + 1, time_indices[6]))
    is_values = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, np.exp(-1)])
    pos = rng.uniform(0, box, size=(n_particles, 3))
    scale = np.log(np.asarray(time)[time_indices]) / 10 + 0.01
    traj = [[pos + rng.normal(0, abs(s), size=pos.shape) for _ in range(n_runs)] for s in scale]
    return {
        "positions": pos,
        "types": (np.arange(n_particles) % 5 == 4).astype(np.int32),
        "box": np.full(3, box),
        "time": time,
        "time_indices": time_indices,
        "is_values": is_values,
        "metadata": {"temperature": 0.44, "pressure": 2.93, "fluid": "Kob Andersen"},
        "trajectory_start_velocities": [rng.normal(size=pos.shape) for _ in range(n_runs)],
        "trajectory_target_positions": traj,
    }


def write_bapst(root: Path, n_train: int = 6, n_test: int = 3, seed: int = 0) -> Path:
    """`root/{train/aggregated_data_<i>, test/aggregated_data_1000<i>}.pickle`."""
    rng = np.random.default_rng(seed)
    names = [f"train/aggregated_data_{i}.pickle" for i in range(1, n_train + 1)]
    names += [f"test/aggregated_data_{10000 + i}.pickle" for i in range(1, n_test + 1)]
    for name in names:
        out = root / name
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as fh:
            pickle.dump(bapst_record(rng), fh, protocol=3)
    return root


def get_targets(initial_positions: np.ndarray, trajectory_target_positions) -> np.ndarray:
    """The release's train.get_targets, in plain numpy: mean over runs of |r(t) - r(0)|."""
    targets = np.mean(
        [np.linalg.norm(t - initial_positions, axis=-1) for t in trajectory_target_positions],
        axis=0,
    )
    return targets.astype(np.float32)
