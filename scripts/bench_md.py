"""MD throughput: glassml's numba engine against LAMMPS on the identical system.

KA 3D, rho = 1.2, N = 4096 (by default), NVE, dt = 0.005, skin 0.3, from a liquid
equilibrated at T = 0.8. Prints atom-steps per second for the numba engine (1 and 2
threads, or `--threads`) and, when LAMMPS is importable, the same for LAMMPS (plain, OPT
package, OpenMP with 2 threads) measured in the same run, with the ratios. With
`--warp-replicas R`, also the batched Warp engine (`simulator.engine=warp`) integrating R
replicas of the same liquid (different velocities) on `--warp-device` (cpu | cuda | auto),
next to the numba and LAMMPS rates. Run it on an otherwise idle machine.

    python scripts/bench_md.py [--n 4096] [--steps 2000] [--threads 1 2]
        [--warp-replicas 32 --warp-device cuda --warp-steps 2000]
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


def time_warp(start: LJSystem, steps: int, replicas: int, device: str) -> float:
    from glassml.simulate.warp_engine import WarpLJBatch

    rng = np.random.default_rng(1)
    batch = WarpLJBatch(
        np.stack([start.positions] * replicas),
        start.types,
        start.box,
        start.table,
        velocities=np.stack([start.velocities] * replicas),
        device=device,
        skin=0.3,
    )
    batch.draw_velocities(
        0.8, [np.random.default_rng(rng.integers(1 << 31)) for _ in range(replicas)]
    )
    batch.run(100, 0.005)  # warm-up: kernel compilation, first list builds
    t0 = time.perf_counter()
    batch.run(steps, 0.005)
    rate = replicas * start.n * steps / (time.perf_counter() - t0)
    print(f"  warp ({batch.device}): {batch.n_builds} list builds")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--warp-replicas", type=int, default=0, help="0: no Warp engine")
    parser.add_argument("--warp-device", default="auto")
    parser.add_argument("--warp-steps", type=int, default=None, help="default: --steps")
    parser.add_argument("--no-lammps", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    start = liquid(args.n)
    rates = {f"glassml {t} thread(s)": time_glassml(start, args.steps, t) for t in args.threads}
    warp_name = None
    if args.warp_replicas:
        from glassml.simulate.warp_engine import resolve_device

        device = resolve_device(args.warp_device)
        warp_name = f"warp {device}, {args.warp_replicas} replicas"
        rates[warp_name] = time_warp(
            start, args.warp_steps or args.steps, args.warp_replicas, device
        )
    lammps_cls = None if args.no_lammps else load_lammps()
    if lammps_cls is None and not args.no_lammps:
        print("LAMMPS not importable (pip install lammps mpich): no reference in this run")
    elif lammps_cls is not None:
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
            (warp_name, "LAMMPS 1 core"),
        ]
        for ours, ref in pairs:
            if ours in rates:
                print(f"  ratio {ours} / {ref}: {rates[ours] / rates[ref]:.2f}")
    if warp_name:
        for t in args.threads:
            ref = f"glassml {t} thread(s)"
            print(f"  ratio {warp_name} / {ref}: {rates[warp_name] / rates[ref]:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rates, fh, indent=2)


if __name__ == "__main__":
    main()
