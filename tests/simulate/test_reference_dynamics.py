"""Slow check of the whole simulator against published KA 3D dynamics (REFERENCE.md).

LAMMPS, N = 1000, rho = 1.2, T = 0.638: tau_alpha ~ 8.5 (F_s of A at k = 7.25 falls to
1/e) and D_A ~ 1.8e-3. Our simulator must agree within ~25%. Opt-in: `make test-slow`.
"""

from __future__ import annotations

import numpy as np
import pytest

from glassml.simulate.config import spec_from_config
from glassml.simulate.fire import fire_minimize
from glassml.simulate.observables import (
    diffusion_coefficient,
    mean_squared_displacement,
    relaxation_time,
    self_intermediate_scattering,
)
from glassml.simulate.protocol import lattice_start, run_nvt

from .test_config import base_config

pytestmark = pytest.mark.slow


def test_ka3d_tau_alpha_and_diffusion_match_lammps():
    T = 0.638
    spec = spec_from_config(base_config(N=1000, T=T))
    rng = np.random.default_rng(11)
    system = lattice_start(spec, rng)
    fire_minimize(system, ftol=1e-2, max_steps=2000)
    system.draw_velocities(2.0, rng)
    run_nvt(system, spec, 2.0, 10.0, rng, "melting")
    run_nvt(system, spec, T, 200.0, rng, "equilibrating")  # ~25 tau_alpha

    frames = []
    every = 50  # 0.25 time units
    n_steps = 200 * 200  # 200 time units of NVE
    system.run(
        n_steps,
        spec.dt,
        record_steps=range(every, n_steps + 1, every),
        on_record=lambda step, s: frames.append(s.positions),
    )
    traj = np.array(frames)[:, system.types == 0]
    dt_frame = every * spec.dt
    max_lag = int(60 / dt_frame)
    times = dt_frame * np.arange(1, max_lag + 1)
    fs = self_intermediate_scattering(traj[::1], 7.25, max_lag)
    tau = relaxation_time(times, fs)
    msd = mean_squared_displacement(traj, max_lag)
    d_a = diffusion_coefficient(times, msd, 3, t_min=3 * tau)
    print(f"T={T}: tau_alpha={tau:.2f} (LAMMPS 8.5), D_A={d_a:.2e} (LAMMPS 1.8e-3)")
    assert tau == pytest.approx(8.5, rel=0.25)
    assert d_a == pytest.approx(1.8e-3, rel=0.25)
