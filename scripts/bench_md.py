"""MD throughput: glassml's numba engine against LAMMPS on the identical system.

KA 3D, rho = 1.2, N = 4096 (by default), NVE, dt = 0.005, skin 0.3, from a liquid
equilibrated at T = 0.8. Prints atom-steps per second for 1 and 2 threads and, when LAMMPS
is importable, the same for LAMMPS (plain, OPT package, OpenMP with 2 threads) measured in
the same run, with the ratios. Run it on an otherwise idle machine.

    python scripts/bench_md.py [--n 4096] [--steps 2000]
"""

from __future__ import annotations

import argparse
import json
import time

import numba
import numpy as np

from glassml.simulate.config import spec_from_config
from glassml.simulate.lammps_ref import lammps_system, load_lammps
from glassml.simulate.md import LJSystem
from glassml.simulate.protocol import lattice_start, run_nvt

KA = {
    "name": "bench",
    "dim": 3,
    "fractions": [0.8, 0.2],
    "density": 1.2,
    "T": 0.8,
    "dt": 0.005,
    "potential": {
        "name": "kob_andersen",
        "epsilon": [[1.0, 1.5], [1.5, 0.5]],
        "sigma": [[1.0, 0.8], [0.8, 0.88]],
        "cutoff": 2.5,
    },
    "output_dir": "unused",
}


def liquid(n: int) -> LJSystem:
    spec = spec_from_config({**KA, "N": n})
    rng = np.random.default_rng(0)
    system = lattice_start(spec, rng)
    system.draw_velocities(2.0, rng)
    run_nvt(system, spec, 2.0, 5.0, rng, "melting")
    run_nvt(system, spec, 0.8, 5.0, rng, "cooling to T=0.8")
    return system


def time_glassml(start: LJSystem, steps: int, threads: int) -> float:
    numba.set_num_threads(threads)
    system = LJSystem(
        start.positions, start.types, start.box, start.table, skin=0.3, velocities=start.velocities
    )
    system.run(100, 0.005)  # warm-up: compilation, caches
    t0 = time.perf_counter()
    system.run(steps, 0.005)
    return system.n * steps / (time.perf_counter() - t0)


def time_lammps(lammps_cls, start: LJSystem, steps: int, cmdargs: list[str]) -> float:
    lmp = lammps_system(
        lammps_cls,
        start.positions,
        start.velocities,
        start.types,
        start.box,
        start.table,
        skin=0.3,
        cmdargs=cmdargs,
    )
    lmp.command("run 100")
    t0 = time.perf_counter()
    lmp.command(f"run {steps}")
    rate = start.n * steps / (time.perf_counter() - t0)
    lmp.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    start = liquid(args.n)
    rates = {f"glassml {t} thread(s)": time_glassml(start, args.steps, t) for t in (1, 2)}
    lammps_cls = load_lammps()
    if lammps_cls is None:
        print("LAMMPS not importable (pip install lammps mpich): no reference in this run")
    else:
        rates["LAMMPS 1 core"] = time_lammps(lammps_cls, start, args.steps, [])
        rates["LAMMPS 1 core, OPT"] = time_lammps(lammps_cls, start, args.steps, ["-sf", "opt"])
        rates["LAMMPS 2 OpenMP threads"] = time_lammps(
            lammps_cls, start, args.steps, ["-sf", "omp", "-pk", "omp", "2"]
        )

    print(f"\nKA 3D, N={args.n}, rho=1.2, T=0.8, NVE, {args.steps} steps")
    for name, rate in rates.items():
        print(f"  {name:28s} {rate / 1e6:6.2f} M atom-steps/s")
    if lammps_cls is not None:
        pairs = [
            ("glassml 1 thread(s)", "LAMMPS 1 core"),
            ("glassml 1 thread(s)", "LAMMPS 1 core, OPT"),
            ("glassml 2 thread(s)", "LAMMPS 2 OpenMP threads"),
        ]
        for ours, ref in pairs:
            print(f"  ratio {ours} / {ref}: {rates[ours] / rates[ref]:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rates, fh, indent=2)


if __name__ == "__main__":
    main()
