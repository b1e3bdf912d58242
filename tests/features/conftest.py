"""Configurations for the descriptor tests: a real KA 3D one and small 2D/3D liquids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glassml.data.io import NpzReader

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "config_0000.npz"
KA_EPS = [[1.0, 1.5], [1.5, 0.5]]
KA_SIG = [[1.0, 0.8], [0.8, 0.88]]


@pytest.fixture(scope="session")
def ka3d():
    """The first configuration of the embedded sample (KA 3D, N = 1000, with metadata)."""
    if not SAMPLE.is_file():
        pytest.skip("data/sample is missing (make sample-data)")
    return NpzReader()(SAMPLE)


def _relaxed(dim: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A disordered KA-like configuration: a strongly jittered lattice (no relaxation, to
    keep the tests fast; the descriptors need no physical realism, only disorder)."""
    rng = np.random.default_rng(seed)
    box_len = (n / 1.2) ** (1 / dim)
    m = int(np.ceil(n ** (1 / dim)))
    grid = np.stack(np.meshgrid(*[np.arange(m)] * dim, indexing="ij"), -1).reshape(-1, dim)
    grid = grid[rng.permutation(len(grid))[:n]]
    pos = np.mod((grid + 0.5 + rng.normal(0, 0.12, grid.shape)) * box_len / m, box_len)
    types = (rng.random(n) < 0.3).astype(np.int64)
    return pos, types, np.full(dim, box_len)


@pytest.fixture(scope="session")
def liquid2d():
    return _relaxed(2, 400, 1)


@pytest.fixture(scope="session")
def liquid3d_small():
    return _relaxed(3, 250, 2)
