"""Coarse-graining sums reach the radius where the kernel's neglected weight is 1% (capped
at half the box), checked against brute-force sums over all pairs and quadrature."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from glassml.features import FeatureSpecError, compute_descriptors, parse_specs
from glassml.features import cache as feature_cache
from glassml.features.structure import Structure, coarse_grain, tail_radius
from glassml.io import atomic_save_npz

from . import reference as ref

#: R / L at 1% neglected weight (quadrature in tests/features/reference.py agrees)
RADII = {("exp", 3): 8.406, ("exp", 2): 6.638, ("gaussian", 3): 3.368, ("gaussian", 2): 3.035}


def random_box(dim: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform random positions (no excluded core) at number density 1.2, two species."""
    rng = np.random.default_rng(seed)
    box = np.full(dim, (n / 1.2) ** (1 / dim))
    return rng.random((n, dim)) * box, (rng.random(n) < 0.3).astype(np.int64), box


@pytest.mark.parametrize(("kernel", "dim"), list(RADII))
def test_tail_radius_against_quadrature(kernel: str, dim: int) -> None:
    for length in (0.5, 1.0, 3.0):
        expect = ref.tail_radius(length, dim, kernel, 0.01)
        assert tail_radius(length, dim, 0.01, kernel) == pytest.approx(expect, rel=1e-8)
        assert expect / length == pytest.approx(RADII[(kernel, dim)], abs=1e-3)
    # other fractions too (the option is shared with physics_inspired)
    assert tail_radius(1.0, dim, 0.05, kernel) == pytest.approx(
        ref.tail_radius(1.0, dim, kernel, 0.05), rel=1e-8
    )


# boxes large enough that the 1% radius stays below half the box (no cap)
CASES = [
    ("exp", 3, 0.45, 700),
    ("gaussian", 3, 1.0, 700),
    ("exp", 2, 0.6, 200),
    ("gaussian", 2, 1.2, 200),
]


@pytest.mark.parametrize(("kernel", "dim", "length", "n"), CASES)
def test_density_and_means_against_all_pairs(kernel: str, dim: int, length: float, n: int) -> None:
    pos, types, box = random_box(dim, n, seed=dim)
    radius = ref.tail_radius(length, dim, kernel)
    assert radius < 0.5 * box.min()
    spec = {"name": "density", "kernel": kernel, "lengths": [length], "species": "both"}
    values, _ = compute_descriptors({"inherent": pos}, types, box, 2, parse_specs([spec]))
    vol = ref.ball_volume(length, dim, kernel, radius)
    for k, species in enumerate((0, 1, None)):
        expect = ref.density(pos, types, box, length, kernel, radius / length, species, vol)
        np.testing.assert_allclose(values[:, k], expect, rtol=1e-7)
    # the coarse-grained means (energy, Voronoi, Steinhardt families) use the same radius
    x = np.random.default_rng(0).normal(size=n)
    st = Structure(pos, types, box, 2)
    cg, _ = coarse_grain(st, x, ["x"], (length,), kernel, None, "both")
    for k, species in enumerate((0, 1, None)):
        expect = ref.coarse_mean(pos, types, box, x, length, radius / length, species, kernel)
        np.testing.assert_allclose(cg[:, k], expect, rtol=1e-7)


@pytest.mark.parametrize(("kernel", "dim", "length", "n"), CASES)
def test_the_sums_keep_99_percent_of_the_weight(kernel: str, dim: int, length: float, n: int):
    """Against the sum over every pair (minimum image, no cut-off) the default radius
    misses about 1% of the weight; the old truncate 2.0 missed much more for exp."""
    pos, types, box = random_box(dim, n, seed=10 + dim)
    full = np.zeros(n)
    for i in range(n):
        r = ref.distances_from(i, pos, box)
        full[i] = ref.kernel(r[np.isfinite(r)], length, kernel).sum()
    spec = parse_specs([{"name": "density", "kernel": kernel, "lengths": [length]}])[0]
    kept = compute_descriptors({"inherent": pos}, types, box, 2, [spec])[0][:, 2]
    vol = ref.ball_volume(length, dim, kernel, ref.tail_radius(length, dim, kernel))
    lost = 1.0 - (kept * vol).sum() / full.sum()
    # uniform particles: the neglected share of the weight is the kernel's, 1%, less the
    # corners of the box beyond half its edge that the minimum image does not reach
    assert 0.002 < lost < 0.012
    old = parse_specs([{"name": "density", "kernel": kernel, "lengths": [length], "truncate": 2}])
    kept_old = compute_descriptors({"inherent": pos}, types, box, 2, old)[0][:, 2]
    vol_old = ref.ball_volume(length, dim, kernel, 2.0 * length)
    lost_old = 1.0 - (kept_old * vol_old).sum() / full.sum()
    if kernel == "exp":  # Q(3, 2) = 0.68 in 3D, Q(2, 2) = 0.41 in 2D
        assert lost_old > (0.6 if dim == 3 else 0.35)


