"""Bussi-Donadio-Parrinello stochastic velocity rescaling (J. Chem. Phys. 126, 014101 (2007)).

Chosen over Berendsen because it samples the canonical ensemble exactly (correct kinetic
energy fluctuations), and over Nose-Hoover chains because it needs no extra dynamical
variables and is ergodic on its own.
"""

from __future__ import annotations

import numpy as np


class BussiThermostat:
    def __init__(self, temperature: float, tau: float, rng: np.random.Generator):
        if temperature <= 0 or tau <= 0:
            raise ValueError(f"thermostat needs T > 0 and tau > 0, got T={temperature}, tau={tau}")
        self.temperature = float(temperature)
        self.tau = float(tau)
        self.rng = rng

    def scale_factor(self, kinetic: float, dof: int, dt: float) -> float:
        """Factor to multiply all velocities by so that K follows the canonical SDE over dt."""
        if kinetic <= 0.0:
            return 1.0
        target = 0.5 * dof * self.temperature
        c = np.exp(-dt / self.tau)
        r1 = self.rng.standard_normal()
        sum_r2 = self.rng.chisquare(dof - 1) if dof > 1 else 0.0
        new_kin = (
            kinetic
            + (1.0 - c) * (target * (sum_r2 + r1 * r1) / dof - kinetic)
            + 2.0 * r1 * np.sqrt(kinetic * target / dof * (1.0 - c) * c)
        )
        return float(np.sqrt(max(new_kin, 0.0) / kinetic))
