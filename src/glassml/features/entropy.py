"""Two-body excess entropy per particle, s2 (Piaggi & Parrinello, JCP 147, 114112 (2017)).

s2_i = -(rho_s / 2) int_0^{r_max} [g_i(r) ln g_i(r) - g_i(r) + 1] dV, where g_i is the
Gaussian-smoothed (width sigma) radial distribution around particle i, normalised with
the partial density rho_s of the neighbour channel (all species: the total density).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import xlogy

from glassml.features.radial import by_channel, shell_sums
from glassml.features.spec import EntropySpec
from glassml.features.structure import Structure


def shell_area(r: np.ndarray, dim: int) -> np.ndarray:
    """Surface of the sphere (circle) of radius r."""
    return 4.0 * math.pi * r * r if dim == 3 else 2.0 * math.pi * r


def excess_entropy(st: Structure, spec: EntropySpec) -> tuple[np.ndarray, list[str]]:
    n_shells = int(round(spec.r_max / spec.dr))
    r = (np.arange(n_shells) + 0.5) * spec.dr  # midpoints: the integrand is finite at 0
    sums = shell_sums(st, r[0], spec.dr, n_shells, spec.sigma)
    area = shell_area(r, st.dim)
    norm = math.sqrt(2.0 * math.pi) * spec.sigma * area
    cols, names = [], []
    for label, s, block in by_channel(st, sums, spec.species):
        count = st.n if s is None else int(np.sum(st.types == s))
        rho = count / st.volume
        if rho == 0:
            cols.append(np.zeros(st.n))
        else:
            g = block / (rho * norm)
            integrand = xlogy(g, g) - g + 1.0
            cols.append(-0.5 * rho * (integrand * area).sum(axis=1) * spec.dr)
        names.append(f"s2_{label}")
    return np.stack(cols, axis=1), names
