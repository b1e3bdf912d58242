"""Which pair potential made a set of configurations? Two tests that need no dynamics.

- An inherent structure is a minimum of the potential that produced it: under that
  potential its forces vanish (up to the precision the file was written with); under another
  one they do not.
- A thermal configuration at temperature T has the configurational temperature
  k_B T_conf = <|grad U|^2> / <lap U> = T (Rugh; Jepps, Ayton and Evans 2000), which needs
  no velocities.
"""

from __future__ import annotations

import numpy as np

from glassml.features.structure import periodic_pairs
from glassml.simulate.md import LJSystem
from glassml.simulate.potential import LJTable


def pair_derivatives(
    table: LJTable, r: np.ndarray, ti: np.ndarray, tj: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """U'(r) and U''(r) of the truncated pair potential, for pairs inside their cut-off."""
    h0, h2, h4 = (h[ti, tj] for h in table.tail())
    e4 = 4.0 * table.epsilon[ti, tj]
    sr6 = (table.sigma[ti, tj] / r) ** 6
    du = e4 * (6.0 * sr6 - 12.0 * sr6 * sr6) / r + 2.0 * h2 * r + 4.0 * h4 * r**3
    d2u = e4 * (156.0 * sr6 * sr6 - 42.0 * sr6) / r**2 + 2.0 * h2 + 12.0 * h4 * r**2
    return du, d2u


def force_rms(positions: np.ndarray, types: np.ndarray, box: np.ndarray, table: LJTable) -> float:
    """Root-mean-square |F_i| over the particles (0 at an exact inherent structure)."""
    forces = LJSystem(positions, types, box, table).forces
    return float(np.sqrt((forces**2).sum(axis=1).mean()))


def configurational_temperature(
    positions: np.ndarray, types: np.ndarray, box: np.ndarray, table: LJTable
) -> float:
    """sum_i |F_i|^2 / sum_i lap_i U, the configurational temperature of one configuration."""
    forces = LJSystem(positions, types, box, table).forces
    pairs = periodic_pairs(positions, box, table.max_rcut)
    ti, tj = types[pairs.dst], types[pairs.src]
    inside = pairs.r < table.rcut[ti, tj]
    r = pairs.r[inside]
    du, d2u = pair_derivatives(table, r, ti[inside], tj[inside])
    dim = positions.shape[1]
    laplacian = (d2u + (dim - 1) * du / r).sum()  # every ordered pair: both particles' share
    return float((forces**2).sum() / laplacian)
