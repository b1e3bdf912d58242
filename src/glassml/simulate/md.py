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

from glassml.simulate.neighbors import (
    NeighborList,
    _build_all_pairs,
    _build_cells,
)
from glassml.simulate.potential import LJTable, lj_forces, pair_sum, serial_sum
from glassml.simulate.thermostat import BussiThermostat


class SimulationError(RuntimeError):
    """The integration became unphysical (NaN, overlap, energy explosion)."""


@nb.njit(parallel=True, cache=True)
def _kick_drift(xe, v, f, dt, x_ref, ghost_first, ghost_count, ghost_shift):
    """v += f dt/2; x += v dt for the particles xe[:N], whose ghost images follow in the
    same pass (one parallel region per half step). Returns the largest squared move since
    the list build."""
    n = v.shape[0]
    worst = np.empty(n)
    for i in nb.prange(n):
        s = 0.0
        for d in range(3):
            v[i, d] += 0.5 * dt * f[i, d]
            xe[i, d] += dt * v[i, d]
            dx = xe[i, d] - x_ref[i, d]
            s += dx * dx
        worst[i] = s
        for g in range(ghost_first[i], ghost_first[i] + ghost_count[i]):
            for d in range(3):
                xe[g, d] = xe[i, d] + ghost_shift[g - n, d]
    return worst.max()


@nb.njit(parallel=True, fastmath=True, cache=True)
def _force_kick(xe, v, types, nbr_idx, nbr_cnt, params, f, epot, dt, want_energy):
    """Forces of the new positions (particles and ghosts `xe`), then v += f dt/2 in the same
    pass (a full-list row holds all of a particle's force). Returns (kinetic energy,
    potential energy or 0)."""
    kin = np.empty(v.shape[0])  # per particle (a prange reduction next to the inlined pair
    for i in nb.prange(v.shape[0]):  # loops trips numba's reduction analysis)
        fx, fy, fz, e = pair_sum(i, xe, types, nbr_idx, nbr_cnt, params, want_energy)
        f[i, 0] = fx
        f[i, 1] = fy
        f[i, 2] = fz
        epot[i] = e
        vx = v[i, 0] + 0.5 * dt * fx
        vy = v[i, 1] + 0.5 * dt * fy
        vz = v[i, 2] + 0.5 * dt * fz
        v[i, 0] = vx
        v[i, 1] = vy
        v[i, 2] = vz
        kin[i] = 0.5 * (vx * vx + vy * vy + vz * vz)
    return serial_sum(kin), (serial_sum(epot) if want_energy else 0.0)


@nb.njit(cache=True)
def _wrap(x, offset, x_ref, box, dim):
    """Move positions back into the box, keeping the shifts in `offset` (for unwrapping)."""
    for i in range(x.shape[0]):
        for d in range(dim):
            s = box[d] * np.floor(x[i, d] / box[d])
            x[i, d] -= s
            offset[i, d] += s
        for d in range(3):
            x_ref[i, d] = x[i, d]


