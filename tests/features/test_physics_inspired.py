"""GlassMLP's physics-inspired descriptors against a brute-force sum over all pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import gammainc

from glassml.features import FeatureSpecError, compute_descriptors, parse_specs
from glassml.features.energy import particle_energies, table_from_simulator_config
from glassml.features.structure import Structure, tail_radius
from glassml.features.voronoi import radical_cells, voronoi_cells


def brute_force(pos, types, box, energy, cell, length, radius, species):
    """The partycls definition written out over all ordered pairs (minimum image)."""
    n = len(pos)
    out = np.zeros((n, 4))
    for i in range(n):
        d = pos - pos[i]
        d -= box * np.round(d / box)
        r = np.sqrt((d * d).sum(axis=1))
        w = np.zeros(n)
        if length > 0:
            near = (r < radius) & (np.arange(n) != i)
            w[near] = np.exp(-r[near] / length)
        w[i] = 1.0
        if species is not None:
            w = w * (types == species)
        rho = w.sum()
        if rho == 0:
            continue
        e = (w * energy).sum() / rho
        out[i] = [rho, e, (w * cell).sum() / rho, (w * (energy - e) ** 2).sum() / rho]
    return out


def _inputs(pos, types, box):
    st = Structure(np.mod(pos, box), types, np.asarray(box, float), 2)
    energy = particle_energies(st, table_from_simulator_config("ka3d"))
    return energy, radical_cells(st, [0.5, 0.44])[1]  # the authors' radii (A, B)


@pytest.mark.parametrize("cutoff", [None, 1.7])
def test_matches_brute_force_3d(liquid3d_small, cutoff) -> None:
    pos, types, box = liquid3d_small
    lengths = [0.0, 0.25, 1.0]
    spec = {"name": "physics_inspired", "lengths": lengths, "cutoff": cutoff}
    values, names = compute_descriptors({"inherent": pos}, types, box, 2, parse_specs([spec]))
    assert values.shape == (len(pos), 4 * 3 * 3)
    assert names[:4] == [f"phys_{o}_L0_A" for o in ("rho", "epot", "cell", "epot_var")]
    energy, cell = _inputs(pos, types, box)
    half = 0.5 * box.min()
    for a, length in enumerate(lengths):
        # L = 0.25: the 1% radius (2.1) is inside half the box (2.97); L = 1: capped
        radius = cutoff if cutoff is not None else min(tail_radius(length, 3, 0.01), half)
        for b, species in enumerate([0, 1, None]):
            col = 12 * a + 4 * b
            expect = brute_force(pos, types, box, energy, cell, length, radius, species)
            np.testing.assert_allclose(values[:, col : col + 4], expect, rtol=1e-9, atol=1e-9)


def test_matches_brute_force_2d(liquid2d) -> None:
    pos, types, box = liquid2d
    spec = {"name": "physics_inspired", "lengths": [0.5, 2.0], "species": "all"}
    values, _ = compute_descriptors({"inherent": pos}, types, box, 2, parse_specs([spec]))
    energy, cell = _inputs(pos, types, box)
    for a, length in enumerate([0.5, 2.0]):
        radius = min(tail_radius(length, 2, 0.01), 0.5 * box.min())
        expect = brute_force(pos, types, box, energy, cell, length, radius, None)
        np.testing.assert_allclose(values[:, 4 * a : 4 * a + 4], expect, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dim", [2, 3])
def test_tail_radius_leaves_the_requested_weight(dim) -> None:
    length = 1.7
    radius = tail_radius(length, dim, 0.01)
    kernel = lambda r: r ** (dim - 1) * np.exp(-r / length)  # noqa: E731
    total = quad(kernel, 0, np.inf)[0]
    assert quad(kernel, radius, np.inf)[0] / total == pytest.approx(0.01, rel=1e-6)
    if dim == 3:
        assert radius / length == pytest.approx(8.406, abs=1e-3)


def test_channels_and_self_term(ka3d) -> None:
    pos, types, box = ka3d.positions["inherent"], ka3d.types, ka3d.box
    spec = {"name": "physics_inspired", "lengths": [0.0, 2.0]}
    values, _ = compute_descriptors(
        {"inherent": pos}, types, box, 2, parse_specs([spec]), source=ka3d.source
    )
    rho = values[:, 0::4]  # rho of (L0: A, B, all), (L2: A, B, all)
    np.testing.assert_array_equal(rho[:, 0], types == 0)  # L = 0: the particle itself
    np.testing.assert_allclose(rho[:, 3] + rho[:, 4], rho[:, 5], rtol=1e-12)
    # L = 2 in a box of 9.4: capped at half the box, the sum holds the ideal-gas value
    # rho 8 pi L^3 P(3, R/L) (plus the particle itself) to within the structure of g(r)
    radius = 0.5 * box.min()
    ideal = 1.2 * 8 * np.pi * 2.0**3 * gammainc(3, radius / 2.0) + 1.0
    assert rho[:, 5].mean() == pytest.approx(ideal, rel=0.03)


@pytest.mark.parametrize("dim", [3, 2])
def test_cell_column_uses_the_radical_cells(dim, liquid2d, liquid3d_small) -> None:
    """L = 0, all species: the cell column is the particle's radical cell surface with
    radii (0.5, 0.44), which is not its standard Voronoi surface; `voronoi: standard`
    gives the latter."""
    pos, types, box = liquid3d_small if dim == 3 else liquid2d
    st = Structure(pos, types, box, 2)
    radical = radical_cells(st, [0.5, 0.44])[1]
    standard = voronoi_cells(st)[1]
    spec = {"name": "physics_inspired", "lengths": [0.0], "species": "all"}
    for mode, expect in (("radical", radical), ("standard", standard)):
        specs = parse_specs([{**spec, "voronoi": mode}])
        values, names = compute_descriptors({"inherent": pos}, types, box, 2, specs)
        assert names[2] == "phys_cell_L0_all"
        np.testing.assert_allclose(values[:, 2], expect, rtol=1e-12)
    # the larger A particles gain surface, the smaller B lose it
    assert np.mean(radical[types == 0] - standard[types == 0]) > 0
    assert np.mean(radical[types == 1] - standard[types == 1]) < 0


def test_missing_radius_names_the_key(liquid3d_small) -> None:
    pos, types, box = liquid3d_small
    specs = parse_specs([{"name": "physics_inspired", "voronoi_radii": [0.5]}])
    with pytest.raises(FeatureSpecError, match=r"voronoi_radii=\[0\.5\].*species \[1\]"):
        compute_descriptors({"inherent": pos}, types, box, 2, specs)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"lengths": [-1.0]}, "lengths"),
        ({"voronoi": "laguerre"}, r"\.voronoi='laguerre'.*radical"),
        ({"voronoi_radii": [0.5, 0.0]}, r"\.voronoi_radii=\[0\.5, 0\.0\]: every radius"),
        ({"voronoi_radii": "big"}, r"\.voronoi_radii: expected a list of numbers"),
        ({"lengths": []}, "lengths"),
        ({"truncate": 3.0}, "truncate"),
        ({"kernel": "gaussian"}, "kernel"),
        ({"neglected_weight": 0.0}, "neglected_weight"),
        ({"cutoff": -2.0}, "cutoff"),
    ],
)
def test_bad_options_name_the_key(option, message) -> None:
    with pytest.raises(FeatureSpecError, match=message):
        parse_specs([{"name": "physics_inspired", **option}])
