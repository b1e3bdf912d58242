"""Crystal detection on perfect crystals, noisy crystals and liquids."""

from __future__ import annotations

import numpy as np

from glassml.simulate.structure import solid_fraction


def fcc(cells: int, a: float = 1.55):
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return ((grid[:, None] + base[None]) * a).reshape(-1, 3), np.full(3, cells * a)


def triangular(n: int):
    g = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 2)
    x = np.c_[g[:, 0] + 0.5 * (g[:, 1] % 2), g[:, 1] * np.sqrt(3) / 2]
    return x.astype(float), np.array([n, n * np.sqrt(3) / 2])


def test_fcc_is_solid_even_with_thermal_noise():
    x, box = fcc(6)
    noisy = x + np.random.default_rng(0).normal(0, 0.05, x.shape)
    assert solid_fraction(noisy, box, r_max=1.4) > 0.95


def test_triangular_lattice_is_solid_in_2d():
    x, box = triangular(20)
    noisy = x + np.random.default_rng(0).normal(0, 0.03, x.shape)
    assert solid_fraction(noisy, box, r_max=1.3, q_threshold=0.9, solid_bonds=5) > 0.95


def test_ideal_gas_is_not_solid():
    x, box = fcc(6)
    gas = np.random.default_rng(1).uniform(0, box, x.shape)
    assert solid_fraction(gas, box, r_max=1.4) < 0.02
