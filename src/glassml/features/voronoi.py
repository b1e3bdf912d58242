"""Voronoi cell volume (area in 2D), surface (perimeter in 2D) and shape factor, via freud.

freud's periodic Voronoi tessellation (voro++) gives the cell volumes, and the weights of
its neighbour list are the areas (lengths in 2D) of the shared facets, whose sum is the
cell surface. Shape factor: s = S^3 / (36 pi V^2) in 3D, P^2 / (4 pi A) in 2D (1 for a
sphere/disc).
"""

from __future__ import annotations

import math

import numpy as np

from glassml.features._freud import freud_system
from glassml.features.spec import VoronoiSpec
from glassml.features.structure import Structure


def voronoi_cells(st: Structure) -> tuple[np.ndarray, np.ndarray]:
    """(volumes, surfaces) [N] of the periodic Voronoi cells (cached on the structure)."""
    if "voronoi" not in st.cache:
        import freud

        box, pts = freud_system(st)
        vor = freud.locality.Voronoi()
        vor.compute((box, pts))
        nl = vor.nlist
        surface = np.bincount(
            np.asarray(nl.query_point_indices), weights=np.asarray(nl.weights), minlength=st.n
        )
        st.cache["voronoi"] = (np.asarray(vor.volumes, dtype=np.float64).copy(), surface)
    return st.cache["voronoi"]


def voronoi_descriptors(st: Structure, spec: VoronoiSpec) -> tuple[np.ndarray, list[str]]:
    volume, surface = voronoi_cells(st)
    if st.dim == 3:
        shape = surface**3 / (36.0 * math.pi * volume**2)
    else:
        shape = surface**2 / (4.0 * math.pi * volume)
    return np.stack([volume, surface, shape], axis=1), [
        "voronoi_volume",
        "voronoi_surface",
        "voronoi_shape",
    ]
