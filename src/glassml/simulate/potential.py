"""Lennard-Jones pair potentials with per-species-pair parameters, brought to zero at the cut-off.

Two truncations of U_ab(r) = 4 eps_ab [(s_ab/r)^12 - (s_ab/r)^6] at rc_ab = cutoff * s_ab:

- `shift`: U_ab(r) - U_ab(rc_ab), the convention of the Kob-Andersen papers and of LAMMPS
  `lj/cut` with `pair_modify shift yes`;
- `smooth`: U_ab(r) + 4 eps_ab [C0 + C2 (r/s_ab)^2 + C4 (r/s_ab)^4], with C0, C2, C4 such that
  the energy and its first two derivatives vanish at rc_ab: the potential of the ternary
  KA mixtures of Jung, Biroli and Berthier (GlassBench KA 2D; their code StructDynGlass,
  `struct_base.h`, has C0 = 0.04049023795, C2 = -0.00970155098, C4 = 0.00062012616 at 2.5).

Kernels work on [N, 3] arrays; 2D systems carry a zero z column (see md.LJSystem).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

TRUNCATIONS = ("shift", "smooth")


def smoothing_coefficients(q_cut: np.ndarray | float) -> np.ndarray:
    """[..., 3] coefficients (C0, C2, C4) of C0 + C2 q^2 + C4 q^4 that bring q^-12 - q^-6
    and its first two derivatives to zero at q = q_cut (in units of sigma)."""
    q = np.asarray(q_cut, dtype=np.float64)
    f = np.stack([q**-12 - q**-6, -12 * q**-13 + 6 * q**-7, 156 * q**-14 - 42 * q**-8], -1)
    one, zero = np.ones_like(q), np.zeros_like(q)
    rows = np.stack(  # value, first and second derivative of (1, q^2, q^4)
        [
            np.stack([one, q**2, q**4], -1),
            np.stack([zero, 2 * q, 4 * q**3], -1),
            np.stack([zero, 2 * one, 12 * q**2], -1),
        ],
        -2,
    )
    return np.linalg.solve(rows, -f[..., None])[..., 0]


@dataclass(frozen=True)
class LJTable:
    """Per-pair tables, indexed [type_i, type_j], in the form the kernels want."""

    epsilon: np.ndarray
    sigma: np.ndarray
    rcut: np.ndarray  # absolute cut-off radius per pair
    truncation: str = "shift"  # one of TRUNCATIONS

    def __post_init__(self) -> None:
        if self.truncation not in TRUNCATIONS:
            raise ValueError(
                f"potential.truncation must be one of {list(TRUNCATIONS)} (got {self.truncation!r})"
            )

    @property
    def n_species(self) -> int:
        return self.epsilon.shape[0]

    @property
    def max_rcut(self) -> float:
        return float(self.rcut.max())

    def tail(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(h0, h2, h4) per pair: the terms h0 + h2 r^2 + h4 r^4 added to the bare LJ energy
        inside the cut-off (h0 = -U_LJ(rc) for `shift`)."""
        if self.truncation == "shift":
            sr6 = (self.sigma / self.rcut) ** 6
            zero = np.zeros_like(self.epsilon)
            return -4.0 * self.epsilon * (sr6 * sr6 - sr6), zero, zero
        c = smoothing_coefficients(self.rcut / self.sigma)
        four_eps = 4.0 * self.epsilon
        return (
            four_eps * c[..., 0],
            four_eps * c[..., 1] / self.sigma**2,
            four_eps * c[..., 2] / self.sigma**4,
        )

    def pair_energy(self, r: np.ndarray, ti: np.ndarray, tj: np.ndarray) -> np.ndarray:
        """U_{ti tj}(r) for pairs inside their cut-off (numpy, vectorised)."""
        h0, h2, h4 = (h[ti, tj] for h in self.tail())
        sr6 = (self.sigma[ti, tj] / r) ** 6
        r2 = r * r
        return 4.0 * self.epsilon[ti, tj] * (sr6 * sr6 - sr6) + h0 + r2 * (h2 + r2 * h4)

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """(48 eps s^12, 24 eps s^6, g0, g2, 4 eps s^12, 4 eps s^6, h0, h2, h4, rc^2) for the
        kernels: the LJ force over r is (48 eps s^12 / r^12 - 24 eps s^6 / r^6) / r^2 + g0 +
        g2 r^2 (g = -(1/r) d/dr of the tail), the energy the LJ term plus h0 + h2 r^2 + h4 r^4.

        Precombined so that the inner loop needs one division and no powers.
        """
        s6 = self.sigma**6
        h0, h2, h4 = self.tail()
        arrays = (
            48 * self.epsilon * s6 * s6,
            24 * self.epsilon * s6,
            -2.0 * h2,
            -4.0 * h4,
            4 * self.epsilon * s6 * s6,
            4 * self.epsilon * s6,
            h0,
            h2,
            h4,
            self.rcut**2,
        )
        return tuple(np.ascontiguousarray(a) for a in arrays)

    @classmethod
    def from_lists(cls, epsilon, sigma, cutoff: float | list, truncation: str = "shift") -> LJTable:
        """Build from nested lists; `cutoff` is in units of sigma_ab (scalar or matrix)."""
        eps = np.asarray(epsilon, dtype=np.float64)
        sig = np.asarray(sigma, dtype=np.float64)
        cut = np.broadcast_to(np.asarray(cutoff, dtype=np.float64), eps.shape)
        return cls(
            epsilon=eps, sigma=sig, rcut=np.ascontiguousarray(cut * sig), truncation=truncation
        )


