"""Periodic neighbour graphs in 2D and 3D, built with vesin's cell lists.

PyG's `radius_graph` needs torch-cluster and knows nothing about periodic boxes, so the
graph is built here once per configuration (then cached): all pairs closer than the
cut-off under periodic boundary conditions, with the displacement vector of every edge.
"""

from __future__ import annotations

import numpy as np

from glassml.pbc import periodic_edges

__all__ = ["local_density", "periodic_edges"]


def local_density(positions: np.ndarray, box: np.ndarray, radius: float = 1.5) -> np.ndarray:
    """Number of other particles within `radius` of each particle (PBC).

    This is the trivial structural baseline for propensity: dense surroundings, slow
    particle. It is reported next to every model so that a model's Pearson correlation
    can be read against what counting neighbours already gives.
    """
    edge_index, _ = periodic_edges(positions, box, radius, self_loops=False)
    return np.bincount(edge_index[1], minlength=positions.shape[0]).astype(np.float64)
