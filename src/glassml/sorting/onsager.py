"""Exact results for the 2D square-lattice Ising model, in lattice-gas language.

The hopping rates ``k_D g**n`` (and Metropolis rates) obey detailed balance for
E = -eps * (occupied nearest-neighbour pairs) with g = exp(-eps/kT), i.e. the
Ising model with J = eps/4 and coupling K = J/kT = -ln(g)/4. These are the
references the simulator is validated against (Onsager 1944; Yang 1952).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ellipk

G_C = 3.0 - 2.0 * np.sqrt(2.0)
"""Critical g: phase separation for g < g_c (K_c = ln(1 + sqrt 2) / 2)."""


def coupling(g: float) -> float:
    """Ising coupling K = J/kT = -ln(g)/4."""
    return -np.log(g) / 4.0


def nn_spin_correlation(g: float) -> float:
    """<s_i s_j> for nearest neighbours at zero field (half filling), exact."""
    k2 = 2.0 * coupling(g)
    kk = 2.0 * np.sinh(k2) / np.cosh(k2) ** 2
    return float(
        0.5 / np.tanh(k2) * (1.0 + (2.0 / np.pi) * (2.0 * np.tanh(k2) ** 2 - 1.0) * ellipk(kk**2))
    )


def pair_density(g: float) -> float:
    """Probability that both sites of a bond are occupied at half filling: (1 + c)/4."""
    return (1.0 + nn_spin_correlation(g)) / 4.0


def spontaneous_magnetisation(g: float) -> float:
    """Onsager-Yang m = (1 - sinh(2K)^-4)^(1/8); zero for g >= g_c."""
    s = np.sinh(2.0 * coupling(g))
    if s <= 1.0:
        return 0.0
    return float((1.0 - s**-4) ** 0.125)


def coexisting_densities(g: float) -> tuple[float, float]:
    """Densities of the coexisting gas and liquid, (1 -+ m)/2."""
    m = spontaneous_magnetisation(g)
    return (1.0 - m) / 2.0, (1.0 + m) / 2.0


def line_tension(g: float) -> float:
    """Onsager interface free energy per lattice spacing along an axis, in kT units.

    beta*tau = 2K + ln(tanh K); zero at and above the critical point.
    """
    k = coupling(g)
    return float(max(0.0, 2.0 * k + np.log(np.tanh(k))))


def cnt_critical_size(g: float, supersaturation: float) -> tuple[float, float]:
    """Classical-nucleation critical size n_c = (W tau / 2 dmu)^2, two domain shapes.

    F(n) = -n dmu + W tau sqrt(n), with tau the axis line tension: W = 2 sqrt(pi) for
    a disc and W = 4 for a square, the low-temperature Wulff shape. The true (Wulff)
    shape factor lies between the two, so the pair brackets the CNT estimate.
    ``supersaturation`` is dmu/kT; non-positive gives (inf, inf). Returns (disc, square).
    """
    tau = line_tension(g)
    if supersaturation <= 0.0:
        return float("inf"), float("inf")
    disc = np.pi * tau**2 / supersaturation**2
    square = 4.0 * tau**2 / supersaturation**2
    return float(disc), float(square)
