"""FIRE energy minimisation (Bitzek et al., PRL 97, 170201 (2006)) for inherent structures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glassml.simulate.md import LJSystem


@dataclass
class FireResult:
    converged: bool
    steps: int
    energy: float
    max_force: float


def fire_minimize(
    system: LJSystem,
    ftol: float = 1e-6,
    max_steps: int = 100_000,
    dt_start: float = 0.005,
    dt_max: float = 0.05,
    max_move: float = 0.1,
    n_min: int = 5,
    f_inc: float = 1.1,
    f_dec: float = 0.5,
    alpha_start: float = 0.1,
    f_alpha: float = 0.99,
) -> FireResult:
    """Relax `system.x` in place until max |F_i| < ftol. Velocities are zeroed afterwards.

    `max_move` caps the per-step displacement so that overlapping starts do not explode.
    """
    dt = dt_start
    alpha = alpha_start
    since_negative = 0
    v = np.zeros((system.n, system.dim))
    f = system.forces
    fmax = float(np.sqrt((f * f).sum(axis=1).max()))
    step = 0
    while fmax >= ftol and step < max_steps:
        step += 1
        power = float(np.vdot(f, v))
        if power > 0.0:
            vnorm = np.sqrt(np.vdot(v, v))
            fnorm = np.sqrt(np.vdot(f, f))
            v = (1.0 - alpha) * v + alpha * vnorm * f / fnorm
            since_negative += 1
            if since_negative > n_min:
                dt = min(dt * f_inc, dt_max)
                alpha *= f_alpha
        else:
            since_negative = 0
            dt *= f_dec
            alpha = alpha_start
            v[:] = 0.0
        # semi-implicit Euler, as in the original FIRE
        v += dt * f
        dx = dt * v
        longest = float(np.sqrt((dx * dx).sum(axis=1).max()))
        if longest > max_move:
            dx *= max_move / longest
        system.displace(dx)
        f = system.forces
        fmax = float(np.sqrt((f * f).sum(axis=1).max()))
        if not np.isfinite(fmax):
            raise FloatingPointError("FIRE produced non-finite forces")
    system.velocities = 0.0
    return FireResult(converged=fmax < ftol, steps=step, energy=system.epot, max_force=fmax)
