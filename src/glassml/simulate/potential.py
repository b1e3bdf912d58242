"""Lennard-Jones pair potentials with per-species-pair parameters, shifted to zero at the cut-off.

U_ab(r) = 4 eps_ab [(s_ab/r)^12 - (s_ab/r)^6] - U_ab(rc_ab) for r < rc_ab = cutoff * s_ab,
the convention of the Kob-Andersen papers and of LAMMPS `lj/cut` with `pair_modify shift yes`.

Kernels work on [N, 3] arrays; 2D systems carry a zero z column (see md.LJSystem).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np


@dataclass(frozen=True)
class LJTable:
    """Per-pair tables, indexed [type_i, type_j], in the form the kernels want."""

    epsilon: np.ndarray
    sigma: np.ndarray
    rcut: np.ndarray  # absolute cut-off radius per pair

    @property
    def n_species(self) -> int:
        return self.epsilon.shape[0]

    @property
    def shift(self) -> np.ndarray:
        """Energy at the cut-off, subtracted so that U(rc) = 0."""
        sr6 = (self.sigma / self.rcut) ** 6
        return 4.0 * self.epsilon * (sr6 * sr6 - sr6)

    @property
    def max_rcut(self) -> float:
        return float(self.rcut.max())

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """(48 eps s^12, 24 eps s^6, 4 eps s^12, 4 eps s^6, rc^2, shift) for the kernels.

        Precombined so that the inner loop needs one division and no powers.
        """
        s6 = self.sigma**6
        arrays = (
            48 * self.epsilon * s6 * s6,
            24 * self.epsilon * s6,
            4 * self.epsilon * s6 * s6,
            4 * self.epsilon * s6,
            self.rcut**2,
            self.shift,
        )
        return tuple(np.ascontiguousarray(a) for a in arrays)

    @classmethod
    def from_lists(cls, epsilon, sigma, cutoff: float | list) -> LJTable:
        """Build from nested lists; `cutoff` is in units of sigma_ab (scalar or matrix)."""
        eps = np.asarray(epsilon, dtype=np.float64)
        sig = np.asarray(sigma, dtype=np.float64)
        cut = np.broadcast_to(np.asarray(cutoff, dtype=np.float64), eps.shape)
        return cls(epsilon=eps, sigma=sig, rcut=np.ascontiguousarray(cut * sig))


@nb.njit(cache=True)
def serial_sum(a):
    """Sum in index order, whatever the thread count (inside a parallel function numba
    would split `a.sum()` over the threads, and the last bit would depend on their number)."""
    total = 0.0
    for v in a:
        total += v
    return total


@nb.njit(inline="always", fastmath=True, cache=True)
def pair_sum(i, xe, types, nbr_idx, nbr_cnt, f12, f6, e12, e6, rc2, shift, want_energy):
    """Force on particle i and (if `want_energy`) its energy, from its full-list rows.

    Row (i, s) holds the neighbours of species s, so each inner loop has its pair's
    parameters in registers; it has no branches (the cut-off is a select) and loads only
    the neighbours' positions, so it vectorises. Neighbours across the box are ghost images
    (rows of `xe` after the particles, see neighbors.py): no minimum image here.
    """
    ti = types[i]
    xi = xe[i, 0]
    yi = xe[i, 1]
    zi = xe[i, 2]
    fx = 0.0
    fy = 0.0
    fz = 0.0
    e = 0.0
    for s in range(nbr_idx.shape[1]):
        a = f12[ti, s]
        b = f6[ti, s]
        c = rc2[ti, s]
        for k in range(nbr_cnt[i, s]):
            j = nbr_idx[i, s, k]
            dx = xi - xe[j, 0]
            dy = yi - xe[j, 1]
            dz = zi - xe[j, 2]
            r2 = dx * dx + dy * dy + dz * dz
            inv2 = 1.0 / r2
            inv6 = inv2 * inv2 * inv2
            fr = inv6 * (a * inv6 - b) * inv2
            fr = fr if r2 < c else 0.0
            fx += fr * dx
            fy += fr * dy
            fz += fr * dz
        if want_energy:
            a = e12[ti, s]
            b = e6[ti, s]
            sh = shift[ti, s]
            for k in range(nbr_cnt[i, s]):
                j = nbr_idx[i, s, k]
                dx = xi - xe[j, 0]
                dy = yi - xe[j, 1]
                dz = zi - xe[j, 2]
                r2 = dx * dx + dy * dy + dz * dz
                inv2 = 1.0 / r2
                inv6 = inv2 * inv2 * inv2
                eij = inv6 * (a * inv6 - b) - sh
                e += eij if r2 < c else 0.0
    return fx, fy, fz, 0.5 * e


@nb.njit(parallel=True, fastmath=True, cache=True)
def lj_forces(xe, types, nbr_idx, nbr_cnt, f12, f6, e12, e6, rc2, shift, forces, epot, want_energy):
    """Forces on the N = len(forces) particles (and their energies, half of each pair's, if
    `want_energy`) from a full neighbour list over positions and ghost images `xe`. Each
    row is summed by one thread, so threads write disjoint rows. Returns the potential
    energy (0 if not `want_energy`)."""
    for i in nb.prange(forces.shape[0]):
        fx, fy, fz, e = pair_sum(
            i, xe, types, nbr_idx, nbr_cnt, f12, f6, e12, e6, rc2, shift, want_energy
        )
        forces[i, 0] = fx
        forces[i, 1] = fy
        forces[i, 2] = fz
        epot[i] = e
    return serial_sum(epot) if want_energy else 0.0
