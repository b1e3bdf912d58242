"""Small synthetic datasets in the three on-disk layouts, for tests and pipeline demos.

These are NOT physics: positions are a jittered lattice and the "propensity" is a
noisy decreasing function of the local density, so a model has something learnable.
They exist so the readers, graphs, training loop and CLIs can be exercised without
network access or an MD run; never put them where real data is expected.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from glassml.data.graph import local_density
from glassml.io import atomic_path, atomic_save_npz, atomic_write_text


def synthetic_configuration(
    rng: np.random.Generator,
    n_particles: int,
    dim: int = 3,
    density: float = 1.2,
    n_times: int = 4,
    fraction_a: float = 0.8,
) -> dict[str, np.ndarray]:
    """One configuration: positions, types and a structure-dependent fake propensity."""
    box_len = (n_particles / density) ** (1.0 / dim)
    m = int(np.ceil(n_particles ** (1.0 / dim)))
    grid = np.stack(np.meshgrid(*[np.arange(m)] * dim, indexing="ij"), -1).reshape(-1, dim)
    grid = grid[rng.permutation(len(grid))[:n_particles]]
    spacing = box_len / m
    pos = np.mod((grid + 0.5 + rng.normal(0.0, 0.25, grid.shape)) * spacing, box_len)
    box = np.full(dim, box_len)
    types = (rng.random(n_particles) > fraction_a).astype(np.int64)
    rho = local_density(pos, box, 1.5)
    z = (rho - rho.mean()) / (rho.std() + 1e-12)
    times = np.logspace(-1, 2, n_times)
    strength = np.linspace(0.3, 0.8, n_times)[:, None]
    scale = 0.1 * times[:, None] ** 0.5
    noise = rng.normal(0.0, 0.15, (n_times, n_particles))
    md_prop = scale * np.exp(-strength * z[None, :] + noise) * (1.0 + 0.3 * types[None, :])
    inherent = np.mod(pos + rng.normal(0.0, 0.02, pos.shape), box_len)
    return {
        "types": types,
        "initial_positions": pos,
        "initial_positions_inherent": inherent,
        "md_prop": md_prop,
        "bb_prop": np.clip(md_prop / md_prop.max(), 0.0, 1.0),
        "box": box,
        "times": times,
    }


def write_synthetic_dataset(
    root: str | Path,
    n_configs: int = 8,
    n_particles: int = 64,
    dim: int = 3,
    layout: str = "native",
    n_times: int = 4,
    density: float = 1.2,
    n_test: int = 2,
    seed: int = 0,
) -> list[Path]:
    """Write `n_configs` synthetic configurations under `root` in the given layout.

    layout: "native" (config_XXXX.npz with metadata, as `glassml-simulate` writes),
    "glassbench" (train/ and test/ subfolders, no metadata, positions in [-L/2, L/2)),
    or "bapst" (train/ and test/ pickles with trajectory_target_positions).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    paths: list[Path] = []
    for k in range(n_configs):
        c = synthetic_configuration(rng, n_particles, dim, density, n_times)
        split = "test" if k >= n_configs - n_test else "train"
        if layout == "native":
            path = root / f"config_{k:04d}.npz"
            atomic_save_npz(
                path,
                **c,
                initial_positions_cage=c["initial_positions"],
                temperature=np.float64(0.5),
                density=np.float64(density),
                potential=np.str_("synthetic"),
                n_iso=np.int64(4),
                seed=np.int64(seed + k),
                config=np.str_("synthetic: true\n"),
            )
        elif layout == "glassbench":
            half = c["box"] / 2
            path = root / split / f"N{n_particles}T0.44_{k + 1}.npz"
            keys = {
                "types": c["types"],
                "initial_positions": np.mod(c["initial_positions"] + half, c["box"]) - half,
                "initial_positions_inherent": c["initial_positions_inherent"] - half,
                "md_prop": c["md_prop"],
                "bb_prop": c["bb_prop"],
            }
            atomic_save_npz(path, **keys)
        elif layout == "bapst":
            path = root / split / f"aggregated_data_{k}.pickle"
            n_runs = 3
            direction = rng.normal(size=(n_times, n_runs, n_particles, dim))
            direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
            disp = direction * c["md_prop"][:, None, :, None]
            data = {
                "positions": c["initial_positions"],
                "types": c["types"],
                "box": c["box"],
                "time": c["times"],
                "time_indices": np.arange(n_times),
                "is_values": np.ones(n_times),
                "trajectory_start_velocities": rng.normal(size=(n_times, n_runs, n_particles, dim)),
                "trajectory_target_positions": c["initial_positions"][None, None] + disp,
                "metadata": {"temperature": 0.44},
            }
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                pickle.dump(data, fh)
        else:
            raise ValueError(f"unknown layout {layout!r}: native, glassbench or bapst")
        paths.append(path)
    if layout == "native":
        summary = {"synthetic": True, "n_configs": n_configs, "n_particles": n_particles}
        atomic_write_text(root / "dataset.json", json.dumps(summary, indent=2))
    return paths
