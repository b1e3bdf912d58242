"""GlassBench metrics against hand-computed and analytic values on synthetic inputs."""

from __future__ import annotations

import numpy as np
import pytest

from glassml.evaluation.bootstrap import Moments, bootstrap_pearson
from glassml.evaluation.ceiling import ceiling_from_runs, spearman_brown
from glassml.evaluation.chi4 import chi4, chi4_from_mobility, overlap, stack_species
from glassml.evaluation.spatial import correlation_length, spatial_correlation


def _correlated(rng, n_cfg, n, rho, n_t=1):
    x = rng.normal(size=(n_cfg * n, n_t))
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=x.shape)
    return x, y, np.repeat(np.arange(n_cfg), n)


# ------------------------------------------------------------------ Pearson + bootstrap


def test_moments_match_numpy_pearson() -> None:
    rng = np.random.default_rng(1)
    x, y, g = _correlated(rng, 5, 30, 0.6, n_t=2)
    y[:, 1] += 3.0 * g  # configuration-dependent offsets separate pooled from per-config
    mom = Moments.from_groups(x, y, g, 5)
    for t in range(2):
        assert mom.pooled()[t] == pytest.approx(np.corrcoef(x[:, t], y[:, t])[0, 1], abs=1e-12)
        for c in range(5):
            m = g == c
            ref = np.corrcoef(x[m, t], y[m, t])[0, 1]
            assert mom.per_config()[c, t] == pytest.approx(ref, abs=1e-12)


def test_bootstrap_ci_covers_the_truth() -> None:
    """95% intervals contain the true correlation in about 95% of independent experiments."""
    rng = np.random.default_rng(2)
    rho, hits, n_exp = 0.5, {"pooled": 0, "per_config": 0}, 200
    for k in range(n_exp):
        x, y, g = _correlated(rng, 20, 60, rho)
        cis = bootstrap_pearson(Moments.from_groups(x, y, g, 20), n_boot=300, seed=k)
        for kind in hits:
            hits[kind] += int(cis[kind].low[0] <= rho <= cis[kind].high[0])
        assert cis["pooled"].low[0] < cis["pooled"].value[0] < cis["pooled"].high[0]
    for kind, h in hits.items():
        assert 0.88 <= h / n_exp <= 0.99, (kind, h / n_exp)


def test_bootstrap_rejects_bad_level() -> None:
    rng = np.random.default_rng(0)
    x, y, g = _correlated(rng, 3, 10, 0.5)
    with pytest.raises(ValueError, match="confidence level"):
        bootstrap_pearson(Moments.from_groups(x, y, g, 3), level=95)


# ------------------------------------------------------------------ chi4


def test_chi4_hand_computed() -> None:
    w = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]])
    # Q = 3/4, 1/4, 1; sample variance 21/144; times N = 4
    assert chi4_from_mobility(w) == pytest.approx(7 / 12)


def test_chi4_of_independent_bernoulli_is_q_one_minus_q() -> None:
    rng = np.random.default_rng(3)
    q = 0.3
    w = rng.random((4000, 100)) < q
    assert chi4_from_mobility(w) == pytest.approx(q * (1 - q), rel=0.08)


def test_chi4_of_heterogeneous_configurations() -> None:
    """Mobility 0.3 or 0.7 per configuration: chi4 = N Var(p_c) + E[p(1 - p)] = N/25 + 0.21."""
    rng = np.random.default_rng(4)
    n = 100
    p = rng.choice([0.3, 0.7], size=(4000, 1))
    w = rng.random((4000, n)) < p
    assert chi4_from_mobility(w) == pytest.approx(n * 0.04 + 0.21, rel=0.08)


def test_chi4_quantile_overlap_of_independent_propensities() -> None:
    rng = np.random.default_rng(5)
    true = rng.exponential(size=(3000, 80, 2))
    res = chi4(true, 2.0 * true + 1.0)  # a monotone map of the truth: identical mobilities
    np.testing.assert_allclose(res.true, 0.25, rtol=0.08)
    np.testing.assert_allclose(res.ratio, 1.0)
    np.testing.assert_allclose(res.mean_overlap_true, 0.5, atol=1e-3)
    w = overlap(true, threshold=1.0)
    assert w.mean() == pytest.approx(1 - np.exp(-1.0), abs=0.01)


def test_stack_species_requires_equal_counts() -> None:
    values = np.arange(6, dtype=float)[:, None]
    species = np.array([0, 0, 1, 0, 1, 1])
    cfg = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="same number"):
        stack_species(values, species, cfg, 0)
    out = stack_species(values, np.array([0, 1, 0, 0, 1, 0]), cfg, 0)
    np.testing.assert_array_equal(out[:, :, 0], [[0, 2], [3, 5]])


