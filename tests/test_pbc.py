"""Periodic pair search against brute-force minimum image."""

from __future__ import annotations

import numpy as np
import pytest

from glassml.pbc import pairs_within


@pytest.mark.parametrize("dim", [2, 3])
def test_pairs_within_matches_brute_force(dim):
    rng = np.random.default_rng(dim)
    box = np.array([6.0, 7.5, 5.2][:dim])
    x = rng.uniform(-3, 12, size=(300, dim))  # unwrapped on purpose
    i, j, vec = pairs_within(x, box, 2.4)
    d = x[None] - x[:, None]
    d -= box * np.rint(d / box)
    r = np.linalg.norm(d, axis=-1)
    np.fill_diagonal(r, np.inf)
    a, b = np.nonzero(r < 2.4)
    found = sorted(zip(i.tolist(), j.tolist(), strict=True))
    assert found == sorted(zip(a.tolist(), b.tolist(), strict=True))
    np.testing.assert_allclose(vec, d[i, j], atol=1e-12)


def test_cutoff_beyond_half_the_box_is_refused():
    with pytest.raises(ValueError, match="half the box"):
        pairs_within(np.zeros((3, 3)), np.full(3, 4.0), 2.5)
