"""Fixtures of the sorting tests: a tiny sweep of real runs, shared by report and fate tests."""

from __future__ import annotations

import pytest

from glassml.sorting.params import SortingParams
from glassml.sorting.run import simulate


@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    for k, phi in enumerate((1e-3, 3e-3, 1e-2)):
        p = SortingParams(
            L=32,
            phi=phi,
            g=0.1,
            M=12,
            t_end=4000.0,
            n_samples=80,
            snapshots=6,
            progress=False,
            seed=k,
        )
        simulate(p, root / str(k))
    return root
