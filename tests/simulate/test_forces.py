"""Energies, forces and neighbour lists against an independent O(N^2) numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from glassml.simulate.md import LJSystem
from glassml.simulate.potential import LJTable
from glassml.simulate.thermostat import BussiThermostat

from .conftest import KA_EPS, KA_SIG, TERNARY_EPS, TERNARY_SIG, random_liquid
from .reference import lj_energy_forces

CASES = [  # (dim, n, density, eps, sig, truncation) — small boxes: all-pairs builder; big: cells
    (3, 160, 1.0, KA_EPS, KA_SIG, "shift"),
    (3, 900, 1.0, KA_EPS, KA_SIG, "shift"),
    (2, 150, 0.8, KA_EPS, KA_SIG, "shift"),
    (2, 700, 0.8, TERNARY_EPS, TERNARY_SIG, "shift"),
    (2, 700, 0.8, TERNARY_EPS, TERNARY_SIG, "smooth"),
    (3, 900, 1.0, KA_EPS, KA_SIG, "smooth"),
]


def _check_against_reference(system: LJSystem, eps, sig):
    e_ref, f_ref = lj_energy_forces(
        system.wrapped_positions(), system.types, system.box, eps, sig, 2.5,
        system.table.truncation,
    )  # fmt: skip
    system.set_positions(system.positions)  # recompute with energies
    # the reference's smoothing coefficients are printed to 11 decimals: 1e-8 per pair
    atol = 1e-9 if system.table.truncation == "shift" else 1e-7
    np.testing.assert_allclose(system.epot_atoms, e_ref, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(system.epot, e_ref.sum(), rtol=1e-10, atol=atol * system.n)
    np.testing.assert_allclose(system.forces, f_ref, rtol=1e-8, atol=10 * atol)


@pytest.mark.parametrize("dim,n,density,eps,sig,truncation", CASES)
def test_random_configuration_matches_brute_force(dim, n, density, eps, sig, truncation):
    rng = np.random.default_rng(n)
    x, types, box = random_liquid(n, dim, density, rng, n_species=len(eps))
    system = LJSystem(x, types, box, LJTable.from_lists(eps, sig, 2.5, truncation))
    _check_against_reference(system, eps, sig)


@pytest.mark.parametrize("dim,n,density,eps,sig,truncation", CASES)
def test_equilibrated_configuration_matches_brute_force(dim, n, density, eps, sig, truncation):
    """After MD (list rebuilds, particles crossing the box) the forces are still exact."""
    rng = np.random.default_rng(1)
    x, types, box = random_liquid(n, dim, density, rng, n_species=len(eps))
    system = LJSystem(x, types, box, LJTable.from_lists(eps, sig, 2.5, truncation))
    system.draw_velocities(1.0, rng)
    system.run(600, 0.004, BussiThermostat(1.0, 0.2, rng))
    assert system.nlist.n_builds > 3
    assert np.any(np.abs(system.positions) > box)  # unwrapped coordinates left the box
    _check_against_reference(system, eps, sig)


@pytest.mark.parametrize("dim,truncation", [(2, "shift"), (3, "shift"), (2, "smooth")])
def test_forces_are_minus_energy_gradient(dim, truncation):
    rng = np.random.default_rng(7)
    x, types, box = random_liquid(200, dim, 0.9, rng)
    system = LJSystem(x, types, box, LJTable.from_lists(KA_EPS, KA_SIG, 2.5, truncation))
    forces = system.forces.copy()
    h = 1e-6
    for i in rng.choice(len(x), 5, replace=False):
        for d in range(dim):
            xp, xm = x.copy(), x.copy()
            xp[i, d] += h
            xm[i, d] -= h
            system.set_positions(xp)
            ep = system.epot
            system.set_positions(xm)
            em = system.epot
            assert -(ep - em) / (2 * h) == pytest.approx(forces[i, d], rel=1e-5, abs=1e-6)


def test_potential_is_zero_and_continuous_at_the_cutoff():
    table = LJTable.from_lists(KA_EPS, KA_SIG, 2.5)
    box = np.full(3, 20.0)
    for a, b in [(0, 0), (0, 1), (1, 1)]:
        rc = 2.5 * KA_SIG[a][b]
        inside = LJSystem(np.array([[1.0, 1, 1], [1.0 + rc - 1e-9, 1, 1]]), [a, b], box, table)
        outside = LJSystem(np.array([[1.0, 1, 1], [1.0 + rc + 1e-9, 1, 1]]), [a, b], box, table)
        assert abs(inside.epot) < 1e-9 and outside.epot == 0.0


def test_neighbour_list_holds_every_pair_once():
    rng = np.random.default_rng(3)
    x, types, box = random_liquid(800, 3, 1.2, rng, min_dist=0.7)
    system = LJSystem(x, types, box, LJTable.from_lists(KA_EPS, KA_SIG, 2.5), skin=0.3)
    assert system.nlist.use_cells
    i, j = system.nlist.pairs()
    listed = set(map(frozenset, zip(i.tolist(), j.tolist(), strict=True)))
    assert len(listed) == len(i)  # no pair twice
    d = x[:, None] - x[None]
    d -= box * np.rint(d / box)
    r = np.sqrt((d**2).sum(-1))
    rc = 2.5 * np.asarray(KA_SIG)[types[:, None], types[None]] + system.nlist.skin
    a, b = np.nonzero(np.triu(r < rc, 1))
    assert set(map(frozenset, zip(a.tolist(), b.tolist(), strict=True))) == listed


def test_tables_that_run_out_of_room_grow_without_changing_the_run():
    """A list row or ghost table too small for a rebuild (in or out of the compiled steps)
    is grown and the step finished: the run is the same bits as one with room to spare."""
    rng = np.random.default_rng(5)
    x, types, box = random_liquid(900, 3, 1.2, rng, min_dist=0.75)
    table = LJTable.from_lists(KA_EPS, KA_SIG, 2.5)
    v = rng.normal(0.0, 1.0, size=x.shape)
    roomy = LJSystem(x, types, box, table, velocities=v)
    tight = LJSystem(x, types, box, table, velocities=v)
    nl = tight.nlist
    assert nl.use_cells
    # no room to spare: the longest row and the ghosts of the first build just fit
    width, n_ext = int(nl.nbr_cnt.max()), nl.n_ext
    nl.nbr_idx = nl.nbr_idx[:, :, :width].copy()
    nl.xe = nl.xe[:n_ext].copy()
    nl.ghost_src = nl.ghost_src[: n_ext - nl.n].copy()
    nl.ghost_shift = nl.ghost_shift[: n_ext - nl.n].copy()
    roomy.run(300, 0.004)
    tight.run(300, 0.004)
    assert nl.nbr_idx.shape[2] > width and nl.xe.shape[0] > n_ext
    assert roomy.nlist.n_builds == tight.nlist.n_builds > 3
    np.testing.assert_array_equal(tight.positions, roomy.positions)
    np.testing.assert_array_equal(tight.forces, roomy.forces)
