"""Independent brute-force references: O(N^2) numpy, minimum image, no neighbour lists."""

from __future__ import annotations

import numpy as np


def lj_energy_forces(x, types, box, epsilon, sigma, cutoff):
    """Per-particle energies and forces of the shifted LJ mixture, all pairs (numpy)."""
    eps = np.asarray(epsilon, float)
    sig = np.asarray(sigma, float)
    d = x[:, None, :] - x[None, :, :]
    d -= box * np.rint(d / box)
    r2 = (d**2).sum(-1)
    np.fill_diagonal(r2, np.inf)
    e_ab = eps[types[:, None], types[None, :]]
    s_ab = sig[types[:, None], types[None, :]]
    rc = cutoff * s_ab
    inside = r2 < rc**2
    sr6 = (s_ab**2 / r2) ** 3
    src6 = (s_ab / rc) ** 6
    pair_e = np.where(inside, 4 * e_ab * (sr6**2 - sr6) - 4 * e_ab * (src6**2 - src6), 0.0)
    fmag = np.where(inside, 24 * e_ab * (2 * sr6**2 - sr6) / r2, 0.0)
    forces = (fmag[:, :, None] * d).sum(axis=1)
    return 0.5 * pair_e.sum(axis=1), forces
