"""The dataset protocol: equilibrate, sample configurations, run iso-configurational
ensembles, and write one GlassBench-layout file per configuration.

Phase 1 runs one NVT chain (all threads): melt a lattice, cool to T, equilibrate, then
sample a configuration every `spacing_taus` tau_alpha, rejecting crystallised ones. Each
sampled configuration and the chain state are checkpointed, so an interrupted run resumes.
Phase 2 spreads the iso-configurational runs (and the FIRE minimisations) over worker
processes; a configuration's file is written, atomically, as soon as all its runs are in.
Re-running the same command skips finished files and redoes unfinished configurations.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numba
import numpy as np
import yaml
from tqdm.auto import tqdm

from glassml.io import atomic_save_npz, atomic_write_text
from glassml.resume import check_same_settings, npz_complete
from glassml.simulate.config import ConfigError, SimulationSpec, spec_from_config
from glassml.simulate.fire import fire_minimize
from glassml.simulate.md import LJSystem, SimulationError
from glassml.simulate.propensity import RunResult, iso_run, iso_runs_batched, run_rng
from glassml.simulate.structure import solid_fraction
from glassml.simulate.thermostat import BussiThermostat

log = logging.getLogger(__name__)

WORK_DIR = ".work"
SPEC_FILE = "simulate_config.yaml"
# keys that may change between a run and its resumption without changing the data
# (the engine too: both integrate the same dynamics from the same seeds, see propensity.py)
RESUMABLE_KEYS = {
    "n_configs",
    "workers",
    "threads",
    "output_dir",
    "_target_",
    "engine",
    "device",
    "configs_per_batch",
}
REQUIRED_KEYS = ("types", "initial_positions", "initial_positions_inherent", "md_prop")


def config_path(output_dir: Path, k: int) -> Path:
    return Path(output_dir) / f"config_{k:04d}.npz"


# --- initial state and phase 1 -------------------------------------------------------------
def lattice_start(spec: SimulationSpec, rng: np.random.Generator) -> LJSystem:
    """Particles on a simple cubic/square lattice with shuffled species: no overlaps."""
    per_side = int(np.ceil(spec.N ** (1.0 / spec.dim) - 1e-9))
    grid = np.stack(np.meshgrid(*[np.arange(per_side)] * spec.dim, indexing="ij"), axis=-1)
    x = (grid.reshape(-1, spec.dim)[: spec.N] + 0.5) * (spec.box / per_side)
    types = rng.permutation(np.repeat(np.arange(len(spec.counts)), spec.counts))
    return LJSystem(x, types, spec.box, spec.table, skin=spec.skin)


def run_nvt(
    system: LJSystem,
    spec: SimulationSpec,
    temperature: float,
    duration: float,
    rng: np.random.Generator,
    desc: str,
) -> None:
    """NVT (Bussi) for `duration` LJ time units, with a progress bar in time units."""
    thermostat = BussiThermostat(temperature, spec.thermostat.tau, rng)
    n_steps = int(round(duration / spec.dt))
    block = max(1, int(round(1.0 / spec.dt)))
    with tqdm(total=round(n_steps * spec.dt, 3), desc=desc, unit="tLJ", leave=False) as bar:
        done = 0
        while done < n_steps:
            todo = min(block, n_steps - done)
            system.run(todo, spec.dt, thermostat)
            done += todo
            bar.update(round(todo * spec.dt, 3))


class Chain:
    """The phase-1 NVT chain, checkpointed after every sampled configuration."""

    def __init__(self, spec: SimulationSpec, work: Path):
        self.spec = spec
        self.work = work
        self.state_file = work / "chain.npz"

    def equilibrium_file(self, k: int) -> Path:
        return self.work / f"equilibrium_{k:04d}.npz"

    def _fresh(self, attempt: int) -> tuple[LJSystem, np.random.Generator]:
        s = self.spec
        rng = np.random.default_rng(np.random.SeedSequence([s.seed, 1, attempt]))
        system = lattice_start(s, rng)
        fire_minimize(system, ftol=1e-2, max_steps=2000)
        system.draw_velocities(s.melt_T, rng)
        run_nvt(system, s, s.melt_T, s.melt_time, rng, "melting")
        run_nvt(system, s, s.T, s.equilibration_taus * s.tau_alpha, rng, "equilibrating")
        return system, rng

    def sample(self, needed: list[int]) -> None:
        """Make the equilibrium configurations `needed` (skipping those already saved)."""
        s = self.spec
        missing = [k for k in needed if not self.equilibrium_file(k).exists()]
        if not missing:
            return
        system, rng, attempt = self._resume()
        if system is None:
            attempt = 0
            system, rng = self._fresh(attempt)
        rejected = 0
        bar = tqdm(total=len(missing), desc="sampling configurations", unit="config")
        for k in missing:
            while True:
                run_nvt(system, s, s.T, s.spacing_taus * s.tau_alpha, rng, f"decorrelating {k}")
                x = system.wrapped_positions()
                if not s.crystal.check or self._amorphous(x):
                    break
                rejected += 1
                if rejected > max(3, s.n_configs):
                    raise SimulationError(
                        f"{rejected} configurations crystallised at T={s.T}: use a higher "
                        f"simulator.T or another composition"
                    )
                log.warning("configuration %d crystallised; restarting the chain", k)
                attempt += 1
                system, rng = self._fresh(attempt)
            atomic_save_npz(self.equilibrium_file(k), positions=x, velocities=system.velocities)
            self._checkpoint(system, rng, attempt)
            bar.update()
        bar.close()

    def _amorphous(self, x: np.ndarray) -> bool:
        c = self.spec.crystal
        frac = solid_fraction(
            x, self.spec.box, r_max=c.r_max, q_threshold=c.q_threshold, solid_bonds=c.solid_bonds
        )
        return frac <= c.max_solid_fraction

    def _checkpoint(self, system: LJSystem, rng: np.random.Generator, attempt: int) -> None:
        atomic_save_npz(
            self.state_file,
            compress=False,
            positions=system.positions,
            types=system.types,
            velocities=system.velocities,
            attempt=attempt,
            rng_state=json.dumps(rng.bit_generator.state),
        )

    def _resume(self) -> tuple[LJSystem | None, Any, int]:
        if not self.state_file.exists():
            return None, None, 0
        with np.load(self.state_file) as st:
            system = LJSystem(
                st["positions"],
                st["types"],
                self.spec.box,
                self.spec.table,
                skin=self.spec.skin,
                velocities=st["velocities"],
            )
            rng = np.random.default_rng()
            rng.bit_generator.state = json.loads(str(st["rng_state"]))
            attempt = int(st["attempt"])
        log.info("resuming the sampling chain from %s", self.state_file)
        return system, rng, attempt


# --- phase 2 ---------------------------------------------------------------------------------
def _worker_init(threads: int) -> None:
    numba.set_num_threads(threads)


def _run_task(spec: SimulationSpec, k: int, r: int, x0: np.ndarray, types: np.ndarray):
    """Run r of configuration k; r = -1 is the FIRE minimisation (inherent structure)."""
    if r < 0:
        system = LJSystem(x0, types, spec.box, spec.table, skin=spec.skin)
        res = fire_minimize(system, ftol=spec.fire.ftol, max_steps=spec.fire.max_steps)
        if not res.converged:
            log.warning(
                "FIRE did not reach ftol=%g for configuration %d (max force %.3g)",
                spec.fire.ftol,
                k,
                res.max_force,
            )
        return system.wrapped_positions(), res.energy / spec.N
    return iso_run(spec, x0, types, run_rng(spec, k, r))


def assemble(
    spec: SimulationSpec,
    x0: np.ndarray,
    types: np.ndarray,
    inherent: np.ndarray,
    inherent_energy: float,
    runs: list[RunResult],
    resolved: str,
) -> dict[str, Any]:
    """The arrays of one GlassBench-layout file (DESIGN.md) plus our metadata."""
    cage = np.mean([r.cage_positions for r in runs], axis=0)
    out = {
        "types": types.astype(np.int64),
        "initial_positions": x0,
        "initial_positions_inherent": inherent,
        "initial_positions_cage": cage - spec.box * np.floor(cage / spec.box),
        "md_prop": np.mean([r.abs_disp for r in runs], axis=0).astype(np.float32),
        "md_prop_cage": np.mean([r.cage_disp for r in runs], axis=0).astype(np.float32),
        "bb_prop": np.mean([r.bond_broken for r in runs], axis=0).astype(np.float32),
        "times": spec.output_times,
        "box": spec.box,
        "temperature": np.float64(spec.T),
        "tau_alpha": np.float64(spec.tau_alpha),
        "density": np.float64(spec.density),
        "potential": np.str_(spec.potential.name),
        "n_iso": np.int64(spec.n_iso),
        "seed": np.int64(spec.seed),
        "inherent_energy": np.float64(inherent_energy),
        "config": np.str_(resolved),
    }
    if spec.save_runs:
        # half precision (1e-3 relative) is ample for ceiling estimates and halves the size
        out["md_prop_runs"] = np.stack([r.abs_disp for r in runs]).astype(np.float16)
    return out


def is_finished(path: Path) -> bool:
    """A config file that exists and loads with the required keys (else it is redone)."""
    return npz_complete(path, REQUIRED_KEYS, redo="recomputed")


def check_resumable(spec: SimulationSpec, out: Path) -> None:
    """Refuse to mix data made with different physics in one output directory."""

    def error(differ: list[str]) -> ConfigError:
        return ConfigError(
            f"{out} holds data made with a different config (differs in "
            f"{', '.join('simulator.' + k for k in differ)}); choose another "
            f"simulator.output_dir or remove that directory"
        )

    check_same_settings(out / SPEC_FILE, asdict(spec), RESUMABLE_KEYS, error)


def generate(spec: SimulationSpec, resolved: str = "") -> Path:
    """Make (or finish) the dataset described by `spec`; returns the output directory."""
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_resumable(spec, out)
    resolved = resolved or yaml.safe_dump(asdict(spec), sort_keys=False)
    todo = [k for k in range(spec.n_configs) if not is_finished(config_path(out, k))]
    log.info("%s: %d of %d configurations to do in %s", spec.name, len(todo), spec.n_configs, out)
    if not todo:
        return out
    device = None
    if spec.engine == "warp":  # a missing GPU is reported before any work
        from glassml.simulate.warp_engine import resolve_device

        device = resolve_device(spec.device)
    work = out / WORK_DIR
    chain = Chain(spec, work)
    start = time.time()
    numba.set_num_threads(spec.n_threads)
    chain.sample(todo)
    equilibrium = {}
    for k in todo:
        with np.load(chain.equilibrium_file(k)) as f:
            equilibrium[k] = f["positions"]
    if device is None:
        _iso_phase(spec, out, todo, equilibrium, chain_types(chain), resolved)
    else:
        _iso_phase_batched(spec, out, todo, equilibrium, chain_types(chain), resolved, device)
    _write_summary(spec, out, time.time() - start)
    return out


def chain_types(chain: Chain) -> np.ndarray:
    with np.load(chain.state_file) as st:
        return st["types"]


def _iso_phase(spec, out, todo, equilibrium, types, resolved) -> None:
    workers = spec.n_workers
    threads = max(1, spec.n_threads // workers)
    tasks = [(k, r) for k in todo for r in [-1, *range(spec.n_iso)]]
    pending: dict[int, dict[int, Any]] = {k: {} for k in todo}
    bar = tqdm(total=len(todo) * spec.n_iso, desc="iso-configurational runs", unit="run")
    finished = 0

    def collect(k: int, r: int, value: Any) -> None:
        nonlocal finished
        pending[k][r] = value
        if r >= 0:
            bar.update()
        if len(pending[k]) == spec.n_iso + 1:
            inherent, energy = pending[k].pop(-1)
            runs = [pending[k][i] for i in range(spec.n_iso)]
            arrays = assemble(spec, equilibrium[k], types, inherent, energy, runs, resolved)
            atomic_save_npz(config_path(out, k), **arrays)
            del pending[k]
            finished += 1
            bar.set_postfix(configs=f"{finished}/{len(todo)}")

    try:
        if workers == 1:
            for k, r in tasks:
                collect(k, r, _run_task(spec, k, r, equilibrium[k], types))
        else:
            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_worker_init, initargs=(threads,)
            ) as pool:
                futures: dict[Future, tuple[int, int]] = {}
                queue = iter(tasks)
                for k, r in queue:  # keep a bounded number of tasks in flight
                    futures[pool.submit(_run_task, spec, k, r, equilibrium[k], types)] = (k, r)
                    if len(futures) >= 2 * workers:
                        break
                while futures:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for fut in done:
                        k, r = futures.pop(fut)
                        collect(k, r, fut.result())
                        nxt = next(queue, None)
                        if nxt is not None:
                            kk, rr = nxt
                            futures[
                                pool.submit(_run_task, spec, kk, rr, equilibrium[kk], types)
                            ] = nxt
    finally:
        bar.close()


def _iso_phase_batched(spec, out, todo, equilibrium, types, resolved, device: str) -> None:
    """Phase 2 on the Warp engine: the iso runs of `configs_per_batch` configurations
    integrated as one batch; FIRE minimisations on the numba engine in this process."""
    per_batch = spec.batch_configs(device)
    bar = tqdm(total=len(todo) * spec.n_iso, desc=f"iso-configurational runs ({device})")
    try:
        for start in range(0, len(todo), per_batch):
            ks = todo[start : start + per_batch]
            inherent = {k: _run_task(spec, k, -1, equilibrium[k], types) for k in ks}
            configs = [(k, equilibrium[k]) for k in ks]
            desc = f"configurations {ks[0]}-{ks[-1]}" if len(ks) > 1 else f"configuration {ks[0]}"
            runs = iso_runs_batched(spec, configs, types, device, desc=desc)
            for k, k_runs in zip(ks, runs, strict=True):
                x_inh, energy = inherent[k]
                arrays = assemble(spec, equilibrium[k], types, x_inh, energy, k_runs, resolved)
                atomic_save_npz(config_path(out, k), **arrays)
                bar.update(spec.n_iso)
    finally:
        bar.close()


def _write_summary(spec: SimulationSpec, out: Path, seconds: float) -> None:
    files = sorted(p.name for p in out.glob("config_*.npz"))
    summary = {
        "name": spec.name,
        "n_files": len(files),
        "files": files,
        "times": spec.output_times.tolist(),
        "N": spec.N,
        "T": spec.T,
        "density": spec.density,
        "dim": spec.dim,
        "n_iso": spec.n_iso,
        "seconds_last_run": round(seconds, 1),
        "config": asdict(spec),
    }
    atomic_write_text(out / "dataset.json", json.dumps(summary, indent=2))


def run_propensity_dataset(cfg: Any) -> Path:
    """Hydra target: validate `cfg.simulator` before any work, then generate."""
    from omegaconf import OmegaConf

    spec = spec_from_config(cfg.simulator)
    resolved = OmegaConf.to_yaml(cfg, resolve=True)
    return generate(spec, resolved)
