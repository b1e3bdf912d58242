"""Molecular dynamics of a periodic Lennard-Jones mixture: state, forces, velocity Verlet.

Reduced LJ units throughout (sigma_AA = epsilon_AA = m = k_B = 1), all masses 1.
Internally every array is [N, 3]; a 2D system has a zero z column and a dummy box length,
which keeps one set of (fast, specialised) kernels for both dimensions. Positions are
re-wrapped into the box at each neighbour-list build and the shifts are accumulated, so
unwrapped positions (needed for displacements) are always available.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numba as nb
import numpy as np

from glassml.simulate.neighbors import NeighborList
from glassml.simulate.potential import LJTable, lj_forces
from glassml.simulate.thermostat import BussiThermostat


class SimulationError(RuntimeError):
    """The integration became unphysical (NaN, overlap, energy explosion)."""


@nb.njit(parallel=True, cache=True)
def _kick_drift(x, v, f, dt, x_ref):
    """v += f dt/2; x += v dt. Returns the largest squared move since the list build."""
    n = x.shape[0]
    worst = np.empty(n)
    for i in nb.prange(n):
        s = 0.0
        for d in range(3):
            v[i, d] += 0.5 * dt * f[i, d]
            x[i, d] += dt * v[i, d]
            dx = x[i, d] - x_ref[i, d]
            s += dx * dx
        worst[i] = s
    return worst.max()


@nb.njit(parallel=True, cache=True)
def _kick(v, f, dt):
    """v += f dt/2. Returns the kinetic energy."""
    n = v.shape[0]
    kin = 0.0
    for i in nb.prange(n):
        for d in range(3):
            v[i, d] += 0.5 * dt * f[i, d]
            kin += 0.5 * v[i, d] * v[i, d]
    return kin


def _pad3(a: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0], 3))
    out[:, : a.shape[1]] = a
    return out


def maxwell_boltzmann(n: int, dim: int, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """Velocities [n, dim] of unit masses at `temperature`, total momentum zero (the draw
    both MD engines use, so that one generator gives the same run in each)."""
    v = rng.normal(0.0, np.sqrt(temperature), size=(n, dim))
    return v - v.mean(axis=0)


class LJSystem:
    """A periodic LJ mixture: species, box, potential, and the current dynamical state."""

    def __init__(
        self,
        positions: np.ndarray,
        types: np.ndarray,
        box: Sequence[float],
        table: LJTable,
        skin: float = 0.3,
        velocities: np.ndarray | None = None,
    ):
        positions = np.asarray(positions, dtype=np.float64)
        box = np.asarray(box, dtype=np.float64)
        n, dim = positions.shape
        if dim not in (2, 3) or box.shape != (dim,):
            raise ValueError(
                f"positions must be [N, 2|3] with a box of the same dimension, "
                f"got {positions.shape} and box {box.shape}"
            )
        self.types = np.ascontiguousarray(types, dtype=np.int64)
        if self.types.shape != (n,) or self.types.min() < 0 or self.types.max() >= table.n_species:
            raise ValueError(f"types must be [N] ints in [0, {table.n_species})")
        if not np.all(np.isfinite(positions)):
            raise ValueError("positions contain NaN or inf")
        self.dim = dim
        self.box = box
        self.table = table
        self._box3 = np.ones(3)
        self._box3[:dim] = box
        self._x = _pad3(positions)
        self._offset = np.zeros((n, 3))
        self._x_ref = np.zeros((n, 3))
        self._v = np.zeros((n, 3)) if velocities is None else _pad3(np.asarray(velocities))
        self._f = np.zeros((n, 3))
        self.epot_atoms = np.zeros(n)
        self._buf = np.zeros((nb.get_num_threads(), n, 4))
        self._params = table.kernel_args()
        self.nlist = NeighborList(table.rcut, skin, self._box3, dim, self.types)
        self._rebuild()
        self.epot = self._forces(True)

    # --- state -----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self._x.shape[0]

    @property
    def dof(self) -> int:
        """Degrees of freedom with the total momentum fixed at zero."""
        return self.dim * (self.n - 1)

    @property
    def positions(self) -> np.ndarray:
        """Unwrapped positions [N, dim] (a copy)."""
        return (self._x + self._offset)[:, : self.dim]

    def wrapped_positions(self) -> np.ndarray:
        x = self.positions
        return x - self.box * np.floor(x / self.box)

    @property
    def velocities(self) -> np.ndarray:
        return self._v[:, : self.dim]

    @velocities.setter
    def velocities(self, v: np.ndarray) -> None:
        self._v[:, : self.dim] = v

    @property
    def forces(self) -> np.ndarray:
        return self._f[:, : self.dim]

    def set_positions(self, x: np.ndarray) -> None:
        """Replace the positions (unwrapped allowed) and recompute forces."""
        self._x = _pad3(np.asarray(x, dtype=np.float64))
        self._offset[:] = 0.0
        self._rebuild()
        self.epot = self._forces(True)

    def displace(self, dx: np.ndarray) -> None:
        """Move particles by dx [N, dim] and recompute forces (rebuilding the list if needed)."""
        self._x[:, : self.dim] += dx
        if np.max(np.sum((self._x - self._x_ref) ** 2, axis=1)) > 0.25 * self.nlist.skin**2:
            self._rebuild()
        self.epot = self._forces(True)

    def kinetic_energy(self) -> float:
        return 0.5 * float(np.sum(self._v * self._v))

    def temperature(self) -> float:
        return 2.0 * self.kinetic_energy() / self.dof

    def draw_velocities(self, temperature: float, rng: np.random.Generator) -> None:
        """Maxwell-Boltzmann velocities at `temperature` with zero total momentum."""
        self.velocities = maxwell_boltzmann(self.n, self.dim, temperature, rng)

    # --- kernels -----------------------------------------------------------------------------
    def _rebuild(self) -> None:
        shift = self._box3 * np.floor(self._x / self._box3)
        shift[:, self.dim :] = 0.0
        self._x -= shift
        self._offset += shift
        self._x_ref[:] = self._x
        self.nlist.build(self._x)

    def _forces(self, want_energy: bool) -> float:
        """Forces into self._f; energies only on request, as they cost ~20% of a step."""
        return lj_forces(
            self._x,
            self.types,
            self._box3,
            self.nlist.nbr_idx,
            self.nlist.nbr_cnt,
            *self._params,
            self._f,
            self.epot_atoms,
            self._buf,
            want_energy,
        )

    def run(
        self,
        n_steps: int,
        dt: float,
        thermostat: BussiThermostat | None = None,
        record_steps: Sequence[int] = (),
        on_record: Callable[[int, LJSystem], None] | None = None,
        check_every: int = 200,
    ) -> None:
        """Velocity Verlet for `n_steps`; the thermostat (if any) acts after each full step.

        `on_record(step, self)` is called after each step listed in `record_steps` (step
        counts from the start of this call, 1-based).
        """
        record = {int(s) for s in record_steps}
        half_skin2 = 0.25 * self.nlist.skin**2
        t_ref = max(self.temperature(), thermostat.temperature if thermostat else 0.0, 0.05)
        kin_limit = 50.0 * t_ref * 0.5 * self.dof
        for step in range(1, n_steps + 1):
            if _kick_drift(self._x, self._v, self._f, dt, self._x_ref) > half_skin2:
                self._rebuild()
            want_energy = step % check_every == 0 or step == n_steps or step in record
            energy = self._forces(want_energy)
            if want_energy:
                self.epot = energy
            kin = _kick(self._v, self._f, dt)
            if thermostat is not None:
                self._v *= thermostat.scale_factor(kin, self.dof, dt)
            if want_energy:
                self._check(step, kin, kin_limit, dt)
            if on_record is not None and step in record:
                on_record(step, self)

    def _check(self, step: int, kin: float, kin_limit: float, dt: float) -> None:
        if not (np.isfinite(kin) and np.isfinite(self.epot)) or kin > kin_limit:
            raise SimulationError(
                f"integration blew up at step {step} (kinetic energy {kin:.3g}, potential "
                f"{self.epot:.3g}, N={self.n}): particles overlapped or dt={dt} is too large; "
                f"try a smaller simulator.dt"
            )
