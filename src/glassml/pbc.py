"""Periodic boundary conditions: all pairs within a cut-off, with their displacement vectors.

PyG's `radius_graph` needs torch-cluster and knows nothing about periodic boxes; vesin's
cell lists build the graphs here. vesin imports torch when it is installed (seconds), so
the simulator's own analysis, whose cut-offs are always below half the box, uses scipy's
periodic k-d tree instead (`pairs_within`).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def pairs_within(positions: np.ndarray, box: np.ndarray, cutoff: float):
    """Ordered pairs (i, j), i != j, closer than `cutoff` < box/2, and r_j - r_i (min image)."""
    box = np.asarray(box, dtype=np.float64)
    if cutoff >= 0.5 * box.min():
        raise ValueError(f"cutoff {cutoff} must be below half the box {box.min() / 2}")
    wrapped = positions - box * np.floor(positions / box)
    wrapped = np.where(wrapped >= box, 0.0, wrapped)  # guard against round-off at the edge
    half = cKDTree(wrapped, boxsize=box).query_pairs(cutoff, output_type="ndarray")
    i = np.concatenate([half[:, 0], half[:, 1]])
    j = np.concatenate([half[:, 1], half[:, 0]])
    vec = positions[j] - positions[i]
    vec -= box * np.rint(vec / box)
    return i, j, vec


def vesin_frame(
    positions: np.ndarray, box: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool | list[bool]]:
    """Points, cell and periodicity for vesin, which is 3D only: a 2D system becomes a
    slab that is not periodic along z."""
    n, d = positions.shape
    if d == 2:
        pts = np.zeros((n, 3))
        pts[:, :2] = positions
        return pts, np.diag([box[0], box[1], 1.0]), [True, True, False]
    return np.ascontiguousarray(positions, dtype=np.float64), np.diag(box), True


def periodic_edges(
    positions: np.ndarray,
    box: np.ndarray,
    cutoff: float,
    self_loops: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (src, dst) with |r_dst - r_src| < cutoff under PBC.

    Returns `edge_index` [2, E] int64 (row 0 = source, row 1 = target, PyG convention)
    and `vectors` [E, d] float64 = r_dst - r_src for the periodic image within the
    cut-off. Both directions of every pair are present. A cut-off above half the box
    yields one edge per image within reach, as the physics requires. Self-loops (zero
    vector) are added on request because the Bapst GNN includes them (r = 0 < cut-off).
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    n, d = positions.shape
    if d not in (2, 3) or box.shape[0] != d:
        raise ValueError(f"positions [N, {d}] and box [{box.shape[0]}] must be 2D or 3D")
    if cutoff <= 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    pts, cell, periodic = vesin_frame(positions, box)
    # vesin returns pairs (i, j) with D = r_j - r_i, sorted by i. Read each pair as the
    # edge j -> i: targets come out sorted (contiguous segments per receiving node, which
    # the models' segment sums rely on) and the vector r_dst - r_src is -D.
    import vesin  # lazily: see the module docstring

    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True, sorted=True)
    i, j, vec = nl.compute(pts, cell, periodic, quantities="ijD")
    dst = i.astype(np.int64)
    src = j.astype(np.int64)
    vec = -np.asarray(vec[:, :d], dtype=np.float64)
    if not self_loops:
        return np.stack([src, dst]), vec
    # Insert node m's self-loop at the start of its segment, without a sort.
    n_edges = dst.shape[0]
    nodes = np.arange(n, dtype=np.int64)
    loop_at = np.searchsorted(dst, nodes) + nodes
    edge_at = np.arange(n_edges, dtype=np.int64) + dst + 1
    out_src = np.empty(n_edges + n, dtype=np.int64)
    out_dst = np.empty(n_edges + n, dtype=np.int64)
    out_vec = np.zeros((n_edges + n, d))
    out_src[edge_at], out_dst[edge_at], out_vec[edge_at] = src, dst, vec
    out_src[loop_at] = out_dst[loop_at] = nodes
    return np.stack([out_src, out_dst]), out_vec
