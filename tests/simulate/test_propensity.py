"""Propensity observables against cases with known answers."""

from __future__ import annotations

import types as pytypes

import numpy as np
import pytest

from glassml.simulate.config import spec_from_config
from glassml.simulate.propensity import Observer, iso_run
from glassml.simulate.protocol import lattice_start

from .test_config import base_config


def tiny_spec(**overrides):
    params = dict(
        N=300,
        T=0.8,
        dim=3,
        n_iso=2,
        n_configs=1,
        cage_time=0.01,
        times={"spacing": "list", "values": [0.005, 0.01, 0.05], "min": 0.1, "max": 1.0, "num": 1},
    )
    params.update(overrides)
    return spec_from_config(base_config(**params))


def _fake_system(x):
    return pytypes.SimpleNamespace(positions=x)


def _crystal_start(spec):
    system = lattice_start(spec, np.random.default_rng(0))
    return system.positions, system.types


def test_uniform_translation_has_no_cage_displacement_and_breaks_no_bond():
    spec = tiny_spec()
    x0, types = _crystal_start(spec)
    obs = Observer.for_spec(spec, x0, types)
    shift = np.array([0.3, -0.2, 0.1])
    obs(1, _fake_system(x0 + shift))
    np.testing.assert_allclose(obs.abs_disp[0], np.linalg.norm(shift), rtol=1e-6)
    np.testing.assert_allclose(obs.cage_disp[0], 0.0, atol=1e-6)
    assert obs.bond_broken[0].max() == 0.0


def test_one_particle_pulled_out_of_its_cage():
    spec = tiny_spec()
    x0, types = _crystal_start(spec)
    obs = Observer.for_spec(spec, x0, types)
    x = x0.copy()
    jump = spec.box / 2  # far beyond r_out * sigma of every old neighbour
    x[0] += jump
    obs(1, _fake_system(x))
    assert obs.abs_disp[0, 0] == pytest.approx(np.linalg.norm(jump), rel=1e-6)
    assert obs.bond_broken[0, 0] == 1.0
    neighbours = obs.bond_j[obs.bond_i == 0]
    assert len(neighbours) > 0
    # each old neighbour lost exactly one of its bonds
    expected = 1.0 / np.bincount(obs.bond_i, minlength=spec.N)[neighbours]
    np.testing.assert_allclose(obs.bond_broken[0, neighbours], expected, rtol=1e-6)
    # the mover's cage displacement is its own minus its neighbours' mean (zero)
    assert obs.cage_disp[0, 0] == pytest.approx(np.linalg.norm(jump), rel=1e-6)


@pytest.mark.parametrize(
    "dim,mean_speed", [(3, np.sqrt(8 * 0.8 / np.pi)), (2, np.sqrt(np.pi * 0.8 / 2))]
)
def test_short_time_propensity_is_ballistic(dim, mean_speed):
    """At t -> 0, |d| = |v| t: the mean is the Maxwell-Boltzmann mean speed times t."""
    spec = tiny_spec(dim=dim, N=400 if dim == 3 else 200, fractions=[0.8, 0.2])
    x0, types = _crystal_start(spec)
    res = iso_run(spec, x0, types, np.random.default_rng(1))
    t = spec.output_times[0]
    assert res.abs_disp[0].mean() / t == pytest.approx(mean_speed, rel=0.06)


def test_iso_runs_are_reproducible_and_differ_between_seeds():
    spec = tiny_spec()
    x0, types = _crystal_start(spec)
    a = iso_run(spec, x0, types, np.random.default_rng(3))
    b = iso_run(spec, x0, types, np.random.default_rng(3))
    c = iso_run(spec, x0, types, np.random.default_rng(4))
    np.testing.assert_array_equal(a.abs_disp, b.abs_disp)
    assert not np.allclose(a.abs_disp, c.abs_disp)
