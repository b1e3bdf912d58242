"""Iso-configurational runs: the dynamics of many trajectories started from one structure.

From an equilibrium configuration, each run draws fresh Maxwell-Boltzmann velocities and
records, at the output times, three per-particle observables; their means over runs are
the propensities stored in the dataset (GlassBench protocol, REFERENCE.md):
- |r_i(t) - r_i(0)| (unwrapped): the displacement propensity `md_prop`;
- |d_i(t) - <d_j(t)>_cage(i)|: the same relative to the mean displacement of the initial
  neighbours, which removes the long-wavelength (Mermin-Wagner) motion that dominates 2D;
- the fraction of initial neighbours (r < r_in sigma_ab) now farther than r_out sigma_ab:
  the bond-breaking propensity `bb_prop`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from glassml.pbc import pairs_within
from glassml.simulate.config import SimulationSpec
from glassml.simulate.md import LJSystem
from glassml.simulate.thermostat import BussiThermostat

# iso runs advance in blocks of this many LJ time units between progress-bar updates
PROGRESS_BLOCK = 1.0


@dataclass
class RunResult:
    abs_disp: np.ndarray  # [n_times, N] float32
    cage_disp: np.ndarray  # [n_times, N] float32
    bond_broken: np.ndarray  # [n_times, N] float32
    cage_positions: np.ndarray  # [N, d] unwrapped positions at the cage time


def neighbor_pairs(
    positions: np.ndarray, types: np.ndarray, box: np.ndarray, sigma: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairs (i, j), i != j, closer than scale * sigma[type_i, type_j] (PBC)."""
    i, j, vec = pairs_within(positions, box, scale * float(np.max(sigma)))
    keep = np.linalg.norm(vec, axis=1) < scale * sigma[types[i], types[j]]
    return i[keep], j[keep]


