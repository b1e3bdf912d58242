"""Integrator, thermostat and minimiser against analytic expectations."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from glassml.simulate.config import spec_from_config
from glassml.simulate.fire import fire_minimize
from glassml.simulate.md import LJSystem, SimulationError
from glassml.simulate.protocol import lattice_start, run_nvt
from glassml.simulate.thermostat import BussiThermostat

from .conftest import random_liquid
from .test_config import base_config


@pytest.fixture(scope="module")
def ka_liquid() -> LJSystem:
    """A KA 3D liquid (N=500, rho=1.2) equilibrated at T=0.8."""
    spec = spec_from_config(base_config(N=500, T=0.8))
    rng = np.random.default_rng(0)
    system = lattice_start(spec, rng)
    fire_minimize(system, ftol=1e-2, max_steps=2000)
    system.draw_velocities(2.0, rng)
    run_nvt(system, spec, 2.0, 5.0, rng, "melt")
    run_nvt(system, spec, 0.8, 20.0, rng, "equilibrate")
    return system


def _copy(system: LJSystem) -> LJSystem:
    return LJSystem(
        system.positions, system.types, system.box, system.table, velocities=system.velocities
    )


def test_nve_conserves_energy_and_momentum(ka_liquid):
    """10^4 velocity-Verlet steps at dt=0.005 (N=500, T=0.8).

    The energy-shifted LJ force jumps at the cut-off, so each crossing adds an O(dt) error
    of random sign: the total energy random-walks by ~5e-4 per particle over the run
    (rebuilding the list every step changes nothing, so no pair is missed). LAMMPS shows
    the same with `pair_modify shift yes`; a missed neighbour or a wrong force gives
    drifts of 1e-2 and more.
    """
    system = _copy(ka_liquid)
    energies = []

    def record(step, s):
        energies.append(s.epot + s.kinetic_energy())

    steps = np.arange(500, 10_001, 500)
    system.run(10_000, 0.005, record_steps=steps, on_record=record)
    e = np.array(energies) / system.n
    assert np.abs(e - e[0]).max() < 2e-3
    assert np.abs(system.velocities.sum(axis=0)).max() < 1e-10


def test_velocity_verlet_is_time_reversible(ka_liquid):
    """Run forward, flip velocities, run back: the start is recovered (symplectic, exact)."""
    system = _copy(ka_liquid)
    x0 = system.positions.copy()
    system.run(200, 0.005)
    system.velocities = -system.velocities
    system.run(200, 0.005)
    np.testing.assert_allclose(system.positions, x0, atol=1e-8)


def test_bussi_thermostat_samples_canonical_kinetic_energy(ka_liquid):
    """<K> = dof T/2 and var(K) = dof T^2/2 (Gamma distribution of the kinetic energy)."""
    system = _copy(ka_liquid)
    rng = np.random.default_rng(5)
    T = 0.8
    kin = []
    system.run(400, 0.005, BussiThermostat(T, 0.1, rng))
    system.run(
        12_000,
        0.005,
        BussiThermostat(T, 0.1, rng),
        record_steps=range(20, 12_001, 20),
        on_record=lambda step, s: kin.append(s.kinetic_energy()),
    )
    kin = np.array(kin)
    dof = system.dof
    assert kin.mean() == pytest.approx(0.5 * dof * T, rel=0.01)
    assert kin.var() == pytest.approx(0.5 * dof * T**2, rel=0.15)


def test_bussi_is_exact_for_an_ideal_gas():
    """With no forces K follows its own SDE: its stationary law is Gamma(dof/2, T)."""
    rng = np.random.default_rng(0)
    thermostat = BussiThermostat(1.5, 1.0, rng)
    dof, kin, samples = 30, 5.0, []
    for _ in range(200_000):
        kin *= thermostat.scale_factor(kin, dof, 0.5) ** 2
        samples.append(kin)
    samples = np.array(samples[1000:])
    assert samples.mean() == pytest.approx(0.5 * dof * 1.5, rel=0.02)
    assert samples.var() == pytest.approx(0.5 * dof * 1.5**2, rel=0.05)


def test_fire_converges_and_lowers_energy(ka_liquid):
    system = _copy(ka_liquid)
    start = system.epot
    result = fire_minimize(system, ftol=1e-6)
    assert result.converged and result.max_force < 1e-6
    assert result.energy < start
    np.testing.assert_allclose(np.abs(system.forces).max(), result.max_force, rtol=0, atol=1e-6)


def test_fire_relaxes_overlapping_start():
    rng = np.random.default_rng(2)
    x, types, box = random_liquid(200, 2, 0.9, rng, min_dist=0.3)
    system = LJSystem(x, types, box, lattice_table())
    result = fire_minimize(system, ftol=1e-5, max_steps=50_000)
    assert result.converged and np.isfinite(result.energy)


def lattice_table():
    from glassml.simulate.potential import LJTable

    from .conftest import KA_EPS, KA_SIG

    return LJTable.from_lists(KA_EPS, KA_SIG, 2.5)


def test_blow_up_is_a_clear_error():
    rng = np.random.default_rng(4)
    x, types, box = random_liquid(200, 3, 1.0, rng, min_dist=0.75)
    system = LJSystem(x, types, box, lattice_table())
    system.draw_velocities(1.0, rng)
    with pytest.raises(SimulationError, match="dt"):
        system.run(2000, 0.05)  # ten times too large a time step


def test_observables_of_free_particles():
    """Ballistic motion: MSD = d T t^2 and F_s = exp(-k^2 T t^2 / 2) (Gaussian)."""
    from glassml.simulate.observables import (
        mean_squared_displacement,
        relaxation_time,
        self_intermediate_scattering,
    )

    rng = np.random.default_rng(0)
    T, k = 0.5, 2.0
    v = rng.normal(0, np.sqrt(T), size=(20_000, 3))
    times = np.arange(0, 3.0, 0.1)
    traj = times[:, None, None] * v[None]
    msd = mean_squared_displacement(traj, 10)
    np.testing.assert_allclose(msd, 3 * T * (0.1 * np.arange(1, 11)) ** 2, rtol=0.03)
    fs = self_intermediate_scattering(traj, k, 20)
    lag_t = 0.1 * np.arange(1, 21)
    np.testing.assert_allclose(fs, np.exp(-(k**2) * T * lag_t**2 / 2), atol=0.01)
    assert relaxation_time(lag_t, fs) == pytest.approx(np.sqrt(2 / (k**2 * T)), rel=0.03)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
def test_trajectory_does_not_depend_on_the_thread_count(ka_liquid):
    """Each particle's force is summed by one thread in list order and the energies in
    index order, so 1 and 2 threads give the same bits (list rebuilds and a thermostat,
    which reads the kinetic energy, included)."""
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            system = _copy(ka_liquid)
            system.run(300, 0.005, BussiThermostat(0.8, 0.5, np.random.default_rng(3)))
            assert system.nlist.n_builds > 5
            runs.append((system.positions, system.velocities, system.epot))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2]
