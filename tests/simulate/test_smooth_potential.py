"""The smoothed LJ truncation of the GlassBench KA 2D model: its published coefficients, its
smoothness at the cut-off, the shipped config and energy conservation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from glassml.simulate.config import ConfigError, spec_from_config
from glassml.simulate.md import LJSystem
from glassml.simulate.potential import LJTable, smoothing_coefficients
from glassml.simulate.thermostat import BussiThermostat

from .conftest import TERNARY_EPS, TERNARY_SIG, random_liquid
from .reference import SMOOTH_2_5

CONF = Path(__file__).resolve().parents[2] / "conf" / "simulator"


def test_coefficients_are_the_published_ones():
    # printed to 11 decimals
    np.testing.assert_allclose(smoothing_coefficients(2.5), SMOOTH_2_5, rtol=0, atol=1e-11)


@pytest.mark.parametrize("q_cut", [2.0, 2.5, 3.0])
def test_energy_and_two_derivatives_vanish_at_the_cut_off(q_cut):
    table = LJTable.from_lists(TERNARY_EPS, TERNARY_SIG, q_cut, "smooth")
    h = 1e-4
    for a in range(3):
        for b in range(3):
            rc = table.rcut[a, b]
            r = np.array([rc - 2 * h, rc - h, rc])
            u = table.pair_energy(r, np.full(3, a), np.full(3, b))
            assert abs(u[2]) < 1e-15
            # one-sided differences: U' ~ h U'' / 2, U'' ~ h U''' : both O(h) if smooth
            du = (u[2] - u[1]) / h
            d2u = (u[2] - 2 * u[1] + u[0]) / h**2
            assert abs(du) < 1e-5 and abs(d2u) < 1e-2 * TERNARY_EPS[a][b]


def test_two_particles_feel_nothing_at_the_cut_off():
    table = LJTable.from_lists(TERNARY_EPS, TERNARY_SIG, 2.5, "smooth")
    box = np.full(2, 20.0)
    for a, b in [(0, 1), (0, 2), (1, 2), (2, 2)]:
        rc = table.rcut[a, b]
        pair = LJSystem(np.array([[1.0, 1.0], [1.0 + rc - 1e-6, 1.0]]), [a, b], box, table)
        assert abs(pair.epot) < 1e-15 and np.abs(pair.forces).max() < 1e-12


def test_shipped_ka2d_config_is_the_authors_ka2_2d_model():
    spec = spec_from_config(yaml.safe_load((CONF / "ka2d_ternary.yaml").read_text()))
    assert spec.potential.truncation == "smooth"
    np.testing.assert_array_equal(spec.potential.epsilon, TERNARY_EPS)
    np.testing.assert_array_equal(spec.potential.sigma, TERNARY_SIG)
    assert spec.table.truncation == "smooth"


def test_unknown_truncation_is_refused_by_name():
    cfg = yaml.safe_load((CONF / "ka2d_ternary.yaml").read_text())
    cfg["potential"]["truncation"] = "switch"
    with pytest.raises(ConfigError, match="simulator.potential.truncation"):
        spec_from_config(cfg)
    with pytest.raises(ValueError, match="potential.truncation"):
        LJTable.from_lists(TERNARY_EPS, TERNARY_SIG, 2.5, "switch")


def _energy_excursion(dt: float) -> float:
    """Largest |E(t) - E(0)| per particle over 20 time units of NVE (2D ternary liquid)."""
    rng = np.random.default_rng(5)
    x, types, box = random_liquid(400, 2, 1.0, rng, n_species=3)
    system = LJSystem(x, types, box, LJTable.from_lists(TERNARY_EPS, TERNARY_SIG, 2.5, "smooth"))
    system.draw_velocities(0.6, rng)
    system.run(1000, 0.004, BussiThermostat(0.6, 0.2, rng))
    steps = round(20 / dt)
    energies = []
    system.run(
        steps,
        dt,
        record_steps=range(steps // 40, steps + 1, steps // 40),
        on_record=lambda step, s: energies.append(s.epot + s.kinetic_energy()),
    )
    e = np.asarray(energies) / system.n
    return float(np.abs(e - e[0]).max())


def test_nve_energy_error_is_second_order_in_the_time_step():
    """Velocity Verlet with forces that are the exact gradient of a smooth energy conserves a
    shadow energy: E fluctuates by O(dt^2) without drift, so halving dt quarters the error
    (an energy/force mismatch or a force jump at the cut-off would leave an O(dt) part)."""
    coarse, fine = _energy_excursion(0.005), _energy_excursion(0.0025)
    assert coarse < 5e-4
    assert coarse / fine > 3.0
