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

from dataclasses import dataclass

import numpy as np

from glassml.pbc import pairs_within
from glassml.simulate.config import SimulationSpec
from glassml.simulate.md import LJSystem
from glassml.simulate.thermostat import BussiThermostat


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

    def __init__(self, spec: SimulationSpec, x0: np.ndarray, types: np.ndarray):
        sigma = np.asarray(spec.potential.sigma, dtype=float)
        box = spec.box
        self.x0 = x0
        self.box = box
        self.n = x0.shape[0]
        self.cage_i, self.cage_j = neighbor_pairs(x0, types, box, sigma, spec.cage_radius)
        self.bond_i, self.bond_j = neighbor_pairs(x0, types, box, sigma, spec.bond_breaking.r_in)
        self.bond_out = spec.bond_breaking.r_out * sigma[types[self.bond_i], types[self.bond_j]]
        self.n_bonds = np.bincount(self.bond_i, minlength=self.n)
        steps = spec.output_steps
        self.index = {int(s): k for k, s in enumerate(steps)}
        self.cage_step = int(steps[np.argmin(np.abs(steps * spec.dt - spec.cage_time))])
        n_t = len(steps)
        self.abs_disp = np.zeros((n_t, self.n), np.float32)
        self.cage_disp = np.zeros((n_t, self.n), np.float32)
        self.bond_broken = np.zeros((n_t, self.n), np.float32)
        self.cage_positions = x0.copy()

    def __call__(self, step: int, system: LJSystem) -> None:
        k = self.index[step]
        x = system.positions
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
    observer = Observer(spec, system.positions, types)
    steps = spec.output_steps
    system.run(int(steps[-1]), spec.dt, thermostat, record_steps=steps, on_record=observer)
    return observer.result()