@nb.njit(cache=True)
def _verlet(
    n_steps, want_energy, resume, xe, n_ext, v, f, x_ref, offset, epot, types, box, dim, dt,
    half_skin2, params, use_cells, rlist, k, rlist2, nbr_idx, nbr_cnt, n_threads, ghost_src,
    ghost_shift, ghost_first, ghost_count,
):  # fmt: skip
    """`n_steps` velocity-Verlet steps in compiled code, rebuilding the list when needed.

    Positions are xe[:N], ghost images xe[N:n_ext]. Energies on the last step only if
    `want_energy`. `resume` skips the first drift (the caller finished a rebuild that ran
    out of room). Returns (complete steps, kinetic energy, potential energy, list builds,
    n_ext, room needed): room needed above the list width, or n_ext above the length of
    xe, means the step after the complete ones stopped after its rebuild.
    """
    n = v.shape[0]
    x = xe[:n]
    kin = 0.0
    energy = 0.0
    builds = 0
    for step in range(n_steps):
        moved = 0.0
        if not resume:
            moved = _kick_drift(xe, v, f, dt, x_ref, ghost_first, ghost_count, ghost_shift)
        if moved > half_skin2:
            _wrap(x, offset, x_ref, box, dim)
            tables = (
                nbr_idx, nbr_cnt, n_threads, xe, ghost_src, ghost_shift, ghost_first,
                ghost_count,
            )  # fmt: skip
            if use_cells:
                need, n_ext = _build_cells(x, types, box, dim, rlist, k, rlist2, *tables)
            else:
                need, n_ext = _build_all_pairs(x, types, box, dim, rlist, k, rlist2, *tables)
            if need > nbr_idx.shape[2] or n_ext > xe.shape[0]:
                return step, kin, energy, builds, n_ext, need
            builds += 1
        resume = False
        last = want_energy and step == n_steps - 1
        kin, energy = _force_kick(xe, v, types, nbr_idx, nbr_cnt, params, f, epot, dt, last)
    return n_steps, kin, energy, builds, n_ext, 0


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
        self.nlist = NeighborList(table.rcut, skin, self._box3, dim, self.types)
        self._x = _pad3(positions)
        self._offset = np.zeros((n, 3))
        self._x_ref = np.zeros((n, 3))
        self._v = np.zeros((n, 3)) if velocities is None else _pad3(np.asarray(velocities))
        self._f = np.zeros((n, 3))
        self.epot_atoms = np.zeros(n)
        self._params = table.kernel_args()
        self._rebuild()
        self.epot = self._forces(True)

    # --- state -----------------------------------------------------------------------------
    @property
    def _x(self) -> np.ndarray:
        """Positions [N, 3], wrapped at each list build: the first rows of the list's
        position array (ghost images follow them)."""
        return self.nlist.xe[: self.nlist.n]

    @_x.setter
    def _x(self, x: np.ndarray) -> None:
        self.nlist.xe[: self.nlist.n] = x

    @property
    def n(self) -> int:
        return self.nlist.n

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
        self.nlist.build()

    def _forces(self, want_energy: bool) -> float:
        """Forces into self._f; energies only on request, as they cost ~20% of a step."""
        self.nlist.update_ghosts()
        return lj_forces(
            self.nlist.xe,
            self.types,
            self.nlist.nbr_idx,
            self.nlist.nbr_cnt,
            self._params,
            self._f,
            self.epot_atoms,
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
        if n_steps <= 0:
            return
        record = {int(s) for s in record_steps}
        t_ref = max(self.temperature(), thermostat.temperature if thermostat else 0.0, 0.05)
        kin_limit = 50.0 * t_ref * 0.5 * self.dof
        # steps after which energies are computed: checks, records and the last one
        stops = {s for s in record if 1 <= s <= n_steps}
        stops |= set(range(check_every, n_steps + 1, check_every)) | {n_steps}
        step = 0
        for stop in sorted(stops):
            while step < stop:  # the thermostat acts after each step, so one at a time
                chunk = 1 if thermostat is not None else stop - step
                kin, energy = self._advance(chunk, dt, want_energy=step + chunk == stop)
                step += chunk
                if thermostat is not None:
                    self._v *= thermostat.scale_factor(kin, self.dof, dt)
            self.epot = energy
            self._check(step, kin, kin_limit, dt)
            if on_record is not None and step in record:
                on_record(step, self)

    def _advance(self, n_steps: int, dt: float, want_energy: bool) -> tuple[float, float]:
        """`n_steps` compiled Verlet steps; grows the list when a rebuild needs more room.
        Returns the kinetic and (if `want_energy`) potential energy after the last step."""
        nl = self.nlist
        half_skin2 = 0.25 * nl.skin**2
        threads = nb.get_num_threads()
        done = 0
        resume = False
        while True:
            complete, kin, energy, builds, n_ext, need = _verlet(
                n_steps - done, want_energy, resume, nl.xe, nl.n_ext, self._v, self._f,
                self._x_ref, self._offset, self.epot_atoms, self.types, self._box3, self.dim,
                dt, half_skin2, self._params, nl.use_cells, nl.rlist, nl.cell_factor,
                nl.rlist2, nl.nbr_idx, nl.nbr_cnt, threads, nl.ghost_src, nl.ghost_shift,
                nl.ghost_first, nl.ghost_count,
            )  # fmt: skip
            nl.n_builds += builds
            done += complete
            if done == n_steps:
                nl.n_ext = n_ext
                return kin, energy
            nl.build()  # out of room: positions are wrapped, grow and rebuild, finish the step
            resume = True

    def _check(self, step: int, kin: float, kin_limit: float, dt: float) -> None:
        if not (np.isfinite(kin) and np.isfinite(self.epot)) or kin > kin_limit:
            raise SimulationError(
                f"integration blew up at step {step} (kinetic energy {kin:.3g}, potential "
                f"{self.epot:.3g}, N={self.n}): particles overlapped or dt={dt} is too large; "
                f"try a smaller simulator.dt"
            )
