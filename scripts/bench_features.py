"""Benchmark the expert descriptors: milliseconds per configuration for each family.

The configuration is a KA 3D inherent structure with N = 4096 (rho = 1.2, 80:20) made
here with the project's simulator (jittered lattice, FIRE, a short MD melt at T = 2,
FIRE again: a disordered minimum, ~20 s), unless `--data` points at a dataset directory
whose first file is used. Each family is timed from a fresh structure, so the time
includes its own pair list (timed alone in the first row); the GlassMLP set
(conf/features/glass_mlp.yaml) is timed as the datamodule computes it, with one shared
pair list.

    python scripts/bench_features.py [--n 4096] [--repeats 3] [--data DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numba
import numpy as np
from omegaconf import OmegaConf

from glassml.data.io import NpzReader, list_files
from glassml.features import compute_descriptors, parse_specs
from glassml.features.structure import Structure, half_box
from glassml.io import atomic_write_text

#: (label, spec list) timed one by one
CASES: list[tuple[str, list[dict]]] = [
    ("density (exp, L=1,2,3, A/B/all)", [{"name": "density", "lengths": [1, 2, 3]}]),
    ("energy (raw)", [{"name": "energy"}]),
    (
        "energy + coarse mean/var (L=1,2,3, A/B/all)",
        [{"name": "energy", "lengths": [1, 2, 3], "species": "both"}],
    ),
    ("voronoi (raw)", [{"name": "voronoi"}]),
    ("steinhardt q_l + w_l, l=2..12 (raw)", [{"name": "steinhardt"}]),
    ("steinhardt + coarse means (L=1,2,3)", [{"name": "steinhardt", "lengths": [1, 2, 3]}]),
    ("radial G(r; A/B), 23 shells 0.8..3.0", [{"name": "radial", "species": "each"}]),
    ("s2 (r_max=5, sigma=0.15)", [{"name": "s2"}]),
    ("physics_inspired (GlassMLP, L=0..5, half box)", [{"name": "physics_inspired"}]),
    (
        "physics_inspired, standard Voronoi cells",
        [{"name": "physics_inspired", "voronoi": "standard"}],
    ),
]


def ka_configuration(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A KA 3D inherent structure at rho = 1.2 from the project's own simulator."""
    from glassml.simulate.fire import fire_minimize
    from glassml.simulate.md import LJSystem
    from glassml.simulate.potential import LJTable
    from glassml.simulate.thermostat import BussiThermostat

    rng = np.random.default_rng(seed)
    box_len = (n / 1.2) ** (1 / 3)
    m = int(np.ceil(n ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3)
    grid = grid[rng.permutation(len(grid))[:n]]
    pos = np.mod((grid + 0.5 + rng.normal(0, 0.1, grid.shape)) * box_len / m, box_len)
    types = rng.permutation(np.repeat([0, 1], [int(0.8 * n), n - int(0.8 * n)]))
    table = LJTable.from_lists([[1.0, 1.5], [1.5, 0.5]], [[1.0, 0.8], [0.8, 0.88]], 2.5)
    box = np.full(3, box_len)
    system = LJSystem(pos, types, box, table)
    fire_minimize(system, ftol=1e-2, max_steps=2000)
    system.draw_velocities(2.0, rng)
    system.run(400, 0.005, BussiThermostat(2.0, 0.5, rng))
    fire_minimize(system, ftol=1e-4, max_steps=20000)
    return system.wrapped_positions(), types.astype(np.int64), box


def load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    if args.data:
        files = list_files(args.data, "config_*.npz") or list_files(args.data, "**/*.npz")
        if not files:
            raise SystemExit(f"no .npz files under {args.data}")
        conf = NpzReader()(files[0])
        key = "inherent" if "inherent" in conf.positions else "equilibrium"
        return conf.positions[key], conf.types, conf.box, str(files[0])
    return (*ka_configuration(args.n), f"KA 3D inherent structure, N={args.n}, made here")


def best_ms(fn, repeats: int) -> float:
    fn()  # warm-up: numba compilation, imports
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=None)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    pos, types, box, what = load(args)
    positions = {"inherent": pos}
    print(
        f"{what}; {platform.processor() or platform.machine()}, numba threads "
        f"{numba.get_num_threads()}; best of {args.repeats}"
    )
    results: dict[str, float] = {}
    # the coarse-graining sums of L >= 1 reach half the box (their 1% radius is larger)
    label = f"pair list r < half box ({0.5 * float(np.min(box)):.3g})"
    half = half_box(box)
    results[label] = best_ms(lambda: Structure(pos, types, box, 2).pairs(half), args.repeats)
    print(f"  {label:<46} {results[label]:9.1f} ms")
    for label, items in CASES:
        specs = parse_specs(items)
        results[label] = best_ms(
            lambda specs=specs: compute_descriptors(positions, types, box, 2, specs), args.repeats
        )
        print(f"  {label:<46} {results[label]:9.1f} ms")
    conf = Path(__file__).resolve().parents[1] / "conf" / "features" / "glass_mlp.yaml"
    # resolved as Hydra would, without a dataset: its potential defaults to ka3d
    specs = parse_specs(OmegaConf.to_container(OmegaConf.load(conf).node_features, resolve=True))
    n_cols = compute_descriptors(positions, types, box, 2, specs)[0].shape[1]
    label = f"features=glass_mlp ({n_cols} columns, shared pair list)"
    results[label] = best_ms(
        lambda: compute_descriptors(positions, types, box, 2, specs), args.repeats
    )
    print(f"  {label:<46} {results[label]:9.1f} ms")
    if args.json:
        atomic_write_text(args.json, json.dumps({"configuration": what, "ms": results}, indent=2))


if __name__ == "__main__":
    main()
