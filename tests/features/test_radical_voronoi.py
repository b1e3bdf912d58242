"""Radical (power) Voronoi cells of GlassMLP's cell observable: against freud's standard
cells when all radii are equal, and against the rock-salt arrangement, where the cells are
known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from glassml.features.structure import Structure
from glassml.features.voronoi import radical_cells, voronoi_cells


@pytest.mark.parametrize("which", ["3d", "2d"])
def test_equal_radii_give_the_standard_cells(which, liquid2d, liquid3d_small) -> None:
    pos, types, box = liquid3d_small if which == "3d" else liquid2d
    st = Structure(pos, types, box, 2)
    volume, surface = radical_cells(st, [0.47, 0.47])
    std_volume, std_surface = voronoi_cells(st)
    # freud works in single precision
    np.testing.assert_allclose(volume, std_volume, rtol=1e-4)
    np.testing.assert_allclose(surface, std_surface, rtol=1e-4)
    assert volume.sum() == pytest.approx(np.prod(box), rel=1e-10)


def rock_salt(dim: int, m: int, spacing: float) -> Structure:
    """Species 0 and 1 alternating on a periodic simple cubic (square) lattice, m sites per
    edge (even), shifted off the box's origin."""
    grid = np.stack(np.meshgrid(*[np.arange(m)] * dim, indexing="ij"), -1).reshape(-1, dim)
    box = np.full(dim, m * spacing)
    pos = np.mod(grid * spacing + 0.37, box)
    return Structure(pos, grid.sum(axis=1) % 2, box, 2)


@pytest.mark.parametrize("dim", [3, 2])
def test_rock_salt_cells_in_closed_form(dim: int) -> None:
    """The facet between neighbours A, B at distance d sits at d/2 + delta from A, delta =
    (rA^2 - rB^2) / 2d: B's cell is a cube (square) of side d - 2 delta; A's is the cube
    (square) of side d + 2 delta with its edges (corners) cut by the facets it shares
    with the A at d sqrt(2): six B-facing squares plus twelve facets of area
    2 sqrt(2) delta (d - delta) in 3D, four B-facing sides plus four of length
    2 sqrt(2) delta in 2D."""
    d, r_a, r_b = 1.1, 0.5, 0.44
    st = rock_salt(dim, 4, d)
    volume, surface = radical_cells(st, [r_a, r_b])
    delta = (r_a**2 - r_b**2) / (2 * d)
    side = d - 2 * delta
    a, b = st.types == 0, st.types == 1
    if dim == 3:
        surface_a = 6 * side**2 + 12 * 2 * np.sqrt(2) * delta * (d - delta)
        surface_b = 6 * side**2
    else:
        surface_a = 4 * side + 4 * 2 * np.sqrt(2) * delta
        surface_b = 4 * side
    np.testing.assert_allclose(volume[b], side**dim, rtol=1e-10)
    np.testing.assert_allclose(surface[b], surface_b, rtol=1e-10)
    np.testing.assert_allclose(surface[a], surface_a, rtol=1e-10)
    np.testing.assert_allclose(volume[a], 2 * d**dim - side**dim, rtol=1e-10)
    assert volume.sum() == pytest.approx(np.prod(st.box), rel=1e-12)
    # equal radii: every cell is the lattice's cube (square)
    volume, surface = radical_cells(st, [r_a, r_a])
    np.testing.assert_allclose(volume, d**dim, rtol=1e-10)
    np.testing.assert_allclose(surface, 2 * dim * d ** (dim - 1), rtol=1e-10)


def test_cells_are_cached_per_radii(liquid3d_small) -> None:
    pos, types, box = liquid3d_small
    st = Structure(pos, types, box, 2)
    first = radical_cells(st, [0.5, 0.44])
    assert radical_cells(st, [0.5, 0.44]) is first
    other = radical_cells(st, [0.5, 0.5])
    assert other is not first and not np.allclose(other[1], first[1])
