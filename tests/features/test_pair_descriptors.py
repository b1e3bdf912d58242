"""Densities, energies, radial functions, s2 and coarse-graining against brute-force loops,
and per-particle energies against the simulator's own kernel."""

from __future__ import annotations

import numpy as np
import pytest

from glassml.features import compute_descriptors, parse_specs
from glassml.features.structure import Structure, coarse_grain, kernel_volume
from glassml.simulate.md import LJSystem
from glassml.simulate.potential import LJTable

from ..simulate.conftest import TERNARY_EPS, TERNARY_SIG, random_liquid
from ..simulate.reference import lj_energy_forces
from . import reference as ref
from .conftest import KA_EPS, KA_SIG


def _structure(pos, types, box, n_species=2) -> Structure:
    return Structure(np.asarray(pos), np.asarray(types), np.asarray(box, float), n_species)


def _run(pos, types, box, spec, source=""):
    return compute_descriptors({"inherent": pos}, types, box, 2, parse_specs([spec]), source)


@pytest.mark.parametrize("kernel", ["exp", "gaussian"])
def test_density_matches_brute_force(ka3d, kernel) -> None:
    pos, types, box = ka3d.positions["inherent"], ka3d.types, ka3d.box
    spec = {"name": "density", "kernel": kernel, "lengths": [0.7, 1.5], "truncate": 2.0}
    values, names = _run(pos, types, box, spec)
    assert names[:3] == [f"density_{kernel}_L0.7_{s}" for s in ("A", "B", "all")]
    sub = slice(0, 120)
    for k, (length, species) in enumerate([(L, s) for L in (0.7, 1.5) for s in (0, 1, None)]):
        vol = kernel_volume(length, kernel, 3, 2.0 * length)
        expect = ref.density(pos, types, box, length, kernel, 2.0, species, vol)[sub]
        np.testing.assert_allclose(values[sub, k], expect, rtol=1e-10, atol=1e-12)
    # species channels add up to the all-species channel
    np.testing.assert_allclose(values[:, 0] + values[:, 1], values[:, 2], rtol=1e-12)


def test_density_2d(liquid2d) -> None:
    """Default radius: where 1% of the kernel's weight is left out (6.64 L in 2D)."""
    pos, types, box = liquid2d
    values, _ = _run(pos, types, box, {"name": "density", "lengths": [1.0], "species": "all"})
    radius = ref.tail_radius(1.0, 2, "exp")
    assert radius < 0.5 * box.min()
    vol = ref.ball_volume(1.0, 2, "exp", radius)
    np.testing.assert_allclose(
        values[:, 0], ref.density(pos, types, box, 1.0, "exp", radius, None, vol), rtol=1e-7
    )


def test_energy_matches_loop_simulator_and_stored_total(ka3d) -> None:
    pos, types, box = ka3d.positions["inherent"], ka3d.types, ka3d.box
    values, names = _run(pos, types, box, {"name": "energy"}, source=ka3d.source)
    assert names == ["energy"]
    e = values[:, 0]
    expect = ref.lj_energies(pos, types, box, KA_EPS, KA_SIG, 2.5, rows=60)
    np.testing.assert_allclose(e[:60], expect, rtol=1e-9)
    system = LJSystem(pos, types, box, LJTable.from_lists(KA_EPS, KA_SIG, 2.5))
    np.testing.assert_allclose(e, system.epot_atoms, rtol=1e-6, atol=1e-9)
    # the simulator stored the inherent structure's energy per particle in the file
    with np.load(ka3d.source) as f:
        assert e.mean() == pytest.approx(float(f["inherent_energy"]), rel=1e-9)


def test_energy_2d_matches_simulator(liquid2d) -> None:
    pos, types, box = liquid2d
    spec = {"name": "energy", "potential": {"epsilon": KA_EPS, "sigma": KA_SIG, "cutoff": 2.5}}
    values, _ = _run(pos, types, box, spec)
    system = LJSystem(pos, types, box, LJTable.from_lists(KA_EPS, KA_SIG, 2.5))
    np.testing.assert_allclose(values[:, 0], system.epot_atoms, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        values[:50, 0], ref.lj_energies(pos, types, box, KA_EPS, KA_SIG, 2.5, rows=50), rtol=1e-9
    )


