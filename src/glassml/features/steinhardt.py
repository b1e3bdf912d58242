"""Steinhardt bond-orientational order q_l and normalised w_l via freud (3D); |psi_l| in 2D.

Neighbours are the particles within `r_max` (any species: bond order is about geometry).
A particle without neighbours gets 0 (freud returns NaN there).
"""

from __future__ import annotations

import numpy as np

from glassml.features._freud import freud_system
from glassml.features.spec import SteinhardtSpec
from glassml.features.structure import Structure


def bond_order(st: Structure, spec: SteinhardtSpec) -> tuple[np.ndarray, list[str]]:
    import freud

    box, pts = freud_system(st)
    query = {"r_max": float(spec.r_max), "exclude_ii": True}
    ls = list(spec.l)
    cols: list[np.ndarray] = []
    names: list[str] = []
    if st.dim == 3:
        op = freud.order.Steinhardt(l=ls, wl=spec.wl, wl_normalize=True)
        op.compute((box, pts), neighbors=query)
        q = np.asarray(op.ql, dtype=np.float64).reshape(st.n, len(ls))
        cols.append(q)
        names += [f"q{v}" for v in ls]
        if spec.wl:
            w = np.real(np.asarray(op.particle_order)).astype(np.float64).reshape(st.n, len(ls))
            cols.append(w)
            names += [f"w{v}" for v in ls]
    else:
        for v in ls:
            op = freud.order.Hexatic(k=v)
            op.compute((box, pts), neighbors=query)
            cols.append(np.abs(np.asarray(op.particle_order))[:, None].astype(np.float64))
            names.append(f"psi{v}")
    out = np.concatenate(cols, axis=1)
    return np.nan_to_num(out, nan=0.0), names