# ------------------------------------------------------------------ spatial correlation


def test_correlation_length_of_an_exponential() -> None:
    r = np.arange(0.05, 40.0, 0.01)
    c = 0.8 * np.exp(-(r - r[0]) / 2.0)
    assert correlation_length(r, c) == pytest.approx(2.0, rel=1e-3)
    # a zero crossing closes the integral there
    c2 = np.where(r < 1.0, 1.0, -0.1)
    # a rising start: normalised by the peak, not by the first bin
    c3 = np.where(r < 0.5, 0.25, 0.5 * np.exp(-(r - 0.5) / 2.0))
    assert correlation_length(r, c3) == pytest.approx((0.45 * 0.25 + 0.5 * 2.0) / 0.5, rel=2e-3)
    # plateau 0.05..0.99 (area 0.94) plus the triangle to the crossing at 0.99 + 0.01/1.1
    assert correlation_length(r, c2) == pytest.approx(0.94 + 0.5 * 0.01 / 1.1, abs=1e-6)


def test_spatial_correlation_recovers_exponential_field() -> None:
    """Gaussian field with covariance exp(-r/xi) on random 2D points: C(r) and xi recovered."""
    rng = np.random.default_rng(6)
    box, n, xi = np.array([20.0, 20.0]), 400, 1.5
    pos, field, noise = [], [], []
    for _ in range(12):
        p = rng.random((n, 2)) * box
        d = p[:, None, :] - p[None, :, :]
        d -= box * np.round(d / box)
        cov = np.exp(-np.linalg.norm(d, axis=-1) / xi)
        vals, vecs = np.linalg.eigh(cov)
        f = vecs @ (np.sqrt(np.clip(vals, 0, None)) * rng.normal(size=n))
        pos.append(p)
        field.append(f)
        noise.append(rng.normal(size=n))
    sc = spatial_correlation([*pos], [box] * 12, [field, noise], r_max=8.0, bin_width=0.25)
    near = (sc.r > 1.0) & (sc.r < 2.0)
    np.testing.assert_allclose(sc.c[0, near], np.exp(-sc.r[near] / xi), atol=0.08)
    assert np.all(np.abs(sc.c[1, sc.r > 0.5]) < 0.1)  # white noise: no correlation
    assert sc.length(0) == pytest.approx(xi, rel=0.25)


# ------------------------------------------------------------------ ceiling


def test_spearman_brown() -> None:
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(1.0) == pytest.approx(1.0)


@pytest.mark.parametrize("n_runs", [16, 15])
def test_ceiling_recovers_known_noise_level(n_runs: int) -> None:
    """p_n = p_inf + noise: the ceiling is corr(p_inf, p_n) = sqrt(V / (V + sigma^2 / n))."""
    rng = np.random.default_rng(7)
    sigma, n_cfg, n = 2.0, 30, 300
    runs, truth_corr = [], []
    for _ in range(n_cfg):
        p_inf = rng.normal(size=(2, n)) * np.array([[1.0], [0.5]])  # two time scales
        r = p_inf[None] + sigma * rng.normal(size=(n_runs, 2, n))
        runs.append(r)
        truth_corr.append([np.corrcoef(p_inf[t], r.mean(0)[t])[0, 1] for t in range(2)])
    res = ceiling_from_runs(runs, n_splits=10)
    var = np.array([1.0, 0.25])
    expected = np.sqrt(var / (var + sigma**2 / n_runs))
    np.testing.assert_allclose(res.ceiling["per_config"], expected, atol=0.015)
    np.testing.assert_allclose(res.ceiling["pooled"], expected, atol=0.015)
    # and the actual correlation of the noise-free propensity with the measured one
    np.testing.assert_allclose(np.mean(truth_corr, axis=0), res.ceiling["per_config"], atol=0.02)
    assert res.n_runs == n_runs


def test_ceiling_masks_and_bad_input() -> None:
    rng = np.random.default_rng(8)
    runs = [rng.normal(size=(4, 1, 10)) for _ in range(3)]
    masks = [np.arange(10) < 5 for _ in range(3)]
    assert np.isfinite(ceiling_from_runs(runs, masks).r_half["pooled"]).all()
    with pytest.raises(ValueError, match="disagree"):
        ceiling_from_runs([runs[0], rng.normal(size=(6, 1, 10))])
    with pytest.raises(ValueError, match="at least 2 runs"):
        ceiling_from_runs([rng.normal(size=(1, 1, 10))])
