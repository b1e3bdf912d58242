"""Crystal detection, to reject configurations of a glass-former that crystallised.

A particle is solid-like when it has at least `solid_bonds` neighbours whose local
bond-orientational order is coherent with its own (ten Wolde, Ruiz-Montero & Frenkel):
Steinhardt q6 in 3D (freud's SolidLiquid), hexatic psi6 in 2D.
"""

from __future__ import annotations

import freud
import numpy as np


def _freud_system(positions: np.ndarray, box: np.ndarray) -> tuple[freud.box.Box, np.ndarray]:
    dim = positions.shape[1]
    if dim == 2:
        fbox = freud.box.Box(Lx=box[0], Ly=box[1], is2D=True)
        pts = np.zeros((positions.shape[0], 3))
        pts[:, :2] = positions
    else:
        fbox = freud.box.Box(Lx=box[0], Ly=box[1], Lz=box[2])
        pts = np.array(positions, dtype=np.float64)
    return fbox, fbox.wrap(pts - 0.5 * np.append(box, [0.0] * (3 - dim)))


def solid_like(
    positions: np.ndarray,
    box: np.ndarray,
    r_max: float = 1.5,
    q_threshold: float = 0.7,
    solid_bonds: int = 7,
) -> np.ndarray:
    """Boolean mask of solid-like particles."""
    fbox, pts = _freud_system(positions, box)
    if positions.shape[1] == 3:
        sl = freud.order.SolidLiquid(l=6, q_threshold=q_threshold, solid_threshold=solid_bonds)
        sl.compute((fbox, pts), neighbors={"r_max": r_max})
        return np.asarray(sl.num_connections) >= solid_bonds
    query = freud.locality.AABBQuery(fbox, pts)
    nlist = query.query(pts, {"r_max": r_max, "exclude_ii": True}).toNeighborList()
    hexatic = freud.order.Hexatic(k=6)
    hexatic.compute((fbox, pts), neighbors=nlist)
    psi = np.asarray(hexatic.particle_order)
    i, j = nlist.query_point_indices, nlist.point_indices
    norm = np.abs(psi[i]) * np.abs(psi[j])
    coherence = np.real(psi[i] * np.conj(psi[j])) / np.where(norm > 0, norm, 1.0)
    bonds = np.bincount(i[coherence > q_threshold], minlength=positions.shape[0])
    return bonds >= solid_bonds


def solid_fraction(positions: np.ndarray, box: np.ndarray, **kwargs) -> float:
    return float(np.mean(solid_like(positions, box, **kwargs)))