def _neighbor_mean(values: np.ndarray, i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """Mean over each particle's neighbours j of values[j] ([N, d]); own value if none."""
    counts = np.bincount(i, minlength=n)
    out = np.zeros_like(values)
    for d in range(values.shape[1]):
        out[:, d] = np.bincount(i, weights=values[j, d], minlength=n)
    lonely = counts == 0
    out[~lonely] /= counts[~lonely, None]
    out[lonely] = values[lonely]
    return out


class Observer:
    """Records the per-particle observables of one run at the output steps."""

    def __init__(
        self,
        x0: np.ndarray,
        types: np.ndarray,
        box: np.ndarray,
        sigma: np.ndarray,
        cage_radius: float,
        bond_breaking: tuple[float, float],
        steps: np.ndarray,
        cage_step: int,
    ):
        """x0: unwrapped start; sigma: pair diameters [n_species, n_species]; neighbours
        within cage_radius * sigma form the cage, bonds break from r_in to r_out * sigma
        (bond_breaking); steps: output steps; cage_step: the one of the cage positions."""
        r_in, r_out = bond_breaking
        self.x0 = x0
        self.box = box
        self.n = x0.shape[0]
        self.cage_i, self.cage_j = neighbor_pairs(x0, types, box, sigma, cage_radius)
        self.bond_i, self.bond_j = neighbor_pairs(x0, types, box, sigma, r_in)
        self.bond_out = r_out * sigma[types[self.bond_i], types[self.bond_j]]
        self.n_bonds = np.bincount(self.bond_i, minlength=self.n)
        self.index = {int(s): k for k, s in enumerate(steps)}
        self.cage_step = int(cage_step)
        n_t = len(steps)
        self.abs_disp = np.zeros((n_t, self.n), np.float32)
        self.cage_disp = np.zeros((n_t, self.n), np.float32)
        self.bond_broken = np.zeros((n_t, self.n), np.float32)
        self.cage_positions = x0.copy()

    @classmethod
    def for_spec(cls, spec: SimulationSpec, x0: np.ndarray, types: np.ndarray) -> Observer:
        """The observer of a run of our own simulator (output steps of `spec`)."""
        steps = spec.output_steps
        return cls(
            x0,
            types,
            spec.box,
            np.asarray(spec.potential.sigma, dtype=float),
            spec.cage_radius,
            (spec.bond_breaking.r_in, spec.bond_breaking.r_out),
            steps,
            int(steps[np.argmin(np.abs(steps * spec.dt - spec.cage_time))]),
        )

    def fresh(self) -> Observer:
        """An observer of another run from the same structure: shares the neighbour pairs,
        starts with empty records."""
        other = copy.copy(self)
        for name in ("abs_disp", "cage_disp", "bond_broken"):
            setattr(other, name, np.zeros_like(getattr(self, name)))
        other.cage_positions = self.x0.copy()
        return other

    def __call__(self, step: int, system: LJSystem) -> None:
        self.record(step, system.positions)

    def record(self, step: int, x: np.ndarray) -> None:
        """Observables at output step `step` from unwrapped positions x [N, d]."""
        k = self.index[step]
        d = x - self.x0
        self.abs_disp[k] = np.linalg.norm(d, axis=1)
        rel = d - _neighbor_mean(d, self.cage_i, self.cage_j, self.n)
        self.cage_disp[k] = np.linalg.norm(rel, axis=1)
        sep = x[self.bond_i] - x[self.bond_j]
        sep -= self.box * np.rint(sep / self.box)
        broken = np.linalg.norm(sep, axis=1) > self.bond_out
        n_broken = np.bincount(self.bond_i[broken], minlength=self.n)
        self.bond_broken[k] = n_broken / np.maximum(self.n_bonds, 1)
        if step == self.cage_step:
            self.cage_positions = x

    def result(self) -> RunResult:
        return RunResult(self.abs_disp, self.cage_disp, self.bond_broken, self.cage_positions)


def iso_run(
    spec: SimulationSpec, x0: np.ndarray, types: np.ndarray, rng: np.random.Generator
) -> RunResult:
    """One iso-configurational trajectory from positions x0 with fresh MB velocities."""
    system = LJSystem(x0, types, spec.box, spec.table, skin=spec.skin)
    system.draw_velocities(spec.T, rng)
    thermostat = None
    if spec.iso_ensemble == "nvt":
        thermostat = BussiThermostat(spec.T, spec.thermostat.tau, rng)
    observer = Observer.for_spec(spec, system.positions, types)
    steps = spec.output_steps
    system.run(int(steps[-1]), spec.dt, thermostat, record_steps=steps, on_record=observer)
    return observer.result()


def run_rng(spec: SimulationSpec, k: int, r: int) -> np.random.Generator:
    """The generator of run r of configuration k: velocities, then thermostat noise."""
    return np.random.default_rng(np.random.SeedSequence([spec.seed, 2, k, r]))


def iso_runs_batched(
    spec: SimulationSpec,
    configs: Sequence[tuple[int, np.ndarray]],
    types: np.ndarray,
    device: str,
    desc: str = "iso runs",
) -> list[list[RunResult]]:
    """All iso-configurational runs of several configurations [(k, x0), ...] as one Warp
    batch of len(configs) * n_iso replicas; results[c][r] is run r of configs[c].

    Each run draws its velocities (and thermostat noise) from `run_rng(spec, k, r)`, the
    generator the numba path (`iso_run`) uses, so both engines start from the same state.
    """
    from tqdm.auto import tqdm

    from glassml.simulate.warp_engine import WarpLJBatch

    keys = [(c, r) for c in range(len(configs)) for r in range(spec.n_iso)]
    rngs = [run_rng(spec, configs[c][0], r) for c, r in keys]
    batch = WarpLJBatch(
        np.stack([configs[c][1] for c, _ in keys]),
        types,
        spec.box,
        spec.table,
        device=device,
        skin=spec.skin,
    )
    batch.draw_velocities(spec.T, rngs)
    thermostats = None
    if spec.iso_ensemble == "nvt":
        thermostats = [BussiThermostat(spec.T, spec.thermostat.tau, rng) for rng in rngs]
    first = [Observer.for_spec(spec, x0, types) for _, x0 in configs]
    observers = [first[c] if r == 0 else first[c].fresh() for c, r in keys]

    steps = spec.output_steps
    n_steps = int(steps[-1])
    block = max(1, int(round(PROGRESS_BLOCK / spec.dt)))
    with tqdm(total=round(n_steps * spec.dt, 3), desc=desc, unit="tLJ", leave=False) as bar:
        done = 0
        while done < n_steps:
            todo = min(block, n_steps - done)
            batch.run(
                todo,
                spec.dt,
                thermostats,
                record_steps=[s - done for s in steps if done < s <= done + todo],
                on_record=_BatchRecorder(observers, done),
            )
            done += todo
            bar.update(round(todo * spec.dt, 3))
    results = [obs.result() for obs in observers]
    return [results[c * spec.n_iso : (c + 1) * spec.n_iso] for c in range(len(configs))]


class _BatchRecorder:
    """on_record callback of one block of a batched run: hands replica r to observer r."""

    def __init__(self, observers: list[Observer], offset: int):
        self.observers = observers
        self.offset = offset

    def __call__(self, step: int, batch) -> None:
        x = batch.positions
        for obs, xr in zip(self.observers, x, strict=True):
            obs.record(step + self.offset, xr)
