from __future__ import annotations

import numpy as np
import pytest

from glassml.simulate.potential import LJTable

KA_EPS = [[1.0, 1.5], [1.5, 0.5]]
KA_SIG = [[1.0, 0.8], [0.8, 0.88]]
# the 2D ternary mixture of GlassBench KA 2D (the authors' "KA2-2D"; conf/simulator/ka2d_ternary)
TERNARY_EPS = [[1.0, 1.5, 0.75], [1.5, 0.5, 1.5], [0.75, 1.5, 0.75]]
TERNARY_SIG = [[1.0, 0.8, 0.9], [0.8, 0.88, 0.8], [0.9, 0.8, 0.94]]


@pytest.fixture
def ka_table() -> LJTable:
    return LJTable.from_lists(KA_EPS, KA_SIG, 2.5)


def random_liquid(
    n: int, dim: int, density: float, rng: np.random.Generator, n_species=2, min_dist: float = 0.75
):
    """Random positions without close overlaps (sequential rejection), random species."""
    box = np.full(dim, (n / density) ** (1 / dim))
    x = np.empty((0, dim))
    while len(x) < n:
        trial = rng.uniform(0, box, size=(4 * n, dim))
        for p in trial:
            if len(x) == n:
                break
            if len(x):
                d = x - p
                d -= box * np.rint(d / box)
                if np.min((d**2).sum(1)) < min_dist**2:
                    continue
            x = np.vstack([x, p])
    return x, rng.integers(0, n_species, n), box
