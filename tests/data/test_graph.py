"""Periodic graphs against a brute-force minimum-image computation."""

import numpy as np
import pytest

from glassml.data.graph import local_density, periodic_edges


def brute_force(pos: np.ndarray, box: np.ndarray, cutoff: float):
    """All ordered pairs i != j within the cut-off, minimum image (valid for cutoff < L/2)."""
    d = pos[None, :, :] - pos[:, None, :]  # d[i, j] = r_j - r_i
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1)
    src, dst = np.nonzero((r < cutoff) & ~np.eye(len(pos), dtype=bool))
    return src, dst, d[src, dst]


def as_dict(src, dst, vec):
    return {(int(s), int(t)): v for s, t, v in zip(src, dst, vec, strict=True)}


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("frac", [0.2, 0.35, 0.49, 0.4999])
def test_matches_minimum_image(dim: int, frac: float) -> None:
    rng = np.random.default_rng(int(frac * 1e4) + dim)
    box = rng.uniform(4.0, 7.0, dim)
    pos = rng.uniform(0.0, 1.0, (120, dim)) * box
    cutoff = frac * box.min()
    (src, dst), vec = periodic_edges(pos, box, cutoff, self_loops=False)
    ref = as_dict(*brute_force(pos, box, cutoff))
    got = as_dict(src, dst, vec)
    assert got.keys() == ref.keys()
    for k, v in ref.items():
        np.testing.assert_allclose(got[k], v, atol=1e-10)
    # vectors point from source to target
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1) < cutoff, True)


def test_self_loops_and_order() -> None:
    rng = np.random.default_rng(0)
    box = np.array([5.0, 5.0, 5.0])
    pos = rng.uniform(0, 5, (50, 3))
    (src, dst), vec = periodic_edges(pos, box, 1.5, self_loops=True)
    loops = src == dst
    assert loops.sum() == 50
    np.testing.assert_array_equal(vec[loops], 0.0)
    # sorted by target: contiguous segments per receiving node (the model relies on it)
    assert np.all(np.diff(dst) >= 0)


def test_positions_outside_box_and_symmetry() -> None:
    rng = np.random.default_rng(1)
    box = np.array([6.0, 5.0])
    pos = rng.uniform(0, 1, (80, 2)) * box
    (s1, d1), v1 = periodic_edges(pos, box, 2.0, self_loops=False)
    (s2, d2), v2 = periodic_edges(pos + box * 3, box, 2.0, self_loops=False)
    assert as_dict(s1, d1, v1).keys() == as_dict(s2, d2, v2).keys()
    e = as_dict(s1, d1, v1)
    for (i, j), v in e.items():  # both directions present, opposite vectors
        np.testing.assert_allclose(e[(j, i)], -v, atol=1e-12)


def test_local_density_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    box = np.array([5.0, 6.0, 5.5])
    pos = rng.uniform(0, 1, (100, 3)) * box
    src, dst, _ = brute_force(pos, box, 1.5)
    np.testing.assert_array_equal(local_density(pos, box, 1.5), np.bincount(dst, minlength=100))