@nb.njit(cache=True)
def serial_sum(a):
    """Sum in index order, whatever the thread count (inside a parallel function numba
    would split `a.sum()` over the threads, and the last bit would depend on their number)."""
    total = 0.0
    for v in a:
        total += v
    return total


@nb.njit(inline="always", fastmath=True, cache=True)
def pair_sum(i, xe, types, nbr_idx, nbr_cnt, params, want_energy):
    """Force on particle i and (if `want_energy`) its energy, from its full-list rows;
    `params` is `LJTable.kernel_args()`.

    Row (i, s) holds the neighbours of species s, so each inner loop has its pair's
    parameters in registers; it has no branches (the cut-off is a select) and loads only
    the neighbours' positions, so it vectorises. Neighbours across the box are ghost images
    (rows of `xe` after the particles, see neighbors.py): no minimum image here.
    """
    f12, f6, g0, g2, e12, e6, h0, h2, h4, rc2 = params
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
        c0 = g0[ti, s]
        c2 = g2[ti, s]
        c = rc2[ti, s]
        for k in range(nbr_cnt[i, s]):
            j = nbr_idx[i, s, k]
            dx = xi - xe[j, 0]
            dy = yi - xe[j, 1]
            dz = zi - xe[j, 2]
            r2 = dx * dx + dy * dy + dz * dz
            inv2 = 1.0 / r2
            inv6 = inv2 * inv2 * inv2
            fr = inv6 * (a * inv6 - b) * inv2 + (c0 + c2 * r2)
            fr = fr if r2 < c else 0.0
            fx += fr * dx
            fy += fr * dy
            fz += fr * dz
        if want_energy:
            a = e12[ti, s]
            b = e6[ti, s]
            t0 = h0[ti, s]
            t2 = h2[ti, s]
            t4 = h4[ti, s]
            for k in range(nbr_cnt[i, s]):
                j = nbr_idx[i, s, k]
                dx = xi - xe[j, 0]
                dy = yi - xe[j, 1]
                dz = zi - xe[j, 2]
                r2 = dx * dx + dy * dy + dz * dz
                inv2 = 1.0 / r2
                inv6 = inv2 * inv2 * inv2
                eij = inv6 * (a * inv6 - b) + t0 + r2 * (t2 + r2 * t4)
                e += eij if r2 < c else 0.0
    return fx, fy, fz, 0.5 * e


@nb.njit(parallel=True, fastmath=True, cache=True)
def lj_forces(xe, types, nbr_idx, nbr_cnt, params, forces, epot, want_energy):
    """Forces on the N = len(forces) particles (and their energies, half of each pair's, if
    `want_energy`) from a full neighbour list over positions and ghost images `xe`. Each
    row is summed by one thread, so threads write disjoint rows. Returns the potential
    energy (0 if not `want_energy`)."""
    for i in nb.prange(forces.shape[0]):
        fx, fy, fz, e = pair_sum(i, xe, types, nbr_idx, nbr_cnt, params, want_energy)
        forces[i, 0] = fx
        forces[i, 1] = fy
        forces[i, 2] = fz
        epot[i] = e
    return serial_sum(epot) if want_energy else 0.0
