"""Coarse-grained local density at several length scales, per neighbour species (GlassMLP)."""

from __future__ import annotations

import numpy as np

from glassml.features.spec import DensitySpec
from glassml.features.structure import Structure, kernel_volume, kernel_weights, sum_radius


def local_density(st: Structure, spec: DensitySpec) -> tuple[np.ndarray, list[str]]:
    """rho_i^s(L) = sum_{j != i, j in s} w(r_ij / L) / V_w, for r_ij < R(L) (`sum_radius`:
    where the kernel's neglected weight is 1%, capped at half the box; or truncate * L).

    V_w is the integral of the kernel over the same ball, so that rho is a number density
    (the mean density on average, less the excluded core).
    """
    cols, names = [], []
    for length in spec.lengths:
        radius = sum_radius(st, length, spec.kernel, spec.truncate)
        p = st.pairs(radius)
        w = kernel_weights(p.r, length, spec.kernel) / kernel_volume(
            length, spec.kernel, st.dim, radius
        )
        for label, s in st.channels(spec.species):
            ws = w if s is None else w * (st.types[p.src] == s)
            cols.append(np.bincount(p.dst, weights=ws, minlength=st.n))
            names.append(f"density_{spec.kernel}_L{length:g}_{label}")
    return np.stack(cols, axis=1), names
