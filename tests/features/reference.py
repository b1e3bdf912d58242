"""Independent brute-force references for the descriptors: explicit loops, minimum image.

Deliberately naive (all pairs, one particle at a time) and sharing no code with
glassml.features, so that agreement means something. Valid for cut-offs below half the box.
"""

from __future__ import annotations

import math

import numpy as np


def distances_from(i: int, pos: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Minimum-image distances from particle i to every particle (inf for itself)."""
    d = pos - pos[i]
    d -= box * np.rint(d / box)
    r = np.sqrt((d * d).sum(axis=1))
    r[i] = np.inf
    return r


def vectors_from(i: int, pos: np.ndarray, box: np.ndarray) -> np.ndarray:
    d = pos - pos[i]
    return d - box * np.rint(d / box)


def kernel(r: np.ndarray, length: float, kind: str) -> np.ndarray:
    return np.exp(-r / length) if kind == "exp" else np.exp(-0.5 * (r / length) ** 2)


def tail_radius(length: float, dim: int, kind: str, fraction: float = 0.01) -> float:
    """R where int_R^inf w(r/L) r^(d-1) dr is `fraction` of the whole, by quadrature and
    root finding (no incomplete gamma functions)."""
    from scipy.integrate import quad
    from scipy.optimize import brentq

    def f(r: float) -> float:
        return float(kernel(np.asarray(r), length, kind)) * r ** (dim - 1)

    total = quad(f, 0.0, np.inf)[0]
    return brentq(lambda R: quad(f, R, np.inf)[0] / total - fraction, 1e-6, 100 * length)


def ball_volume(length: float, dim: int, kind: str, radius: float) -> float:
    """Integral of the kernel over the ball of `radius`, by quadrature."""
    from scipy.integrate import quad

    surface = 4 * math.pi if dim == 3 else 2 * math.pi
    return (
        surface
        * quad(lambda r: float(kernel(np.asarray(r), length, kind)) * r ** (dim - 1), 0, radius)[0]
    )


def density(pos, types, box, length, kernel, truncate, species, volume) -> np.ndarray:
    out = np.zeros(len(pos))
    for i in range(len(pos)):
        r = distances_from(i, pos, box)
        keep = r < truncate * length
        if species is not None:
            keep &= types == species
        w = np.exp(-r[keep] / length) if kernel == "exp" else np.exp(-0.5 * (r[keep] / length) ** 2)
        out[i] = w.sum() / volume
    return out


def lj_energies(pos, types, box, eps, sig, cutoff, rows=None) -> np.ndarray:
    """E_i = 1/2 sum_j [4 eps ((s/r)^12 - (s/r)^6) - same at rc], rc = cutoff * sigma_ab,
    for the first `rows` particles (all by default)."""
    rows = len(pos) if rows is None else rows
    out = np.zeros(rows)
    for i in range(rows):
        r = distances_from(i, pos, box)
        for j in range(len(pos)):
            a, b = types[i], types[j]
            rc = cutoff * sig[a][b]
            if r[j] < rc:
                u = 4 * eps[a][b] * ((sig[a][b] / r[j]) ** 12 - (sig[a][b] / r[j]) ** 6)
                uc = 4 * eps[a][b] * ((sig[a][b] / rc) ** 12 - (sig[a][b] / rc) ** 6)
                out[i] += 0.5 * (u - uc)
    return out


def radial(pos, types, box, shells, width, species) -> np.ndarray:
    out = np.zeros((len(pos), len(shells)))
    for i in range(len(pos)):
        r = distances_from(i, pos, box)
        r = r[np.isfinite(r) & ((types == species) if species is not None else True)]
        for k, rk in enumerate(shells):
            out[i, k] = np.exp(-((r - rk) ** 2) / (2 * width**2)).sum()
    return out


def s2(pos, box, r_max, sigma, dr) -> np.ndarray:
    """Piaggi-Parrinello s2 with the total density, trapezoid-free midpoint rule."""
    n, d = pos.shape
    rho = n / np.prod(box)
    grid = (np.arange(int(round(r_max / dr))) + 0.5) * dr
    area = 4 * math.pi * grid**2 if d == 3 else 2 * math.pi * grid
    out = np.zeros(n)
    for i in range(n):
        r = distances_from(i, pos, box)
        r = r[np.isfinite(r)]
        g = np.zeros_like(grid)
        for rj in r:
            g += np.exp(-((grid - rj) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
        g /= rho * area
        with np.errstate(divide="ignore", invalid="ignore"):
            glng = np.where(g > 0, g * np.log(g), 0.0)
        out[i] = -0.5 * rho * np.sum((glng - g + 1) * area) * dr
    return out


def coarse_mean(pos, types, box, x, length, truncate, species, kind="exp") -> np.ndarray:
    """(x_i [i in s] + sum_{j in s} w_ij x_j) / ([i in s] + sum_{j in s} w_ij), w = e^{-r/L}
    (or the Gaussian kernel)."""
    out = np.zeros(len(pos))
    for i in range(len(pos)):
        r = distances_from(i, pos, box)
        keep = r < truncate * length
        self_w = 1.0
        if species is not None:
            keep &= types == species
            self_w = float(types[i] == species)
        w = kernel(r[keep], length, kind)
        out[i] = (self_w * x[i] + (w * x[keep]).sum()) / (self_w + w.sum())
    return out


def steinhardt_qlm(pos, box, r_max, l, rows):
    """q_lm(i) = mean over neighbours of Y_lm(r_ij), [rows, 2l+1], with scipy's harmonics."""
    from scipy.special import sph_harm_y

    out = np.zeros((rows, 2 * l + 1), dtype=complex)
    for i in range(rows):
        v = vectors_from(i, pos, box)
        r = np.sqrt((v * v).sum(axis=1))
        nb = (r < r_max) & (r > 0)
        v, r = v[nb], r[nb]
        theta = np.arccos(np.clip(v[:, 2] / r, -1, 1))
        phi = np.arctan2(v[:, 1], v[:, 0])
        for k, m in enumerate(range(-l, l + 1)):
            out[i, k] = sph_harm_y(l, m, theta, phi).mean()
    return out


def q_from_qlm(qlm: np.ndarray, l: int) -> np.ndarray:
    return np.sqrt(4 * np.pi / (2 * l + 1) * (np.abs(qlm) ** 2).sum(axis=1))


def w_from_qlm(qlm: np.ndarray, l: int) -> np.ndarray:
    """Normalised w_l with sympy's Wigner 3j symbols."""
    from sympy.physics.wigner import wigner_3j

    out = np.zeros(len(qlm))
    for m1 in range(-l, l + 1):
        for m2 in range(-l, l + 1):
            m3 = -m1 - m2
            if abs(m3) > l:
                continue
            c = float(wigner_3j(l, l, l, m1, m2, m3))
            out += c * (qlm[:, m1 + l] * qlm[:, m2 + l] * qlm[:, m3 + l]).real
    norm = ((np.abs(qlm) ** 2).sum(axis=1)) ** 1.5
    return out / norm
