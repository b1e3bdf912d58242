"""Independent brute-force references: O(N^2) numpy, minimum image, no neighbour lists."""

from __future__ import annotations

import numpy as np

# C0, C2, C4 of the smoothed LJ at 2.5 sigma, as printed in the GlassBench KA 2D authors'
# code (GerhardJung/StructDynGlass, struct_base.h): an independent source of the polynomial
SMOOTH_2_5 = (0.04049023795, -0.00970155098, 0.00062012616)


def lj_energy_forces(x, types, box, epsilon, sigma, cutoff, truncation="shift"):
    """Per-particle energies and forces of the truncated LJ mixture, all pairs (numpy).

    `shift` subtracts U(rc); `smooth` adds 4 eps (C0 + C2 q^2 + C4 q^4), q = r/sigma, with
    the published coefficients (cut-off 2.5 only).
    """
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
    if truncation == "shift":
        src6 = (s_ab / rc) ** 6
        tail = -4 * e_ab * (src6**2 - src6)
        tail_f = 0.0  # -(1/r) dU/dr of the tail
    else:
        assert truncation == "smooth" and cutoff == 2.5
        c0, c2, c4 = SMOOTH_2_5
        q2 = np.where(inside, r2, 0.0) / s_ab**2
        tail = 4 * e_ab * (c0 + c2 * q2 + c4 * q2 * q2)
        tail_f = -4 * e_ab * (2 * c2 + 4 * c4 * q2) / s_ab**2
    pair_e = np.where(inside, 4 * e_ab * (sr6**2 - sr6) + tail, 0.0)
    fmag = np.where(inside, 24 * e_ab * (2 * sr6**2 - sr6) / r2 + tail_f, 0.0)
    forces = (fmag[:, :, None] * d).sum(axis=1)
    return 0.5 * pair_e.sum(axis=1), forces