@pytest.mark.parametrize("dim", [2, 3])
def test_radius_capped_at_half_the_box_and_logged_once(dim: int, caplog) -> None:
    pos, types, box = random_box(dim, 120, seed=5)
    half = 0.5 * box.min()
    length = 2.0  # 1% radius far beyond half the box
    assert ref.tail_radius(length, dim, "exp") > half
    spec = parse_specs([{"name": "density", "lengths": [length], "species": "all"}])
    with caplog.at_level(logging.INFO, logger="glassml.features.structure"):
        values, _ = compute_descriptors({"inherent": pos}, types, box, 2, spec)
        compute_descriptors({"inherent": pos}, types, box, 2, spec)
    vol = ref.ball_volume(length, dim, "exp", half)
    expect = ref.density(pos, types, box, length, "exp", half / length, None, vol)
    np.testing.assert_allclose(values[:, 0], expect, rtol=1e-7)
    capped = [r for r in caplog.records if "capped at half the box" in r.getMessage()]
    assert len(capped) == 1 and f"L = {length:g}" in capped[0].getMessage()


def test_explicit_truncate_keeps_the_old_radius() -> None:
    pos, types, box = random_box(3, 300, seed=7)
    spec = parse_specs([{"name": "density", "lengths": [1.0], "truncate": 2.0, "species": "all"}])
    values, _ = compute_descriptors({"inherent": pos}, types, box, 2, spec)
    vol = ref.ball_volume(1.0, 3, "exp", 2.0)
    expect = ref.density(pos, types, box, 1.0, "exp", 2.0, None, vol)
    np.testing.assert_allclose(values[:, 0], expect, rtol=1e-7)


@pytest.mark.parametrize("name", ["density", "energy", "voronoi", "steinhardt"])
@pytest.mark.parametrize("value", [0, -1.5])
def test_impossible_truncate_is_refused(name: str, value: float) -> None:
    with pytest.raises(
        FeatureSpecError, match=rf"node_features\[0\]\.truncate={value}: must be > 0"
    ):
        parse_specs([{"name": name, "lengths": [1.0], "truncate": value}], "node_features")


def test_cache_of_the_old_radius_is_not_served(tmp_path: Path, monkeypatch) -> None:
    """Features cached before the radius changed (older FEATURES_VERSION) are recomputed."""
    from glassml.data.io import NpzReader

    pos, types, box = random_box(3, 100, seed=3)
    path = tmp_path / "config_0000.npz"
    atomic_save_npz(
        path, initial_positions=pos, initial_positions_inherent=pos, types=types, box=box
    )
    reader = NpzReader()
    specs = parse_specs([{"name": "density", "lengths": [1.0], "species": "all"}])
    cache = tmp_path / "cache"
    monkeypatch.setattr(feature_cache, "FEATURES_VERSION", 1)
    stale = cache / f"{path.stem}-{feature_cache.cache_key(path, specs, 2, reader)}.npz"
    names = np.asarray(["density_exp_L1_all"])
    atomic_save_npz(stale, values=np.full((100, 1), -7.0, np.float32), names=names)
    assert feature_cache.file_descriptors(path, reader, specs, 2, cache)[0][0, 0] == -7.0
    monkeypatch.undo()
    values, _ = feature_cache.file_descriptors(path, reader, specs, 2, cache)
    assert np.all(values > 0)
