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


@nb.njit(parallel=True, fastmath=True, cache=True)
def lj_forces(
    x, types, box, nbr_idx, nbr_cnt, f12, f6, e12, e6, rc2, shift, forces, epot, buf, want_energy
):
    """Forces (and per-particle energies if `want_energy`) from a half neighbour list.

    Newton's third law halves the pair work; each thread accumulates into its own slice of
    `buf` [n_threads, N, 4] (force and energy), summed at the end, so there are no write
    races. Pair separations must be within 1.5 boxes of their minimum image, which holds
    because the caller re-wraps positions at each list rebuild. Returns the potential
    energy (0 if not `want_energy`).
    """
    n = x.shape[0]
    n_threads = buf.shape[0]
    hx = 0.5 * box[0]
    hy = 0.5 * box[1]
    hz = 0.5 * box[2]
    chunk = (n + n_threads - 1) // n_threads
    for t in nb.prange(n_threads):
        b = buf[t]
        b[:] = 0.0
        for i in range(t * chunk, min(n, (t + 1) * chunk)):
            ti = types[i]
            xi = x[i, 0]
            yi = x[i, 1]
            zi = x[i, 2]
            fxi = 0.0
            fyi = 0.0
            fzi = 0.0
            for k in range(nbr_cnt[i]):
                j = nbr_idx[i, k]
                tj = types[j]
                # branch-free minimum image and cut-off: the branches mispredicted often
                # enough to cost ~25% of the kernel
                dx = xi - x[j, 0]
                dy = yi - x[j, 1]
                dz = zi - x[j, 2]
                dx -= box[0] * ((dx > hx) * 1.0 - (dx < -hx) * 1.0)
                dy -= box[1] * ((dy > hy) * 1.0 - (dy < -hy) * 1.0)
                dz -= box[2] * ((dz > hz) * 1.0 - (dz < -hz) * 1.0)
                r2 = dx * dx + dy * dy + dz * dz
                inside = r2 < rc2[ti, tj]
                inv2 = 1.0 / r2
                inv6 = inv2 * inv2 * inv2
                fr = inv6 * (f12[ti, tj] * inv6 - f6[ti, tj]) * inv2 if inside else 0.0
                fxi += fr * dx
                fyi += fr * dy
                fzi += fr * dz
                b[j, 0] -= fr * dx
                b[j, 1] -= fr * dy
                b[j, 2] -= fr * dz
                if want_energy and inside:
                    e = 0.5 * (inv6 * (e12[ti, tj] * inv6 - e6[ti, tj]) - shift[ti, tj])
                    b[i, 3] += e
                    b[j, 3] += e
            b[i, 0] += fxi
            b[i, 1] += fyi
            b[i, 2] += fzi
    total = 0.0
    for i in nb.prange(n):
        acc = np.zeros(4)
        for t in range(n_threads):
            for c in range(4):
                acc[c] += buf[t, i, c]
        forces[i, 0] = acc[0]
        forces[i, 1] = acc[1]
        forces[i, 2] = acc[2]
        epot[i] = acc[3]
        total += acc[3]
    return total
