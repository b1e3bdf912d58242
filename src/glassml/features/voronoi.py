"""Voronoi cell volume (area in 2D), surface (perimeter in 2D) and shape factor.

Two tessellations of the periodic box:

- standard (`voronoi_cells`, freud): the cell volumes, and the weights of its neighbour
  list are the areas (lengths in 2D) of the shared facets, whose sum is the cell surface;
- radical (`radical_cells`, pyvoro2): the power (Laguerre) diagram with one radius per
  species, where the facet between i and j lies where |x - r_i|^2 - R_i^2 =
  |x - r_j|^2 - R_j^2, so larger particles get larger cells. This is the tessellation of
  GlassMLP's cell observable in the authors' code (GerhardJung/StructDynGlass, voro++'s
  `container_poly`); both libraries wrap voro++.

Shape factor: s = S^3 / (36 pi V^2) in 3D, P^2 / (4 pi A) in 2D (1 for a sphere/disc).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def radical_cells(st: Structure, radii: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(volumes, surfaces) [N] of the periodic radical (power) cells, particle i having
    radius radii[type_i] (areas and perimeters in 2D; cached on the structure)."""
    radii = tuple(float(r) for r in radii)
    key = f"radical_voronoi{radii}"
    if key not in st.cache:
        if len(radii) < st.num_species:
            raise ValueError(f"{len(radii)} radii for {st.num_species} species")
        per_particle = np.asarray(radii)[st.types]
        bounds = tuple((0.0, float(edge)) for edge in st.box)
        if st.dim == 3:
            import pyvoro2  # lazily: only the radical cells need it

            domain = pyvoro2.OrthorhombicCell(bounds, periodic=(True, True, True))
            compute, facets = pyvoro2.compute, "faces"
        else:
            from pyvoro2 import planar

            domain = planar.RectangularCell(bounds, periodic=(True, True))
            compute, facets = planar.compute, "edges"
        cells = compute(
            st.positions,
            domain=domain,
            mode="power",
            radii=per_particle,
            return_adjacency=False,
            output="cells",
        )
        st.cache[key] = _measures(cells, st, facets)
    return st.cache[key]


def _measures(cells: list[dict], st: Structure, facets: str) -> tuple[np.ndarray, np.ndarray]:
    """Volumes (areas) and surfaces (perimeters) of pyvoro2's cell records, by particle."""
    ids = np.fromiter((c["id"] for c in cells), dtype=np.int64, count=len(cells))
    if len(ids) != st.n or len(np.unique(ids)) != st.n:
        missing = sorted(set(range(st.n)) - set(ids.tolist()))[:5]
        raise ValueError(
            f"{st.source or 'structure'}: the radical tessellation has no cell for "
            f"particle(s) {missing} (radii too different for their distances?)"
        )
    measure = "volume" if st.dim == 3 else "area"
    volume = np.zeros(st.n)
    volume[ids] = [c[measure] for c in cells]
    # every facet as a fan of triangles (3D) or one segment (2D) over all cells' vertices
    verts: list[list[float]] = []
    first: list[int] = []
    second: list[int] = []
    third: list[int] = []
    owner: list[int] = []
    for cell in cells:
        offset = len(verts)
        verts.extend(cell["vertices"])
        for facet in cell[facets]:
            loop = [offset + v for v in facet["vertices"]]
            if st.dim == 2:
                first.append(loop[0])
                second.append(loop[1])
                owner.append(cell["id"])
                continue
            for k in range(1, len(loop) - 1):
                first.append(loop[0])
                second.append(loop[k])
                third.append(loop[k + 1])
                owner.append(cell["id"])
    v = np.asarray(verts)
    if st.dim == 3:
        # a convex facet's fan triangles share one orientation: their areas add up
        cross = np.cross(v[second] - v[first], v[third] - v[first])
        size = 0.5 * np.linalg.norm(cross, axis=1)
    else:
        size = np.linalg.norm(v[second] - v[first], axis=1)
    return volume, np.bincount(owner, weights=size, minlength=st.n)


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
