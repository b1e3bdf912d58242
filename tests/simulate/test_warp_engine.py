"""The batched Warp engine against the numba engine (`LJSystem`), run on the CPU."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("warp")

from glassml.simulate import warp_engine  # noqa: E402
from glassml.simulate.md import LJSystem  # noqa: E402
from glassml.simulate.potential import LJTable  # noqa: E402
from glassml.simulate.thermostat import BussiThermostat  # noqa: E402
from glassml.simulate.warp_engine import WarpLJBatch  # noqa: E402

from .conftest import KA_EPS, KA_SIG, TERNARY_EPS, TERNARY_SIG, random_liquid  # noqa: E402

KA = LJTable.from_lists(KA_EPS, KA_SIG, 2.5)
needs_cuda = pytest.mark.skipif(
    not warp_engine.cuda_available(), reason="needs a CUDA GPU (the CPU runs the same kernels)"
)


def _liquid(n: int, dim: int, density: float, seed: int, steps: int = 200):
    """A KA liquid at T=1 from a short thermostatted numba run (smooth forces for MD tests)."""
    rng = np.random.default_rng(seed)
    x, types, box = random_liquid(n, dim, density, rng)
    system = LJSystem(x, types, box, KA)
    system.draw_velocities(1.0, rng)
    system.run(steps, 0.003, BussiThermostat(1.0, 0.1, rng))
    return system


@pytest.mark.parametrize(
    "dim,n,density,eps,sig,truncation",
    [  # 2 cells per side (all pairs), 3 cells per side, 2D with a ternary table
        (3, 256, 1.2, KA_EPS, KA_SIG, "shift"),
        (3, 1000, 1.2, KA_EPS, KA_SIG, "shift"),
        (2, 300, 1.2, TERNARY_EPS, TERNARY_SIG, "shift"),
        (2, 300, 1.2, TERNARY_EPS, TERNARY_SIG, "smooth"),
    ],
)
def test_forces_and_energies_match_numba(dim, n, density, eps, sig, truncation):
    table = LJTable.from_lists(eps, sig, 2.5, truncation)
    rng = np.random.default_rng(n)
    types = rng.integers(0, len(eps), n)  # one species list shared by the replicas
    systems = []
    for _ in range(2):
        x, _, box = random_liquid(n, dim, density, rng)
        # unwrapped input: shift particles by whole boxes, which must not change anything
        shifted = x + box * rng.integers(-2, 3, size=x.shape)
        systems.append(LJSystem(shifted, types, box, table))
    batch = WarpLJBatch(np.stack([s.positions for s in systems]), types, box, table)
    for k, s in enumerate(systems):
        np.testing.assert_allclose(batch.forces[k], s.forces, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(batch.epot_atoms[k], s.epot_atoms, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(batch.epot[k], s.epot, rtol=1e-12)
        np.testing.assert_allclose(batch.positions[k], s.positions, rtol=0, atol=1e-12)


def test_dense_regions_grow_the_tables():
    """A slab in a long box overfills the cell and list tables, which grow; forces stay exact."""
    x, types, box = random_liquid(300, 3, 1.2, np.random.default_rng(3))
    box = box * np.array([5.0, 1.0, 1.0])
    system = LJSystem(x, types, box, KA)
    batch = WarpLJBatch(x[None], types, box, KA)
    # more than the initial capacities: 3x the mean cell occupancy, 1.5x the mean list length
    assert batch._cell_cap > max(16, int(3 * 300 / batch._cell_count.shape[1]) + 8)
    rlist = KA.max_rcut + batch.skin
    assert batch._nbr_cap > 1.5 * 300 / np.prod(box) * 4 / 3 * np.pi * rlist**3 + 16
    np.testing.assert_allclose(batch.forces[0], system.forces, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(batch.epot[0], system.epot, rtol=1e-12)


@pytest.mark.parametrize("dim,n", [(3, 256), (2, 256)])
def test_trajectories_match_numba_for_the_first_steps(dim, n):
    system = _liquid(n, dim, 1.2, seed=dim)
    batch = WarpLJBatch(
        system.positions[None], system.types, system.box, KA, system.velocities[None]
    )
    system.run(60, 0.005)  # NVE
    batch.run(60, 0.005)
    assert system.nlist.n_builds > 1 and batch.n_builds > 1  # lists were rebuilt
    np.testing.assert_allclose(batch.positions[0], system.positions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(batch.velocities[0], system.velocities, rtol=0, atol=1e-8)
    np.testing.assert_allclose(batch.epot[0], system.epot, rtol=1e-10)


def test_nve_conserves_energy():
    """Total energy stays flat while the kinetic energy fluctuates, as in the numba engine."""
    system = _liquid(256, 3, 1.2, seed=5)
    batch = WarpLJBatch(
        system.positions[None], system.types, system.box, KA, system.velocities[None]
    )
    warp_e, warp_k, numba_e = [], [], []
    for _ in range(20):
        batch.run(25, 0.004)
        system.run(25, 0.004)
        warp_e.append(batch.epot[0] + batch.kinetic_energy()[0])
        warp_k.append(batch.kinetic_energy()[0])
        numba_e.append(system.epot + system.kinetic_energy())
    warp_e, numba_e = np.array(warp_e) / 256, np.array(numba_e) / 256
    assert np.ptp(warp_e) < 0.02 * np.ptp(np.array(warp_k) / 256)
    assert np.ptp(warp_e) < 2e-3
    assert abs(np.polyfit(np.arange(20), warp_e, 1)[0] * 20) < 5e-4  # no drift
    # the trajectories separate (chaos), but the energy error is the same size in both engines
    assert 0.5 < np.ptp(warp_e) / np.ptp(numba_e) < 2.0


def test_replicas_are_independent():
    """Replica k of a batch follows exactly the trajectory of a batch of one."""
    system = _liquid(200, 3, 1.2, seed=7)
    rng = np.random.default_rng(0)
    x0 = system.positions
    xs = np.stack([x0, x0 + rng.normal(0, 0.01, x0.shape), x0])
    vs = np.stack([rng.normal(0, 1.0, x0.shape) for _ in range(3)])
    batch = WarpLJBatch(xs, system.types, system.box, KA, vs)
    single = WarpLJBatch(xs[1:2], system.types, system.box, KA, vs[1:2])
    batch.run(40, 0.004)
    single.run(40, 0.004)
    np.testing.assert_array_equal(batch.positions[1], single.positions[0])
    np.testing.assert_array_equal(batch.velocities[1], single.velocities[0])
    assert batch.epot[1] == single.epot[0]
    # same positions, different velocities: replicas 0 and 2 really differ
    assert np.abs(batch.positions[0] - batch.positions[2]).max() > 1e-3


def test_bad_input_is_rejected():
    x, types, box = random_liquid(200, 3, 1.2, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\[R, N, 2\|3\]"):
        WarpLJBatch(x, types, box, KA)
    with pytest.raises(ValueError, match="half the smallest box"):
        WarpLJBatch(x[None], types, box / 3, KA)


def test_device_selection(monkeypatch, caplog):
    with pytest.raises(ValueError, match="simulator.device"):
        warp_engine.resolve_device("gpu")
    monkeypatch.setattr(warp_engine.wp, "is_cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="simulator.device=cuda"):
        warp_engine.resolve_device("cuda")
    x, types, box = random_liquid(200, 3, 1.2, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="simulator.device=cuda"):
        WarpLJBatch(x[None], types, box, KA, device="cuda")
    with caplog.at_level(logging.INFO, logger="glassml.simulate.warp_engine"):
        assert warp_engine.resolve_device("auto") == "cpu"
    assert "no CUDA GPU" in caplog.text
    assert WarpLJBatch(x[None], types, box, KA, device="auto").device == "cpu"


def test_thermostat_holds_each_replica_at_its_temperature():
    """One Bussi thermostat per replica: replicas relax to their own temperatures and keep
    the canonical kinetic-energy fluctuations, var(K) = dof T^2 / 2."""
    system = _liquid(200, 3, 1.2, seed=9)
    targets = [0.6, 1.4]
    x = np.stack([system.positions] * 2)
    v = np.stack([system.velocities] * 2)
    batch = WarpLJBatch(x, system.types, system.box, KA, v)
    rngs = [np.random.default_rng(s) for s in (1, 2)]
    thermostats = [BussiThermostat(t, 0.05, rng) for t, rng in zip(targets, rngs, strict=True)]
    batch.run(400, 0.004, thermostats)  # relax
    kin = []
    batch.run(
        3000, 0.004, thermostats, range(10, 3001, 10), lambda s, b: kin.append(b.kinetic_energy())
    )
    kin = np.array(kin)
    temperature = 2 * kin.mean(axis=0) / batch.dof
    np.testing.assert_allclose(temperature, targets, rtol=0.04)
    expected_var = batch.dof * np.array(targets) ** 2 / 2
    np.testing.assert_allclose(kin.var(axis=0), expected_var, rtol=0.35)


@needs_cuda
def test_cuda_matches_numba():
    """On the GPU: forces to rounding, then the same NVE trajectory for the first steps."""
    system = _liquid(1000, 3, 1.2, seed=4)
    rng = np.random.default_rng(1)
    x = np.stack([system.positions, system.positions + rng.normal(0, 0.01, (1000, 3))])
    batch = WarpLJBatch(x, system.types, system.box, KA, device="cuda")
    np.testing.assert_allclose(batch.forces[0], system.forces, rtol=1e-10, atol=1e-10)
    batch = WarpLJBatch(
        system.positions[None], system.types, system.box, KA, system.velocities[None], "cuda"
    )
    system.run(60, 0.005)
    batch.run(60, 0.005)
    np.testing.assert_allclose(batch.positions[0], system.positions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(batch.epot[0], system.epot, rtol=1e-10)
