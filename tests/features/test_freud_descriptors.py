"""Voronoi cells and bond order (freud) against scipy, sympy and crystal values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.spatial import ConvexHull, Voronoi

from glassml.features import compute_descriptors, parse_specs

from . import reference as ref


def _run(pos, box, spec, types=None):
    types = np.zeros(len(pos), int) if types is None else types
    return compute_descriptors({"inherent": pos}, types, box, 2, parse_specs([spec]))


def scipy_cells(pos: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Volumes and surfaces (areas and perimeters in 2D) of the periodic Voronoi cells,
    from scipy's tessellation of the points and their 3^d periodic images."""
    d = pos.shape[1]
    shifts = np.array(list(itertools.product([0, -1, 1], repeat=d))) * box
    images = np.concatenate([pos + s for s in shifts])  # the originals come first
    vor = Voronoi(images)
    vol, surf = np.zeros(len(pos)), np.zeros(len(pos))
    for i in range(len(pos)):
        region = vor.regions[vor.point_region[i]]
        assert -1 not in region
        hull = ConvexHull(vor.vertices[region])
        vol[i], surf[i] = hull.volume, hull.area  # in 2D: area and perimeter
    return vol, surf


@pytest.mark.parametrize("which", ["3d", "2d"])
def test_voronoi_matches_scipy(which, liquid2d, liquid3d_small) -> None:
    pos, types, box = liquid3d_small if which == "3d" else liquid2d
    values, names = _run(pos, box, {"name": "voronoi"}, types)
    assert names == ["voronoi_volume", "voronoi_surface", "voronoi_shape"]
    vol, surf = scipy_cells(pos, box)
    np.testing.assert_allclose(values[:, 0], vol, rtol=1e-4)
    np.testing.assert_allclose(values[:, 1], surf, rtol=1e-4)
    assert values[:, 0].sum() == pytest.approx(np.prod(box), rel=1e-5)  # cells tile the box
    assert np.all(values[:, 2] > 1.0)  # no cell is rounder than a sphere


def test_voronoi_coarse_grained_columns(ka3d) -> None:
    values, names = _run(
        ka3d.positions["inherent"], ka3d.box, {"name": "voronoi", "lengths": [1.0, 2.0]}
    )
    assert names[3:] == [
        f"voronoi_{q}_cgexp_L{L}_all" for L in (1, 2) for q in ("volume", "surface", "shape")
    ]
    # coarse-graining smooths: the spread of the volume shrinks with L
    assert np.std(values[:, 0]) > np.std(values[:, 3]) > np.std(values[:, 6])


def test_steinhardt_matches_scipy_harmonics_and_sympy_wigner(ka3d) -> None:
    pos, box = ka3d.positions["inherent"], ka3d.box
    ls = list(range(2, 13))
    values, names = _run(pos, box, {"name": "steinhardt", "l": ls, "wl": True, "r_max": 1.5})
    assert names == [f"q{v}" for v in ls] + [f"w{v}" for v in ls]
    for k, l in enumerate(ls):
        qlm = ref.steinhardt_qlm(pos, box, 1.5, l, rows=50)
        np.testing.assert_allclose(values[:50, k], ref.q_from_qlm(qlm, l), rtol=1e-4, atol=1e-6)
        if l in (4, 6):
            w = ref.w_from_qlm(qlm[:20], l)
            np.testing.assert_allclose(values[:20, len(ls) + k], w, rtol=1e-3, atol=1e-6)


def test_steinhardt_fcc_literature_values() -> None:
    """q4, q6, w4-hat, w6-hat of a perfect fcc crystal (Steinhardt et al., PRB 28, 784)."""
    m, a = 4, 1.0
    cell = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    pos = ((grid + cell[None]) * a).reshape(-1, 3) + 0.1
    box = np.full(3, m * a)
    r_nn = a / math.sqrt(2)
    values, _ = _run(pos, box, {"name": "steinhardt", "l": [4, 6], "r_max": 1.2 * r_nn})
    np.testing.assert_allclose(values[:, 0], 0.19094, atol=2e-5)
    np.testing.assert_allclose(values[:, 1], 0.57452, atol=2e-5)
    np.testing.assert_allclose(values[:, 2], -0.159317, atol=2e-5)
    np.testing.assert_allclose(values[:, 3], -0.013161, atol=2e-5)


def test_hexatic_order_in_2d() -> None:
    """|psi_6| = 1 on a triangular lattice, and w_l is omitted in 2D."""
    nx, ny = 8, 8
    a = 1.0
    xs, ys = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    pos = np.stack([(xs + 0.5 * (ys % 2)) * a, ys * a * math.sqrt(3) / 2], -1).reshape(-1, 2)
    box = np.array([nx * a, ny * a * math.sqrt(3) / 2])
    values, names = _run(pos + 0.05, box, {"name": "steinhardt", "l": [4, 6], "r_max": 1.2})
    assert names == ["psi4", "psi6"]
    np.testing.assert_allclose(values[:, 1], 1.0, atol=1e-6)
    np.testing.assert_allclose(values[:, 0], 0.0, atol=1e-6)