def test_glassbench_ka2d_energy_is_the_smoothed_ternary_potential() -> None:
    """`potential: ka2d_ternary` (GlassBench KA 2D files store no potential) gives the
    authors' KA2-2D energies: their parameters and published smoothing coefficients."""
    pos, types, box = random_liquid(300, 2, 1.0, np.random.default_rng(2), n_species=3)
    specs = parse_specs([{"name": "energy", "potential": "ka2d_ternary"}])
    values, _ = compute_descriptors({"inherent": pos}, types, box, 3, specs, "x.npz")
    expect, _ = lj_energy_forces(pos, types, box, TERNARY_EPS, TERNARY_SIG, 2.5, "smooth")
    np.testing.assert_allclose(values[:, 0], expect, rtol=0, atol=1e-7)


def test_energy_potential_resolution(ka3d, tmp_path) -> None:
    pos, types, box = ka3d.positions["inherent"], ka3d.types, ka3d.box
    # a file without a stored config uses the spec's potential: a simulator config name
    by_name, _ = _run(pos, types, box, {"name": "energy", "potential": "ka3d"}, source="x.npz")
    from_file, _ = _run(pos, types, box, {"name": "energy", "potential": None}, ka3d.source)
    np.testing.assert_allclose(by_name, from_file, rtol=1e-12)
    with pytest.raises(ValueError, match=r"stores no simulator config.*potential"):
        _run(pos, types, box, {"name": "energy", "potential": None}, source="x.npz")
    with pytest.raises(ValueError, match=r"'nope' is not a simulator config"):
        _run(pos, types, box, {"name": "energy", "potential": "nope"}, source="x.npz")


@pytest.mark.parametrize("species", [0, 1, None])
def test_radial_functions_match_brute_force(ka3d, species) -> None:
    pos, types, box = ka3d.positions["inherent"], ka3d.types, ka3d.box
    spec = {"name": "radial", "r_min": 0.8, "r_max": 2.5, "dr": 0.1, "width": 0.1}
    values, names = _run(pos, types, box, spec)
    shells = [0.8 + 0.1 * k for k in range(18)]
    assert len(names) == 3 * len(shells)
    block = {0: 0, 1: 1, None: 2}[species]
    got = values[:80, block * 18 : (block + 1) * 18]
    expect = ref.radial(pos[:], types, box, shells, 0.1, species)[:80]
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)


def test_s2_matches_brute_force_and_orders_solid_liquid(liquid3d_small) -> None:
    pos, types, box = liquid3d_small
    spec = {"name": "s2", "r_max": 2.5, "sigma": 0.15, "dr": 0.02, "species": "all"}
    values, names = _run(pos, types, box, spec)
    assert names == ["s2_all"]
    np.testing.assert_allclose(
        # the Gaussians are cut at 5 widths (exp(-12.5) each): ~1e-5 relative
        values[:40, 0],
        ref.s2(pos, box, 2.5, 0.15, 0.02)[:40],
        rtol=2e-4,
    )
    # a perfect crystal is far more ordered (more negative s2) than the liquid
    m = 6
    lat = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5
    lat_box = np.full(3, float(m))
    crystal, _ = _run(lat, np.zeros(len(lat), int), lat_box, spec)
    assert np.ptp(crystal[:, 0]) < 1e-9  # every lattice site is equivalent
    assert crystal[0, 0] < values[:, 0].mean() - 0.3 < 0


def test_coarse_grain_matches_brute_force(ka3d) -> None:
    pos, types, box = ka3d.positions["inherent"], ka3d.types, ka3d.box
    st = _structure(pos, types, box)
    x = np.sin(pos[:, 0]) + types  # any per-particle field
    values, names = coarse_grain(st, x[:, None], ["x"], (1.0, 2.0), "exp", 2.0, "both", True)
    assert names[:4] == ["x_cgexp_L1_A", "x_var_cgexp_L1_A", "x_cgexp_L1_B", "x_var_cgexp_L1_B"]
    sub = slice(0, 80)
    for length_idx, length in enumerate((1.0, 2.0)):
        for ch, species in enumerate((0, 1, None)):
            col = length_idx * 6 + ch * 2
            expect = ref.coarse_mean(pos, types, box, x, length, 2.0, species)[sub]
            np.testing.assert_allclose(values[sub, col], expect, rtol=1e-10)
            # variance = coarse mean of x^2 minus squared mean
            sq = ref.coarse_mean(pos, types, box, x * x, length, 2.0, species)[sub]
            np.testing.assert_allclose(values[sub, col + 1], sq - expect**2, atol=1e-9)
